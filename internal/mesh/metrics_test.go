package mesh

import (
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

var mongodbScrape = promScrape{
	Resource: map[string]string{
		"service.name":        "envoy-stats",
		"service.instance.id": "10.244.0.30:15090",
		"k8s.pod.name":        "mongodb-v1-7f9c6b8d5-x2x7k",
		"k8s.namespace.name":  "default",
		"k8s.pod.uid":         "6d1c0c3e-2d6e-4a4f-9b1e-0d7f8e6a5b40",
	},
	Start: t0,
	Time:  t0.Add(15 * time.Second),
}

// istioProxyText is the 15090 scrape; the file has no trailing newline (SOURCES.md).
func istioProxyText(t testing.TB) string {
	return readRepoFile(t, "testdata/real/datadog/istio-proxy.txt") + "\n"
}

func collectTraffic(md pmetric.Metrics, r *MetricsReader) []TrafficObservation {
	var got []TrafficObservation
	r.Read(md, func(o *TrafficObservation) { got = append(got, *o) }, nil)
	return got
}

func byMetric(obs []TrafficObservation, k MetricKind) []TrafficObservation {
	var out []TrafficObservation
	for _, o := range obs {
		if o.Metric == k {
			out = append(out, o)
		}
	}
	return out
}

func TestReadMetricsRealIstioProxyPassthroughEgress(t *testing.T) {
	md := parsePromText(t, istioProxyText(t), mongodbScrape)
	dt := NewDeltaTracker(1000, time.Hour)
	r := &MetricsReader{Deltas: dt, Now: func() time.Time { return t0 }}

	got := collectTraffic(md, r)
	requests := byMetric(got, MetricRequests)
	require.Len(t, requests, 7, "istio_requests_total has 7 series, all first sightings")

	totals := map[string]float64{}
	codes := map[string]bool{}
	for _, o := range requests {
		assert.Equal(t, DeltaBaseline, o.Sighting)
		assert.Zero(t, o.Value, "a first sighting yields no delta")
		assert.Equal(t, "source", o.Reporter)
		assert.Equal(t, "mongodb-v1", o.SourceWorkload)
		assert.Equal(t, "default", o.SourceNamespace)
		assert.Equal(t, "unknown", o.SourcePrincipal, "no mTLS identity on passthrough egress")
		assert.Equal(t, "PassthroughCluster", o.DestinationServiceName)
		assert.Equal(t, ClusterPassthrough, o.DestinationClass)
		assert.Equal(t, "unknown", o.DestinationWorkload)
		assert.Equal(t, "unknown", o.DestinationServiceNamespace)
		assert.Equal(t, "unknown", o.ConnectionSecurityPolicy, "the source side always says unknown")
		assert.Equal(t, "http", o.RequestProtocol)
		assert.Equal(t, "-", o.ResponseFlags)
		assert.Empty(t, o.GRPCResponseStatus, `grpc_response_status="" is dropped by the receiver`)
		assert.Empty(t, o.SourceCluster, "Istio 1.5-1.7 has no cluster labels")
		assert.Equal(t, "mongodb-v1-7f9c6b8d5-x2x7k", o.PodName)
		assert.Equal(t, "6d1c0c3e-2d6e-4a4f-9b1e-0d7f8e6a5b40", o.PodUID)
		assert.Equal(t, "10.244.0.30:15090", o.ServiceInstanceID)
		totals[o.DestinationService] += o.Total
		codes[o.ResponseCode] = true
	}
	// The hosts are in destination_service; destination_service_name is PassthroughCluster.
	assert.Equal(t, map[string]float64{
		"archive.ubuntu.com":  49 + 1,    // 200, 304
		"security.ubuntu.com": 5 + 1,     // 200, 304
		"repo.mongodb.org":    8 + 2 + 1, // 200, 404, 304
	}, totals)
	assert.Equal(t, map[string]bool{"200": true, "304": true, "404": true}, codes)

	tcp := got[:0:0]
	for _, o := range got {
		if o.Metric != MetricRequests {
			tcp = append(tcp, o)
		}
	}
	require.Len(t, tcp, 4, "opened, closed, sent, received")
	for _, o := range tcp {
		assert.Equal(t, "destination", o.Reporter)
		assert.Equal(t, "ratings-v2", o.SourceWorkload)
		assert.Equal(t, "spiffe://cluster.local/ns/default/sa/bookinfo-ratings-v2", o.SourcePrincipal)
		assert.Equal(t, "mongodb-v1", o.DestinationWorkload)
		assert.Equal(t, "mongodb", o.DestinationServiceName)
		assert.Equal(t, ClusterOther, o.DestinationClass)
		assert.Equal(t, "mutual_tls", o.ConnectionSecurityPolicy)
		assert.Equal(t, "tcp", o.RequestProtocol)
		assert.Empty(t, o.ResponseCode, "TCP series have no response code")
	}
	tcpTotals := map[MetricKind]float64{}
	for _, o := range tcp {
		tcpTotals[o.Metric] = o.Total
	}
	assert.Equal(t, map[MetricKind]float64{
		MetricTCPConnectionsOpened: 1, MetricTCPConnectionsClosed: 1,
		MetricTCPSentBytes: 429, MetricTCPReceivedBytes: 341,
	}, tcpTotals)

	t.Run("same_scrape_again_says_nothing", func(t *testing.T) {
		again := parsePromText(t, istioProxyText(t), promScrape{Resource: mongodbScrape.Resource, Start: t0, Time: t0.Add(30 * time.Second)})
		assert.Empty(t, collectTraffic(again, r))
	})

	t.Run("growth_yields_deltas", func(t *testing.T) {
		next := parsePromText(t, istioProxyText(t), promScrape{Resource: mongodbScrape.Resource, Start: t0, Time: t0.Add(45 * time.Second)})
		addToSums(next, "istio_requests_total", 2)
		got := collectTraffic(next, r)
		require.Len(t, got, 7)
		for _, o := range got {
			assert.Equal(t, DeltaContinued, o.Sighting)
			assert.Equal(t, 2.0, o.Value)
		}
	})

	t.Run("proxy_restart_yields_the_new_totals", func(t *testing.T) {
		restarted := parsePromText(t, istioProxyText(t), promScrape{Resource: mongodbScrape.Resource, Start: t0.Add(50 * time.Second), Time: t0.Add(60 * time.Second)})
		got := collectTraffic(restarted, r)
		require.Len(t, got, 11)
		for _, o := range got {
			assert.Equal(t, DeltaReset, o.Sighting)
			assert.Equal(t, o.Total, o.Value)
		}
	})
	assert.Equal(t, 11, dt.Len())
}

func addToSums(md pmetric.Metrics, name string, add float64) {
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := 0; i < ms.Len(); i++ {
		if m := ms.At(i); m.Name() == name {
			for j := 0; j < m.Sum().DataPoints().Len(); j++ {
				dp := m.Sum().DataPoints().At(j)
				dp.SetDoubleValue(dp.DoubleValue() + add)
			}
		}
	}
}

func TestReadMetricsRealIstioProxyHistogramsCountRequests(t *testing.T) {
	md := parsePromText(t, istioProxyText(t), mongodbScrape)
	r := &MetricsReader{Deltas: NewDeltaTracker(1000, time.Hour), Kinds: AllMetricKinds}
	got := collectTraffic(md, r)

	key := func(o TrafficObservation) string { return o.DestinationService + "/" + o.ResponseCode }
	requests := map[string]float64{}
	for _, o := range byMetric(got, MetricRequests) {
		requests[key(o)] = o.Total
	}
	for _, k := range []MetricKind{MetricRequestDuration, MetricRequestBytes, MetricResponseBytes} {
		hist := byMetric(got, k)
		require.Len(t, hist, 7, k.String())
		for _, o := range hist {
			assert.Equal(t, requests[key(o)], o.Total, "%s %s: a histogram's count is the request count", k, key(o))
		}
	}
}

func TestReadMetricsRealIstioMergedMutualTLS(t *testing.T) {
	text := readRepoFile(t, "testdata/real/datadog/istio-merged.txt") + "\n"
	md := parsePromText(t, text, promScrape{
		Resource: map[string]string{
			"service.name": "kubernetes-pods", "service.instance.id": "10.244.0.23:15020",
			"k8s.pod.name": "reviews-v1-545db77b95-v44zn", "k8s.namespace.name": "default",
		},
		Start: t0, Time: t0.Add(15 * time.Second),
	})
	r := &MetricsReader{Deltas: NewDeltaTracker(1000, time.Hour), Kinds: AllMetricKinds}
	got := collectTraffic(md, r)

	// istio_requests_total and the three histograms, one series each; the agent's own
	// istio_agent_* metrics and istio_build are not traffic.
	require.Len(t, got, 4)
	kinds := map[MetricKind]bool{}
	for _, o := range got {
		kinds[o.Metric] = true
		assert.Equal(t, "destination", o.Reporter)
		assert.Equal(t, "productpage-v1", o.SourceWorkload)
		assert.Equal(t, "spiffe://cluster.local/ns/default/sa/bookinfo-productpage", o.SourcePrincipal)
		assert.Equal(t, "reviews-v1", o.DestinationWorkload)
		assert.Equal(t, "reviews.default.svc.cluster.local", o.DestinationService)
		assert.Equal(t, "Kubernetes", o.SourceCluster)
		assert.Equal(t, "mutual_tls", o.ConnectionSecurityPolicy)
		assert.NotEqual(t, "none", o.ConnectionSecurityPolicy)
		assert.Equal(t, "200", o.ResponseCode)
		assert.Equal(t, 1.0, o.Total)
	}
	assert.Len(t, kinds, 4)
}

func TestMetricKindOf(t *testing.T) {
	tests := []struct {
		name string
		want MetricKind
	}{
		{"istio_requests_total", MetricRequests},
		{"istio_requests", MetricRequests},
		{"istio.requests", MetricRequests},
		{"istio.requests.total", MetricRequests},
		{"istio_request_messages_total", MetricRequestMessages},
		{"istio_response_messages_total", MetricResponseMessages},
		{"istio_tcp_connections_opened_total", MetricTCPConnectionsOpened},
		{"istio_tcp_connections_opened", MetricTCPConnectionsOpened},
		{"istio.tcp.connections_opened", MetricTCPConnectionsOpened},
		{"istio_tcp_connections_closed_total", MetricTCPConnectionsClosed},
		{"istio_tcp_sent_bytes_total", MetricTCPSentBytes},
		{"istio_tcp_sent_bytes", MetricTCPSentBytes},
		{"istio_tcp_sent", MetricTCPSentBytes},
		{"istio_tcp_received_bytes_total", MetricTCPReceivedBytes},
		{"istio.tcp.received.bytes", MetricTCPReceivedBytes},
		{"istio_request_duration_milliseconds", MetricRequestDuration},
		{"istio.request.duration", MetricRequestDuration},
		{"istio_request_bytes", MetricRequestBytes},
		{"istio_response_bytes", MetricResponseBytes},
		{"k8s.pod.network.io", MetricPodNetworkIO},
		{"k8s_pod_network_io_bytes_total", MetricPodNetworkIO},
		{"istio_build", MetricUnknown},
		{"istio_agent_scrapes_total", MetricUnknown},
		{"istio_requests_totals", MetricUnknown},
		{"istio_request", MetricUnknown},
		{"envoy_cluster_upstream_cx_total", MetricUnknown},
		// Envoy RBAC filter stats, however the stat prefix was tagged.
		{"envoy_http_rbac_denied", MetricRBACDenied},
		{"envoy_http_inbound_0_0_0_0_8080_rbac_denied", MetricRBACDenied},
		{"envoy_http_inbound_0_0_0_0_8080_rbac_denied_total", MetricRBACDenied},
		{"envoy_rbac_denied", MetricRBACDenied},
		{"envoy.http.rbac.denied", MetricRBACDenied},
		{"envoy_http_rbac_allowed", MetricUnknown},
		{"envoy_http_inbound_0_0_0_0_8080_rbac_shadow_denied", MetricUnknown},
		{"envoy_http_rbac_istio_dry_run_allow_shadow_denied", MetricUnknown},
		{"envoy_http_xrbac_denied", MetricUnknown},
		{"rbac_denied", MetricUnknown},
		{"envoy_rbac_denie", MetricUnknown},
		{"", MetricUnknown},
		{"_total", MetricUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, MetricKindOf(tt.name))
		})
	}
}

// newSum adds a cumulative monotonic sum to a fresh resource and returns it.
func newSum(md pmetric.Metrics, res map[string]string, name string) pmetric.Sum {
	rm := md.ResourceMetrics().AppendEmpty()
	for k, v := range res {
		rm.Resource().Attributes().PutStr(k, v)
	}
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName(name)
	s := m.SetEmptySum()
	s.SetIsMonotonic(true)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	return s
}

func TestReadMetricsMissingLabelsAndOrder(t *testing.T) {
	dt := NewDeltaTracker(100, time.Hour)
	res := map[string]string{"k8s.pod.uid": "uid-1"}
	build := func(value float64, keys ...string) pmetric.Metrics {
		md := pmetric.NewMetrics()
		dp := newSum(md, res, "istio_requests").DataPoints().AppendEmpty()
		labels := map[string]string{"reporter": "destination", "destination_workload": "reviews-v2", "connection_security_policy": "none"}
		for _, k := range keys {
			dp.Attributes().PutStr(k, labels[k])
		}
		dp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
		dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(value) * time.Second)))
		dp.SetDoubleValue(value)
		return md
	}

	var got []TrafficObservation
	emit := func(o *TrafficObservation) { got = append(got, *o) }
	ReadMetrics(build(1, "reporter", "destination_workload", "connection_security_policy"), dt, emit)
	require.Len(t, got, 1)
	o := got[0]
	assert.Equal(t, "destination", o.Reporter)
	assert.Equal(t, "none", o.ConnectionSecurityPolicy)
	assert.Empty(t, o.SourceWorkload, "absent labels are empty")
	assert.Empty(t, o.DestinationServiceName)
	assert.Equal(t, ClusterUnknown, o.DestinationClass)

	// The same attributes in another order are the same series.
	ReadMetrics(build(3, "connection_security_policy", "destination_workload", "reporter"), dt, emit)
	require.Len(t, got, 2)
	assert.Equal(t, DeltaContinued, got[1].Sighting)
	assert.Equal(t, 2.0, got[1].Value)
	assert.Equal(t, got[0].Series, got[1].Series)

	// A different attribute set is another series.
	ReadMetrics(build(5, "reporter", "destination_workload"), dt, emit)
	require.Len(t, got, 3)
	assert.Equal(t, DeltaBaseline, got[2].Sighting)
	assert.Equal(t, 2, dt.Len())
}

func TestReadMetricsSeriesIdentityIncludesResource(t *testing.T) {
	dt := NewDeltaTracker(100, time.Hour)
	md := pmetric.NewMetrics()
	for _, res := range []map[string]string{
		{"k8s.pod.uid": "uid-1", "service.name": "envoy-stats"},
		{"k8s.pod.uid": "uid-2", "service.name": "envoy-stats"},
		{"k8s.pod.uid": "uid-1", "service.name": "merged"}, // scraped twice: two series, not one
		{"host.name": "no-identity-attributes"},
	} {
		dp := newSum(md, res, "istio_requests_total").DataPoints().AppendEmpty()
		dp.Attributes().PutStr("reporter", "source")
		dp.SetTimestamp(pcommon.NewTimestampFromTime(t0))
		dp.SetDoubleValue(1)
	}
	n := 0
	ReadMetrics(md, dt, func(*TrafficObservation) { n++ })
	assert.Equal(t, 4, n)
	assert.Equal(t, 4, dt.Len())
}

func TestReadMetricsDeltaTemporalityPassesThrough(t *testing.T) {
	dt := NewDeltaTracker(100, time.Hour)
	md := pmetric.NewMetrics()
	s := newSum(md, nil, "istio.requests")
	s.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	dp := s.DataPoints().AppendEmpty()
	dp.Attributes().PutStr("reporter", "destination")
	dp.Attributes().PutInt("response_code", 503) // an OTLP-native sender may use an int
	dp.SetIntValue(4)
	dp.SetTimestamp(pcommon.NewTimestampFromTime(t0))

	var got []TrafficObservation
	for range 2 {
		ReadMetrics(md, dt, func(o *TrafficObservation) { got = append(got, *o) })
	}
	require.Len(t, got, 2, "delta points are deltas already, every time")
	assert.Equal(t, 4.0, got[0].Value)
	assert.Equal(t, DeltaContinued, got[0].Sighting)
	assert.Equal(t, "503", got[0].ResponseCode)
	assert.Equal(t, t0, got[0].Timestamp)
	assert.Zero(t, dt.Len(), "delta series are not tracked")
	assert.Equal(t, uint64(2), dt.Stats().DeltaPoints)
}

func TestReadMetricsSkipsStalenessMarkersAndOtherMetrics(t *testing.T) {
	dt := NewDeltaTracker(100, time.Hour)
	md := pmetric.NewMetrics()
	s := newSum(md, nil, "istio_requests_total")
	dp := s.DataPoints().AppendEmpty()
	dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true)) // the series went away
	dp.SetDoubleValue(1)
	newSum(md, nil, "envoy_cluster_upstream_cx_total").DataPoints().AppendEmpty().SetDoubleValue(1)
	g := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	g.SetName("istio_requests_total")
	g.SetEmptyGauge().DataPoints().AppendEmpty().SetDoubleValue(1) // wrong type: ignored

	n := 0
	ReadMetrics(md, dt, func(*TrafficObservation) { n++ })
	assert.Zero(t, n)
	assert.Zero(t, dt.Len())
}

func TestReadMetricsKindsSelectWhatIsRead(t *testing.T) {
	md := parsePromText(t, istioProxyText(t), mongodbScrape)
	r := &MetricsReader{Deltas: NewDeltaTracker(1000, time.Hour), Kinds: KindsOf(MetricTCPSentBytes)}
	got := collectTraffic(md, r)
	require.Len(t, got, 1)
	assert.Equal(t, MetricTCPSentBytes, got[0].Metric)
	assert.True(t, AllMetricKinds.Has(MetricResponseBytes))
	assert.False(t, DefaultMetricKinds.Has(MetricResponseBytes))
	assert.False(t, AllMetricKinds.Has(MetricUnknown))
}

func kubeletPodNetwork(md pmetric.Metrics, uid string, rx, tx int64, at time.Time) {
	s := newSum(md, map[string]string{"k8s.pod.uid": uid, "k8s.pod.name": "reviews-v2-6f76498fc8-58wpn", "k8s.namespace.name": "bookinfo"}, "k8s.pod.network.io")
	for _, d := range []struct {
		dir string
		v   int64
	}{{"receive", rx}, {"transmit", tx}} {
		dp := s.DataPoints().AppendEmpty()
		dp.Attributes().PutStr("interface", "eth0")
		dp.Attributes().PutStr("direction", d.dir)
		dp.SetIntValue(d.v)
		dp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
		dp.SetTimestamp(pcommon.NewTimestampFromTime(at))
	}
}

func TestReadPodNetwork(t *testing.T) {
	dt := NewDeltaTracker(100, time.Hour)
	var got []PodNetworkObservation
	emit := func(o *PodNetworkObservation) { got = append(got, *o) }

	md := pmetric.NewMetrics()
	kubeletPodNetwork(md, "uid-r", 1000, 5000, t0.Add(10*time.Second))
	ReadPodNetwork(md, dt, emit)
	require.Len(t, got, 2)
	for _, o := range got {
		assert.Equal(t, DeltaBaseline, o.Sighting)
		assert.Equal(t, "eth0", o.Interface)
		assert.Equal(t, "uid-r", o.PodUID)
		assert.Equal(t, "reviews-v2-6f76498fc8-58wpn", o.PodName)
		assert.Equal(t, "bookinfo", o.PodNamespace)
	}

	got = nil
	md = pmetric.NewMetrics()
	kubeletPodNetwork(md, "uid-r", 1200, 9000, t0.Add(20*time.Second))
	ReadPodNetwork(md, dt, emit)
	require.Len(t, got, 2)
	sort.Slice(got, func(i, j int) bool { return !got[i].Transmit && got[j].Transmit })
	assert.False(t, got[0].Transmit)
	assert.Equal(t, "receive", got[0].Direction)
	assert.Equal(t, 200.0, got[0].Value)
	assert.True(t, got[1].Transmit)
	assert.Equal(t, 4000.0, got[1].Value)
	assert.Equal(t, 9000.0, got[1].Total)

	// Traffic readers ignore pod network points, and the other way round.
	n := 0
	ReadMetrics(md, dt, func(*TrafficObservation) { n++ })
	ReadPodNetwork(parsePromText(t, istioProxyText(t), mongodbScrape), dt, emit)
	assert.Zero(t, n)
	assert.Len(t, got, 2)
}

func TestReadMetricsOnePassFeedsBothCallbacks(t *testing.T) {
	md := parsePromText(t, istioProxyText(t), mongodbScrape)
	kubeletPodNetwork(md, "uid-r", 1, 2, t0.Add(10*time.Second))
	r := &MetricsReader{Deltas: NewDeltaTracker(1000, time.Hour)}
	traffic, pod := 0, 0
	r.Read(md, func(*TrafficObservation) { traffic++ }, func(*PodNetworkObservation) { pod++ })
	assert.Equal(t, 11, traffic)
	assert.Equal(t, 2, pod)
}
