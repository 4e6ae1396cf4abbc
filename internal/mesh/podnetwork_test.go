package mesh

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// kubeletstatsPodNetwork is one kubeletstats scrape of a pod as the receiver emits it:
// resource k8s.pod.uid/name, k8s.namespace.name, k8s.node.name; k8s.pod.network.io a
// cumulative monotonic int Sum (unit By) with direction and interface per point, one pair
// per interface the pod has.
func kubeletstatsPodNetwork(md pmetric.Metrics, at time.Time, ifaces map[string][2]int64) {
	rm := md.ResourceMetrics().AppendEmpty()
	res := rm.Resource().Attributes()
	res.PutStr("k8s.pod.uid", "0f6b1c7e-3a5d-4c59-9a8e-2b1e5f0c7d11")
	res.PutStr("k8s.pod.name", "reviews-v1-545db77b95-kx7nm")
	res.PutStr("k8s.namespace.name", "default")
	res.PutStr("k8s.node.name", "worker-1")
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("github.com/open-telemetry/opentelemetry-collector-contrib/receiver/kubeletstatsreceiver")
	m := sm.Metrics().AppendEmpty()
	m.SetName("k8s.pod.network.io")
	m.SetUnit("By")
	s := m.SetEmptySum()
	s.SetIsMonotonic(true)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for iface, rxtx := range ifaces {
		for i, dir := range []string{"receive", "transmit"} {
			dp := s.DataPoints().AppendEmpty()
			dp.Attributes().PutStr("interface", iface)
			dp.Attributes().PutStr("direction", dir)
			dp.SetIntValue(rxtx[i])
			dp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
			dp.SetTimestamp(pcommon.NewTimestampFromTime(at))
		}
	}
}

func TestPodNetworkTransmitOnThePrimaryInterface(t *testing.T) {
	dt := NewDeltaTracker(100, time.Hour)
	var tx []PodNetworkObservation
	emit := func(o *PodNetworkObservation) {
		if o.Transmit && PodPrimaryInterface(o.Interface) {
			tx = append(tx, *o)
		}
	}
	md := pmetric.NewMetrics()
	kubeletstatsPodNetwork(md, t0.Add(10*time.Second), map[string][2]int64{"eth0": {1000, 5000}, "net1": {10, 20}})
	ReadPodNetwork(md, dt, emit)
	require.Len(t, tx, 1, "a first sighting, eth0 only")
	assert.Equal(t, DeltaBaseline, tx[0].Sighting)

	tx = nil
	md = pmetric.NewMetrics()
	kubeletstatsPodNetwork(md, t0.Add(20*time.Second), map[string][2]int64{"eth0": {1100, 55000}, "net1": {10, 9000}})
	ReadPodNetwork(md, dt, emit)
	require.Len(t, tx, 1, "the secondary interface's growth is not the pod's own")
	assert.Equal(t, 50000.0, tx[0].Value)
	assert.Equal(t, "eth0", tx[0].Interface)
	assert.Equal(t, "0f6b1c7e-3a5d-4c59-9a8e-2b1e5f0c7d11", tx[0].PodUID)
	assert.Equal(t, t0.Add(20*time.Second), tx[0].Timestamp)

	assert.True(t, PodPrimaryInterface(""), "no interface attribute: the pod's only one")
	assert.False(t, PodPrimaryInterface("tunl0"))
}

// reviewsMergedScrape is the 15020 (merged) scrape of reviews-v1's sidecar.
var reviewsMergedScrape = promScrape{
	Resource: map[string]string{
		"service.name": "istio-merged", "service.instance.id": "10.244.0.23:15020",
		"k8s.pod.name": "reviews-v1-545db77b95-kx7nm", "k8s.namespace.name": "default",
	},
	Start: t0,
	Time:  t0.Add(15 * time.Second),
}

// rescrape moves every point of md one scrape on and grows the byte histograms' sums by
// grow bytes over one more request.
func rescrape(md pmetric.Metrics, at time.Time, grow float64) {
	ts := pcommon.NewTimestampFromTime(at)
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		ms := rms.At(i).ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			switch m.Type() {
			case pmetric.MetricTypeSum:
				for k := 0; k < m.Sum().DataPoints().Len(); k++ {
					m.Sum().DataPoints().At(k).SetTimestamp(ts)
				}
			case pmetric.MetricTypeHistogram:
				for k := 0; k < m.Histogram().DataPoints().Len(); k++ {
					dp := m.Histogram().DataPoints().At(k)
					dp.SetTimestamp(ts)
					if k := MetricKindOf(m.Name()); grow > 0 && (k == MetricRequestBytes || k == MetricResponseBytes) {
						dp.SetSum(dp.Sum() + grow)
						dp.SetCount(dp.Count() + 1)
					}
				}
			}
		}
	}
}

func TestReadByteHistogramSums(t *testing.T) {
	text := readRepoFile(t, "testdata/real/datadog/istio-merged.txt") + "\n"
	md := parsePromText(t, text, reviewsMergedScrape)
	r := &MetricsReader{Deltas: NewDeltaTracker(1000, time.Hour), Kinds: DefaultMetricKinds | EgressMetricKinds}

	first := byKind(collectTraffic(md, r))
	require.Len(t, first[MetricResponseBytes], 1)
	o := first[MetricResponseBytes][0]
	assert.Equal(t, DeltaBaseline, o.Sighting)
	assert.Equal(t, 2150.0, o.Bytes, "a first sighting carries the whole sum, like Total")
	assert.Equal(t, 545.0, first[MetricRequestBytes][0].Bytes)

	rescrape(md, t0.Add(30*time.Second), 4096)
	second := byKind(collectTraffic(md, r))
	require.Len(t, second[MetricResponseBytes], 1)
	o = second[MetricResponseBytes][0]
	assert.Equal(t, DeltaContinued, o.Sighting)
	assert.Equal(t, 1.0, o.Value, "Value still counts requests")
	assert.Equal(t, 4096.0, o.Bytes, "Bytes is the sum's growth")
	sent, ok := ProxyEgressBytes(&o)
	assert.True(t, ok)
	assert.Equal(t, 4096.0, sent, "reviews' sidecar sent its response out of the pod")
	req := second[MetricRequestBytes][0]
	_, ok = ProxyEgressBytes(&req)
	assert.False(t, ok, "the request reached reviews: it came in, it did not go out")

	rescrape(md, t0.Add(45*time.Second), 0)
	assert.Empty(t, collectTraffic(md, r), "no growth, nothing emitted")
	assert.Empty(t, first[MetricRequestDuration], "the duration histogram is not an egress kind")
}

func byKind(obs []TrafficObservation) map[MetricKind][]TrafficObservation {
	out := map[MetricKind][]TrafficObservation{}
	for _, o := range obs {
		out[o.Metric] = append(out[o.Metric], o)
	}
	return out
}

func TestProxyEgressBytes(t *testing.T) {
	tests := []struct {
		name     string
		reporter string
		metric   MetricKind
		want     float64
		ok       bool
	}{
		{"client_sends_its_requests", "source", MetricRequestBytes, 100, true},
		{"client_does_not_send_the_responses", "source", MetricResponseBytes, 0, false},
		{"client_sends_tcp_request_bytes", "source", MetricTCPReceivedBytes, 7, true},
		{"client_receives_tcp_response_bytes", "source", MetricTCPSentBytes, 0, false},
		{"server_sends_its_responses", "destination", MetricResponseBytes, 100, true},
		{"server_receives_the_requests", "destination", MetricRequestBytes, 0, false},
		{"server_sends_tcp_response_bytes", "destination", MetricTCPSentBytes, 7, true},
		{"server_receives_tcp_request_bytes", "destination", MetricTCPReceivedBytes, 0, false},
		{"waypoint_is_no_pods_own", "waypoint", MetricTCPSentBytes, 0, false},
		{"requests_are_not_bytes", "source", MetricRequests, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &TrafficObservation{Reporter: tt.reporter, Metric: tt.metric, Value: 7, Bytes: 100}
			got, ok := ProxyEgressBytes(o)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}
