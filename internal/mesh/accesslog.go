package mesh

import (
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// AccessLogFormat is the form an access log record came in.
type AccessLogFormat uint8

const (
	AccessLogUnknown    AccessLogFormat = iota
	AccessLogText                       // Istio's default text line in the body
	AccessLogJSON                       // a JSON object in the body, Istio's JSON key names
	AccessLogMap                        // a map body (e.g. file logs parsed by a json operator)
	AccessLogAttributes                 // record attributes with Istio's JSON key names
)

var accessLogFormatNames = [...]string{"unknown", "text", "json", "map", "attributes"}

func (f AccessLogFormat) String() string {
	if int(f) < len(accessLogFormatNames) {
		return accessLogFormatNames[f]
	}
	return "unknown"
}

// AccessLogObservation is one Envoy access log record. Envoy's "-" (no value) is "".
type AccessLogObservation struct {
	Format AccessLogFormat

	StartTime                    time.Time // zero when absent or unparseable
	Method, Path, Protocol       string
	ResponseCode                 int // 0 for TCP and for requests that got no response
	ResponseFlags                string
	ResponseCodeDetails          string
	ConnectionTerminationDetails string
	// UpstreamTransportFailureReason is e.g. a TLS handshake error towards the upstream.
	UpstreamTransportFailureReason string
	BytesReceived, BytesSent       int64
	DurationMs                     int64
	UpstreamServiceTimeMs          int64
	// Request headers: client-controlled, so never evidence of where traffic came from.
	XForwardedFor, UserAgent, RequestID, Authority string
	UpstreamHost                                   string
	UpstreamCluster                                string
	UpstreamLocalAddress                           string
	DownstreamLocalAddress                         string
	DownstreamRemoteAddress                        string
	// RequestedServerName is the TLS SNI the client sent.
	RequestedServerName string
	RouteName           string

	// Derived.

	// Direction is ClassifyCluster(UpstreamCluster); with no cluster, Istio's route names
	// block_all (REGISTRY_ONLY's direct 502) and allow_any say blackhole and passthrough.
	Direction ClusterClass
	// ClientIP is DownstreamRemoteAddress without its port: on inbound records, the client.
	ClientIP string
	// ClientIsProxy: ClientIP is 127.0.0.6 (or ::6), the sidecar's own inbound passthrough address.
	ClientIsProxy bool
	// LocalIP is DownstreamLocalAddress without its port: on inbound records, the pod's IP.
	LocalIP string
	// IstioMTLS: the SNI is the one Istio's client sidecars set (`outbound_.<port>_._.<host>`).
	// On an inbound record, false means the client did not speak Istio mTLS.
	IstioMTLS bool
	// RBACDenied: an Istio AuthorizationPolicy denied the request (HTTP, response code
	// details) or connection (TCP, connection termination details). An application's own
	// 403 is not an RBAC denial.
	RBACDenied bool
	// RBACPolicy is what the denial names: `ns[<ns>]-policy[<name>]-rule[<n>]`, or `none`.
	RBACPolicy string

	// From the record and its resource.
	Timestamp                     time.Time // record time, else observed time
	PodName, PodNamespace, PodUID string
}

// AccessLogStats counts what one ReadAccessLogs call saw.
type AccessLogStats struct {
	Records   int // log records inspected
	Parsed    int // access log observations emitted
	Malformed int // records that claimed to be access logs but did not parse (see ReadAccessLogRecord)
}

// minAccessLogKeys is how many of Istio's JSON keys a map must have to be taken for an
// access log: one or two are common in application logs (path, method).
const minAccessLogKeys = 3

const rbacDeniedPrefix = "rbac_access_denied_matched_policy"

// ReadAccessLogs emits every Envoy access log record in ld: a text or JSON body, a map body,
// or record attributes, tried in that order. Other records are skipped. The observation is
// reused: copy what you keep.
func ReadAccessLogs(ld plog.Logs, emit func(*AccessLogObservation)) AccessLogStats {
	var o AccessLogObservation
	var st AccessLogStats
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		podName, podNamespace, podUID := ResourcePod(rl.Resource().Attributes())
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				st.Records++
				ok, malformed := ReadAccessLogRecord(lr, &o)
				if !ok {
					if malformed {
						st.Malformed++
					}
					continue
				}
				o.PodName, o.PodNamespace, o.PodUID = podName, podNamespace, podUID
				st.Parsed++
				emit(&o)
			}
		}
	}
	return st
}

// ReadAccessLogRecord reads one record as an Envoy access log: a text or JSON body, a map
// body, or record attributes, tried in that order; the record's timestamp (else its
// observed timestamp) becomes o.Timestamp. The resource's pod is left to the caller.
// malformed reports a record that claims to be an access log but does not parse: a text
// body that starts like Istio's format (`[<digit>...] "`) or a JSON body that is not
// well-formed. Other records (application logs) are neither.
func ReadAccessLogRecord(lr plog.LogRecord, o *AccessLogObservation) (ok, malformed bool) {
	ok, malformed = readAccessLogRecord(lr, o)
	if !ok {
		return false, malformed
	}
	ts := lr.Timestamp()
	if ts == 0 {
		ts = lr.ObservedTimestamp()
	}
	o.Timestamp = time.Unix(0, int64(ts)).UTC()
	return true, false
}

// looksLikeAccessLogText: Istio's default format starts with `[%START_TIME%] "`; many
// application logs start with `[` too (`[INFO]`, `[2025-11-20 10:00:00] ...`), so a line
// must start with a bracketed time followed by a quote to claim to be an access log.
func looksLikeAccessLogText(s string) bool {
	if len(s) < 4 || s[0] != '[' || s[1] < '0' || s[1] > '9' {
		return false
	}
	i := strings.IndexByte(s, ']')
	return i > 0 && i+2 < len(s) && s[i+1] == ' ' && s[i+2] == '"'
}

func readAccessLogRecord(lr plog.LogRecord, o *AccessLogObservation) (ok, looked bool) {
	body := lr.Body()
	switch body.Type() {
	case pcommon.ValueTypeStr:
		s := body.Str()
		if len(s) > 0 && s[0] == '[' {
			ok = ParseAccessLogText(s, o)
			looked = !ok && looksLikeAccessLogText(s)
		} else if i := skipWS(s, 0); i < len(s) && s[i] == '{' {
			var wellFormed bool
			ok, wellFormed = parseAccessLogJSON(s, o)
			looked = !wellFormed // a well-formed object without Istio keys is some other log
		}
	case pcommon.ValueTypeMap:
		ok = ReadAccessLogMap(body.Map(), o)
		if ok {
			o.Format = AccessLogMap
		}
	}
	if !ok && lr.Attributes().Len() >= minAccessLogKeys {
		if ReadAccessLogMap(lr.Attributes(), o) {
			return true, looked
		}
	}
	return ok, looked
}

// ParseAccessLogText parses one line in Istio's default text format (see TELEMETRY.md) into
// o, which it resets. It returns false, leaving o zero, for anything else: a truncated line,
// garbage, a custom format. It never panics and does not allocate; the strings in o are
// substrings of line.
//
// The format is ambiguous: request headers (X-Forwarded-For, User-Agent, X-Request-Id,
// :authority) are printed between quotes without escaping, so a client can put `" "` in
// them. The fields that say where traffic came from and went to (upstream host and cluster,
// the addresses, SNI) are therefore found from the end of the line, which the client does
// not control, and the header fields get whatever lies between: a header with quotes cannot
// shift the addresses, at worst it garbles the other headers.
func ParseAccessLogText(line string, o *AccessLogObservation) bool {
	*o = AccessLogObservation{}
	if !parseText(line, o) {
		*o = AccessLogObservation{}
		return false
	}
	o.Format = AccessLogText
	o.derive()
	return true
}

func parseText(s string, o *AccessLogObservation) bool {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	// [%START_TIME%] "
	if len(s) < 2 || s[0] != '[' {
		return false
	}
	i := strings.IndexByte(s, ']')
	if i < 0 || !strings.HasPrefix(s[i+1:], ` "`) {
		return false
	}
	o.StartTime = parseStartTime(s[1:i])
	s = s[i+3:]

	// %REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
	i = strings.Index(s, `" `)
	if i < 0 {
		return false
	}
	o.Method, o.Path, o.Protocol = splitRequestLine(s[:i])
	s = s[i+2:]

	// %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%
	var tok string
	var ok bool
	if tok, s, ok = cutToken(s); !ok {
		return false
	}
	code, ok := parseIntDash(tok)
	if !ok || code < 0 || code > 999 {
		return false
	}
	o.ResponseCode = int(code)
	if tok, s, ok = cutToken(s); !ok {
		return false
	}
	o.ResponseFlags = dashEmpty(tok)
	if tok, s, ok = cutToken(s); !ok {
		return false
	}
	o.ResponseCodeDetails = dashEmpty(tok)
	if tok, s, ok = cutToken(s); !ok {
		return false
	}
	o.ConnectionTerminationDetails = dashEmpty(tok)

	// "%UPSTREAM_TRANSPORT_FAILURE_REASON%"
	if len(s) == 0 || s[0] != '"' {
		return false
	}
	i = strings.Index(s[1:], `" `)
	if i < 0 {
		return false
	}
	o.UpstreamTransportFailureReason = dashEmpty(s[1 : 1+i])
	s = s[i+3:]

	// %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%
	for _, dst := range [...]*int64{&o.BytesReceived, &o.BytesSent, &o.DurationMs, &o.UpstreamServiceTimeMs} {
		if tok, s, ok = cutToken(s); !ok {
			return false
		}
		if *dst, ok = parseIntDash(tok); !ok {
			return false
		}
	}
	return parseTextTail(s, o)
}

// maxTailCandidates bounds the search for the tail in lines full of `" `.
const maxTailCandidates = 16

// parseTextTail parses
// `"XFF" "UA" "REQUEST-ID" "AUTHORITY" "UPSTREAM_HOST" CLUSTER ULOCAL DLOCAL DREMOTE SNI ROUTE`
// finding the upstream host from the right.
func parseTextTail(s string, o *AccessLogObservation) bool {
	end := len(s)
	for n := 0; n < maxTailCandidates; n++ {
		p := lastQuoteSpace(s[:end])
		if p < 0 {
			return false
		}
		if parseTailAt(s, p, o) {
			return true
		}
		end = p
	}
	return false
}

// parseTailAt tries the tail with the upstream host's closing quote at s[p].
func parseTailAt(s string, p int, o *AccessLogObservation) bool {
	rest := s[p+2:]
	cluster, rest, ok := cutToken(rest)
	if !ok {
		return false
	}
	var addrs [3]string
	for i := range addrs {
		if addrs[i], rest, ok = cutToken(rest); !ok || !addrLike(addrs[i]) {
			return false
		}
	}
	sni, route, ok := cutToken(rest)
	if !ok || route == "" || strings.IndexByte(sni, '"') >= 0 {
		return false
	}
	q := strings.LastIndexByte(s[:p], '"')
	if q < 1 || s[q-1] != ' ' {
		return false
	}
	host := s[q+1 : p]
	if host != "" && !addrLike(host) {
		return false
	}
	// "XFF" "UA" "REQUEST-ID" "AUTHORITY"
	m := s[:q-1]
	if len(m) < 2 || m[0] != '"' || m[len(m)-1] != '"' {
		return false
	}
	inner := m[1 : len(m)-1]
	const sep = `" "`
	// Separators may overlap (`" "" "`): each field must start after the previous separator.
	a := strings.Index(inner, sep)
	c := lastSep(inner)
	if a < 0 || c < a+len(sep) {
		return false
	}
	b := lastSep(inner[:c])
	if b < a+len(sep) || c < b+len(sep) {
		return false
	}
	o.XForwardedFor = dashEmpty(inner[:a])
	o.UserAgent = dashEmpty(inner[a+len(sep) : b])
	o.RequestID = dashEmpty(inner[b+len(sep) : c])
	o.Authority = dashEmpty(inner[c+len(sep):])
	o.UpstreamHost = dashEmpty(host)
	o.UpstreamCluster = dashEmpty(cluster)
	o.UpstreamLocalAddress = dashEmpty(addrs[0])
	o.DownstreamLocalAddress = dashEmpty(addrs[1])
	o.DownstreamRemoteAddress = dashEmpty(addrs[2])
	o.RequestedServerName = dashEmpty(sni)
	o.RouteName = dashEmpty(route)
	return true
}

// lastQuoteSpace is strings.LastIndex(s, `" `) without its Rabin-Karp setup: the tail of
// a valid line has no quotes, so the first quote from the right is usually the one.
func lastQuoteSpace(s string) int {
	for end := len(s); ; {
		p := strings.LastIndexByte(s[:end], '"')
		if p < 0 {
			return -1
		}
		if p+1 < len(s) && s[p+1] == ' ' {
			return p
		}
		end = p
	}
}

// lastSep is strings.LastIndex(s, `" "`), see lastQuoteSpace.
func lastSep(s string) int {
	for end := len(s); ; {
		p := strings.LastIndexByte(s[:end], '"')
		if p < 0 {
			return -1
		}
		if p >= 2 && s[p-1] == ' ' && s[p-2] == '"' {
			return p - 2
		}
		end = p
	}
}

// cutToken returns s up to the next space and what follows the space. ok is false for an
// empty token (the format separates fields by exactly one space).
func cutToken(s string) (tok, rest string, ok bool) {
	i := strings.IndexByte(s, ' ')
	if i < 0 {
		return s, "", s != ""
	}
	return s[:i], s[i+1:], i > 0
}

// addrLike accepts what Envoy prints for an address: "-", ip:port, [ip]:port, a pipe path,
// or an internal listener address (envoy://...).
func addrLike(a string) bool {
	if a == "-" || strings.HasPrefix(a, "envoy://") || (a != "" && a[0] == '/') {
		return true
	}
	i := strings.LastIndexByte(a, ':')
	if i < 1 || len(a)-i-1 < 1 || len(a)-i-1 > 5 {
		return false
	}
	for j := i + 1; j < len(a); j++ {
		if a[j] < '0' || a[j] > '9' {
			return false
		}
	}
	return true
}

// splitRequestLine splits `METHOD PATH PROTOCOL`; method and protocol have no spaces.
func splitRequestLine(req string) (method, path, proto string) {
	i := strings.IndexByte(req, ' ')
	if i < 0 {
		return dashEmpty(req), "", ""
	}
	j := strings.LastIndexByte(req, ' ')
	if j == i {
		return dashEmpty(req[:i]), dashEmpty(req[i+1:]), ""
	}
	return dashEmpty(req[:i]), dashEmpty(req[i+1 : j]), dashEmpty(req[j+1:])
}

// parseIntDash parses a non-negative decimal integer; "-" is 0.
func parseIntDash(s string) (int64, bool) {
	if s == "-" {
		return 0, true
	}
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, false
	}
	return parseInt(s)
}

// parseStartTime parses Envoy's %START_TIME% (RFC 3339 with milliseconds by default).
func parseStartTime(s string) time.Time {
	if s == "" || s == "-" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// parseAccessLogJSON parses a JSON body with Istio's key names. wellFormed reports whether
// it was a JSON object at all; ok whether it was an access log.
func parseAccessLogJSON(s string, o *AccessLogObservation) (ok, wellFormed bool) {
	*o = AccessLogObservation{}
	known := 0
	wellFormed = scanFlatJSON(s, func(key, val string, kind jsonKind) {
		switch kind {
		case jsonString, jsonNumber:
		case jsonNull:
			val = ""
		default: // nested values and booleans are no Istio field's
			return
		}
		if o.set(key, val, 0, false) {
			known++
		}
	})
	if !wellFormed || known < minAccessLogKeys {
		*o = AccessLogObservation{}
		return false, wellFormed
	}
	o.Format = AccessLogJSON
	o.derive()
	return true, true
}

// ParseAccessLogJSON parses a JSON object with Istio's JSON key names into o, which it
// resets. False (o zero) unless s is a well-formed object with at least three of them.
// Strings without escapes are substrings of s.
func ParseAccessLogJSON(s string, o *AccessLogObservation) bool {
	ok, _ := parseAccessLogJSON(s, o)
	return ok
}

// ReadAccessLogMap reads a map (record attributes, or a map body) with Istio's JSON key
// names into o, which it resets. False (o zero) unless at least three keys are Istio's.
// Values may be strings or integers.
func ReadAccessLogMap(m pcommon.Map, o *AccessLogObservation) bool {
	*o = AccessLogObservation{}
	known := 0
	for k, v := range m.All() {
		var ok bool
		switch v.Type() {
		case pcommon.ValueTypeStr:
			ok = o.set(k, v.Str(), 0, false)
		case pcommon.ValueTypeInt:
			ok = o.set(k, "", v.Int(), true)
		case pcommon.ValueTypeDouble:
			if n, isInt := attrInt(v); isInt {
				ok = o.set(k, "", n, true)
			}
		case pcommon.ValueTypeEmpty:
			ok = o.set(k, "", 0, false)
		}
		if ok {
			known++
		}
	}
	if known < minAccessLogKeys {
		*o = AccessLogObservation{}
		return false
	}
	o.Format = AccessLogAttributes
	o.derive()
	return true
}

// set assigns the field Istio's JSON encoding calls key, from a string (s) or an integer
// (n, isNum). It reports whether key is one of Istio's.
func (o *AccessLogObservation) set(key, s string, n int64, isNum bool) bool {
	var num *int64
	var code int64
	switch key {
	case "response_code":
		num = &code
	case "bytes_received":
		num = &o.BytesReceived
	case "bytes_sent":
		num = &o.BytesSent
	case "duration":
		num = &o.DurationMs
	case "upstream_service_time":
		num = &o.UpstreamServiceTimeMs
	case "start_time":
		if !isNum {
			o.StartTime = parseStartTime(s)
		}
		return true
	default:
		dst := o.stringField(key)
		if dst == nil {
			return false
		}
		if !isNum {
			*dst = dashEmpty(s)
		}
		return true
	}
	if !isNum {
		var ok bool
		if n, ok = parseNumber(s); !ok {
			n = 0
		}
	}
	*num = n
	if key == "response_code" && n >= 0 && n <= 999 {
		o.ResponseCode = int(n)
	}
	return true
}

func (o *AccessLogObservation) stringField(key string) *string {
	switch key {
	case "method":
		return &o.Method
	case "path":
		return &o.Path
	case "protocol":
		return &o.Protocol
	case "response_flags":
		return &o.ResponseFlags
	case "response_code_details":
		return &o.ResponseCodeDetails
	case "connection_termination_details":
		return &o.ConnectionTerminationDetails
	case "upstream_transport_failure_reason":
		return &o.UpstreamTransportFailureReason
	case "x_forwarded_for":
		return &o.XForwardedFor
	case "user_agent":
		return &o.UserAgent
	case "request_id":
		return &o.RequestID
	case "authority":
		return &o.Authority
	case "upstream_host":
		return &o.UpstreamHost
	case "upstream_cluster":
		return &o.UpstreamCluster
	case "upstream_local_address":
		return &o.UpstreamLocalAddress
	case "downstream_local_address":
		return &o.DownstreamLocalAddress
	case "downstream_remote_address":
		return &o.DownstreamRemoteAddress
	case "requested_server_name":
		return &o.RequestedServerName
	case "route_name":
		return &o.RouteName
	}
	return nil
}

// parseNumber parses a JSON number or a decimal string, keeping the integer part.
func parseNumber(s string) (int64, bool) {
	if i := strings.IndexAny(s, ".eE"); i >= 0 {
		if s[i] != '.' {
			return 0, false
		}
		s = s[:i]
	}
	return parseInt(s)
}

// derive fills the derived fields from the raw ones; every format ends here.
func (o *AccessLogObservation) derive() {
	o.Direction = ClassifyCluster(o.UpstreamCluster)
	if o.Direction == ClusterUnknown {
		switch o.RouteName {
		case "block_all":
			o.Direction = ClusterBlackHole
		case "allow_any":
			o.Direction = ClusterPassthrough
		}
	}
	o.ClientIP, _ = SplitHostPort(o.DownstreamRemoteAddress)
	o.ClientIsProxy = IsProxyInboundIP(o.ClientIP)
	o.LocalIP, _ = SplitHostPort(o.DownstreamLocalAddress)
	o.IstioMTLS = strings.HasPrefix(o.RequestedServerName, "outbound_.")
	if p, ok := rbacPolicy(o.ResponseCodeDetails); ok {
		o.RBACDenied, o.RBACPolicy = true, p
	} else if p, ok := rbacPolicy(o.ConnectionTerminationDetails); ok {
		o.RBACDenied, o.RBACPolicy = true, p
	}
}

// rbacPolicy recognises `rbac_access_denied_matched_policy[<policy>]` and returns <policy>.
func rbacPolicy(details string) (string, bool) {
	if !strings.HasPrefix(details, rbacDeniedPrefix) {
		return "", false
	}
	p := details[len(rbacDeniedPrefix):]
	if len(p) >= 2 && p[0] == '[' && p[len(p)-1] == ']' {
		p = p[1 : len(p)-1]
	}
	return p, true
}
