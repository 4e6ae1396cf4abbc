package meshsim

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// This file: one request or connection, as each proxy that sees it reports it.

// spanSampling is the fraction of requests traced (Istio's default is 1%; higher here so
// short runs carry spans for every edge).
const spanSampling = 0.25

// request is one request (HTTP, gRPC) or connection (TCP) between two endpoints.
type request struct {
	start     time.Time
	durMs     int64
	proto     string
	method    string
	path      string
	authority string
	code      int
	details   string // response code details
	termDet   string // connection termination details
	grpc      string // grpc status
	reqBytes  int64
	respBytes int64
	id        string
	ua        string
	// client side
	clientIP   string
	clientPort int
	// where the client addressed it (ClusterIP or external IP) and where it went
	dialAddr     string
	upstreamAddr string
	denied       bool
}

func (g *Generator) newRequest(f *Flow, c *Pod, at time.Time, proto string) *request {
	r := &request{
		start: g.offset(at), durMs: int64(2 + g.rng.IntN(40)), proto: proto,
		id: g.requestID(), clientIP: c.IP, clientPort: g.ephemeralPort(),
		reqBytes: int64(g.rng.IntN(900)), respBytes: int64(200 + g.rng.IntN(8000)),
		code: 200, details: "via_upstream", ua: f.UserAgent,
	}
	switch proto {
	case ProtoGRPC:
		r.method = "POST"
		r.grpc = "0"
		if r.ua == "" {
			r.ua = "grpc-go/1.64.0"
		}
	case ProtoHTTP:
		r.method = "GET"
		if r.ua == "" {
			r.ua = "Go-http-client/1.1"
		}
	}
	// Transfers larger than the background's requests (uploads, artifact downloads): the
	// flow's mean, +-50%.
	if f.Upload > 0 {
		r.reqBytes = f.Upload/2 + g.rng.Int64N(f.Upload)
	}
	if f.Download > 0 {
		r.respBytes = f.Download/2 + g.rng.Int64N(f.Download)
	}
	r.path = f.Path
	if r.path == "" && proto != ProtoTCP {
		r.path = "/"
	}
	return r
}

// call is a request from client pod c to destination pod d behind f.To.
func (g *Generator) call(e *emitter, f *Flow, c, d *Pod, at time.Time) {
	svc := f.To
	proto := f.protocol()
	r := g.newRequest(f, c, at, proto)
	port := svc.Port
	undeclared := f.Kind == FlowUndeclaredPort
	if undeclared {
		port = f.Port
		r.authority = fmt.Sprintf("%s:%d", d.IP, port)
		r.dialAddr = r.authority
	} else {
		r.authority = fmt.Sprintf("%s.%s:%d", svc.Name, svc.Namespace, port)
		if svc.Namespace == c.Namespace() {
			r.authority = fmt.Sprintf("%s:%d", svc.Name, port)
		}
		r.dialAddr = fmt.Sprintf("%s:%d", svc.ClusterIP, port)
	}
	r.upstreamAddr = fmt.Sprintf("%s:%d", d.IP, port)
	if proto == ProtoGRPC && f.Path == "" {
		r.path = "/" + svc.Namespace + "." + strings.ReplaceAll(svc.Name, "-", "") + ".v1.Service/Get"
	}
	if f.DenyRate > 0 && g.rng.Float64() < f.DenyRate {
		r.denied = true
		policy := f.Policy
		if policy == "" {
			policy = "none"
		}
		switch proto {
		case ProtoTCP:
			r.termDet = "rbac_access_denied_matched_policy[" + policy + "]"
			r.respBytes, r.durMs = 0, 0
		case ProtoGRPC:
			r.code, r.grpc, r.details = 200, "7", "rbac_access_denied_matched_policy["+policy+"]"
			r.respBytes, r.durMs = 0, 0
		default:
			r.code, r.details = 403, "rbac_access_denied_matched_policy["+policy+"]"
			r.respBytes, r.durMs = 19, 0
		}
	}
	mtls := f.Kind == FlowMesh
	clientSidecar := f.Kind == FlowMesh || f.Kind == FlowMeshPlaintext
	peer := clientSidecar // Istio's metadata exchange works over plaintext too

	// Both pods' interfaces carry the exchange, whichever proxies see it.
	g.exchange(c, r.reqBytes, r.respBytes, mtls, proto == ProtoTCP)
	g.exchange(d, r.respBytes, r.reqBytes, mtls, proto == ProtoTCP)

	var parent pcommon.SpanID
	var trace pcommon.TraceID
	traced := proto != ProtoTCP && g.rng.Float64() < spanSampling
	if traced {
		trace = g.traceID()
	}
	if clientSidecar {
		g.record(c, metricLabels(c, d, svc, "source", r, mtls, true, undeclared), r)
		e.accessLog(c, outboundLine(r, svc, port))
		if traced {
			parent = e.span(c, trace, pcommon.SpanID{}, ptrace.SpanKindClient, r, clientSpanAttrs(c, r, svc, port))
		}
	}
	g.record(d, metricLabels(c, d, svc, "destination", r, mtls, peer, undeclared), r)
	e.accessLog(d, inboundLine(r, svc, d, port, mtls, undeclared))
	if traced {
		e.span(d, trace, parent, ptrace.SpanKindServer, r, serverSpanAttrs(d, r, port, undeclared))
	}
}

// egress is a request or connection from client pod c to an external host.
func (g *Generator) egress(e *emitter, f *Flow, c *Pod, at time.Time) {
	proto := f.protocol()
	r := g.newRequest(f, c, at, proto)
	port := f.Port
	if port == 0 {
		port = map[bool]int{true: 443, false: 80}[proto == ProtoTCP]
	}
	r.authority = f.Host
	r.dialAddr = fmt.Sprintf("%s:%d", f.HostIP, port)
	r.upstreamAddr = r.dialAddr
	g.exchange(c, r.reqBytes, r.respBytes, false, proto == ProtoTCP)
	if f.Kind == FlowInvisible {
		return
	}
	if f.Kind == FlowBlackhole {
		r.code, r.details, r.respBytes, r.durMs = 502, "direct_response", 0, 0
		r.upstreamAddr = ""
	}
	g.record(c, egressLabels(c, f, r), r)
	e.accessLog(c, egressLine(f, r))
	if proto != ProtoTCP && g.rng.Float64() < spanSampling {
		e.span(c, g.traceID(), pcommon.SpanID{}, ptrace.SpanKindClient, r, egressSpanAttrs(c, f, r))
	}
}

func (g *Generator) traceID() pcommon.TraceID {
	var t pcommon.TraceID
	a, b := g.rng.Uint64(), g.rng.Uint64()
	for i := range 8 {
		t[i], t[8+i] = byte(a>>(8*i)), byte(b>>(8*i))
	}
	return t
}

// --- metric labels ---------------------------------------------------------------------

// metricLabels are an Istio standard metric's labels for a call as the reporter's proxy
// sets them. peer: the server knows the client from Istio's peer metadata exchange.
func metricLabels(c, d *Pod, svc *Service, reporter string, r *request, mtls, peer, undeclared bool) []label {
	cw, dw := c.Workload, d.Workload
	l := make([]label, 0, 25)
	l = append(l, label{"reporter", reporter})
	if peer || reporter == "source" {
		l = append(l,
			label{"source_workload", cw.Name}, label{"source_workload_namespace", cw.Namespace},
			label{"source_principal", principalOrUnknown(cw, mtls || reporter == "source")},
			label{"source_app", cw.App}, label{"source_version", cw.Version},
			label{"source_canonical_service", cw.App}, label{"source_canonical_revision", cw.Version},
			label{"source_cluster", "Kubernetes"})
	} else {
		l = append(l,
			label{"source_workload", "unknown"}, label{"source_workload_namespace", "unknown"},
			label{"source_principal", "unknown"}, label{"source_app", "unknown"}, label{"source_version", "unknown"},
			label{"source_canonical_service", "unknown"}, label{"source_canonical_revision", "latest"},
			label{"source_cluster", "unknown"})
	}
	service, serviceName, serviceNS := svc.FQDN(), svc.Name, svc.Namespace
	if undeclared {
		service, serviceName = r.upstreamAddr, "InboundPassthroughCluster"
	}
	l = append(l,
		label{"destination_workload", dw.Name}, label{"destination_workload_namespace", dw.Namespace},
		label{"destination_principal", principalOrUnknown(dw, mtls || reporter == "destination")},
		label{"destination_app", dw.App}, label{"destination_version", dw.Version},
		label{"destination_service", service}, label{"destination_service_name", serviceName},
		label{"destination_service_namespace", serviceNS},
		label{"destination_canonical_service", dw.App}, label{"destination_canonical_revision", dw.Version},
		label{"destination_cluster", "Kubernetes"})
	l = append(l, label{"request_protocol", r.proto})
	if r.proto != ProtoTCP {
		l = append(l, label{"response_code", strconv.Itoa(r.code)})
	}
	l = append(l, label{"response_flags", "-"})
	l = append(l, label{"connection_security_policy", securityPolicy(reporter, mtls)})
	if r.grpc != "" {
		l = append(l, label{"grpc_response_status", r.grpc})
	}
	return l
}

func principalOrUnknown(w *Workload, known bool) string {
	if known {
		return w.Principal()
	}
	return "unknown"
}

func securityPolicy(reporter string, mtls bool) string {
	switch {
	case reporter == "source":
		return "unknown"
	case mtls:
		return "mutual_tls"
	}
	return "none"
}

func egressLabels(c *Pod, f *Flow, r *request) []label {
	cw := c.Workload
	service, serviceName, serviceNS := f.Host, f.Host, cw.Namespace
	switch f.Kind {
	case FlowPassthrough:
		serviceName, serviceNS = "PassthroughCluster", "unknown"
	case FlowBlackhole:
		serviceName, serviceNS = "BlackHoleCluster", "unknown"
	}
	l := []label{
		{"reporter", "source"},
		{"source_workload", cw.Name}, {"source_workload_namespace", cw.Namespace},
		{"source_principal", cw.Principal()}, {"source_app", cw.App}, {"source_version", cw.Version},
		{"source_canonical_service", cw.App}, {"source_canonical_revision", cw.Version}, {"source_cluster", "Kubernetes"},
		{"destination_workload", "unknown"}, {"destination_workload_namespace", "unknown"},
		{"destination_principal", "unknown"}, {"destination_app", "unknown"}, {"destination_version", "unknown"},
		{"destination_service", service}, {"destination_service_name", serviceName},
		{"destination_service_namespace", serviceNS},
		{"destination_canonical_service", "unknown"}, {"destination_canonical_revision", "latest"},
		{"destination_cluster", "unknown"},
		{"request_protocol", r.proto},
	}
	if r.proto != ProtoTCP {
		l = append(l, label{"response_code", strconv.Itoa(r.code)})
	}
	return append(l, label{"response_flags", "-"}, label{"connection_security_policy", "unknown"})
}

// --- access logs (Istio's default text format) -----------------------------------------

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// accessLogText formats one record in Istio's default text format (TELEMETRY.md).
func accessLogText(start time.Time, method, path, protocol string, code int, flags, details, termination,
	transportFailure string, bytesReceived, bytesSent, durationMs int64, upstreamTime string, xff, ua, requestID,
	authority, upstreamHost, upstreamCluster, upstreamLocal, downstreamLocal, downstreamRemote, sni, route string) string {
	req := "- - -"
	if method != "" {
		req = method + " " + path + " " + protocol
	}
	return fmt.Sprintf(`[%s] "%s" %d %s %s %s "%s" %d %d %d %s "%s" "%s" "%s" "%s" "%s" %s %s %s %s %s %s`,
		start.UTC().Format("2006-01-02T15:04:05.000Z"), req, code, dash(flags), dash(details), dash(termination),
		dash(transportFailure), bytesReceived, bytesSent, durationMs, dash(upstreamTime), dash(xff), dash(ua),
		dash(requestID), dash(authority), dash(upstreamHost), dash(upstreamCluster), dash(upstreamLocal),
		dash(downstreamLocal), dash(downstreamRemote), dash(sni), dash(route))
}

func (r *request) protocolName() string {
	if r.proto == ProtoGRPC {
		return "HTTP/2"
	}
	return "HTTP/1.1"
}

func outboundLine(r *request, svc *Service, port int) string {
	cluster := fmt.Sprintf("outbound|%d||%s", port, svc.FQDN())
	local := fmt.Sprintf("%s:%d", r.clientIP, 32768+(r.clientPort+7)%28000)
	remote := fmt.Sprintf("%s:%d", r.clientIP, r.clientPort)
	if r.proto == ProtoTCP {
		return accessLogText(r.start, "", "", "", 0, "", "", "", "", r.reqBytes, r.respBytes, r.durMs, "",
			"", "", "", "", r.upstreamAddr, cluster, local, r.dialAddr, remote, "", "")
	}
	code := r.code
	details := r.details
	if r.denied {
		details = "via_upstream" // the client's proxy relays the server's denial
	}
	return accessLogText(r.start, r.method, r.path, r.protocolName(), code, "", details, "", "", r.reqBytes, r.respBytes,
		r.durMs+1, strconv.FormatInt(r.durMs, 10), "", r.ua, r.id, r.authority, r.upstreamAddr, cluster, local,
		r.dialAddr, remote, "", "default")
}

func inboundLine(r *request, svc *Service, d *Pod, port int, mtls, undeclared bool) string {
	cluster := fmt.Sprintf("inbound|%d||", port)
	if undeclared {
		cluster = "InboundPassthroughCluster"
	}
	sni := ""
	if mtls {
		sni = fmt.Sprintf("outbound_.%d_._.%s", port, svc.FQDN())
	}
	local := fmt.Sprintf("%s:%d", d.IP, port)
	remote := fmt.Sprintf("%s:%d", r.clientIP, r.clientPort)
	upstreamLocal := fmt.Sprintf("127.0.0.6:%d", 32768+(r.clientPort+13)%28000)
	upstreamHost := r.upstreamAddr
	if r.denied {
		upstreamLocal, upstreamHost = "", ""
	}
	if r.proto == ProtoTCP {
		return accessLogText(r.start, "", "", "", 0, "", "", r.termDet, "", r.reqBytes, r.respBytes, r.durMs, "",
			"", "", "", "", upstreamHost, cluster, upstreamLocal, local, remote, sni, "")
	}
	route := "default"
	ust := strconv.FormatInt(r.durMs, 10)
	if r.denied {
		route, ust = "", ""
	}
	return accessLogText(r.start, r.method, r.path, r.protocolName(), r.code, "", r.details, "", "", r.reqBytes, r.respBytes,
		r.durMs, ust, "", r.ua, r.id, r.authority, upstreamHost, cluster, upstreamLocal, local, remote, sni, route)
}

func egressLine(f *Flow, r *request) string {
	local := fmt.Sprintf("%s:%d", r.clientIP, 32768+(r.clientPort+7)%28000)
	remote := fmt.Sprintf("%s:%d", r.clientIP, r.clientPort)
	var cluster, route, sni string
	switch f.Kind {
	case FlowServiceEntry:
		_, port := splitPort(r.dialAddr)
		cluster = fmt.Sprintf("outbound|%s||%s", port, f.Host)
		route = "default"
	case FlowPassthrough:
		cluster, route = "PassthroughCluster", "allow_any"
	case FlowBlackhole:
		cluster, route, local = "", "block_all", ""
	}
	if r.proto == ProtoTCP {
		sni = f.Host // TLS the application opened itself: the SNI names the host
		return accessLogText(r.start, "", "", "", 0, "", "", "", "", r.reqBytes, r.respBytes, r.durMs, "",
			"", "", "", "", r.upstreamAddr, cluster, local, r.dialAddr, remote, sni, "")
	}
	ust := strconv.FormatInt(r.durMs, 10)
	if f.Kind == FlowBlackhole {
		ust = ""
	}
	return accessLogText(r.start, r.method, r.path, r.protocolName(), r.code, "", r.details, "", "", r.reqBytes, r.respBytes,
		r.durMs, ust, "", r.ua, r.id, r.authority, r.upstreamAddr, cluster, local, r.dialAddr, remote, "", route)
}

func splitPort(addr string) (string, string) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return addr, ""
	}
	return addr[:i], addr[i+1:]
}

// --- spans -----------------------------------------------------------------------------

// NodeID is the Envoy node ID of a pod's proxy.
func NodeID(p *Pod) string {
	kind := "sidecar"
	if p.Workload.Gateway {
		kind = "router"
	}
	return fmt.Sprintf("%s~%s~%s.%s~%s.svc.cluster.local", kind, p.IP, p.Name, p.Namespace(), p.Namespace())
}

func commonSpanAttrs(p *Pod, r *request) []label {
	w := p.Workload
	return []label{
		{"component", "proxy"},
		{"node_id", NodeID(p)},
		{"zone", "eu-west-1" + string(rune('a'+p.Node[len(p.Node)-1]-'1'))},
		{"guid:x-request-id", r.id},
		{"http.method", r.method},
		{"http.protocol", r.protocolName()},
		{"http.status_code", strconv.Itoa(r.code)},
		{"user_agent", r.ua},
		{"request_size", strconv.FormatInt(r.reqBytes, 10)},
		{"response_size", strconv.FormatInt(r.respBytes, 10)},
		{"response_flags", "-"},
		{"downstream_cluster", "-"},
		{"istio.canonical_service", w.App},
		{"istio.canonical_revision", w.Version},
		{"istio.namespace", w.Namespace},
		{"istio.mesh_id", "cluster.local"},
		{"istio.cluster_id", "Kubernetes"},
	}
}

func clientSpanAttrs(c *Pod, r *request, svc *Service, port int) []label {
	cluster := fmt.Sprintf("outbound|%d||%s", port, svc.FQDN())
	return append(commonSpanAttrs(c, r),
		label{"http.url", fmt.Sprintf("http://%s%s", r.authority, r.path)},
		label{"peer.address", c.IP},
		label{"upstream_cluster", cluster}, label{"upstream_cluster.name", cluster},
		label{"upstream_address", r.upstreamAddr})
}

func serverSpanAttrs(d *Pod, r *request, port int, undeclared bool) []label {
	cluster := fmt.Sprintf("inbound|%d||", port)
	if undeclared {
		cluster = "InboundPassthroughCluster"
	}
	return append(commonSpanAttrs(d, r),
		label{"http.url", fmt.Sprintf("http://%s%s", r.authority, r.path)},
		label{"peer.address", r.clientIP},
		label{"upstream_cluster", cluster}, label{"upstream_cluster.name", cluster},
		label{"upstream_address", fmt.Sprintf("%s:%d", d.IP, port)})
}

func egressSpanAttrs(c *Pod, f *Flow, r *request) []label {
	cluster := "PassthroughCluster"
	switch f.Kind {
	case FlowBlackhole:
		cluster = "BlackHoleCluster"
	case FlowServiceEntry:
		_, port := splitPort(r.dialAddr)
		cluster = fmt.Sprintf("outbound|%s||%s", port, f.Host)
	}
	l := append(commonSpanAttrs(c, r),
		label{"http.url", fmt.Sprintf("http://%s%s", f.Host, r.path)},
		label{"peer.address", c.IP},
		label{"upstream_cluster", cluster}, label{"upstream_cluster.name", cluster})
	if r.upstreamAddr != "" {
		l = append(l, label{"upstream_address", r.upstreamAddr})
	}
	return l
}

// --- per-proxy grouping ----------------------------------------------------------------

// emitter groups one tick's access logs and spans by the proxy that reported them: one
// ResourceLogs / ResourceSpans per pod, as one Envoy's OTLP exporter sends them.
type emitter struct {
	g     *Generator
	b     *Batch
	logs  map[*Pod]plog.LogRecordSlice
	spans map[*Pod]ptrace.SpanSlice
}

func newEmitter(g *Generator, b *Batch) *emitter {
	return &emitter{g: g, b: b, logs: map[*Pod]plog.LogRecordSlice{}, spans: map[*Pod]ptrace.SpanSlice{}}
}

func (e *emitter) finish() {}

// accessLog adds a text record reported by pod p's proxy. The resource carries what
// Envoy's OpenTelemetry access logger sets (log_name, zone_name, cluster_name, node_name)
// and what k8sattributes adds from the connection (the pod's k8s.* attributes).
func (e *emitter) accessLog(p *Pod, line string) {
	lrs, ok := e.logs[p]
	if !ok {
		rl := e.b.Logs.ResourceLogs().AppendEmpty()
		attrs := rl.Resource().Attributes()
		attrs.PutStr("log_name", "otel_envoy_accesslog")
		attrs.PutStr("zone_name", "")
		attrs.PutStr("cluster_name", p.Workload.App+"."+p.Namespace())
		attrs.PutStr("node_name", NodeID(p))
		if !e.g.NoPodAttributes {
			putPodAttrs(attrs, p)
		}
		lrs = rl.ScopeLogs().AppendEmpty().LogRecords()
		e.logs[p] = lrs
	}
	e.g.exported(p, 1)
	lr := lrs.AppendEmpty()
	ts := parseLineTime(line)
	lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts.Add(150 * time.Millisecond)))
	lr.Body().SetStr(line)
}

func parseLineTime(line string) time.Time {
	t, _ := time.Parse("2006-01-02T15:04:05.000Z", line[1:25])
	return t
}

// putPodAttrs sets the attributes k8sattributes adds by default.
func putPodAttrs(attrs pcommon.Map, p *Pod) {
	attrs.PutStr("k8s.pod.name", p.Name)
	attrs.PutStr("k8s.pod.uid", p.UID)
	attrs.PutStr("k8s.namespace.name", p.Namespace())
	attrs.PutStr("k8s.node.name", p.Node)
	attrs.PutStr("k8s.pod.start_time", p.Start.UTC().Format(time.RFC3339))
	if p.Workload.Kind == KindDeployment {
		attrs.PutStr("k8s.deployment.name", p.Workload.Name)
	}
}

// span adds a span reported by pod p's proxy and returns its ID.
func (e *emitter) span(p *Pod, trace pcommon.TraceID, parent pcommon.SpanID, kind ptrace.SpanKind, r *request, attrs []label) pcommon.SpanID {
	ss, ok := e.spans[p]
	if !ok {
		rs := e.b.Traces.ResourceSpans().AppendEmpty()
		ra := rs.Resource().Attributes()
		ra.PutStr("service.name", p.Workload.App+"."+p.Namespace())
		if !e.g.NoPodAttributes {
			putPodAttrs(ra, p)
		}
		ss = rs.ScopeSpans().AppendEmpty().Spans()
		e.spans[p] = ss
	}
	e.g.exported(p, 1)
	sp := ss.AppendEmpty()
	var id pcommon.SpanID
	v := e.g.rng.Uint64()
	for i := range 8 {
		id[i] = byte(v >> (8 * i))
	}
	sp.SetTraceID(trace)
	sp.SetSpanID(id)
	sp.SetParentSpanID(parent)
	sp.SetKind(kind)
	sp.SetName(fmt.Sprintf("%s%s", r.authority, r.path))
	start := r.start
	if kind == ptrace.SpanKindServer {
		start = start.Add(300 * time.Microsecond)
	}
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(r.durMs)*time.Millisecond + 500*time.Microsecond)))
	a := sp.Attributes()
	a.EnsureCapacity(len(attrs))
	for _, l := range attrs {
		a.PutStr(l.k, l.v)
	}
	if r.code >= 500 || r.code == 403 {
		a.PutStr("error", "true")
		sp.Status().SetCode(ptrace.StatusCodeError)
	}
	return id
}
