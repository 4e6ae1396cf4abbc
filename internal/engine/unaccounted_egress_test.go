package engine_test

import (
	"context"
	"math/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/meshinsights/otelcol-insights/internal/engine"
	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

// egressSim is payments (shop, worker-1, meshed) as the collector sees it: the kubelet's
// k8s.pod.network.io every 10s (counters up to 7s stale, like cAdvisor's), the sidecar's
// istio_request_bytes (as the client) and istio_tcp_sent_bytes_total (as the server)
// every 15s, both read by the engine's MetricsReader from pdata shaped like the receivers'.
type egressSim struct {
	t        *testing.T
	h        *trafficHarness
	rng      *rand.Rand
	podFiles []string

	start time.Time
	// cumulative bytes per second of simulated time: what the kubelet and the proxy counted
	// (proxyInCum: what the proxy received into the pod, as the client's responses)
	kubeCum, proxyCum, proxyInCum []float64
	requests                      uint64
	kubeStart                     time.Time // the kubelet counter's start time (a reset changes it)
	kubeBase                      float64   // subtracted from the kubelet counter after a reset

	// extraKube and extraProxy add bytes per second at a second of simulated time;
	// extraProxyIn adds bytes the pod downloads through its proxy (the kubelet counts the
	// ACKs it sends for them).
	extraKube, extraProxy, extraProxyIn func(sec int) float64
	// proxyLate holds scrapes back this long before delivering them; dropProxy skips one.
	proxyLate time.Duration
	dropProxy func(scrape int) bool
	resetAt   int // the kubelet counter restarts at this second (0: never)

	pending  []pendingScrape
	found    []string
	findings []findings.Finding
}

type pendingScrape struct {
	due time.Time
	md  pmetric.Metrics
}

const (
	paymentsPod = "payments-6d8f9c7b5d-q2xlm"
	paymentsUID = "5b0e2f8a-3c1d-4e7a-9f62-81d4c0a7b913"
)

func newEgressSim(t *testing.T, tune func(*engine.Config)) *egressSim {
	h := newTrafficHarness(t, func(c *engine.Config) {
		c.Traffic.Rules = []rules.TrafficRule{rules.NewUnaccountedEgress(rules.UnaccountedEgressOptions{})}
		if tune != nil {
			tune(c)
		}
	})
	files := []string{"clean-deployment-pod.yaml", "sapwned-job-uid-1337.yaml"}
	h.pods(files...)
	s := &egressSim{t: t, h: h, podFiles: files, rng: rand.New(rand.NewSource(1)), start: h.clock(), kubeStart: h.clock().Add(-time.Hour),
		extraKube: func(int) float64 { return 0 }, extraProxy: func(int) float64 { return 0 }, extraProxyIn: func(int) float64 { return 0 },
		dropProxy: func(int) bool { return false }}
	s.kubeCum, s.proxyCum, s.proxyInCum = []float64{0}, []float64{0}, []float64{0}
	return s
}

// run simulates d more of telemetry time, one second at a time, with the harness clock
// following; findings are flushed every minute and their lifecycle collected.
func (s *egressSim) run(d time.Duration) {
	for range int(d / time.Second) {
		sec := len(s.kubeCum)
		// The pod proxies 20 KiB/s, give or take 30%; the kubelet sees 8% more (headers,
		// TLS, packets) plus 10 KiB/s of its own (xDS, DNS, scrapes), give or take.
		proxied := 20 * 1024 * (0.7 + 0.6*s.rng.Float64())
		own := 10 * 1024 * (0.5 + s.rng.Float64())
		proxied += s.extraProxy(sec)
		in := s.extraProxyIn(sec)
		s.proxyCum = append(s.proxyCum, s.proxyCum[sec-1]+proxied)
		s.proxyInCum = append(s.proxyInCum, s.proxyInCum[sec-1]+in)
		// One 66-byte ACK per two 1380-byte segments received.
		s.kubeCum = append(s.kubeCum, s.kubeCum[sec-1]+1.08*proxied+own+s.extraKube(sec)+in*66/2760)
		now := s.start.Add(time.Duration(sec) * time.Second)
		s.h.advance(time.Second)

		if sec == s.resetAt {
			s.kubeStart, s.kubeBase = now, s.kubeCum[sec-8]
		}
		if sec%10 == 0 && sec > 8 {
			s.observe(s.kubelet(now, s.kubeCum[sec-7]-s.kubeBase))
		}
		if sec%15 == 0 && !s.dropProxy(sec/15) {
			s.requests += 15
			s.pending = append(s.pending, pendingScrape{due: now.Add(s.proxyLate), md: s.proxy(now, s.proxyCum[sec], s.proxyInCum[sec])})
		}
		for len(s.pending) > 0 && !s.pending[0].due.After(now) {
			s.observe(s.pending[0].md)
			s.pending = s.pending[1:]
		}
		if sec%1800 == 0 {
			s.h.pods(s.podFiles...) // pulled again, as the k8sobjects receiver does
		}
		if sec%60 == 0 {
			fs := s.h.flush()
			s.found = append(s.found, lifecycle(fs)...)
			s.findings = append(s.findings, fs...)
		}
	}
}

func (s *egressSim) observe(md pmetric.Metrics) {
	eng := s.h.engine
	eng.ObserveTraffic(context.Background(), func(b *engine.TrafficBatch) {
		if eng.ObservesPodNetwork() {
			eng.MetricsReader().Read(md, b.Metric, b.PodNetwork)
			return
		}
		eng.MetricsReader().Read(md, b.Metric, nil)
	})
}

// kubelet is one kubeletstats scrape of payments: eth0 both ways, and a secondary
// interface that must not count.
func (s *egressSim) kubelet(at time.Time, tx float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	res := rm.Resource().Attributes()
	res.PutStr("k8s.pod.uid", paymentsUID)
	res.PutStr("k8s.pod.name", paymentsPod)
	res.PutStr("k8s.namespace.name", "shop")
	res.PutStr("k8s.node.name", "worker-1")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("k8s.pod.network.io")
	m.SetUnit("By")
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for _, p := range []struct {
		iface, dir string
		v          int64
	}{{"eth0", "receive", int64(tx / 3)}, {"eth0", "transmit", int64(tx)}, {"net1", "transmit", int64(tx)}} {
		dp := sum.DataPoints().AppendEmpty()
		dp.Attributes().PutStr("interface", p.iface)
		dp.Attributes().PutStr("direction", p.dir)
		dp.SetIntValue(p.v)
		dp.SetStartTimestamp(pcommon.NewTimestampFromTime(s.kubeStart))
		dp.SetTimestamp(pcommon.NewTimestampFromTime(at))
	}
	return md
}

// proxy is one prometheus scrape of payments' sidecar: 60% of what it sent as request
// bytes to its upstream, 40% as TCP response bytes to its own clients; what it received
// as its upstream's response bytes.
func (s *egressSim) proxy(at time.Time, sent, received float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	res := rm.Resource().Attributes()
	res.PutStr("service.name", "istio-proxies")
	res.PutStr("service.instance.id", "10.244.1.23:15020")
	res.PutStr("k8s.pod.name", paymentsPod)
	res.PutStr("k8s.namespace.name", "shop")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	start, ts := pcommon.NewTimestampFromTime(s.start.Add(-time.Hour)), pcommon.NewTimestampFromTime(at)

	h := ms.AppendEmpty()
	h.SetName("istio_request_bytes")
	hist := h.SetEmptyHistogram()
	hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hp := hist.DataPoints().AppendEmpty()
	hp.Attributes().PutStr("reporter", "source")
	hp.Attributes().PutStr("source_workload", "payments")
	hp.Attributes().PutStr("destination_workload", "ledger")
	hp.Attributes().PutStr("request_protocol", "http")
	hp.SetCount(s.requests)
	hp.SetSum(0.6 * sent)
	hp.ExplicitBounds().FromRaw([]float64{1, 10, 100, 1000, 10000})
	hp.BucketCounts().FromRaw([]uint64{0, 0, 0, 0, 0, s.requests})
	hp.SetStartTimestamp(start)
	hp.SetTimestamp(ts)

	r := ms.AppendEmpty()
	r.SetName("istio_response_bytes")
	rh := r.SetEmptyHistogram()
	rh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	rp := rh.DataPoints().AppendEmpty()
	hp.Attributes().CopyTo(rp.Attributes())
	rp.SetCount(s.requests)
	rp.SetSum(received)
	rp.ExplicitBounds().FromRaw([]float64{1, 10, 100, 1000, 10000})
	rp.BucketCounts().FromRaw([]uint64{0, 0, 0, 0, 0, s.requests})
	rp.SetStartTimestamp(start)
	rp.SetTimestamp(ts)

	c := ms.AppendEmpty()
	c.SetName("istio_tcp_sent_bytes_total")
	cs := c.SetEmptySum()
	cs.SetIsMonotonic(true)
	cs.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	cp := cs.DataPoints().AppendEmpty()
	cp.Attributes().PutStr("reporter", "destination")
	cp.Attributes().PutStr("destination_workload", "payments")
	cp.Attributes().PutStr("request_protocol", "tcp")
	cp.SetDoubleValue(0.4 * sent)
	cp.SetStartTimestamp(start)
	cp.SetTimestamp(ts)
	return md
}

// burst spreads total bytes evenly over the seconds [from, from+d).
func burst(from, d time.Duration, total float64) func(sec int) float64 {
	a, b := int(from/time.Second), int((from+d)/time.Second)
	return func(sec int) float64 {
		if sec >= a && sec < b {
			return total / float64(b-a)
		}
		return 0
	}
}

const fiftyMiB = 50 << 20

func TestUnaccountedEgress(t *testing.T) {
	const opened = "open unaccounted_egress deployment/payments "

	t.Run("steady_pod", func(t *testing.T) {
		for seed := int64(1); seed <= 4; seed++ {
			s := newEgressSim(t, nil)
			s.rng = rand.New(rand.NewSource(seed))
			s.run(4 * time.Hour)
			assert.Empty(t, s.found, "seed %d", seed)
			assert.Equal(t, 1, s.h.engine.EgressPods())
		}
	})

	t.Run("kubelet_jumps_while_the_proxy_stays_flat", func(t *testing.T) {
		s := newEgressSim(t, nil)
		s.extraKube = burst(2*time.Hour+time.Minute, 3*time.Minute, fiftyMiB)
		s.run(2*time.Hour + 20*time.Minute)
		assert.Equal(t, []string{opened}, s.found, "one finding")

		require.Len(t, s.findings, 1)
		f := s.findings[0]
		assert.Equal(t, paymentsPod, f.PodName)
		assert.Equal(t, "", f.ObservingNode, "payments lives on this node")
		assert.Greater(t, evidence(f, "transmitted_bytes").Int, int64(25<<20))
		assert.Greater(t, evidence(f, "unaccounted_bytes").Int, int64(15<<20))
		assert.Less(t, evidence(f, "baseline_unaccounted_bytes").Int, int64(5<<20))
		assert.Equal(t, "5m0s", evidence(f, "window").Str)

		s.run(20 * time.Minute)
		assert.Equal(t, []string{opened, "resolved unaccounted_egress deployment/payments "}, s.found,
			"resolves through the traffic lifecycle once the bypass stops")
	})

	t.Run("the_same_jump_accounted_by_the_proxy", func(t *testing.T) {
		s := newEgressSim(t, nil)
		s.extraProxy = burst(2*time.Hour+time.Minute, 3*time.Minute, fiftyMiB/1.08)
		s.run(2*time.Hour + 20*time.Minute)
		assert.Empty(t, s.found)
	})

	t.Run("the_same_jump_accounted_across_a_window_boundary", func(t *testing.T) {
		s := newEgressSim(t, nil)
		s.extraProxy = burst(2*time.Hour+3*time.Minute+50*time.Second, 40*time.Second, fiftyMiB/1.08)
		s.run(2*time.Hour + 20*time.Minute)
		assert.Empty(t, s.found, "the kubelet's stale counter puts part of it into the next window")
	})

	t.Run("a_download_through_the_proxy", func(t *testing.T) {
		// 1 GiB in 5 minutes as the client's responses: the pod transmits ~25 MiB of ACKs
		// for it, which its proxy reports nowhere as sent.
		s := newEgressSim(t, nil)
		s.extraProxyIn = burst(2*time.Hour+time.Minute, 5*time.Minute, 1<<30)
		s.run(2*time.Hour + 20*time.Minute)
		assert.Empty(t, s.found)
	})

	t.Run("a_bypass_during_a_download_through_the_proxy", func(t *testing.T) {
		s := newEgressSim(t, nil)
		s.extraProxyIn = burst(2*time.Hour+time.Minute, 5*time.Minute, 1<<30)
		s.extraKube = burst(2*time.Hour+time.Minute, 3*time.Minute, 2*fiftyMiB)
		s.run(2*time.Hour + 20*time.Minute)
		assert.Equal(t, []string{opened}, s.found)
	})

	t.Run("the_jump_while_the_pod_learns", func(t *testing.T) {
		s := newEgressSim(t, nil)
		s.extraKube = burst(30*time.Minute, 3*time.Minute, fiftyMiB)
		s.run(time.Hour)
		assert.Empty(t, s.found)
	})

	t.Run("kubelet_counter_reset", func(t *testing.T) {
		s := newEgressSim(t, nil)
		s.resetAt = int((2 * time.Hour).Seconds())
		s.run(3 * time.Hour)
		assert.Empty(t, s.found)
	})

	t.Run("a_jump_after_a_counter_reset", func(t *testing.T) {
		s := newEgressSim(t, nil)
		s.resetAt = int((2 * time.Hour).Seconds())
		s.extraKube = burst(2*time.Hour+30*time.Minute+time.Minute, 3*time.Minute, fiftyMiB)
		s.run(2*time.Hour + 50*time.Minute)
		assert.Equal(t, []string{opened}, s.found, "only the windows around the reset are skipped")
	})

	t.Run("a_jump_while_proxy_scrapes_are_missed", func(t *testing.T) {
		s := newEgressSim(t, nil)
		s.dropProxy = func(scrape int) bool { return scrape%7 == 3 }
		s.extraKube = burst(2*time.Hour+time.Minute, 3*time.Minute, fiftyMiB)
		s.run(2*time.Hour + 20*time.Minute)
		assert.Equal(t, []string{opened}, s.found)
	})

	t.Run("proxy_metrics_arrive_late", func(t *testing.T) {
		s := newEgressSim(t, nil)
		s.proxyLate = 2 * time.Minute
		s.run(4 * time.Hour)
		assert.Empty(t, s.found)
	})

	t.Run("proxy_scrapes_missed", func(t *testing.T) {
		s := newEgressSim(t, nil)
		s.dropProxy = func(scrape int) bool { return scrape%7 == 3 }
		s.run(4 * time.Hour)
		assert.Empty(t, s.found)
	})

	t.Run("late_proxy_metrics_do_not_hide_a_bypass", func(t *testing.T) {
		s := newEgressSim(t, nil)
		s.proxyLate = 2 * time.Minute
		s.extraKube = burst(2*time.Hour+time.Minute, 3*time.Minute, fiftyMiB)
		s.run(2*time.Hour + 20*time.Minute)
		assert.Equal(t, []string{opened}, s.found)
	})

	t.Run("off_by_default", func(t *testing.T) {
		s := newEgressSim(t, func(c *engine.Config) {
			c.Traffic.Rules = rules.TrafficRules(rules.TrafficOptions{})[:7] // the catalogue without unaccounted_egress
		})
		s.extraKube = burst(2*time.Hour+time.Minute, 3*time.Minute, fiftyMiB)
		s.run(2*time.Hour + 20*time.Minute)
		assert.Empty(t, s.found)
		assert.False(t, s.h.engine.ObservesPodNetwork())
		assert.Zero(t, s.h.engine.EgressPods())
	})
}

func TestUnaccountedEgressBounded(t *testing.T) {
	s := newEgressSim(t, func(c *engine.Config) {
		c.Traffic.MaxEgressPods = 1
		c.Traffic.Node = "" // both fixture pods are in the inventory
	})
	s.run(time.Minute)
	require.Equal(t, 1, s.h.engine.EgressPods())

	// The SAPwned job's pod (ai-workloads, meshed) finds the ledger full.
	md := s.kubelet(s.h.clock(), 1<<20)
	res := md.ResourceMetrics().At(0).Resource().Attributes()
	res.PutStr("k8s.pod.name", "train-model-run-42-x7k2p")
	res.PutStr("k8s.namespace.name", "ai-workloads")
	res.Remove("k8s.pod.uid")
	s.observe(md)
	assert.Equal(t, 1, s.h.engine.EgressPods())
	assert.Equal(t, 1, s.h.tel.refusedIn("traffic_egress"))

	// Forgotten after the baseline TTL (collector clock), it makes room.
	s.h.advance(engine.DefaultBaselineTTL + 2*time.Minute)
	s.h.flush()
	assert.Zero(t, s.h.engine.EgressPods())
}
