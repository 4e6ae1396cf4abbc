package engine_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshinsights/otelcol-insights/internal/engine"
	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/inventory/inventorytest"
	"github.com/meshinsights/otelcol-insights/internal/mesh"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

// trafficTelemetry records refusals and drops by name.
type trafficTelemetry struct {
	engine.NopTelemetry
	mu      sync.Mutex
	refused map[string]int
	dropped map[string]int
}

func (r *trafficTelemetry) Refused(_ context.Context, store string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refused[store] += n
}

func (r *trafficTelemetry) Dropped(_ context.Context, reason string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dropped[reason] += n
}

func (r *trafficTelemetry) refusedIn(store string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refused[store]
}

// trafficHarness is an engine with every traffic rule, this collector on worker-1, and a
// clock the test moves; telemetry timestamps follow the clock.
type trafficHarness struct {
	t      *testing.T
	engine *engine.Engine
	sink   *trafficSink
	tel    *trafficTelemetry
	mu     sync.Mutex
	now    time.Time
}

type trafficSink struct {
	mu        sync.Mutex
	delivered []findings.Finding
}

func (s *trafficSink) deliver(_ context.Context, batch []findings.Finding) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delivered = append(s.delivered, batch...)
	return nil
}

func newTrafficHarness(t *testing.T, tune func(*engine.Config)) *trafficHarness {
	t.Helper()
	h := &trafficHarness{t: t, sink: &trafficSink{}, now: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
		tel: &trafficTelemetry{refused: map[string]int{}, dropped: map[string]int{}}}
	cfg := engine.Config{
		Cluster:         "prod-eu-1",
		ProxyFallback:   inventory.DefaultProxyIdentity(),
		FlushInterval:   time.Second,
		ReemitInterval:  time.Hour,
		MaxPending:      1000,
		MaxActive:       1000,
		MaxRetryBackoff: 8 * time.Second,
		MaxPods:         100,
		ResolveAfter:    15 * time.Minute,
		Traffic: engine.TrafficConfig{
			Rules: rules.TrafficRules(rules.TrafficOptions{
				SidecarBypassConfirmAfter: time.Minute,
				NewEdgeLearningWindow:     time.Hour,
				AuthzLearningWindow:       10 * time.Minute,
			}),
			Node: "worker-1",
		},
	}
	if tune != nil {
		tune(&cfg)
	}
	h.engine = engine.New(cfg, engine.Settings{Telemetry: h.tel, Now: h.clock})
	h.engine.AddSink("logs", h.sink.deliver)
	return h
}

func (h *trafficHarness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

func (h *trafficHarness) advance(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now = h.now.Add(d)
}

// pods puts fixture pods into the inventory and the IP index, as the adapter does, as
// watch ADDED events: a bare fixture would be a pull-mode snapshot, deleted once the
// harness clock passes its missed pulls (pulled.go), and tests run for simulated hours.
func (h *trafficHarness) pods(files ...string) {
	for _, f := range files {
		for _, ev := range inventorytest.LoadObjects(h.t, inventorytest.Testdata("pods", f)) {
			ev.Type = inventory.EventAdded
			h.engine.ApplyObject(context.Background(), ev)
			h.engine.IndexObject(ev)
		}
	}
}

// logs feeds access log lines (Istio's text format; %s is replaced by the clock's time).
func (h *trafficHarness) logs(lines ...string) {
	h.t.Helper()
	ts := h.clock().Format("2006-01-02T15:04:05.000Z")
	h.engine.ObserveTraffic(context.Background(), func(b *engine.TrafficBatch) {
		var o mesh.AccessLogObservation
		for _, l := range lines {
			require.True(h.t, mesh.ParseAccessLogText(fmt.Sprintf(l, ts), &o), l)
			o.Timestamp = o.StartTime
			b.AccessLog(&o)
		}
	})
}

// metrics feeds metric points with the clock's time.
func (h *trafficHarness) metrics(points ...mesh.TrafficObservation) {
	h.engine.ObserveTraffic(context.Background(), func(b *engine.TrafficBatch) {
		for i := range points {
			o := points[i]
			o.Timestamp = h.clock()
			o.DestinationClass = mesh.ClassifyCluster(o.DestinationServiceName)
			b.Metric(&o)
		}
	})
}

func (h *trafficHarness) flush() []findings.Finding {
	h.engine.Flush(context.Background())
	h.sink.mu.Lock()
	defer h.sink.mu.Unlock()
	out := h.sink.delivered
	h.sink.delivered = nil
	return out
}

func lifecycle(fs []findings.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s %s %s %s", f.State, f.Rule.ID, f.Subject.Workload(), f.EvidenceKey))
	}
	return out
}

func evidence(f findings.Finding, name string) findings.EvidenceValue {
	for _, e := range f.Evidence {
		if e.Name == name {
			return e
		}
	}
	return findings.EvidenceValue{}
}

// passthrough is mongodb-v1's sidecar reporting requests to a host outside the registry.
func passthrough(host string, grew float64) mesh.TrafficObservation {
	return mesh.TrafficObservation{
		Metric: mesh.MetricRequests, Value: grew, Sighting: mesh.DeltaContinued, Reporter: "source",
		SourceWorkload: "mongodb-v1", SourceNamespace: "default", DestinationService: host,
		DestinationServiceName: "PassthroughCluster", RequestProtocol: "http", ConnectionSecurityPolicy: "unknown",
	}
}

// Fixture pods: payments (shop, 10.244.1.23, meshed, worker-1), inventory (shop,
// 10.244.1.57, unmeshed, worker-1), the SAPwned job (ai-workloads, 10.244.2.17, meshed,
// worker-2).
const (
	plaintextFromJob       = `[%s] "GET /pay HTTP/1.1" 200 - via_upstream - "-" 0 10 1 1 "-" "curl/8.5.0" "r1" "10.244.1.23:8080" "10.244.1.23:8080" inbound|8080|| 127.0.0.6:41000 10.244.1.23:8080 10.244.2.17:52000 - default`
	plaintextFromInventory = `[%s] "GET /pay HTTP/1.1" 200 - via_upstream - "-" 0 10 1 1 "-" "curl/8.5.0" "r2" "10.244.1.23:8080" "10.244.1.23:8080" inbound|8080|| 127.0.0.6:41001 10.244.1.23:8080 10.244.1.57:52001 - default`
	mtlsFromJob            = `[%s] "GET /pay HTTP/1.1" 200 - via_upstream - "-" 0 10 1 1 "-" "curl/8.5.0" "r3" "payments:8080" "10.244.1.23:8080" inbound|8080|| 127.0.0.6:41002 10.244.1.23:8080 10.244.2.17:52002 outbound_.8080_._.payments.shop.svc.cluster.local default`
	rbacDeniedFromJob      = `[%s] "GET /admin HTTP/1.1" 403 - rbac_access_denied_matched_policy[ns[shop]-policy[payments]-rule[0]] - "-" 0 19 0 - "-" "curl/8.5.0" "r4" "payments:8080" "-" inbound|8080|| - 10.244.1.23:8080 10.244.2.17:52003 outbound_.8080_._.payments.shop.svc.cluster.local -`
	app403FromJob          = `[%s] "GET /admin HTTP/1.1" 403 - via_upstream - "-" 0 9 3 3 "-" "curl/8.5.0" "r5" "payments:8080" "10.244.1.23:8080" inbound|8080|| 127.0.0.6:41003 10.244.1.23:8080 10.244.2.17:52004 outbound_.8080_._.payments.shop.svc.cluster.local default`
)

func TestTrafficFindingLifecycle(t *testing.T) {
	h := newTrafficHarness(t, nil)
	h.metrics(passthrough("security.ubuntu.com", 3), passthrough("security.ubuntu.com", 2), passthrough("archive.ubuntu.com", 1))
	fs := h.flush()
	require.Equal(t, []string{
		"open passthrough_egress mongodb-v1 archive.ubuntu.com",
		"open passthrough_egress mongodb-v1 security.ubuntu.com",
	}, sortedLifecycle(fs))
	for _, f := range fs {
		if f.EvidenceKey == "security.ubuntu.com" {
			assert.Equal(t, int64(5), f.Occurrences, "one report per batch, counting every request")
		}
	}
	assert.Equal(t, 2, h.engine.TrafficSources())

	// Evidence keeps coming for one host: it stays active; the other resolves.
	h.advance(10 * time.Minute)
	h.metrics(passthrough("security.ubuntu.com", 4))
	assert.Empty(t, h.flush())
	h.advance(6 * time.Minute)
	assert.Equal(t, []string{"resolved passthrough_egress mongodb-v1 archive.ubuntu.com"}, lifecycle(h.flush()))
	h.advance(10 * time.Minute)
	resolved := h.flush()
	require.Equal(t, []string{"resolved passthrough_egress mongodb-v1 security.ubuntu.com"}, lifecycle(resolved))
	assert.Equal(t, int64(9), resolved[0].Occurrences)
	assert.Equal(t, 0, h.engine.TrafficSources())
	assert.Equal(t, 0, h.engine.Active())

	// New evidence after resolution opens it again under the same fingerprint.
	h.metrics(passthrough("security.ubuntu.com", 1))
	again := h.flush()
	require.Equal(t, []string{"open passthrough_egress mongodb-v1 security.ubuntu.com"}, lifecycle(again))
	assert.Equal(t, resolved[0].Fingerprint(), again[0].Fingerprint())
}

func sortedLifecycle(fs []findings.Finding) []string {
	out := lifecycle(fs)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestTrafficEvidenceListsMergeAcrossBatches(t *testing.T) {
	h := newTrafficHarness(t, nil)
	blocked := func(host string) mesh.TrafficObservation {
		o := passthrough(host, 1)
		o.DestinationServiceName = "BlackHoleCluster"
		return o
	}
	h.metrics(blocked("a.example.com"), blocked("b.example.com"))
	fs := h.flush()
	require.Len(t, fs, 1)
	assert.Equal(t, []string{"a.example.com", "b.example.com"}, evidence(fs[0], "hosts").List)

	h.advance(time.Minute)
	h.metrics(blocked("c.example.com"))
	h.advance(time.Hour) // re-emitted as ongoing, then resolved
	fs = h.flush()
	require.Len(t, fs, 1)
	assert.Equal(t, findings.StateResolved, fs[0].State)
	assert.Equal(t, []string{"a.example.com", "b.example.com", "c.example.com"}, evidence(fs[0], "hosts").List)
}

func TestSidecarBypassThroughTheEngine(t *testing.T) {
	t.Run("held_then_confirmed_with_observing_node", func(t *testing.T) {
		h := newTrafficHarness(t, nil)
		h.pods("clean-deployment-pod.yaml", "sapwned-job-uid-1337.yaml", "unmeshed-deployment-pod.yaml")
		h.flush() // the pod rules' own findings
		h.logs(plaintextFromJob, mtlsFromJob, plaintextFromJob)
		assert.Equal(t, []string{"open plaintext_inbound deployment/payments "}, lifecycle(h.flush()),
			"the bypass waits for the destination's metrics")
		h.advance(59 * time.Second)
		assert.Empty(t, h.flush())
		h.advance(time.Second)
		fs := h.flush()
		require.Equal(t, []string{"open sidecar_bypass job/train-model-run-42 shop/payments"}, lifecycle(fs))
		f := fs[0]
		assert.Equal(t, "worker-1", f.ObservingNode, "the client lives on worker-2")
		assert.NotEqual(t, f.Fingerprint(), f.SubjectFingerprint())
		assert.Equal(t, "train-model-run-42-x7k2p", f.PodName)
		assert.Equal(t, "10.244.2.17", evidence(f, "client_ip").Str)
		assert.Equal(t, int64(2), f.Occurrences, "both held records count")

		// Once active, new evidence counts at once and keeps it open; without any, it resolves.
		h.advance(10 * time.Minute)
		h.logs(plaintextFromJob)
		h.advance(10 * time.Minute)
		assert.Empty(t, h.flush(), "both findings had evidence 10 minutes ago")
		h.advance(5 * time.Minute)
		resolved := h.flush()
		assert.Equal(t, []string{
			"resolved plaintext_inbound deployment/payments ",
			"resolved sidecar_bypass job/train-model-run-42 shop/payments",
		}, sortedLifecycle(resolved))
		for _, r := range resolved {
			if r.Rule.ID == "sidecar_bypass" {
				assert.Equal(t, f.Fingerprint(), r.Fingerprint())
				assert.Equal(t, int64(3), r.Occurrences)
			}
		}
	})

	t.Run("cleared_by_tls_disable_metrics_arriving_during_the_hold", func(t *testing.T) {
		h := newTrafficHarness(t, nil)
		h.pods("clean-deployment-pod.yaml", "sapwned-job-uid-1337.yaml")
		h.flush()
		h.logs(plaintextFromJob)
		h.advance(30 * time.Second)
		h.metrics(mesh.TrafficObservation{
			Metric: mesh.MetricRequests, Value: 1, Sighting: mesh.DeltaContinued, Reporter: "destination",
			SourceWorkload: "train-model-run-42", SourceNamespace: "ai-workloads",
			DestinationWorkload: "payments", DestinationNamespace: "shop", DestinationServiceName: "payments",
			ConnectionSecurityPolicy: "none", RequestProtocol: "http",
		})
		h.advance(time.Minute)
		for _, f := range h.flush() {
			assert.NotEqual(t, "sidecar_bypass", f.Rule.ID, "the client's own sidecar sent it: %s", f.Summary)
		}
	})

	t.Run("unmeshed_client_is_plaintext_inbound_only", func(t *testing.T) {
		h := newTrafficHarness(t, nil)
		h.pods("clean-deployment-pod.yaml", "unmeshed-deployment-pod.yaml")
		h.flush()
		h.logs(plaintextFromInventory)
		h.advance(2 * time.Minute)
		fs := h.flush()
		require.Equal(t, []string{"open plaintext_inbound deployment/payments "}, lifecycle(fs))
		assert.Equal(t, []string{"shop/inventory"}, evidence(fs[0], "sources").List)
	})

	t.Run("gateway_on_another_node_is_not_a_bypass", func(t *testing.T) {
		h := newTrafficHarness(t, nil)
		h.pods("clean-deployment-pod.yaml", "ingressgateway-other-node.yaml")
		h.flush()
		h.logs(strings.ReplaceAll(plaintextFromJob, "10.244.2.17", "10.244.2.30"))
		h.advance(2 * time.Minute)
		fs := h.flush()
		for _, f := range fs {
			assert.NotEqual(t, "sidecar_bypass", f.Rule.ID, "a gateway on worker-2 forwards the mesh's edge traffic: %s", f.Summary)
		}
		require.Equal(t, []string{"open plaintext_inbound deployment/payments "}, lifecycle(fs), "the plaintext itself is still reported")
	})

	t.Run("telemetry_before_the_client_pod_existed", func(t *testing.T) {
		h := newTrafficHarness(t, nil)
		h.pods("clean-deployment-pod.yaml", "sapwned-job-uid-1337.yaml")
		h.flush()
		h.engine.ObserveTraffic(context.Background(), func(b *engine.TrafficBatch) {
			var o mesh.AccessLogObservation
			require.True(t, mesh.ParseAccessLogText(fmt.Sprintf(plaintextFromJob, "2025-01-01T00:00:00.000Z"), &o))
			o.Timestamp = o.StartTime // before the job's pod started: the IP was not its then
			b.AccessLog(&o)
		})
		h.advance(2 * time.Minute)
		for _, f := range h.flush() {
			assert.NotEqual(t, "sidecar_bypass", f.Rule.ID)
		}
	})
}

func TestAuthzDenialSpikeAgainstTheDestinationsOwnBaseline(t *testing.T) {
	h := newTrafficHarness(t, nil)
	h.pods("clean-deployment-pod.yaml", "sapwned-job-uid-1337.yaml")
	h.flush()
	repeat := func(line string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = line
		}
		return out
	}
	// A steady 8 denials a minute for half an hour: the pod's baseline, never a spike.
	for range 30 {
		h.logs(repeat(rbacDeniedFromJob, 8)...)
		h.advance(time.Minute)
		for _, f := range h.flush() {
			require.NotEqual(t, "authz_denial_spike", f.Rule.ID, "steady denials are the baseline")
		}
	}
	// The application's own 403s do not count.
	h.logs(repeat(app403FromJob, 200)...)
	assert.Empty(t, h.flush())
	h.advance(time.Minute)
	// Then a burst.
	h.logs(repeat(rbacDeniedFromJob, 60)...)
	fs := h.flush()
	require.Equal(t, []string{"open authz_denial_spike deployment/payments "}, lifecycle(fs))
	assert.Equal(t, int64(60), evidence(fs[0], "denials").Int)
	assert.Equal(t, []string{"ai-workloads/train-model-run-42 (60)"}, evidence(fs[0], "top_sources").List)
	assert.Equal(t, []string{"ns[shop]-policy[payments]-rule[0]"}, evidence(fs[0], "policies").List)
}

func TestNewEdgeLearnsPerDestinationPod(t *testing.T) {
	h := newTrafficHarness(t, nil)
	call := func(client, pod string) mesh.TrafficObservation {
		return mesh.TrafficObservation{
			Metric: mesh.MetricRequests, Value: 1, Sighting: mesh.DeltaContinued, Reporter: "destination",
			SourceWorkload: client, SourceNamespace: "shop", DestinationWorkload: "payments", DestinationNamespace: "shop",
			DestinationServiceName: "payments", ConnectionSecurityPolicy: "mutual_tls", PodName: pod, PodNamespace: "shop",
		}
	}
	h.metrics(call("cart", "payments-a"))
	h.advance(30 * time.Minute)
	h.metrics(call("checkout", "payments-a"))
	assert.Empty(t, h.flush(), "learning")
	h.advance(31 * time.Minute)
	h.metrics(call("cart", "payments-a"), call("checkout", "payments-a"), call("debug-shell", "payments-a"), call("debug-shell", "payments-b"))
	assert.Equal(t, []string{"open new_edge debug-shell shop/payments"}, lifecycle(h.flush()),
		"payments-b was just seen: it learns; payments-a reports its new client once")
}

func TestTrafficBaselinesAreBounded(t *testing.T) {
	h := newTrafficHarness(t, func(c *engine.Config) {
		c.Traffic.MaxDestinations = 1
		c.Traffic.MaxClientsPerDestination = 2
		c.Traffic.BaselineTTL = time.Hour
	})
	call := func(client, pod string) mesh.TrafficObservation {
		return mesh.TrafficObservation{
			Metric: mesh.MetricRequests, Value: 1, Sighting: mesh.DeltaContinued, Reporter: "destination",
			SourceWorkload: client, SourceNamespace: "shop", DestinationWorkload: "payments", DestinationNamespace: "shop",
			PodName: pod, PodNamespace: "shop",
		}
	}
	h.metrics(call("a", "payments-a"), call("b", "payments-a"), call("c", "payments-a"), call("a", "payments-b"))
	assert.Equal(t, 1, h.tel.refusedIn("traffic_baselines"), "a second destination does not fit")
	assert.Equal(t, 1, h.tel.refusedIn("traffic_edges"), "a third client does not fit")
	h.advance(2 * time.Hour)
	h.metrics(call("z", "payments-a")) // remembered clients are full: quiet, refused
	assert.Empty(t, h.flush())
	assert.Equal(t, 2, h.tel.refusedIn("traffic_edges"))

	// The sweep forgets what was not seen for the TTL; the destination learns again.
	h.advance(2 * time.Hour)
	h.flush()
	h.metrics(call("a", "payments-b"))
	assert.Equal(t, 1, h.tel.refusedIn("traffic_baselines"), "room again after the TTL")
}

func TestTrafficIsOneLockPerBatchAndRaceFree(t *testing.T) {
	h := newTrafficHarness(t, nil)
	h.pods("clean-deployment-pod.yaml", "sapwned-job-uid-1337.yaml", "unmeshed-deployment-pod.yaml")
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				switch (i + j) % 4 {
				case 0:
					h.logs(plaintextFromJob, mtlsFromJob, rbacDeniedFromJob, plaintextFromInventory)
				case 1:
					h.metrics(passthrough(fmt.Sprintf("h%d.example.com", j%5), 1))
				case 2:
					h.engine.Flush(context.Background())
				case 3:
					h.pods("clean-deployment-pod.yaml")
				}
			}
		}()
	}
	wg.Wait()
	assert.Positive(t, h.engine.TrafficSources())
}

func TestNoTrafficRulesReadsNothing(t *testing.T) {
	h := newTrafficHarness(t, func(c *engine.Config) { c.Traffic.Rules = nil })
	assert.False(t, h.engine.ObservesMetrics())
	assert.False(t, h.engine.ObservesAccessLogs())
	assert.False(t, h.engine.ObservesSpans())
	h.metrics(passthrough("security.ubuntu.com", 1))
	assert.Empty(t, h.flush())
}

// rbacDeniedStat is payments' Envoy rbac.denied counter having grown by n since the last scrape.
func rbacDeniedStat(n float64) mesh.TrafficObservation {
	return mesh.TrafficObservation{Metric: mesh.MetricRBACDenied, Value: n, Total: 1000, Sighting: mesh.DeltaContinued,
		PodName: "payments-6d8f9c7b5d-q2xlm", PodNamespace: "shop"}
}

func TestAuthzDenialSpikeFromEnvoyStatsWithoutAccessLogs(t *testing.T) {
	h := newTrafficHarness(t, nil)
	h.pods("clean-deployment-pod.yaml")
	h.flush()
	for range 30 { // a steady 4 denials a minute: the baseline
		h.metrics(rbacDeniedStat(4))
		h.advance(time.Minute)
		assert.Empty(t, h.flush())
	}
	h.metrics(rbacDeniedStat(60))
	fs := h.flush()
	require.Equal(t, []string{"open authz_denial_spike deployment/payments "}, lifecycle(fs))
	assert.Equal(t, int64(60), evidence(fs[0], "denials").Int)
	assert.Equal(t, []string{"not recorded (Envoy rbac.denied stat) (60)"}, evidence(fs[0], "top_sources").List)
}

func TestAuthzDenialsInBothAccessLogsAndStatsAreCountedOnce(t *testing.T) {
	h := newTrafficHarness(t, nil)
	h.pods("clean-deployment-pod.yaml", "sapwned-job-uid-1337.yaml")
	h.flush()
	burst := make([]string, 60)
	for i := range burst {
		burst[i] = rbacDeniedFromJob
	}
	h.logs(rbacDeniedFromJob) // the destination is first seen, and learns
	h.advance(11 * time.Minute)
	h.logs(burst...)
	h.metrics(rbacDeniedStat(61)) // the same denials, counted by Envoy
	fs := h.flush()
	require.Equal(t, []string{"open authz_denial_spike deployment/payments "}, lifecycle(fs))
	assert.Equal(t, int64(60), evidence(fs[0], "denials").Int, "the stats do not double the access logs' count")
	assert.Equal(t, []string{"ai-workloads/train-model-run-42 (60)"}, evidence(fs[0], "top_sources").List)
}
