package mesh

import (
	"github.com/meshinsights/otelcol-insights/internal/meshsim"

	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// repoFile is a path relative to the repository root.
func repoFile(t testing.TB, rel string) string {
	t.Helper()
	return filepath.Join("..", "..", filepath.FromSlash(rel))
}

func readRepoFile(t testing.TB, rel string) string {
	t.Helper()
	b, err := os.ReadFile(repoFile(t, rel))
	require.NoError(t, err)
	return string(b)
}

// fixtureCase is one `# case: <name>` record of a testdata/mesh/accesslogs file.
type fixtureCase struct {
	Name string
	Line string
}

// loadCases reads a case file: `# case: <name>`, comment lines, then the record line.
func loadCases(t testing.TB, rel string) []fixtureCase {
	t.Helper()
	f, err := os.Open(repoFile(t, rel))
	require.NoError(t, err)
	defer f.Close()
	var cases []fixtureCase
	name := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if n, ok := strings.CutPrefix(line, "# case: "); ok {
			name = n
			continue
		}
		if name == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cases = append(cases, fixtureCase{Name: name, Line: line})
		name = ""
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, cases)
	return cases
}

// --- Prometheus text exposition -> pmetric, the way the prometheus receiver delivers it ---

type promSample struct {
	name   string
	labels map[string]string // empty values already dropped, like the receiver does
	value  float64
}

// promScrape is the receiver's view of one scrape: resource attributes, start and time.
type promScrape struct {
	Resource map[string]string
	Start    time.Time
	Time     time.Time
}

// parsePromText turns Prometheus text exposition into pmetric as the collector's prometheus
// receiver would: counters become cumulative monotonic double Sums under their sample name
// (`_total` kept), gauges and untyped samples Gauges, histograms explicit-bucket Histograms
// under the family name; summaries are left out. Labels become data point attributes, empty
// ones dropped; `le` is the bucket bound.
func parsePromText(t testing.TB, text string, scrape promScrape) pmetric.Metrics {
	t.Helper()
	types := map[string]string{}
	var samples []promSample
	for ln, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			f := strings.Fields(rest)
			require.Len(t, f, 2, "line %d", ln+1)
			types[f[0]] = f[1]
			continue
		}
		if line[0] == '#' {
			continue
		}
		s, err := parsePromSample(line)
		require.NoError(t, err, "line %d: %s", ln+1, line)
		samples = append(samples, s)
	}

	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	for k, v := range scrape.Resource {
		rm.Resource().Attributes().PutStr(k, v)
	}
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("github.com/open-telemetry/opentelemetry-collector-contrib/receiver/prometheusreceiver")
	start, ts := pcommon.NewTimestampFromTime(scrape.Start), pcommon.NewTimestampFromTime(scrape.Time)

	metrics := map[string]pmetric.Metric{}
	type histSeries struct {
		dp      pmetric.HistogramDataPoint
		buckets map[float64]float64 // le -> cumulative count
	}
	hists := map[string]*histSeries{}
	var histOrder []string
	metricFor := func(name string, typ pmetric.MetricType) pmetric.Metric {
		if m, ok := metrics[name]; ok {
			return m
		}
		m := sm.Metrics().AppendEmpty()
		m.SetName(name)
		switch typ {
		case pmetric.MetricTypeSum:
			m.SetEmptySum().SetIsMonotonic(true)
			m.Sum().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		case pmetric.MetricTypeHistogram:
			m.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		default:
			m.SetEmptyGauge()
		}
		metrics[name] = m
		return m
	}
	for _, s := range samples {
		family, suffix := s.name, ""
		if _, ok := types[family]; !ok {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(s.name, suf); ok && (types[base] == "histogram" || types[base] == "summary") {
					family, suffix = base, suf
				}
			}
		}
		switch types[family] {
		case "counter":
			dp := metricFor(s.name, pmetric.MetricTypeSum).Sum().DataPoints().AppendEmpty()
			dp.SetDoubleValue(s.value)
			dp.SetStartTimestamp(start)
			dp.SetTimestamp(ts)
			putLabels(dp.Attributes(), s.labels)
		case "histogram":
			le := s.labels["le"]
			delete(s.labels, "le")
			key := family + "|" + labelKey(s.labels)
			h, ok := hists[key]
			if !ok {
				dp := metricFor(family, pmetric.MetricTypeHistogram).Histogram().DataPoints().AppendEmpty()
				dp.SetStartTimestamp(start)
				dp.SetTimestamp(ts)
				putLabels(dp.Attributes(), s.labels)
				h = &histSeries{dp: dp, buckets: map[float64]float64{}}
				hists[key] = h
				histOrder = append(histOrder, key)
			}
			switch suffix {
			case "_bucket":
				bound, err := strconv.ParseFloat(le, 64)
				require.NoError(t, err)
				h.buckets[bound] = s.value
			case "_sum":
				h.dp.SetSum(s.value)
			case "_count":
				h.dp.SetCount(uint64(s.value))
			}
		case "summary":
			// not needed by these readers
		default:
			dp := metricFor(s.name, pmetric.MetricTypeGauge).Gauge().DataPoints().AppendEmpty()
			dp.SetDoubleValue(s.value)
			dp.SetTimestamp(ts)
			putLabels(dp.Attributes(), s.labels)
		}
	}
	for _, key := range histOrder {
		h := hists[key]
		var bounds []float64
		for b := range h.buckets {
			bounds = append(bounds, b)
		}
		sort.Float64s(bounds)
		prev := 0.0
		for _, b := range bounds {
			if !isInf(b) {
				h.dp.ExplicitBounds().Append(b)
			}
			h.dp.BucketCounts().Append(uint64(h.buckets[b] - prev))
			prev = h.buckets[b]
		}
	}
	return md
}

func isInf(f float64) bool { return f > 1e308 }

func putLabels(m pcommon.Map, labels map[string]string) {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys) // Prometheus labels are sorted by name
	for _, k := range keys {
		m.PutStr(k, labels[k])
	}
}

func labelKey(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + labels[k] + ",")
	}
	return b.String()
}

func parsePromSample(line string) (promSample, error) {
	s := promSample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return s, strconv.ErrSyntax
	}
	s.name = line[:i]
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, " ,")
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.IndexByte(rest, '=')
			if eq < 0 || len(rest) < eq+2 || rest[eq+1] != '"' {
				return s, strconv.ErrSyntax
			}
			key := rest[:eq]
			rest = rest[eq+2:]
			var val strings.Builder
			j := 0
			for ; j < len(rest) && rest[j] != '"'; j++ {
				if rest[j] == '\\' && j+1 < len(rest) {
					j++
					switch rest[j] {
					case 'n':
						val.WriteByte('\n')
					default:
						val.WriteByte(rest[j])
					}
					continue
				}
				val.WriteByte(rest[j])
			}
			if j >= len(rest) {
				return s, strconv.ErrSyntax
			}
			rest = rest[j+1:]
			if val.Len() > 0 { // the receiver drops empty-valued labels
				s.labels[key] = val.String()
			}
		}
	}
	f := strings.Fields(rest)
	if len(f) < 1 {
		return s, strconv.ErrSyntax
	}
	v, err := strconv.ParseFloat(f[0], 64)
	s.value = v
	return s, err
}

// --- Tempo JSON (Kiali's fixtures) -> ptrace ---

// loadTempo reads a Tempo JSON file (either response shape) into ptrace.Traces.
func loadTempo(t testing.TB, rel string) ptrace.Traces {
	t.Helper()
	td, err := meshsim.LoadTempo(repoFile(t, rel))
	require.NoError(t, err)
	return td
}
