package insightsprocessor

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/meshinsights/otelcol-insights/internal/collectorrun"
	"github.com/meshinsights/otelcol-insights/internal/meshsim"
	"github.com/meshinsights/otelcol-insights/processor/insightsprocessor/internal/metadatatest"
)

const (
	badPodFixture   = "../../testdata/pods/sapwned-job-uid-1337.yaml"
	cleanPodFixture = "../../testdata/pods/clean-deployment-pod.yaml"
	// badPodFindings is what the SAPwned pod supports: app_uid_1337, app_gid_1337 and
	// shared_process_namespace.
	badPodFindings = 3
)

func testConfig() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.ClusterName = "unit"
	cfg.Findings.FlushInterval = 10 * time.Millisecond
	cfg.Findings.MaxRetryBackoff = 40 * time.Millisecond
	return cfg
}

func podLogs(t testing.TB, typ meshsim.WatchType, paths ...string) plog.Logs {
	t.Helper()
	ld := plog.NewLogs()
	for _, p := range paths {
		objs, err := meshsim.LoadObjects(p)
		require.NoError(t, err)
		for _, o := range objs {
			require.NoError(t, meshsim.AppendWatchRecord(ld, typ, o, time.Unix(1_700_000_000, 0)))
		}
	}
	return ld
}

// passedThrough returns the batches a sink received that are not finding batches: the
// flush loop may deliver a finding before the batch that caused it reaches the sink.
func passedThrough(lds []plog.Logs) []plog.Logs {
	var out []plog.Logs
	for _, ld := range lds {
		if len(findingsIn([]plog.Logs{ld})) == 0 {
			out = append(out, ld)
		}
	}
	return out
}

// findingsIn returns the finding records among everything a sink received.
func findingsIn(lds []plog.Logs) []collectorrun.FindingRecord { return collectorrun.Findings(lds) }

func start(t *testing.T, c component.Component) {
	t.Helper()
	require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
}

func TestTelemetryPassesThroughBitIdentical(t *testing.T) {
	set := metadatatest.NewSettings(componenttest.NewTelemetry())
	cfg := testConfig()
	f := NewFactory()

	tracesOut, metricsOut, logsOut := new(consumertest.TracesSink), new(consumertest.MetricsSink), new(consumertest.LogsSink)
	tp, err := f.CreateTraces(context.Background(), set, cfg, tracesOut)
	require.NoError(t, err)
	mp, err := f.CreateMetrics(context.Background(), set, cfg, metricsOut)
	require.NoError(t, err)
	lp, err := f.CreateLogs(context.Background(), set, cfg, logsOut)
	require.NoError(t, err)
	for _, c := range []component.Component{tp, mp, lp} {
		start(t, c)
	}
	assert.False(t, lp.Capabilities().MutatesData)

	td := benchTraces(50)
	md := benchMetrics(50)
	ld := podLogs(t, meshsim.WatchAdded, badPodFixture, cleanPodFixture)
	wantTraces, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	wantMetrics, _ := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
	wantLogs, _ := (&plog.ProtoMarshaler{}).MarshalLogs(ld)

	require.NoError(t, tp.ConsumeTraces(context.Background(), td))
	require.NoError(t, mp.ConsumeMetrics(context.Background(), md))
	require.NoError(t, lp.ConsumeLogs(context.Background(), ld))

	gotTraces, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(tracesOut.AllTraces()[0])
	gotMetrics, _ := (&pmetric.ProtoMarshaler{}).MarshalMetrics(metricsOut.AllMetrics()[0])
	gotLogs, _ := (&plog.ProtoMarshaler{}).MarshalLogs(passedThrough(logsOut.AllLogs())[0])
	assert.Equal(t, wantTraces, gotTraces)
	assert.Equal(t, wantMetrics, gotMetrics)
	assert.Equal(t, wantLogs, gotLogs, "pod objects are read, never changed")

	for _, c := range []component.Component{tp, mp, lp} {
		require.NoError(t, c.Shutdown(context.Background()))
	}
}

func TestPipelinesListingOneComponentShareOneEngine(t *testing.T) {
	set := metadatatest.NewSettings(componenttest.NewTelemetry())
	cfg := testConfig()
	f := NewFactory()
	logsA, logsB := new(consumertest.LogsSink), new(consumertest.LogsSink)
	la, err := f.CreateLogs(context.Background(), set, cfg, logsA)
	require.NoError(t, err)
	lb, err := f.CreateLogs(context.Background(), set, cfg, logsB)
	require.NoError(t, err)
	mp, err := f.CreateMetrics(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	comps := []component.Component{la, lb, mp}
	for _, c := range comps {
		start(t, c)
	}
	shared := sharedEngines.entries[set.ID]
	require.NotNil(t, shared)
	assert.Equal(t, 3, shared.running)

	// A pod seen by one pipeline yields a finding in every logs pipeline, as its own batch.
	require.NoError(t, la.ConsumeLogs(context.Background(), podLogs(t, meshsim.WatchAdded, badPodFixture)))
	for _, sink := range []*consumertest.LogsSink{logsA, logsB} {
		require.Eventually(t, func() bool { return len(findingsIn(sink.AllLogs())) == badPodFindings }, 5*time.Second, 5*time.Millisecond)
	}
	assert.Len(t, logsB.AllLogs(), 1, "pipeline B only received the finding batch, not A's input")

	require.NoError(t, la.Shutdown(context.Background()))
	require.NoError(t, mp.Shutdown(context.Background()))
	assert.Same(t, shared, sharedEngines.entries[set.ID], "the engine lives until its last pipeline shuts down")
	require.NoError(t, lb.Shutdown(context.Background()))
	assert.NotContains(t, sharedEngines.entries, set.ID)
	require.NoError(t, lb.Shutdown(context.Background()), "Shutdown twice is safe")
}

func TestNewConfigAfterReloadGetsNewEngine(t *testing.T) {
	set := metadatatest.NewSettings(componenttest.NewTelemetry())
	f := NewFactory()
	p1, err := f.CreateLogs(context.Background(), set, testConfig(), consumertest.NewNop())
	require.NoError(t, err)
	first := sharedEngines.entries[set.ID]
	p2, err := f.CreateLogs(context.Background(), set, testConfig(), consumertest.NewNop())
	require.NoError(t, err)
	assert.NotSame(t, first, sharedEngines.entries[set.ID])
	require.NoError(t, p1.Shutdown(context.Background()), "Shutdown without Start is safe")
	require.NoError(t, p2.Shutdown(context.Background()))
}

func TestCleanPodYieldsNoFinding(t *testing.T) {
	set := metadatatest.NewSettings(componenttest.NewTelemetry())
	out := new(consumertest.LogsSink)
	lp, err := NewFactory().CreateLogs(context.Background(), set, testConfig(), out)
	require.NoError(t, err)
	start(t, lp)
	require.NoError(t, lp.ConsumeLogs(context.Background(), podLogs(t, meshsim.WatchAdded, cleanPodFixture)))
	require.NoError(t, lp.Shutdown(context.Background()))
	assert.Empty(t, findingsIn(out.AllLogs()))
}

// flakyLogs fails finding batches with err the first failures times.
type flakyLogs struct {
	consumertest.LogsSink
	mu       sync.Mutex
	failures int
	err      error
	attempts int
}

func (f *flakyLogs) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	f.mu.Lock()
	isFinding := len(findingsIn([]plog.Logs{ld})) > 0
	if isFinding {
		f.attempts++
		if f.attempts <= f.failures {
			f.mu.Unlock()
			return f.err
		}
	}
	f.mu.Unlock()
	return f.LogsSink.ConsumeLogs(ctx, ld)
}

func (f *flakyLogs) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func TestRetryableDeliveryErrorKeepsFindingPending(t *testing.T) {
	tel := componenttest.NewTelemetry()
	out := &flakyLogs{failures: 3, err: errors.New("backend unavailable")}
	lp, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tel), testConfig(), out)
	require.NoError(t, err)
	start(t, lp)
	require.NoError(t, lp.ConsumeLogs(context.Background(), podLogs(t, meshsim.WatchAdded, badPodFixture)))
	require.Eventually(t, func() bool { return len(findingsIn(out.AllLogs())) == badPodFindings }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, lp.Shutdown(context.Background()))

	// The three findings travel as one batch: three failed attempts, then one delivery.
	metadatatest.AssertEqualProcessorInsightsFindingsDeliveryRetries(t, tel,
		[]metricdata.DataPoint[int64]{{Value: 3}}, metricdatatest.IgnoreTimestamp())
	emitted := func(rule, severity string) metricdata.DataPoint[int64] {
		return metricdata.DataPoint[int64]{Value: 1, Attributes: attribute.NewSet(attribute.String("rule", rule),
			attribute.String("severity", severity), attribute.String("state", "open"))}
	}
	metadatatest.AssertEqualProcessorInsightsFindingsEmitted(t, tel, []metricdata.DataPoint[int64]{
		emitted("app_uid_1337", "critical"), emitted("app_gid_1337", "high"), emitted("shared_process_namespace", "high"),
	}, metricdatatest.IgnoreTimestamp())
}

func TestPermanentDeliveryErrorDropsAndCounts(t *testing.T) {
	tel := componenttest.NewTelemetry()
	out := &flakyLogs{failures: 1, err: consumererror.NewPermanent(errors.New("rejected"))}
	lp, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tel), testConfig(), out)
	require.NoError(t, err)
	start(t, lp)
	require.NoError(t, lp.ConsumeLogs(context.Background(), podLogs(t, meshsim.WatchAdded, badPodFixture)))
	require.Eventually(t, func() bool {
		out.mu.Lock()
		defer out.mu.Unlock()
		return out.attempts >= 1
	}, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, lp.Shutdown(context.Background()))
	assert.Empty(t, findingsIn(out.AllLogs()), "a permanently rejected finding is not retried")
	assert.Equal(t, 1, out.attempts)
	metadatatest.AssertEqualProcessorInsightsFindingsDropped(t, tel, []metricdata.DataPoint[int64]{{
		Value: badPodFindings, Attributes: attribute.NewSet(attribute.String("reason", "permanent_error")),
	}}, metricdatatest.IgnoreTimestamp())
}

func TestShutdownFlushesPendingFindings(t *testing.T) {
	cfg := testConfig()
	cfg.Findings.FlushInterval = time.Hour // only Shutdown can deliver
	cfg.Findings.MaxRetryBackoff = time.Hour
	out := new(consumertest.LogsSink)
	lp, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg, out)
	require.NoError(t, err)
	start(t, lp)
	require.NoError(t, lp.ConsumeLogs(context.Background(), podLogs(t, meshsim.WatchAdded, badPodFixture)))
	assert.Empty(t, findingsIn(out.AllLogs()))
	require.NoError(t, lp.Shutdown(context.Background()))
	assert.Len(t, findingsIn(out.AllLogs()), badPodFindings)
}

func TestWithoutLogsPipelineFindingsGoToCollectorLog(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	set := metadatatest.NewSettings(componenttest.NewTelemetry())
	set.Logger = zap.New(core)
	tp, err := NewFactory().CreateTraces(context.Background(), set, testConfig(), consumertest.NewNop())
	require.NoError(t, err)
	start(t, tp)
	require.NoError(t, tp.Shutdown(context.Background()))
	assert.Equal(t, 1, logs.FilterMessageSnippet("No logs pipeline lists this processor").Len())
}

func TestMalformedPodObjectsAreCountedAndSkipped(t *testing.T) {
	tel := componenttest.NewTelemetry()
	out := new(consumertest.LogsSink)
	lp, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tel), testConfig(), out)
	require.NoError(t, err)
	start(t, lp)

	ld := podLogs(t, meshsim.WatchAdded, badPodFixture)
	recs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	notAMap := recs.AppendEmpty()
	notAMap.Attributes().PutStr("k8s.resource.name", "pods")
	notAMap.Body().SetInt(7)
	noMetadata := recs.AppendEmpty()
	noMetadata.Attributes().PutStr("k8s.resource.name", "pods")
	noMetadata.Body().SetEmptyMap().PutStr("kind", "Pod")
	wrongTypes := recs.AppendEmpty()
	wrongTypes.Body().SetStr(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":3,"namespace":"x"}}`)
	envelopeWithString := recs.AppendEmpty()
	env := envelopeWithString.Body().SetEmptyMap()
	env.PutStr("type", "ADDED")
	env.PutStr("object", "not an object")
	plainLine := recs.AppendEmpty()
	plainLine.Body().SetStr("GET /healthz 200")
	want, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)

	require.NoError(t, lp.ConsumeLogs(context.Background(), ld))
	require.Eventually(t, func() bool { return len(findingsIn(out.AllLogs())) == badPodFindings }, 5*time.Second, 5*time.Millisecond,
		"the good pod in the same batch is still evaluated")
	require.NoError(t, lp.Shutdown(context.Background()))
	got, err := (&plog.ProtoMarshaler{}).MarshalLogs(passedThrough(out.AllLogs())[0])
	require.NoError(t, err)
	assert.Equal(t, want, got, "the batch passes through whole")
	metadatatest.AssertEqualProcessorInsightsInputsUndecodable(t, tel, []metricdata.DataPoint[int64]{{
		Value: 4, Attributes: attribute.NewSet(attribute.String("signal", "logs"), attribute.String("reason", "malformed_k8s_object")),
	}}, metricdatatest.IgnoreTimestamp())
}

var _ processor.Factory = NewFactory()

func TestMalformedAccessLogsAreCountedAndSkipped(t *testing.T) {
	tel := componenttest.NewTelemetry()
	out := new(consumertest.LogsSink)
	lp, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tel), testConfig(), out)
	require.NoError(t, err)
	start(t, lp)

	ld := plog.NewLogs()
	recs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for _, line := range []string{
		`[2024-05-14T09:12:01.123Z] "GET /reviews/0 HT`,                           // truncated access log
		`[2024-05-14T09:12:01.123Z] "GET /reviews/0 HTTP/1.1" abc - via_upstream`, // garbage code
		`{"start_time": "2024-05-14T09:12:01.123Z", "response_code": 2`,           // cut JSON
		`[INFO] starting server on :9080`,                                         // an application's own log
		`GET /healthz 200`,
	} {
		recs.AppendEmpty().Body().SetStr(line)
	}
	want, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)

	require.NoError(t, lp.ConsumeLogs(context.Background(), ld))
	require.NoError(t, lp.Shutdown(context.Background()))
	got, err := (&plog.ProtoMarshaler{}).MarshalLogs(out.AllLogs()[0])
	require.NoError(t, err)
	assert.Equal(t, want, got, "the batch passes through whole")
	metadatatest.AssertEqualProcessorInsightsInputsUndecodable(t, tel, []metricdata.DataPoint[int64]{{
		Value: 3, Attributes: attribute.NewSet(attribute.String("signal", "logs"), attribute.String("reason", "malformed_access_log")),
	}}, metricdatatest.IgnoreTimestamp())
}
