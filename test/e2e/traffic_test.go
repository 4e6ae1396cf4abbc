//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshinsights/otelcol-insights/internal/collectorrun"
	"github.com/meshinsights/otelcol-insights/internal/meshsim"
)

// envoyStats serves a real Prometheus text fixture the way a sidecar's :15090 does, every
// counter grown by the same step at each scrape after the first, so the collector's delta
// tracking sees new requests. The fixtures lack their final newline, which the Prometheus
// parser needs: it is appended.
type envoyStats struct {
	lines []string
	mu    sync.Mutex
	count int
}

// serveEnvoyStats serves a fixture of testdata/real/datadog, each line passed through edit
// when it is not nil.
func serveEnvoyStats(t *testing.T, fixture string, edit func(string) string) (*envoyStats, string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "real", "datadog", fixture))
	require.NoError(t, err)
	s := &envoyStats{lines: strings.Split(string(raw), "\n")}
	if edit != nil {
		for i, l := range s.lines {
			s.lines[i] = edit(l)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s, ln.Addr().String()
}

func (s *envoyStats) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/stats/prometheus" {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	grow := float64(s.count) * 10
	s.count++
	s.mu.Unlock()
	var b bytes.Buffer
	for _, line := range s.lines {
		if grow > 0 && line != "" && line[0] != '#' {
			line = grown(line, grow)
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

func (s *envoyStats) scrapes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// grown adds step to a sample line's value (the last field). Histogram buckets, sums and
// counts all grow by the same step, so buckets stay cumulative.
func grown(line string, step float64) string {
	i := strings.LastIndexByte(line, ' ')
	if i < 0 {
		return line
	}
	v, err := strconv.ParseFloat(line[i+1:], 64)
	if err != nil {
		return line
	}
	return line[:i+1] + strconv.FormatFloat(v+step, 'g', -1, 64)
}

func startTrafficCollector(t *testing.T, scrapeTarget string) *collectorrun.Collector {
	t.Helper()
	bin := os.Getenv("OTELCOL_INSIGHTS_BIN")
	if bin == "" {
		t.Fatal("OTELCOL_INSIGHTS_BIN is not set: run `make e2e-test`, which builds dist/otelcol-insights first")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := collectorrun.Start(ctx, collectorrun.Options{
		Binary: bin,
		Config: "testdata/traffic-scrape.yaml",
		Dir:    t.TempDir(),
		Env:    map[string]string{"INSIGHTS_SCRAPE_TARGET": scrapeTarget},
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("collector output:\n%s", c.Output())
		}
		_ = c.Stop()
	})
	return c
}

func TestPassthroughEgressFromRealEnvoyScrapes(t *testing.T) {
	stats, target := serveEnvoyStats(t, "istio-proxy.txt", nil)
	c := startTrafficCollector(t, target)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	wantHosts := []string{"archive.ubuntu.com", "repo.mongodb.org", "security.ubuntu.com"}
	hostsOf := func(fs []collectorrun.FindingRecord) []string {
		var hosts []string
		for _, f := range byRule(fs, "passthrough_egress", "open") {
			if list, ok := f.Attributes["insight.evidence.hosts"].([]any); ok {
				for _, h := range list {
					hosts = append(hosts, fmt.Sprint(h))
				}
			}
		}
		slices.Sort(hosts)
		return slices.Compact(hosts)
	}
	fs, err := c.WaitFindings(ctx, func(fs []collectorrun.FindingRecord) bool {
		return slices.Equal(hostsOf(fs), wantHosts)
	})
	require.NoError(t, err, "passthrough_egress for %v did not arrive; got %v after %d scrapes", wantHosts, hostsOf(fs), stats.scrapes())
	assert.GreaterOrEqual(t, stats.scrapes(), 2, "a first scrape is history of unknown age: only growth reports")

	open := byRule(fs, "passthrough_egress", "open")
	require.Len(t, open, 3, "one finding per source and host")
	for _, f := range open {
		assert.Equal(t, "mongodb-v1", f.Attr("insight.workload"))
		assert.Equal(t, "default", f.ResourceAttr("k8s.namespace.name"))
		assert.Equal(t, "e2e", f.ResourceAttr("k8s.cluster.name"))
		assert.Equal(t, "MEDIUM", f.SeverityText)
		assert.Contains(t, f.Body, "PassthroughCluster")
	}
	for _, f := range fs {
		assert.NotContains(t, []string{"plaintext_inbound", "sidecar_bypass"}, f.Attr("insight.rule"), f.Body)
	}
}

func TestMutualTLSScrapesAndKialiTracesYieldNoPlaintextOrBypass(t *testing.T) {
	stats, target := serveEnvoyStats(t, "istio-merged.txt", nil)
	c := startTrafficCollector(t, target)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	td, err := meshsim.LoadTempo("../../testdata/real/kiali/responseTrace.json")
	require.NoError(t, err)
	require.Positive(t, td.SpanCount())
	require.NoError(t, c.PostTraces(ctx, td))

	// Let at least three scrapes (two of them grown) through the processor.
	require.Eventually(t, func() bool { return stats.scrapes() >= 4 }, time.Minute, 100*time.Millisecond)
	require.Eventually(t, func() bool {
		m, err := c.SelfMetrics(ctx)
		return err == nil && strings.Contains(m, `signal="metrics"`) && strings.Contains(m, `signal="traces"`)
	}, 30*time.Second, 200*time.Millisecond)
	time.Sleep(time.Second) // two flushes of the findings loop

	metrics, err := c.SelfMetrics(ctx)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, metricValue(t, metrics, `otelcol_processor_insights_items_inspected`, `signal="traces"`), float64(td.SpanCount()))
	assert.Positive(t, metricValue(t, metrics, `otelcol_processor_insights_items_inspected`, `signal="metrics"`))

	fs, err := c.ReadFindings()
	require.NoError(t, err)
	for _, f := range fs {
		switch f.Attr("insight.rule") {
		case "plaintext_inbound", "sidecar_bypass":
			t.Errorf("mutual TLS traffic reported as %s: %s", f.Attr("insight.rule"), f.Body)
		}
	}
}

// The near miss of the test above: the same scrapes with mutual TLS turned off at the
// destination are plaintext_inbound, never sidecar_bypass (metrics cannot prove a bypass).
func TestPlaintextInboundFromRealScrapesWithoutMutualTLS(t *testing.T) {
	_, target := serveEnvoyStats(t, "istio-merged.txt", func(line string) string {
		return strings.ReplaceAll(line, `connection_security_policy="mutual_tls"`, `connection_security_policy="none"`)
	})
	c := startTrafficCollector(t, target)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	fs, err := c.WaitFindings(ctx, func(fs []collectorrun.FindingRecord) bool {
		return len(byRule(fs, "plaintext_inbound", "open")) > 0
	})
	require.NoError(t, err, "no plaintext_inbound finding")
	var workloads []string
	for _, f := range byRule(fs, "plaintext_inbound", "open") {
		workloads = append(workloads, f.Attr("insight.workload"))
		assert.Equal(t, "MEDIUM", f.SeverityText)
	}
	assert.Contains(t, workloads, "reviews-v1", "productpage's calls arrive at reviews in plaintext")
	assert.Empty(t, byRule(fs, "sidecar_bypass", "open"))
}
