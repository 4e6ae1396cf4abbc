package mesh

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

const (
	textCases = "testdata/mesh/accesslogs/text.txt"
	jsonCases = "testdata/mesh/accesslogs/json.txt"
)

// accessLogWant is what each fixture case must yield, whatever its form.
type accessLogWant struct {
	direction     ClusterClass
	clientIP      string
	clientIsProxy bool
	localIP       string
	mtls          bool
	rbac          bool
	policy        string
	code          int
	cluster       string
	sni           string
	method        string
	authority     string
	userAgent     string
}

const injectedUserAgent = `evil" "-" "-" "10.9.9.9:1" inbound|9080|| 1.1.1.1:1 10.244.0.23:9080 10.244.0.25:1 outbound_.9080_._.reviews.bookinfo.svc.cluster.local default`

var accessLogWants = map[string]accessLogWant{
	"inbound_mtls": {
		direction: ClusterInbound, clientIP: "10.244.0.25", localIP: "10.244.0.23", mtls: true, code: 200,
		cluster: "inbound|9080||", sni: "outbound_.9080_._.reviews.bookinfo.svc.cluster.local", method: "GET",
		authority: "reviews:9080", userAgent: "Go-http-client/1.1",
	},
	"outbound_mtls": {
		direction: ClusterOutbound, clientIP: "10.244.0.25", localIP: "10.96.12.34", code: 200,
		cluster: "outbound|9080||reviews.bookinfo.svc.cluster.local", method: "GET", authority: "reviews:9080",
		userAgent: "Go-http-client/1.1",
	},
	"inbound_plaintext_from_pod": {
		direction: ClusterInbound, clientIP: "10.244.0.40", localIP: "10.244.0.23", code: 200,
		cluster: "inbound|9080||", method: "GET", authority: "10.244.0.23:9080", userAgent: "curl/8.5.0",
	},
	"inbound_plaintext_ipv6": {
		direction: ClusterInbound, clientIP: "fd00:10:244::28", localIP: "fd00:10:244::17", code: 200,
		cluster: "inbound|9080||", method: "GET", authority: "[fd00:10:244::17]:9080", userAgent: "curl/8.5.0",
	},
	"proxy_own_address": {
		direction: ClusterInbound, clientIP: "127.0.0.6", clientIsProxy: true, localIP: "10.244.0.23", code: 200,
		cluster: "inbound|9080||", method: "GET", authority: "10.244.0.23:9080", userAgent: "kube-probe/1.30",
	},
	"passthrough_egress_http": {
		direction: ClusterPassthrough, clientIP: "10.244.0.30", localIP: "91.189.91.39", code: 304,
		cluster: "PassthroughCluster", method: "GET", authority: "archive.ubuntu.com", userAgent: "Debian APT-HTTP/1.3 (2.0.9)",
	},
	"passthrough_egress_tls": {
		direction: ClusterPassthrough, clientIP: "10.244.0.30", localIP: "185.125.190.36", code: 0,
		cluster: "PassthroughCluster", sni: "security.ubuntu.com",
	},
	"blackhole_http": {
		direction: ClusterBlackHole, clientIP: "10.244.0.30", localIP: "93.184.215.14", code: 502,
		method: "GET", authority: "example.com", userAgent: "curl/8.5.0",
	},
	"blackhole_tcp": {
		direction: ClusterBlackHole, clientIP: "10.244.0.30", localIP: "93.184.215.14", cluster: "BlackHoleCluster",
		sni: "example.com",
	},
	"inbound_passthrough": {
		direction: ClusterInboundPassthrough, clientIP: "10.244.0.40", localIP: "10.244.0.23", code: 200,
		cluster: "InboundPassthroughCluster", method: "GET", authority: "10.244.0.23:8081", userAgent: "curl/8.5.0",
	},
	"rbac_denied_http": {
		direction: ClusterInbound, clientIP: "10.244.0.25", localIP: "10.244.0.23", mtls: true, code: 403,
		rbac: true, policy: "ns[foo]-policy[bar]-rule[0]", cluster: "inbound|9080||",
		sni: "outbound_.9080_._.reviews.bookinfo.svc.cluster.local", method: "GET", authority: "reviews:9080",
		userAgent: "Go-http-client/1.1",
	},
	"rbac_denied_tcp": {
		direction: ClusterInbound, clientIP: "10.244.0.22", localIP: "10.244.0.31", mtls: true,
		rbac: true, policy: "ns[foo]-policy[bar]-rule[0]", cluster: "inbound|27017||",
		sni: "outbound_.27017_._.mongodb.bookinfo.svc.cluster.local",
	},
	"app_403_not_rbac": {
		direction: ClusterInbound, clientIP: "10.244.0.25", localIP: "10.244.0.23", mtls: true, code: 403,
		cluster: "inbound|9080||", sni: "outbound_.9080_._.reviews.bookinfo.svc.cluster.local", method: "GET",
		authority: "reviews:9080", userAgent: "Go-http-client/1.1",
	},
	"header_injection": {
		direction: ClusterInbound, clientIP: "10.244.0.40", localIP: "10.244.0.23", code: 200,
		cluster: "inbound|9080||", method: "GET", authority: "reviews:9080", userAgent: injectedUserAgent,
	},
}

func checkAccessLog(t *testing.T, w accessLogWant, o *AccessLogObservation) {
	t.Helper()
	assert.Equal(t, w.direction, o.Direction, "direction")
	assert.Equal(t, w.clientIP, o.ClientIP, "client IP")
	assert.Equal(t, w.clientIsProxy, o.ClientIsProxy, "client is the proxy")
	assert.Equal(t, w.localIP, o.LocalIP, "local IP")
	assert.Equal(t, w.mtls, o.IstioMTLS, "Istio mTLS")
	assert.Equal(t, w.rbac, o.RBACDenied, "RBAC denied")
	assert.Equal(t, w.policy, o.RBACPolicy, "RBAC policy")
	assert.Equal(t, w.code, o.ResponseCode, "response code")
	assert.Equal(t, w.cluster, o.UpstreamCluster, "upstream cluster")
	assert.Equal(t, w.sni, o.RequestedServerName, "SNI")
	assert.Equal(t, w.method, o.Method, "method")
	assert.Equal(t, w.authority, o.Authority, "authority")
	assert.Equal(t, w.userAgent, o.UserAgent, "user agent")
	assert.False(t, o.StartTime.IsZero(), "start time")
	assert.Equal(t, 2024, o.StartTime.Year())
}

func isGarbage(name string) bool {
	return strings.HasPrefix(name, "garbage_") || strings.HasPrefix(name, "notaccesslog_")
}

func TestParseAccessLogText(t *testing.T) {
	seen := 0
	for _, c := range loadCases(t, textCases) {
		t.Run(c.Name, func(t *testing.T) {
			var o AccessLogObservation
			ok := ParseAccessLogText(c.Line, &o)
			if isGarbage(c.Name) {
				assert.False(t, ok)
				assert.Equal(t, AccessLogObservation{}, o, "a failed parse leaves nothing behind")
				return
			}
			require.True(t, ok)
			w, known := accessLogWants[c.Name]
			require.True(t, known, "no expectation for %s", c.Name)
			seen++
			assert.Equal(t, AccessLogText, o.Format)
			checkAccessLog(t, w, &o)
		})
	}
	assert.Equal(t, len(accessLogWants), seen, "every expectation has a text case")
}

func TestParseAccessLogTextFields(t *testing.T) {
	line := loadCases(t, textCases)[0].Line // inbound_mtls
	var o AccessLogObservation
	require.True(t, ParseAccessLogText(line+"\r\n", &o), "a trailing newline is fine")
	assert.Equal(t, AccessLogObservation{
		Format:                  AccessLogText,
		StartTime:               time.Date(2024, 5, 14, 9, 12, 1, 123e6, time.UTC),
		Method:                  "GET",
		Path:                    "/reviews/0",
		Protocol:                "HTTP/1.1",
		ResponseCode:            200,
		ResponseCodeDetails:     "via_upstream",
		BytesReceived:           0,
		BytesSent:               358,
		DurationMs:              12,
		UpstreamServiceTimeMs:   11,
		UserAgent:               "Go-http-client/1.1",
		RequestID:               "3f0c8e0c-5a3d-9b2e-a6c1-1f2e3d4c5b6a",
		Authority:               "reviews:9080",
		UpstreamHost:            "10.244.0.23:9080",
		UpstreamCluster:         "inbound|9080||",
		UpstreamLocalAddress:    "127.0.0.6:51423",
		DownstreamLocalAddress:  "10.244.0.23:9080",
		DownstreamRemoteAddress: "10.244.0.25:43210",
		RequestedServerName:     "outbound_.9080_._.reviews.bookinfo.svc.cluster.local",
		RouteName:               "default",
		Direction:               ClusterInbound,
		ClientIP:                "10.244.0.25",
		LocalIP:                 "10.244.0.23",
		IstioMTLS:               true,
	}, o)
}

func TestAccessLogClientIsProxyOnIPv6(t *testing.T) {
	m := pcommon.NewMap()
	m.PutStr("upstream_cluster", "inbound|9080||")
	m.PutStr("downstream_local_address", "[fd00:10:244::17]:9080")
	m.PutStr("downstream_remote_address", "[::6]:38122")
	var o AccessLogObservation
	require.True(t, ReadAccessLogMap(m, &o))
	assert.Equal(t, "::6", o.ClientIP)
	assert.True(t, o.ClientIsProxy)
	assert.Equal(t, ClusterInbound, o.Direction)
}

func TestParseAccessLogTextRejectsEmptyAndWhitespace(t *testing.T) {
	var o AccessLogObservation
	for _, s := range []string{"", " ", "\n", "[]", `[x] "`, `[x] "GET / HTTP/1.1" `} {
		assert.False(t, ParseAccessLogText(s, &o), "%q", s)
	}
}

func TestParseAccessLogJSON(t *testing.T) {
	seen := 0
	for _, c := range loadCases(t, jsonCases) {
		t.Run(c.Name, func(t *testing.T) {
			var o AccessLogObservation
			ok := ParseAccessLogJSON(c.Line, &o)
			if isGarbage(c.Name) {
				assert.False(t, ok)
				assert.Equal(t, AccessLogObservation{}, o)
				return
			}
			require.True(t, ok)
			seen++
			assert.Equal(t, AccessLogJSON, o.Format)
			checkAccessLog(t, accessLogWants[c.Name], &o)
		})
	}
	assert.Equal(t, len(accessLogWants), seen)
}

// jsonToMap turns a JSON fixture line into record attributes: numbers become ints, null
// an empty value.
func jsonToMap(t testing.TB, line string) pcommon.Map {
	dec := json.NewDecoder(bytes.NewReader([]byte(line)))
	dec.UseNumber()
	var raw map[string]any
	require.NoError(t, dec.Decode(&raw))
	for k, v := range raw {
		if n, ok := v.(json.Number); ok {
			i, err := n.Int64()
			require.NoError(t, err)
			raw[k] = i
		}
	}
	m := pcommon.NewMap()
	require.NoError(t, m.FromRaw(raw))
	return m
}

func TestReadAccessLogMapAttributes(t *testing.T) {
	seen := 0
	for _, c := range loadCases(t, jsonCases) {
		if strings.HasPrefix(c.Name, "garbage_") {
			continue // not JSON: cannot become attributes
		}
		t.Run(c.Name, func(t *testing.T) {
			var o AccessLogObservation
			ok := ReadAccessLogMap(jsonToMap(t, c.Line), &o)
			if isGarbage(c.Name) {
				assert.False(t, ok)
				return
			}
			require.True(t, ok)
			seen++
			assert.Equal(t, AccessLogAttributes, o.Format)
			checkAccessLog(t, accessLogWants[c.Name], &o)
		})
	}
	assert.Equal(t, len(accessLogWants), seen)
}

// The three forms of one record are the same observation.
func TestAccessLogFormsAgree(t *testing.T) {
	text := map[string]string{}
	for _, c := range loadCases(t, textCases) {
		text[c.Name] = c.Line
	}
	for _, c := range loadCases(t, jsonCases) {
		if isGarbage(c.Name) {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			var fromText, fromJSON, fromAttrs AccessLogObservation
			require.True(t, ParseAccessLogText(text[c.Name], &fromText))
			require.True(t, ParseAccessLogJSON(c.Line, &fromJSON))
			require.True(t, ReadAccessLogMap(jsonToMap(t, c.Line), &fromAttrs))
			fromJSON.Format, fromAttrs.Format = AccessLogText, AccessLogText
			assert.Equal(t, fromText, fromJSON)
			assert.Equal(t, fromText, fromAttrs)
		})
	}
}

func TestReadAccessLogs(t *testing.T) {
	text := loadCases(t, textCases)
	jsonc := loadCases(t, jsonCases)
	ts := time.Date(2024, 5, 14, 9, 20, 0, 0, time.UTC)

	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("k8s.pod.name", "reviews-v2-6f76498fc8-58wpn")
	rl.Resource().Attributes().PutStr("k8s.namespace.name", "bookinfo")
	rl.Resource().Attributes().PutStr("k8s.pod.uid", "uid-reviews")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	wantParsed, wantMalformed := 0, 0
	for _, c := range text {
		lr := lrs.AppendEmpty()
		lr.Body().SetStr(c.Line)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		if isGarbage(c.Name) {
			// Only lines that start like Istio's format ([<time>] "...) claim to be access
			// logs; an application line starting with a bracket does not.
			if strings.HasPrefix(c.Name, "garbage_") && strings.HasPrefix(c.Line, "[2") {
				wantMalformed++
			}
		} else {
			wantParsed++
		}
	}
	for _, c := range jsonc {
		lr := lrs.AppendEmpty()
		lr.Body().SetStr(c.Line)
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts)) // no record time: observed time
		switch {
		case strings.HasPrefix(c.Name, "garbage_"):
			wantMalformed++
		case !isGarbage(c.Name):
			wantParsed++
		}
	}
	// Attributes (the body is something else), and a map body.
	attrs := lrs.AppendEmpty()
	jsonToMap(t, jsonc[0].Line).CopyTo(attrs.Attributes())
	attrs.Body().SetStr("GET /reviews/0 200")
	mapBody := lrs.AppendEmpty()
	jsonToMap(t, jsonc[0].Line).CopyTo(mapBody.Body().SetEmptyMap())
	attrs.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	mapBody.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	wantParsed += 2
	// Not access logs: a k8sobjects pod, an application line, an empty record.
	pod := lrs.AppendEmpty()
	require.NoError(t, pod.Body().SetEmptyMap().FromRaw(map[string]any{"kind": "Pod", "metadata": map[string]any{"name": "x"}}))
	pod.Attributes().PutStr("k8s.resource.name", "pods")
	lrs.AppendEmpty().Body().SetStr("INFO starting server on :9080")
	lrs.AppendEmpty()

	formats := map[AccessLogFormat]int{}
	st := ReadAccessLogs(ld, func(o *AccessLogObservation) {
		formats[o.Format]++
		assert.Equal(t, ts, o.Timestamp)
		assert.Equal(t, "reviews-v2-6f76498fc8-58wpn", o.PodName)
		assert.Equal(t, "bookinfo", o.PodNamespace)
		assert.Equal(t, "uid-reviews", o.PodUID)
	})
	assert.Equal(t, AccessLogStats{Records: lrs.Len(), Parsed: wantParsed, Malformed: wantMalformed}, st)
	assert.Equal(t, map[AccessLogFormat]int{
		AccessLogText: len(accessLogWants), AccessLogJSON: len(accessLogWants),
		AccessLogAttributes: 1, AccessLogMap: 1,
	}, formats)
}

func TestScanFlatJSON(t *testing.T) {
	type member struct {
		k, v string
		kind jsonKind
	}
	var got []member
	ok := scanFlatJSON(` { "a" : "x\"y\\u00e9\u00e9\ud83d\ude00" , "n":-12.5e3,"t":true,"f":false,"z":null,"o":{"p":["}",1]},"e":""} `,
		func(k, v string, kind jsonKind) { got = append(got, member{k, v, kind}) })
	require.True(t, ok)
	assert.Equal(t, []member{
		{"a", "x\"y\\u00e9é😀", jsonString},
		{"n", "-12.5e3", jsonNumber},
		{"t", "true", jsonBool},
		{"f", "false", jsonBool},
		{"z", "null", jsonNull},
		{"o", `{"p":["}",1]}`, jsonNested},
		{"e", "", jsonString},
	}, got)

	for _, bad := range []string{``, `{`, `}`, `[]`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1} x`, `{"a":"\x"}`,
		`{"a":"\u12"}`, `{"a":tru}`, `{"a":{"b":1}`, `{"a":"x`, `{a:1}`, `{"a":1 "b":2}`} {
		assert.False(t, scanFlatJSON(bad, func(string, string, jsonKind) {}), "%q", bad)
	}
	assert.True(t, scanFlatJSON(`{}`, func(string, string, jsonKind) { t.Fatal("no members") }))
}
