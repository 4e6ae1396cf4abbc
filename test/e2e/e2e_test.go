//go:build e2e

// Package e2e runs the built dist/otelcol-insights on loopback: pods posted over
// OTLP/HTTP in the k8sobjects receiver's format come out as findings through the logs
// pipelines' file exporters. Run with `make e2e-test` (it builds the binary first).
package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/meshinsights/otelcol-insights/internal/collectorrun"
	"github.com/meshinsights/otelcol-insights/internal/meshsim"
)

func startCollector(t *testing.T) (*collectorrun.Collector, string) {
	t.Helper()
	bin := os.Getenv("OTELCOL_INSIGHTS_BIN")
	if bin == "" {
		t.Fatal("OTELCOL_INSIGHTS_BIN is not set: run `make e2e-test`, which builds dist/otelcol-insights first")
	}
	dir := t.TempDir()
	audit := filepath.Join(dir, "audit.jsonl")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := collectorrun.Start(ctx, collectorrun.Options{
		Binary: bin,
		Config: "testdata/config.yaml",
		Dir:    dir,
		Env:    map[string]string{"INSIGHTS_AUDIT_FILE": audit},
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("collector output:\n%s", c.Output())
		}
	})
	return c, audit
}

func loadPod(t *testing.T, path string) meshsim.Object {
	t.Helper()
	objs, err := meshsim.LoadObjects(path)
	require.NoError(t, err)
	require.Len(t, objs, 1)
	return objs[0]
}

func byRule(fs []collectorrun.FindingRecord, rule, state string) []collectorrun.FindingRecord {
	var out []collectorrun.FindingRecord
	for _, f := range fs {
		if f.Attr("insight.rule") == rule && f.Attr("insight.state") == state {
			out = append(out, f)
		}
	}
	return out
}

func TestUID1337PodYieldsFindingThroughEveryLogsPipeline(t *testing.T) {
	c, auditFile := startCollector(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	bad := loadPod(t, "../../testdata/pods/sapwned-job-uid-1337.yaml")
	clean := loadPod(t, "../../testdata/pods/clean-deployment-pod.yaml")

	// Pull-mode record for the clean pod, watch-mode ADDED for the bad one, and records
	// that are not pods at all or are malformed pod objects: all pass through untouched.
	ld := plog.NewLogs()
	require.NoError(t, meshsim.AppendPullRecord(ld, clean, time.Now()))
	require.NoError(t, meshsim.AppendWatchRecord(ld, meshsim.WatchAdded, bad, time.Now()))
	junk := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	notAMap := junk.AppendEmpty()
	notAMap.Attributes().PutStr("k8s.resource.name", "pods")
	notAMap.Body().SetInt(42)
	noMetadata := junk.AppendEmpty()
	noMetadata.Attributes().PutStr("k8s.resource.name", "pods")
	noMetadata.Body().SetEmptyMap().PutStr("kind", "Pod")
	accessLog := junk.AppendEmpty()
	accessLog.Body().SetStr(`[2026-11-23T10:00:00.000Z] "GET /productpage HTTP/1.1" 200 - via_upstream - "-" 0 5293 42 41 "-" "curl/8.0" "abc" "productpage:9080" "10.0.0.5:9080" inbound|9080|| 127.0.0.6:43251 10.0.0.5:9080 10.0.0.9:51234 outbound_.9080_._.productpage.bookinfo.svc.cluster.local default`)
	inputRecords := ld.LogRecordCount()
	require.NoError(t, c.PostLogs(ctx, ld))

	open, err := c.WaitFindings(ctx, func(fs []collectorrun.FindingRecord) bool {
		return len(byRule(fs, "app_uid_1337", "open")) > 0
	})
	require.NoError(t, err, "no app_uid_1337 finding arrived")
	got := byRule(open, "app_uid_1337", "open")
	require.Len(t, got, 1, "one finding per offending container, not per pipeline input")
	f := got[0]
	assert.Equal(t, "CRITICAL", f.SeverityText)
	assert.Equal(t, plog.SeverityNumberFatal, f.SeverityNumber)
	assert.Equal(t, "critical", f.Attr("insight.severity"))
	assert.Equal(t, bad.Name(), f.ResourceAttr("k8s.pod.name"))
	assert.Equal(t, bad.Namespace(), f.ResourceAttr("k8s.namespace.name"))
	assert.Equal(t, "e2e", f.ResourceAttr("k8s.cluster.name"))
	assert.NotEmpty(t, f.ResourceAttr("k8s.job.name"), "the subject is the pod's Job")
	assert.True(t, strings.HasPrefix(f.Attr("insight.workload"), "job/"), f.Attr("insight.workload"))
	container := f.ResourceAttr("k8s.container.name")
	assert.NotEmpty(t, container)
	assert.False(t, strings.HasPrefix(container, "istio-"), "the proxy's own containers are never reported")
	assert.Contains(t, f.Body, "1337")
	assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{32}$`), f.Attr("insight.fingerprint"))

	for _, rec := range open {
		assert.NotEqual(t, clean.Name(), rec.ResourceAttr("k8s.pod.name"), "the clean pod yields no finding: %s", rec.Body)
	}

	// The second logs pipeline gets the same finding as its own batch.
	audit := &collectorrun.Collector{FindingsFile: auditFile}
	auditFindings, err := audit.WaitFindings(ctx, func(fs []collectorrun.FindingRecord) bool {
		return len(byRule(fs, "app_uid_1337", "open")) > 0
	})
	require.NoError(t, err)
	assert.Equal(t, f.Attr("insight.fingerprint"), byRule(auditFindings, "app_uid_1337", "open")[0].Attr("insight.fingerprint"))

	// Telemetry passing through is untouched: every input record reached the exporter.
	lds, err := collectorrun.ReadLogsFile(c.FindingsFile)
	require.NoError(t, err)
	passed := 0
	for _, l := range lds {
		passed += l.LogRecordCount()
	}
	assert.Equal(t, inputRecords, passed-len(collectorrun.Findings(lds)), "input records pass through")

	// Deleting the pod resolves the finding, under the same fingerprint.
	require.NoError(t, c.PostWatchEvents(ctx, meshsim.WatchDeleted, bad))
	resolvedAll, err := c.WaitFindings(ctx, func(fs []collectorrun.FindingRecord) bool {
		return len(byRule(fs, "app_uid_1337", "resolved")) > 0
	})
	require.NoError(t, err, "no resolved record after the pod was deleted")
	resolved := byRule(resolvedAll, "app_uid_1337", "resolved")
	require.Len(t, resolved, 1)
	assert.Equal(t, f.Attr("insight.fingerprint"), resolved[0].Attr("insight.fingerprint"))

	// The processor's own telemetry counted what it saw.
	metrics, err := c.SelfMetrics(ctx)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, metricValue(t, metrics, `otelcol_processor_insights_items_inspected`, `signal="logs"`), float64(inputRecords))
	assert.GreaterOrEqual(t, metricValue(t, metrics, `otelcol_processor_insights_inputs_undecodable`, `signal="logs"`), 2.0)
	assert.GreaterOrEqual(t, metricValue(t, metrics, `otelcol_processor_insights_findings_emitted`, `rule="app_uid_1337"`), 2.0)

	require.NoError(t, c.Stop())
}

// metricValue sums the samples of a Prometheus metric whose labels contain match.
func metricValue(t *testing.T, text, name, match string) float64 {
	t.Helper()
	sum, found := 0.0, false
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") || !strings.Contains(line, match) {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		require.NoError(t, err, line)
		sum += v
		found = true
	}
	require.True(t, found, "metric %s{%s} not found in:\n%s", name, match, text)
	return sum
}
