package insightsprocessor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/meshinsights/otelcol-insights/internal/collectorrun"
	"github.com/meshinsights/otelcol-insights/internal/meshsim"
	"github.com/meshinsights/otelcol-insights/processor/insightsprocessor/internal/metadatatest"
)

// Access logs of the payments pod (testdata/pods/clean-deployment-pod.yaml, 10.244.1.23)
// from the meshed SAPwned job's pod (10.244.2.17) in plaintext, in Istio's three forms.
const plaintextFromJobText = `[%s] "GET /pay HTTP/1.1" 200 - via_upstream - "-" 0 10 1 1 "-" "curl/8.5.0" "r1" "10.244.1.23:8080" "10.244.1.23:8080" inbound|8080|| 127.0.0.6:41000 10.244.1.23:8080 10.244.2.17:52000 - default`

const plaintextFromJobJSON = `{"start_time":"%s","method":"GET","path":"/pay","protocol":"HTTP/1.1","response_code":200,"response_code_details":"via_upstream",` +
	`"upstream_cluster":"inbound|8080||","downstream_local_address":"10.244.1.23:8080","downstream_remote_address":"10.244.2.17:52001","requested_server_name":null}`

func findingsOf(out *consumertest.LogsSink, rule string) []collectorrun.FindingRecord {
	var got []collectorrun.FindingRecord
	for _, f := range findingsIn(out.AllLogs()) {
		if f.Attr("insight.rule") == rule {
			got = append(got, f)
		}
	}
	return got
}

func TestAccessLogsBecomeTrafficFindingsAndPassThroughUnchanged(t *testing.T) {
	cfg := testConfig()
	cfg.Rules.SidecarBypass.ConfirmAfter = 50 * time.Millisecond
	out := new(consumertest.LogsSink)
	lp, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg, out)
	require.NoError(t, err)
	start(t, lp)
	defer func() { require.NoError(t, lp.Shutdown(context.Background())) }()

	require.NoError(t, lp.ConsumeLogs(context.Background(), podLogs(t, meshsim.WatchAdded,
		"../../testdata/pods/clean-deployment-pod.yaml", badPodFixture)))

	now := time.Now().UTC()
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("k8s.namespace.name", "shop")
	rl.Resource().Attributes().PutStr("k8s.pod.name", "payments-6d8f9c7b5d-q2xlm")
	recs := rl.ScopeLogs().AppendEmpty().LogRecords()
	text := recs.AppendEmpty()
	text.SetTimestamp(pcommon.NewTimestampFromTime(now))
	text.Body().SetStr(fmt.Sprintf(plaintextFromJobText, now.Format(time.RFC3339Nano)))
	js := recs.AppendEmpty()
	js.SetObservedTimestamp(pcommon.NewTimestampFromTime(now))
	js.Body().SetStr(fmt.Sprintf(plaintextFromJobJSON, now.Format(time.RFC3339Nano)))
	attrs := recs.AppendEmpty()
	attrs.SetTimestamp(pcommon.NewTimestampFromTime(now))
	for k, v := range map[string]string{
		"upstream_cluster": "inbound|8080||", "downstream_local_address": "10.244.1.23:8080",
		"downstream_remote_address": "10.244.2.17:52002", "protocol": "HTTP/1.1",
	} {
		attrs.Attributes().PutStr(k, v)
	}
	recs.AppendEmpty().Body().SetStr("[INFO] an application's own log line")
	want, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)

	require.NoError(t, lp.ConsumeLogs(context.Background(), ld))
	require.Eventually(t, func() bool { return len(findingsOf(out, "sidecar_bypass")) > 0 }, 5*time.Second, 5*time.Millisecond)

	bypass := findingsOf(out, "sidecar_bypass")[0]
	assert.Equal(t, "job/train-model-run-42", bypass.Attr("insight.workload"))
	assert.Equal(t, "shop/payments", bypass.Attr("insight.evidence.destination"))
	assert.Equal(t, "10.244.2.17", bypass.Attr("insight.evidence.client_ip"))
	assert.EqualValues(t, 3, bypass.Attributes["insight.occurrences"], "three records, three forms")
	plaintext := findingsOf(out, "plaintext_inbound")
	require.Len(t, plaintext, 1)
	assert.Equal(t, "deployment/payments", plaintext[0].Attr("insight.workload"))

	var passed []plog.Logs
	for _, l := range passedThrough(out.AllLogs()) {
		if l.LogRecordCount() == ld.LogRecordCount() {
			passed = append(passed, l)
		}
	}
	require.Len(t, passed, 1)
	got, err := (&plog.ProtoMarshaler{}).MarshalLogs(passed[0])
	require.NoError(t, err)
	assert.Equal(t, want, got, "access logs are read, never changed")
}

// istioRequests is one scrape of mongodb-v1's istio_requests_total to PassthroughCluster.
func istioRequests(started, at time.Time, values map[string]float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "envoy-stats")
	rm.Resource().Attributes().PutStr("service.instance.id", "10.244.0.30:15090")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("istio_requests_total")
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for host, v := range values {
		dp := sum.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(pcommon.NewTimestampFromTime(started))
		dp.SetTimestamp(pcommon.NewTimestampFromTime(at))
		dp.SetDoubleValue(v)
		a := dp.Attributes()
		a.PutStr("reporter", "source")
		a.PutStr("source_workload", "mongodb-v1")
		a.PutStr("source_workload_namespace", "default")
		a.PutStr("destination_service", host)
		a.PutStr("destination_service_name", "PassthroughCluster")
		a.PutStr("connection_security_policy", "unknown")
		a.PutStr("request_protocol", "http")
	}
	return md
}

func TestPassthroughEgressFromGrowingCountersHonoursAllowHosts(t *testing.T) {
	set := metadatatest.NewSettings(componenttest.NewTelemetry())
	cfg := testConfig()
	cfg.Rules.PassthroughEgress.AllowHosts = []string{"*.ubuntu.com"}
	out := new(consumertest.LogsSink)
	lp, err := NewFactory().CreateLogs(context.Background(), set, cfg, out)
	require.NoError(t, err)
	mp, err := NewFactory().CreateMetrics(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	start(t, lp)
	start(t, mp)

	now := time.Now()
	first := map[string]float64{"security.ubuntu.com": 5, "repo.mongodb.org": 8}
	require.NoError(t, mp.ConsumeMetrics(context.Background(), istioRequests(now.Add(-time.Hour), now, first)))
	time.Sleep(50 * time.Millisecond)
	assert.Empty(t, findingsIn(out.AllLogs()), "a first scrape is history of unknown age")

	grown := map[string]float64{"security.ubuntu.com": 9, "repo.mongodb.org": 12}
	require.NoError(t, mp.ConsumeMetrics(context.Background(), istioRequests(now.Add(-time.Hour), now.Add(time.Second), grown)))
	require.Eventually(t, func() bool { return len(findingsOf(out, "passthrough_egress")) > 0 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, mp.Shutdown(context.Background()))
	require.NoError(t, lp.Shutdown(context.Background()))

	got := findingsOf(out, "passthrough_egress")
	require.Len(t, got, 1, "security.ubuntu.com is allow-listed")
	assert.Equal(t, "mongodb-v1", got[0].Attr("insight.workload"))
	assert.Equal(t, []any{"repo.mongodb.org"}, got[0].Attributes["insight.evidence.hosts"])
	assert.EqualValues(t, 4, got[0].Attributes["insight.occurrences"])
}
