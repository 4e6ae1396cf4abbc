package mesh

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestClassifyCluster(t *testing.T) {
	tests := []struct {
		name string
		want ClusterClass
	}{
		{"", ClusterUnknown},
		{"-", ClusterUnknown},
		{"unknown", ClusterUnknown},
		{"inbound|9080||", ClusterInbound},
		{"inbound|9080|http|reviews.bookinfo.svc.cluster.local", ClusterInbound},
		{"outbound|9080||reviews.bookinfo.svc.cluster.local", ClusterOutbound},
		{"outbound|9080|v2|reviews.bookinfo.svc.cluster.local", ClusterOutbound},
		{"outbound_.443_._.istio-egressgateway.istio-system.svc.cluster.local", ClusterOutbound},
		{"PassthroughCluster", ClusterPassthrough},
		{"BlackHoleCluster", ClusterBlackHole},
		{"InboundPassthroughCluster", ClusterInboundPassthrough},
		{"InboundPassthroughClusterIpv4", ClusterInboundPassthrough},
		{"InboundPassthroughClusterIpv6", ClusterInboundPassthrough},
		{"inbound-vip|9080|http|reviews.bookinfo.svc.cluster.local", ClusterInboundVIP},
		{"reviews", ClusterOther}, // a destination_service_name
		{"passthroughcluster", ClusterOther},
		{"inbound", ClusterOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ClassifyCluster(tt.name))
		})
	}
}

func TestClusterClassDirections(t *testing.T) {
	assert.True(t, ClusterInbound.Inbound())
	assert.True(t, ClusterInboundPassthrough.Inbound())
	assert.True(t, ClusterInboundVIP.Inbound())
	assert.False(t, ClusterOutbound.Inbound())
	assert.True(t, ClusterPassthrough.Egress())
	assert.True(t, ClusterBlackHole.Egress())
	assert.False(t, ClusterOutbound.Egress())
	assert.Equal(t, "inbound_passthrough", ClusterInboundPassthrough.String())
	assert.Equal(t, "unknown", ClusterClass(200).String())
}

func TestParseCluster(t *testing.T) {
	c, port, subset, host := ParseCluster("outbound|9080|v2|reviews.bookinfo.svc.cluster.local")
	assert.Equal(t, ClusterOutbound, c)
	assert.Equal(t, []string{"9080", "v2", "reviews.bookinfo.svc.cluster.local"}, []string{port, subset, host})

	c, port, subset, host = ParseCluster("inbound|9080||")
	assert.Equal(t, ClusterInbound, c)
	assert.Equal(t, []string{"9080", "", ""}, []string{port, subset, host})

	c, port, subset, host = ParseCluster("outbound_.443_._.istio-egressgateway.istio-system.svc.cluster.local")
	assert.Equal(t, ClusterOutbound, c)
	assert.Equal(t, []string{"443", "", "istio-egressgateway.istio-system.svc.cluster.local"}, []string{port, subset, host})

	c, port, _, host = ParseCluster("PassthroughCluster")
	assert.Equal(t, ClusterPassthrough, c)
	assert.Empty(t, port+host)

	c, port, _, _ = ParseCluster("inbound|")
	assert.Equal(t, ClusterInbound, c)
	assert.Empty(t, port)
}

func TestParseNodeID(t *testing.T) {
	tests := []struct {
		in   string
		want NodeID
		ok   bool
	}{
		{
			"sidecar~10.244.0.25~productpage-v1-6f89b6c557-sg2bc.bookinfo~bookinfo.svc.cluster.local",
			NodeID{"sidecar", "10.244.0.25", "productpage-v1-6f89b6c557-sg2bc", "bookinfo", "bookinfo.svc.cluster.local"}, true,
		},
		{
			"router~10.244.0.14~istio-ingressgateway-79788cd94-wgmsp.istio-system~istio-system.svc.cluster.local",
			NodeID{"router", "10.244.0.14", "istio-ingressgateway-79788cd94-wgmsp", "istio-system", "istio-system.svc.cluster.local"}, true,
		},
		{
			"waypoint~10.244.0.28~waypoint-5b7c754ccb-55jwk.bookinfo~bookinfo.svc.cluster.local",
			NodeID{"waypoint", "10.244.0.28", "waypoint-5b7c754ccb-55jwk", "bookinfo", "bookinfo.svc.cluster.local"}, true,
		},
		{ // pod names may contain dots; namespaces may not
			"sidecar~fd00::5~my.dotted.pod.ns1~ns1.svc.cluster.local",
			NodeID{"sidecar", "fd00::5", "my.dotted.pod", "ns1", "ns1.svc.cluster.local"}, true,
		},
		{"sidecar~10.0.0.1~pod.ns", NodeID{}, false},
		{"sidecar~~pod.ns~ns.svc.cluster.local", NodeID{}, false},
		{"a~b~c~d~e", NodeID{}, false},
		{"", NodeID{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := ParseNodeID(tt.in)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestSplitHostPort(t *testing.T) {
	tests := []struct{ in, host, port string }{
		{"10.244.0.25:43210", "10.244.0.25", "43210"},
		{"10.244.0.25", "10.244.0.25", ""},
		{"[fd00::28]:53313", "fd00::28", "53313"},
		{"[fd00::28]", "fd00::28", ""},
		{"fd00::28", "fd00::28", ""},
		{"-", "", ""},
		{"", "", ""},
		{"[broken", "[broken", ""},
		{"envoy://connect_originate/10.0.0.1:80", "envoy://connect_originate/10.0.0.1:80", ""}, // unrecognised: whole
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			h, p := SplitHostPort(tt.in)
			assert.Equal(t, tt.host, h)
			assert.Equal(t, tt.port, p)
		})
	}
}
