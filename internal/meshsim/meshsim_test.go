package meshsim

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/mesh"
)

func allBatches(t *testing.T, name string, seed uint64) []*Batch {
	t.Helper()
	s, err := ScenarioByName(name)
	require.NoError(t, err)
	g := NewGenerator(s.Plan(seed), seed)
	var out []*Batch
	for {
		b, ok := g.Next()
		if !ok {
			return out
		}
		out = append(out, b)
	}
}

func marshalAll(t *testing.T, bs []*Batch) string {
	t.Helper()
	var sb strings.Builder
	for _, b := range bs {
		for _, ld := range []plog.Logs{b.Objects, b.Logs} {
			data, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
			require.NoError(t, err)
			sb.Write(data)
		}
		data, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(b.Metrics)
		require.NoError(t, err)
		sb.Write(data)
		data, err = (&ptrace.JSONMarshaler{}).MarshalTraces(b.Traces)
		require.NoError(t, err)
		sb.Write(data)
	}
	return sb.String()
}

func TestGenerator_SameSeedSameTelemetry(t *testing.T) {
	a := marshalAll(t, allBatches(t, "sapwned", 7))
	b := marshalAll(t, allBatches(t, "sapwned", 7))
	assert.Equal(t, a, b)
	c := marshalAll(t, allBatches(t, "sapwned", 8))
	assert.NotEqual(t, a, c, "another seed gives other names, IPs and counts")
}

func TestAccessLogs_ParseWithOurReader(t *testing.T) {
	for _, name := range []string{"clean", "sapwned", "undeclared_port", "authz_probe", "blackhole_probe"} {
		t.Run(name, func(t *testing.T) {
			classes := map[mesh.ClusterClass]int{}
			var st mesh.AccessLogStats
			mtlsInbound, plainInbound, rbac := 0, 0, 0
			for _, b := range allBatches(t, name, 1) {
				s := mesh.ReadAccessLogs(b.Logs, func(o *mesh.AccessLogObservation) {
					classes[o.Direction]++
					require.Equal(t, mesh.AccessLogText, o.Format)
					require.NotEmpty(t, o.PodName, "k8sattributes' pod attributes on the resource")
					require.False(t, o.Timestamp.IsZero())
					if o.Direction == mesh.ClusterInbound {
						if o.IstioMTLS {
							mtlsInbound++
						} else {
							plainInbound++
						}
					}
					if o.RBACDenied {
						rbac++
					}
				})
				st.Records += s.Records
				st.Parsed += s.Parsed
				st.Malformed += s.Malformed
			}
			assert.Equal(t, st.Records, st.Parsed, "every record is an access log our reader parses")
			assert.Zero(t, st.Malformed)
			assert.Positive(t, classes[mesh.ClusterInbound])
			assert.Positive(t, classes[mesh.ClusterOutbound])
			assert.Positive(t, mtlsInbound)
			assert.Positive(t, rbac, "the background has a trickle of RBAC denials")
			switch name {
			case "clean", "authz_probe", "blackhole_probe":
				assert.Zero(t, plainInbound, "no plaintext inside the mesh")
			case "sapwned", "undeclared_port":
				assert.Positive(t, plainInbound+classes[mesh.ClusterInboundPassthrough])
			}
			if name == "blackhole_probe" {
				assert.Positive(t, classes[mesh.ClusterBlackHole])
			}
			if name == "undeclared_port" {
				assert.Positive(t, classes[mesh.ClusterInboundPassthrough])
			}
		})
	}
}

func TestMetrics_LookLikePrometheusReceiverOutput(t *testing.T) {
	bs := allBatches(t, "clean", 3)
	md := bs[1].Metrics
	sawIstio := false
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		res := rm.Resource().Attributes()
		scope := rm.ScopeMetrics().At(0).Scope().Name()
		if !strings.HasSuffix(scope, "prometheusreceiver") {
			continue
		}
		for _, k := range []string{"service.name", "service.instance.id", "k8s.pod.name", "k8s.pod.uid", "k8s.namespace.name", "k8s.node.name"} {
			_, ok := res.Get(k)
			assert.True(t, ok, k)
		}
		ms := rm.ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			switch m.Name() {
			case "istio_requests_total", "istio_tcp_connections_opened_total":
				sawIstio = true
				require.Equal(t, pmetric.MetricTypeSum, m.Type())
				assert.True(t, m.Sum().IsMonotonic())
				assert.Equal(t, pmetric.AggregationTemporalityCumulative, m.Sum().AggregationTemporality())
				dp := m.Sum().DataPoints().At(0)
				assert.Equal(t, pmetric.NumberDataPointValueTypeDouble, dp.ValueType())
				assert.GreaterOrEqual(t, dp.Attributes().Len(), 22, "Istio's labels")
				for _, v := range dp.Attributes().All() {
					assert.NotEmpty(t, v.Str(), "empty labels are dropped")
				}
			case "istio_request_duration_milliseconds":
				require.Equal(t, pmetric.MetricTypeHistogram, m.Type())
			}
		}
	}
	assert.True(t, sawIstio)

	// Read through our own reader: a second scrape shows grown series, attributed to pods.
	dt := mesh.NewDeltaTracker(0, 0)
	var dest, mtls int
	for _, b := range bs[:3] {
		mesh.ReadMetrics(b.Metrics, dt, func(o *mesh.TrafficObservation) {
			require.NotEmpty(t, o.PodName)
			if o.Reporter == "destination" {
				dest++
				if o.ConnectionSecurityPolicy == "mutual_tls" {
					mtls++
				}
			}
		})
	}
	assert.Positive(t, dest)
	assert.Equal(t, dest, mtls, "every destination-reported point in the clean mesh is mTLS")
}

func TestSpans_ClientServerPairsLinkedByParent(t *testing.T) {
	bs := allBatches(t, "clean", 5)
	clients := map[[8]byte]bool{}
	var servers [][8]byte
	for _, b := range bs[:4] {
		n := mesh.ReadSpans(b.Traces, func(o *mesh.SpanObservation) {})
		require.Equal(t, b.Traces.SpanCount(), n, "every span is an Envoy span")
		rss := b.Traces.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			spans := rss.At(i).ScopeSpans().At(0).Spans()
			for j := 0; j < spans.Len(); j++ {
				sp := spans.At(j)
				switch sp.Kind() {
				case ptrace.SpanKindClient:
					clients[sp.SpanID()] = true
				case ptrace.SpanKindServer:
					servers = append(servers, sp.ParentSpanID())
				}
			}
		}
	}
	require.NotEmpty(t, servers)
	for _, p := range servers {
		assert.True(t, clients[p], "a server span's parent is its client's span")
	}
}

func TestSapwned_JobPodIsMeshedAndRunsAsProxyUID(t *testing.T) {
	s, err := ScenarioByName("sapwned")
	require.NoError(t, err)
	plan := s.Plan(1)
	job := plan.Topology.Workload("ai-workloads", "train-model-run-42")
	require.NotNil(t, job)
	ld := plog.NewLogs()
	require.NoError(t, AppendWatchRecord(ld, WatchAdded, PodObject(job.Pods[0], 1), plan.Start))
	ev, ok, err := inventory.DecodeObject(ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().AsRaw())
	require.NoError(t, err)
	require.True(t, ok)
	require.NotNil(t, ev.Pod)
	p := inventory.FromPod(ev.Pod, inventory.ProxyIdentity{})
	assert.True(t, p.Meshed)
	assert.Equal(t, "Job", p.Controller.Kind)
	found := false
	for _, c := range p.Containers {
		if c.Name == "trainer" {
			found = true
			require.NotNil(t, c.UID)
			require.NotNil(t, c.GID)
			assert.EqualValues(t, 1337, *c.UID)
			assert.EqualValues(t, 1337, *c.GID)
		}
	}
	assert.True(t, found)

	// Its trainer's traffic never reaches its own proxy: no metric series of the job pod
	// reports the internal destinations it calls, and no access log from it names them.
	for _, b := range allBatches(t, "sapwned", 1) {
		mesh.ReadAccessLogs(b.Logs, func(o *mesh.AccessLogObservation) {
			if o.PodName == job.Pods[0].Name {
				assert.Equal(t, mesh.ClusterPassthrough, o.Direction, "only the dataset-sync download passes the job's sidecar")
			}
		})
	}
}

func TestEveryScenarioHasTruthExceptClean(t *testing.T) {
	for _, s := range Scenarios() {
		plan := s.Plan(1)
		if s.Name == "clean" || s.Name == "bulk_but_proxied" {
			assert.Empty(t, plan.Truth, s.Name)
			continue
		}
		assert.NotEmpty(t, plan.Truth, s.Name)
		for _, tr := range plan.Truth {
			assert.NotEmpty(t, tr.Kind, s.Name)
			assert.False(t, tr.Start.IsZero())
			assert.True(t, tr.End.After(tr.Start))
		}
	}
}

// podBytes sums, per pod and tick, the kubelet's transmit growth and the bytes the pod's
// own sidecar reports sending (request bytes and tcp received as the client, response
// bytes and tcp sent as the server).
func podBytes(t *testing.T, name string) (tx, proxied map[string][]float64) {
	t.Helper()
	tx, proxied = map[string][]float64{}, map[string][]float64{}
	last := map[string]float64{}
	for _, b := range allBatches(t, name, 1) {
		rms := b.Metrics.ResourceMetrics()
		for i := 0; i < rms.Len(); i++ {
			rm := rms.At(i)
			pod, _ := rm.Resource().Attributes().Get("k8s.pod.name")
			for len(tx[pod.Str()]) <= b.Tick {
				tx[pod.Str()] = append(tx[pod.Str()], 0)
				proxied[pod.Str()] = append(proxied[pod.Str()], 0)
			}
			ms := rm.ScopeMetrics().At(0).Metrics()
			for j := 0; j < ms.Len(); j++ {
				m := ms.At(j)
				add := func(attrs pcommon.Map, v float64, sum *[]float64) {
					k := pod.Str() + m.Name() + fmt.Sprint(attrs.AsRaw())
					prev, seen := last[k]
					last[k] = v
					if seen {
						(*sum)[b.Tick] += v - prev
					}
				}
				switch m.Name() {
				case "k8s.pod.network.io":
					for k := 0; k < m.Sum().DataPoints().Len(); k++ {
						dp := m.Sum().DataPoints().At(k)
						if d, _ := dp.Attributes().Get("direction"); d.Str() == "transmit" {
							s := tx[pod.Str()]
							add(dp.Attributes(), float64(dp.IntValue()), &s)
						}
					}
				case mReqBytes, mRespBytes, mTCPSent, mTCPRecv:
					out := map[string]string{mReqBytes: "source", mTCPRecv: "source", mRespBytes: "destination", mTCPSent: "destination"}[m.Name()]
					if m.Type() == pmetric.MetricTypeHistogram {
						for k := 0; k < m.Histogram().DataPoints().Len(); k++ {
							dp := m.Histogram().DataPoints().At(k)
							if r, _ := dp.Attributes().Get("reporter"); r.Str() == out {
								s := proxied[pod.Str()]
								add(dp.Attributes(), dp.Sum(), &s)
							}
						}
						continue
					}
					for k := 0; k < m.Sum().DataPoints().Len(); k++ {
						dp := m.Sum().DataPoints().At(k)
						if r, _ := dp.Attributes().Get("reporter"); r.Str() == out {
							s := proxied[pod.Str()]
							add(dp.Attributes(), dp.DoubleValue(), &s)
						}
					}
				}
			}
		}
	}
	return tx, proxied
}

// TestKubeletBytes: a meshed pod's interface carries at least what its sidecar sent, plus
// overhead of its own (a pod-specific ratio, never a fixed one); the sapwned trainer's
// uploads around its sidecar are in the kubelet's count only.
func TestKubeletBytes(t *testing.T) {
	tx, proxied := podBytes(t, "clean")
	ratios := map[string]float64{}
	for pod, ps := range proxied {
		var sumTx, sumP float64
		for tick := 1; tick < len(ps); tick++ { // tick 0 is every series' first sighting
			assert.GreaterOrEqual(t, tx[pod][tick], ps[tick], "%s tick %d", pod, tick)
			sumTx, sumP = sumTx+tx[pod][tick], sumP+ps[tick]
		}
		if sumP > 0 {
			ratios[pod] = sumTx / sumP
		}
	}
	lo, hi := 100.0, 0.0
	for _, r := range ratios {
		lo, hi = min(lo, r), max(hi, r)
	}
	assert.Greater(t, len(ratios), 20)
	assert.Greater(t, hi-lo, 1.0, "pods have their own ratios (%.2f to %.2f)", lo, hi)

	tx, proxied = podBytes(t, "sapwned")
	plan := mustPlan(t, "sapwned")
	job := plan.Topology.Workload("ai-workloads", "train-model-run-42").Pods[0].Name
	upload := plan.AnomalyTick + sapwnedUploadAfter
	for tick := plan.AnomalyTick + 1; tick < plan.Ticks; tick++ {
		assert.Less(t, proxied[job][tick], float64(64<<10), "tick %d: the sidecar sees only dataset-sync's requests", tick)
		if tick >= upload {
			assert.Greater(t, tx[job][tick]-proxied[job][tick], float64(2<<20), "tick %d: the uploads are on eth0", tick)
		} else {
			assert.Less(t, tx[job][tick], float64(256<<10), "tick %d: before the uploads", tick)
		}
	}
}

func mustPlan(t *testing.T, name string) *Plan {
	t.Helper()
	s, err := ScenarioByName(name)
	require.NoError(t, err)
	return s.Plan(1)
}
