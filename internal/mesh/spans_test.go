package mesh

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func collectSpans(td ptrace.Traces) []SpanObservation {
	var got []SpanObservation
	ReadSpans(td, func(o *SpanObservation) { got = append(got, *o) })
	return got
}

func TestReadSpansKialiBookinfoTrace(t *testing.T) {
	td := loadTempo(t, "testdata/real/kiali/responseTrace.json")
	got := collectSpans(td)
	require.Len(t, got, td.SpanCount(), "every span in the trace is Envoy's")
	require.Len(t, got, 8)

	nodes := map[string]NodeID{}
	for _, o := range got {
		require.True(t, o.NodeOK, "node_id %q", o.Node)
		nodes[o.Node.IP] = o.Node
		assert.Equal(t, o.Node.Namespace, o.IstioNamespace, "node_id's namespace is Istio's namespace")
		assert.Equal(t, o.Node.Namespace+".svc.cluster.local", o.Node.Domain)
		assert.Equal(t, o.CanonicalService+"."+o.IstioNamespace, o.ServiceName, "resource service.name")
		assert.Equal(t, "GET", o.Method)
		assert.Equal(t, 200, o.StatusCode, "http.status_code arrives as a string")
		assert.Equal(t, "HTTP/1.1", o.Protocol)
		assert.Equal(t, "Go-http-client/1.1", o.UserAgent)
		assert.Equal(t, "-", o.ResponseFlags)
		assert.NotEmpty(t, o.RequestID)
		assert.Equal(t, "cluster.local", o.MeshID)
		assert.True(t, o.End.After(o.Start))

		switch o.Kind {
		case SpanKindServer:
			assert.Equal(t, ClusterInbound, o.Direction, o.UpstreamCluster)
			assert.Equal(t, "inbound|9080||", o.UpstreamCluster)
			assert.True(t, o.Inbound())
			assert.False(t, o.Outbound())
		case SpanKindClient:
			assert.Equal(t, ClusterOutbound, o.Direction, o.UpstreamCluster)
			_, port, _, host := ParseCluster(o.UpstreamCluster)
			assert.Equal(t, "9080", port)
			assert.Contains(t, []string{"productpage", "reviews", "details", "ratings"}, host[:len(host)-len(".bookinfo.svc.cluster.local")])
			assert.True(t, o.Outbound())
			assert.False(t, o.Inbound())
		default:
			t.Errorf("span %s: kind %s", o.Name, o.Kind)
		}
	}

	// Sidecars: outbound spans carry the application's own IP as peer.address; inbound spans
	// the caller's, and every caller is another proxy of this trace.
	for _, o := range got {
		if o.Node.ProxyType != "sidecar" {
			continue
		}
		if o.Kind == SpanKindClient {
			assert.Equal(t, o.Node.IP, o.PeerAddress, "outbound %s", o.Name)
		} else {
			caller, ok := nodes[o.PeerAddress]
			assert.True(t, ok, "inbound %s from %s: a proxy of this trace", o.Name, o.PeerAddress)
			assert.NotEqual(t, o.Node.IP, caller.IP)
		}
	}

	assert.Equal(t, map[string]NodeID{
		"10.244.0.14": {"router", "10.244.0.14", "istio-ingressgateway-79788cd94-wgmsp", "istio-system", "istio-system.svc.cluster.local"},
		"10.244.0.25": {"sidecar", "10.244.0.25", "productpage-v1-6f89b6c557-sg2bc", "bookinfo", "bookinfo.svc.cluster.local"},
		"10.244.0.21": {"sidecar", "10.244.0.21", "details-v1-7745b6fcf4-mrz75", "bookinfo", "bookinfo.svc.cluster.local"},
		"10.244.0.23": {"sidecar", "10.244.0.23", "reviews-v2-6f76498fc8-58wpn", "bookinfo", "bookinfo.svc.cluster.local"},
		"10.244.0.22": {"sidecar", "10.244.0.22", "ratings-v1-77bdbf89bb-qd48j", "bookinfo", "bookinfo.svc.cluster.local"},
	}, nodes)
}

func TestReadSpansKialiAmbientWaypoint(t *testing.T) {
	td := loadTempo(t, "testdata/real/kiali/responseAmbient.json")
	got := collectSpans(td)
	require.Len(t, got, 4)
	types := map[string]int{}
	for _, o := range got {
		require.True(t, o.NodeOK)
		types[o.Node.ProxyType]++
		assert.Equal(t, SpanKindUnspecified, o.Kind, "Tempo's search response has no kind")
		switch o.Node.ProxyType {
		case "waypoint":
			assert.Equal(t, ClusterInboundVIP, o.Direction, o.UpstreamCluster)
			assert.True(t, o.Inbound())
			assert.Equal(t, "waypoint.bookinfo", o.ServiceName)
			assert.Equal(t, "waypoint-5b7c754ccb-55jwk", o.Node.PodName)
		case "router":
			assert.Equal(t, ClusterOutbound, o.Direction)
			assert.True(t, o.Outbound())
			assert.Equal(t, "bookinfo-gateway-istio-6754756766-pmxnn", o.Node.PodName)
		}
		assert.Equal(t, "Kubernetes", o.IstioClusterID)
	}
	assert.Equal(t, map[string]int{"waypoint": 3, "router": 1}, types)
}

func TestReadSpansSemconvNamesAndNonEnvoySpans(t *testing.T) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "reviews.bookinfo")
	rs.Resource().Attributes().PutStr("k8s.pod.name", "reviews-v2-6f76498fc8-58wpn")
	rs.Resource().Attributes().PutStr("k8s.namespace.name", "bookinfo")
	rs.Resource().Attributes().PutStr("k8s.pod.uid", "uid-reviews")
	spans := rs.ScopeSpans().AppendEmpty().Spans()

	app := spans.AppendEmpty() // the application's own span
	app.Attributes().PutStr("http.request.method", "GET")
	other := spans.AppendEmpty()
	other.Attributes().PutStr("component", "net/http")

	s := spans.AppendEmpty()
	s.SetKind(ptrace.SpanKindServer)
	s.Status().SetCode(ptrace.StatusCodeError)
	a := s.Attributes()
	a.PutStr("component", "proxy")
	a.PutStr("upstream_cluster.name", "InboundPassthroughClusterIpv4")
	a.PutStr("network.peer.address", "10.244.0.40:53312")
	a.PutStr("peer.address", "10.0.0.99") // the semconv name wins
	a.PutInt("http.response.status_code", 503)
	a.PutStr("http.status_code", "200")
	a.PutStr("http.request.method", "POST")
	a.PutStr("url.full", "http://10.244.0.23:8081/admin")
	a.PutStr("user_agent.original", "curl/8.5.0")
	a.PutStr("node_id", "sidecar~10.244.0.23~reviews-v2-6f76498fc8-58wpn.bookinfo~bookinfo.svc.cluster.local")

	got := collectSpans(td)
	require.Len(t, got, 1)
	o := got[0]
	assert.Equal(t, ClusterInboundPassthrough, o.Direction)
	assert.Equal(t, "InboundPassthroughClusterIpv4", o.UpstreamCluster, "upstream_cluster.name when upstream_cluster is absent")
	assert.True(t, o.Inbound())
	assert.Equal(t, "10.244.0.40", o.PeerAddress)
	assert.Equal(t, 503, o.StatusCode)
	assert.Equal(t, "POST", o.Method)
	assert.Equal(t, "http://10.244.0.23:8081/admin", o.URL)
	assert.Equal(t, "curl/8.5.0", o.UserAgent)
	assert.True(t, o.Error)
	assert.Equal(t, "uid-reviews", o.PodUID)
	assert.Equal(t, "reviews-v2-6f76498fc8-58wpn", o.PodName)
	assert.Equal(t, "bookinfo", o.PodNamespace)
}

func TestReadSpansKindFallbackWithoutCluster(t *testing.T) {
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for _, k := range []ptrace.SpanKind{ptrace.SpanKindServer, ptrace.SpanKindClient} {
		s := spans.AppendEmpty()
		s.SetKind(k)
		s.Attributes().PutStr("component", "proxy")
		s.Attributes().PutStr("upstream_cluster", "-") // a local reply
		s.Attributes().PutStr("node_id", "garbage")
		s.Attributes().PutBool("error", true)
	}
	got := collectSpans(td)
	require.Len(t, got, 2)
	assert.True(t, got[0].Inbound())
	assert.False(t, got[0].Outbound())
	assert.True(t, got[1].Outbound())
	assert.False(t, got[1].NodeOK)
	assert.True(t, got[1].Error)
	assert.Equal(t, ClusterUnknown, got[1].Direction)
}

func TestIsEnvoySpan(t *testing.T) {
	m := pcommon.NewMap()
	assert.False(t, IsEnvoySpan(m))
	m.PutInt("component", 1)
	assert.False(t, IsEnvoySpan(m))
	m.PutStr("component", "proxy")
	assert.True(t, IsEnvoySpan(m))
}
