package meshsim

import (
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// This file: Istio's standard metrics as the collector's prometheus receiver delivers them
// after scraping each meshed pod's merged endpoint (:15020/stats/prometheus) through
// Kubernetes service discovery: counters as cumulative monotonic double Sums keeping their
// _total suffix, istio_request_duration_milliseconds as an explicit-bucket Histogram, every
// series on every scrape (grown or not), empty labels dropped, `up` and `scrape_*`, and the
// resource from service discovery. Plus kubeletstats' k8s.pod.network.io per pod.

// label is one attribute.
type label struct{ k, v string }

// istioDurationBuckets are Istio's default buckets for istio_request_duration_milliseconds.
var istioDurationBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

// istioBytesBuckets are Istio's default buckets for istio_request_bytes and istio_response_bytes.
var istioBytesBuckets = []float64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000}

// Metric names in the order a scrape lists them.
const (
	mRequests   = "istio_requests_total"
	mDuration   = "istio_request_duration_milliseconds"
	mReqBytes   = "istio_request_bytes"
	mRespBytes  = "istio_response_bytes"
	mTCPOpened  = "istio_tcp_connections_opened_total"
	mTCPClosed  = "istio_tcp_connections_closed_total"
	mTCPSent    = "istio_tcp_sent_bytes_total"
	mTCPRecv    = "istio_tcp_received_bytes_total"
	scrapeJob   = "kubernetes-pods"
	scrapePort  = "15020"
	promScope   = "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/prometheusreceiver"
	kubeletScop = "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/kubeletstatsreceiver"
	scopeVer    = "0.161.0"
)

var metricOrder = []string{mRequests, mDuration, mReqBytes, mRespBytes, mTCPOpened, mTCPClosed, mTCPSent, mTCPRecv}

type seriesKey struct {
	pod    *Pod
	metric string
	labels string
}

// series is one cumulative series of one pod's proxy.
type series struct {
	metric  string
	labels  []label
	value   float64
	count   uint64
	sum     float64
	bounds  []float64 // histograms: explicit bounds
	buckets []uint64
	start   time.Time // set at the first scrape that shows it
}

type podNet struct{ rx, tx int64 }

func (g *Generator) get(p *Pod, metric string, labels []label) *series {
	var b strings.Builder
	for _, l := range labels {
		b.WriteString(l.k)
		b.WriteByte('=')
		b.WriteString(l.v)
		b.WriteByte(',')
	}
	k := seriesKey{p, metric, b.String()}
	s, ok := g.series[k]
	if !ok {
		s = &series{metric: metric, labels: labels}
		switch metric {
		case mDuration:
			s.bounds = istioDurationBuckets
		case mReqBytes, mRespBytes:
			s.bounds = istioBytesBuckets
		}
		if s.bounds != nil {
			s.buckets = make([]uint64, len(s.bounds)+1)
		}
		g.series[k] = s
		g.order[p] = append(g.order[p], s)
	}
	return s
}

// record counts a request or connection in pod p's proxy metrics: the payload bytes of
// both directions as every proxy in the path counts them (the same at both reporters).
func (g *Generator) record(p *Pod, labels []label, r *request) {
	proto := ""
	for _, l := range labels {
		if l.k == "request_protocol" {
			proto = l.v
		}
	}
	if proto == ProtoTCP {
		// Named after the connection: received is what the client sent, sent what the
		// server sent back.
		g.get(p, mTCPOpened, labels).value++
		g.get(p, mTCPClosed, labels).value++
		g.get(p, mTCPSent, labels).value += float64(r.respBytes)
		g.get(p, mTCPRecv, labels).value += float64(r.reqBytes)
		return
	}
	g.get(p, mRequests, labels).value++
	g.get(p, mDuration, labels).observe(float64(1 + g.rng.IntN(60)))
	g.get(p, mReqBytes, labels).observe(float64(r.reqBytes))
	g.get(p, mRespBytes, labels).observe(float64(r.respBytes))
}

// observe adds one value to a histogram series.
func (s *series) observe(v float64) {
	s.count++
	s.sum += v
	i := 0
	for i < len(s.bounds) && v > s.bounds[i] {
		i++
	}
	s.buckets[i]++
}

// scrape appends one scrape of every meshed pod's proxy and one kubeletstats collection.
func (g *Generator) scrape(b *Batch, t int, at time.Time) {
	ts := pcommon.NewTimestampFromTime(at)
	for _, w := range g.plan.Topology.Workloads {
		if g.appearTick(w) > t {
			continue
		}
		for _, p := range w.Pods {
			if w.Meshed {
				g.scrapePod(b.Metrics, p, at, ts)
			}
		}
	}
	for _, w := range g.plan.Topology.Workloads {
		if g.appearTick(w) > t {
			continue
		}
		for _, p := range w.Pods {
			g.kubeletPod(b.Metrics, p, ts)
		}
	}
}

func (g *Generator) scrapePod(md pmetric.Metrics, p *Pod, at time.Time, ts pcommon.Timestamp) {
	if _, ok := g.scraped[p]; !ok {
		g.scraped[p] = at
	}
	rm := md.ResourceMetrics().AppendEmpty()
	ra := rm.Resource().Attributes()
	instance := p.IP + ":" + scrapePort
	ra.PutStr("service.name", scrapeJob)
	ra.PutStr("service.instance.id", instance)
	ra.PutStr("server.address", p.IP)
	ra.PutStr("server.port", scrapePort)
	ra.PutStr("url.scheme", "http")
	ra.PutStr("k8s.pod.name", p.Name)
	ra.PutStr("k8s.pod.uid", p.UID)
	ra.PutStr("k8s.container.name", "istio-proxy")
	ra.PutStr("k8s.namespace.name", p.Namespace())
	ra.PutStr("k8s.node.name", p.Node)
	switch w := p.Workload; w.Kind {
	case KindDeployment:
		ra.PutStr("k8s.replicaset.name", w.Name+"-"+w.Hash)
	case KindStatefulSet:
		ra.PutStr("k8s.statefulset.name", w.Name)
	case KindDaemonSet:
		ra.PutStr("k8s.daemonset.name", w.Name)
	case KindJob:
		ra.PutStr("k8s.job.name", w.Name)
	}
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(promScope)
	sm.Scope().SetVersion(scopeVer)
	ms := sm.Metrics()
	samples := 0
	for _, name := range metricOrder {
		var m pmetric.Metric
		for _, s := range g.order[p] {
			if s.metric != name {
				continue
			}
			if s.start.IsZero() {
				s.start = at
			}
			if m == (pmetric.Metric{}) {
				m = ms.AppendEmpty()
				m.SetName(name)
				if s.bounds != nil {
					m.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
				} else {
					sum := m.SetEmptySum()
					sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
					sum.SetIsMonotonic(true)
				}
			}
			if s.bounds != nil {
				dp := m.Histogram().DataPoints().AppendEmpty()
				putLabels(dp.Attributes(), s.labels)
				dp.SetStartTimestamp(pcommon.NewTimestampFromTime(s.start))
				dp.SetTimestamp(ts)
				dp.SetCount(s.count)
				dp.SetSum(s.sum)
				dp.ExplicitBounds().FromRaw(s.bounds)
				dp.BucketCounts().FromRaw(s.buckets)
				samples += len(s.buckets) + 2
			} else {
				dp := m.Sum().DataPoints().AppendEmpty()
				putLabels(dp.Attributes(), s.labels)
				dp.SetStartTimestamp(pcommon.NewTimestampFromTime(s.start))
				dp.SetTimestamp(ts)
				dp.SetDoubleValue(s.value)
				samples++
			}
		}
	}
	build := ms.AppendEmpty()
	build.SetName("istio_build")
	dp := build.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.Attributes().PutStr("component", "proxy")
	dp.Attributes().PutStr("tag", "1.28.0")
	dp.SetTimestamp(ts)
	dp.SetDoubleValue(1)
	samples++
	for _, gauge := range []struct {
		name string
		v    float64
	}{
		{"up", 1},
		{"scrape_duration_seconds", 0.004 + float64(samples)/200000},
		{"scrape_samples_scraped", float64(samples + 180)}, // plus Envoy's and the agent's own series
		{"scrape_samples_post_metric_relabeling", float64(samples + 180)},
		{"scrape_series_added", 0},
	} {
		m := ms.AppendEmpty()
		m.SetName(gauge.name)
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		dp.SetDoubleValue(gauge.v)
	}
}

func putLabels(m pcommon.Map, labels []label) {
	m.EnsureCapacity(len(labels))
	for _, l := range labels {
		if l.v != "" { // the prometheus receiver drops empty-valued labels
			m.PutStr(l.k, l.v)
		}
	}
}

func (g *Generator) kubeletPod(md pmetric.Metrics, p *Pod, ts pcommon.Timestamp) {
	g.podNoise(p, p.Meshed(), len(g.order[p]))
	n := g.net(p)
	rm := md.ResourceMetrics().AppendEmpty()
	ra := rm.Resource().Attributes()
	ra.PutStr("k8s.pod.name", p.Name)
	ra.PutStr("k8s.pod.uid", p.UID)
	ra.PutStr("k8s.namespace.name", p.Namespace())
	ra.PutStr("k8s.node.name", p.Node)
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(kubeletScop)
	sm.Scope().SetVersion(scopeVer)
	m := sm.Metrics().AppendEmpty()
	m.SetName("k8s.pod.network.io")
	m.SetDescription("Network bytes received and transmitted")
	m.SetUnit("By")
	sum := m.SetEmptySum()
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	sum.SetIsMonotonic(true)
	for _, d := range []struct {
		dir string
		v   int64
	}{{"receive", n.rx}, {"transmit", n.tx}} {
		dp := sum.DataPoints().AppendEmpty()
		dp.Attributes().PutStr("interface", "eth0")
		dp.Attributes().PutStr("direction", d.dir)
		dp.SetStartTimestamp(pcommon.NewTimestampFromTime(p.Start))
		dp.SetTimestamp(ts)
		dp.SetIntValue(d.v)
	}
}

// itoa is strconv.Itoa, short.
func itoa(n int) string { return strconv.Itoa(n) }
