package mesh

import (
	"encoding/json"
	"strings"
	"testing"
)

func FuzzParseAccessLogText(f *testing.F) {
	for _, c := range loadCases(f, textCases) {
		f.Add(c.Line)
	}
	f.Add(`[x] "- - -" 0 - - - "-" 0 0 0 - "-" "-" "-" "-" "-" - - - - - -`)
	f.Add(`[x] "a" 1 - - - "" 1 1 1 1 "" "" "" "" "" c -:1 -:1 -:1 s r`)
	f.Fuzz(func(t *testing.T, line string) {
		var o AccessLogObservation
		ok := ParseAccessLogText(line, &o)
		if !ok {
			if o != (AccessLogObservation{}) {
				t.Fatalf("failed parse left %+v", o)
			}
			return
		}
		if o.Format != AccessLogText {
			t.Fatalf("format %v", o.Format)
		}
		if o.ResponseCode < 0 || o.ResponseCode > 999 {
			t.Fatalf("response code %d", o.ResponseCode)
		}
		// Raw fields are substrings of the line: nothing was built, nothing allocated.
		for _, s := range []string{o.Method, o.Path, o.Protocol, o.ResponseFlags, o.ResponseCodeDetails,
			o.ConnectionTerminationDetails, o.UpstreamTransportFailureReason, o.XForwardedFor, o.UserAgent,
			o.RequestID, o.Authority, o.UpstreamHost, o.UpstreamCluster, o.UpstreamLocalAddress,
			o.DownstreamLocalAddress, o.DownstreamRemoteAddress, o.RequestedServerName, o.RouteName,
			o.ClientIP, o.LocalIP, o.RBACPolicy} {
			if !strings.Contains(line, s) {
				t.Fatalf("%q is not part of the line", s)
			}
		}
		if o.UpstreamCluster != "" && o.Direction != ClassifyCluster(o.UpstreamCluster) {
			t.Fatalf("direction %v for cluster %q", o.Direction, o.UpstreamCluster)
		}
		if strings.ContainsAny(o.UpstreamCluster+o.RequestedServerName, " ") {
			t.Fatalf("space in a tail token: %q %q", o.UpstreamCluster, o.RequestedServerName)
		}
		for _, a := range []string{o.UpstreamLocalAddress, o.DownstreamLocalAddress, o.DownstreamRemoteAddress} {
			if a != "" && !addrLike(a) {
				t.Fatalf("address %q", a)
			}
		}
		// Deterministic, and indifferent to the line ending.
		var again AccessLogObservation
		if !ParseAccessLogText(line+"\n", &again) || again != o {
			t.Fatalf("parsing %q with a newline differs", line)
		}
	})
}

func FuzzParseAccessLogJSON(f *testing.F) {
	for _, c := range loadCases(f, jsonCases) {
		f.Add(c.Line)
	}
	f.Add(`{"a":[1,{"b":"\"}"}],"c":"\ud800"}`)
	f.Fuzz(func(t *testing.T, s string) {
		var o AccessLogObservation
		ok := ParseAccessLogJSON(s, &o)
		if !ok && o != (AccessLogObservation{}) {
			t.Fatalf("failed parse left %+v", o)
		}
		wellFormed := scanFlatJSON(s, func(string, string, jsonKind) {})
		if t := strings.TrimLeft(s, " \t\r\n"); json.Valid([]byte(s)) && strings.HasPrefix(t, "{") && !wellFormed {
			panic("valid JSON object rejected: " + s)
		}
		if ok && !wellFormed {
			t.Fatalf("accepted a malformed object")
		}
	})
}
