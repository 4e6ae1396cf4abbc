package mesh

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// SpanKind mirrors the OTLP span kind, so that rules need not import pdata.
type SpanKind uint8

const (
	SpanKindUnspecified SpanKind = iota
	SpanKindInternal
	SpanKindServer
	SpanKindClient
	SpanKindProducer
	SpanKindConsumer
)

var spanKindNames = [...]string{"unspecified", "internal", "server", "client", "producer", "consumer"}

func (k SpanKind) String() string {
	if int(k) < len(spanKindNames) {
		return spanKindNames[k]
	}
	return "unspecified"
}

// SpanObservation is one Envoy span (attribute component=proxy).
//
// Spans alone cannot prove a sidecar bypass: they say nothing about TLS, and the client's
// span usually lives on another node's collector. They locate traffic (who called whom,
// through which cluster), nothing more.
type SpanObservation struct {
	TraceID    [16]byte
	SpanID     [8]byte
	Name       string
	Kind       SpanKind
	Start, End time.Time
	Error      bool // span status Error, or attribute error=true

	// Direction is ClassifyCluster(UpstreamCluster): inbound|, outbound|, passthrough,
	// blackhole, inbound passthrough, waypoint inbound-vip|.
	Direction       ClusterClass
	UpstreamCluster string // upstream_cluster, else upstream_cluster.name
	UpstreamAddress string
	// PeerAddress is peer.address / network.peer.address without a port: the downstream
	// client's IP on inbound spans, the application's own IP on outbound ones.
	PeerAddress string

	// Node is the proxy's parsed node_id (NodeOK false when absent or malformed).
	Node   NodeID
	NodeOK bool

	Method, URL, Protocol, UserAgent, ResponseFlags, DownstreamCluster, RequestID string
	StatusCode                                                                    int

	CanonicalService, CanonicalRevision, IstioNamespace, MeshID, IstioClusterID string

	// From resource attributes: service.name is `<canonical-service>.<namespace>` from
	// Istio; the pod fields come from k8sattributes when it runs before the processor.
	ServiceName, PodName, PodNamespace, PodUID string
}

// Inbound reports whether the span is the proxy receiving traffic for its workload: by its
// cluster, or, when the span names none, by kind SERVER.
func (s *SpanObservation) Inbound() bool {
	if s.Direction == ClusterUnknown {
		return s.Kind == SpanKindServer
	}
	return s.Direction.Inbound()
}

// Outbound reports whether the span is the proxy sending its workload's traffic out: by its
// cluster (outbound, passthrough, blackhole), or, when it names none, by kind CLIENT.
func (s *SpanObservation) Outbound() bool {
	if s.Direction == ClusterUnknown {
		return s.Kind == SpanKindClient
	}
	return s.Direction == ClusterOutbound || s.Direction.Egress()
}

// ReadSpans emits every Envoy span in td and returns how many there were. Other spans are
// skipped after one attribute lookup. The observation is reused: copy what you keep.
func ReadSpans(td ptrace.Traces, emit func(*SpanObservation)) int {
	var o SpanObservation
	n := 0
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		attrs := rs.Resource().Attributes()
		podName, podNamespace, podUID := ResourcePod(attrs)
		var serviceName string
		if v, ok := attrs.Get("service.name"); ok {
			serviceName = v.Str()
		}
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				if !readSpan(span, &o) {
					continue
				}
				o.ServiceName, o.PodName, o.PodNamespace, o.PodUID = serviceName, podName, podNamespace, podUID
				n++
				emit(&o)
			}
		}
	}
	return n
}

// IsEnvoySpan reports whether a span's attributes mark it as Envoy's (component=proxy).
func IsEnvoySpan(attrs pcommon.Map) bool {
	v, ok := attrs.Get("component")
	return ok && v.Type() == pcommon.ValueTypeStr && v.Str() == "proxy"
}

// readSpan fills o from an Envoy span; false if the span is not Envoy's.
func readSpan(span ptrace.Span, o *SpanObservation) bool {
	attrs := span.Attributes()
	if !IsEnvoySpan(attrs) {
		return false
	}
	*o = SpanObservation{
		TraceID: span.TraceID(),
		SpanID:  span.SpanID(),
		Name:    span.Name(),
		Kind:    SpanKind(span.Kind()),
		Start:   time.Unix(0, int64(span.StartTimestamp())).UTC(),
		End:     time.Unix(0, int64(span.EndTimestamp())).UTC(),
		Error:   span.Status().Code() == ptrace.StatusCodeError,
	}
	if span.Kind() < 0 || span.Kind() > ptrace.SpanKindConsumer {
		o.Kind = SpanKindUnspecified
	}
	var clusterName, peerLegacy, peerSemconv string
	var statusLegacy, statusSemconv pcommon.Value // zero Values must not be used: check the flags
	var hasStatusLegacy, hasStatusSemconv bool
	for k, v := range attrs.All() {
		switch k {
		case "upstream_cluster":
			o.UpstreamCluster = v.Str()
		case "upstream_cluster.name":
			clusterName = v.Str()
		case "upstream_address":
			o.UpstreamAddress = v.Str()
		case "peer.address":
			peerLegacy = v.Str()
		case "network.peer.address":
			peerSemconv = v.Str()
		case "node_id":
			o.Node, o.NodeOK = ParseNodeID(v.Str())
		case "http.method":
			if o.Method == "" {
				o.Method = v.Str()
			}
		case "http.request.method":
			o.Method = v.Str()
		case "http.url":
			if o.URL == "" {
				o.URL = v.Str()
			}
		case "url.full":
			o.URL = v.Str()
		case "http.status_code":
			statusLegacy, hasStatusLegacy = v, true
		case "http.response.status_code":
			statusSemconv, hasStatusSemconv = v, true
		case "http.protocol":
			o.Protocol = v.Str()
		case "user_agent":
			if o.UserAgent == "" {
				o.UserAgent = v.Str()
			}
		case "user_agent.original":
			o.UserAgent = v.Str()
		case "response_flags":
			o.ResponseFlags = v.Str()
		case "downstream_cluster":
			o.DownstreamCluster = v.Str()
		case "guid:x-request-id":
			o.RequestID = v.Str()
		case "error":
			o.Error = o.Error || (v.Type() == pcommon.ValueTypeBool && v.Bool()) || (v.Type() == pcommon.ValueTypeStr && v.Str() == "true")
		case "istio.canonical_service":
			o.CanonicalService = v.Str()
		case "istio.canonical_revision":
			o.CanonicalRevision = v.Str()
		case "istio.namespace":
			o.IstioNamespace = v.Str()
		case "istio.mesh_id":
			o.MeshID = v.Str()
		case "istio.cluster_id":
			o.IstioClusterID = v.Str()
		}
	}
	if o.UpstreamCluster == "" || o.UpstreamCluster == "-" {
		if clusterName != "" {
			o.UpstreamCluster = clusterName
		}
	}
	o.Direction = ClassifyCluster(o.UpstreamCluster)
	peer := peerSemconv
	if peer == "" {
		peer = peerLegacy
	}
	o.PeerAddress, _ = SplitHostPort(peer)
	if hasStatusSemconv {
		statusLegacy, hasStatusLegacy = statusSemconv, true
	}
	if hasStatusLegacy {
		if n, ok := attrInt(statusLegacy); ok && n >= 0 && n < 1000 {
			o.StatusCode = int(n)
		}
	}
	return true
}
