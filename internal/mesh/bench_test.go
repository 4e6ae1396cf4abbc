package mesh

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// istioLabels are the 25 standard labels, as one sidecar reports them.
func istioLabels(i int) [][2]string {
	return [][2]string{
		{"reporter", "destination"},
		{"source_workload", "client-" + strconv.Itoa(i%100)},
		{"source_workload_namespace", "bookinfo"},
		{"source_principal", "spiffe://cluster.local/ns/bookinfo/sa/client-" + strconv.Itoa(i%100)},
		{"source_app", "client-" + strconv.Itoa(i%100)},
		{"source_version", "v" + strconv.Itoa(i/100)},
		{"source_canonical_service", "client-" + strconv.Itoa(i%100)},
		{"source_canonical_revision", "v" + strconv.Itoa(i/100)},
		{"source_cluster", "Kubernetes"},
		{"destination_workload", "reviews-v2"},
		{"destination_workload_namespace", "bookinfo"},
		{"destination_principal", "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews"},
		{"destination_app", "reviews"},
		{"destination_version", "v2"},
		{"destination_service", "reviews.bookinfo.svc.cluster.local"},
		{"destination_service_name", "reviews"},
		{"destination_service_namespace", "bookinfo"},
		{"destination_canonical_service", "reviews"},
		{"destination_canonical_revision", "v2"},
		{"destination_cluster", "Kubernetes"},
		{"request_protocol", "http"},
		{"response_flags", "-"},
		{"connection_security_policy", "mutual_tls"},
		{"response_code", []string{"200", "404", "503"}[i%3]},
		{"grpc_response_status", "0"},
	}
}

const benchPoints = 1000

func benchMetrics() (pmetric.Metrics, pmetric.NumberDataPointSlice) {
	md := pmetric.NewMetrics()
	sum := newSum(md, map[string]string{
		"service.name": "envoy-stats", "service.instance.id": "10.244.0.23:15090",
		"k8s.pod.name": "reviews-v2-6f76498fc8-58wpn", "k8s.namespace.name": "bookinfo", "k8s.pod.uid": "uid-reviews",
	}, "istio_requests_total")
	for i := 0; i < benchPoints; i++ {
		dp := sum.DataPoints().AppendEmpty()
		for _, kv := range istioLabels(i) {
			dp.Attributes().PutStr(kv[0], kv[1])
		}
		dp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
		dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Second)))
		dp.SetDoubleValue(float64(i))
	}
	return md, sum.DataPoints()
}

// advance moves every point one scrape on, adding add to its value.
func advance(dps pmetric.NumberDataPointSlice, step int, add float64) {
	ts := pcommon.NewTimestampFromTime(t0.Add(time.Duration(step+2) * time.Second))
	for i := 0; i < dps.Len(); i++ {
		dp := dps.At(i)
		dp.SetTimestamp(ts)
		if add != 0 {
			dp.SetDoubleValue(dp.DoubleValue() + add)
		}
	}
}

func perItem(b *testing.B, items int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(items), "ns/item")
}

// BenchmarkReadMetrics: one scrape of 1000 istio_requests_total points with 25 labels,
// every series known. "unchanged" is the steady state (no point emitted); "growing" emits
// every point. Both include moving the points' timestamps (and values) on each iteration.
func BenchmarkReadMetrics(b *testing.B) {
	for _, tc := range []struct {
		name string
		add  float64
	}{{"unchanged", 0}, {"growing", 1}} {
		b.Run(tc.name, func(b *testing.B) {
			md, dps := benchMetrics()
			r := &MetricsReader{Deltas: NewDeltaTracker(10_000, time.Hour)}
			n := 0
			emit := func(*TrafficObservation) { n++ }
			r.Read(md, emit, nil) // baselines
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				advance(dps, i, tc.add)
				r.Read(md, emit, nil)
			}
			perItem(b, benchPoints)
			if tc.add != 0 && n != benchPoints*(b.N+1) {
				b.Fatalf("emitted %d", n)
			}
		})
	}
}

func BenchmarkDeltaTrackerKnownSeries(b *testing.B) {
	dt := NewDeltaTracker(10_000, time.Hour)
	for i := 0; i < benchPoints; i++ {
		dt.Cumulative(SeriesID(i), 1, 1, 0, t0)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dt.Cumulative(SeriesID(i%benchPoints), 1, uint64(i+2), float64(i), t0)
	}
}

func benchTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "reviews.bookinfo")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for i := 0; i < benchPoints; i++ {
		s := spans.AppendEmpty()
		a := s.Attributes()
		cluster := "inbound|9080||"
		s.SetKind(ptrace.SpanKindServer)
		if i%2 == 1 {
			cluster = "outbound|9080||ratings.bookinfo.svc.cluster.local"
			s.SetKind(ptrace.SpanKindClient)
		}
		for _, kv := range [][2]string{
			{"node_id", "sidecar~10.244.0.23~reviews-v2-6f76498fc8-58wpn.bookinfo~bookinfo.svc.cluster.local"},
			{"zone", "eu-west-1a"},
			{"guid:x-request-id", "e4e8c177-3962-9359-945e-61e7175cd867"},
			{"http.url", "http://reviews:9080/reviews/0"},
			{"http.method", "GET"},
			{"downstream_cluster", "-"},
			{"user_agent", "Go-http-client/1.1"},
			{"http.protocol", "HTTP/1.1"},
			{"peer.address", "10.244.0.25"},
			{"request_size", "0"},
			{"response_size", "358"},
			{"upstream_cluster", cluster},
			{"upstream_cluster.name", cluster},
			{"http.status_code", "200"},
			{"response_flags", "-"},
			{"istio.canonical_service", "reviews"},
			{"istio.canonical_revision", "v2"},
			{"istio.mesh_id", "cluster.local"},
			{"istio.namespace", "bookinfo"},
			{"component", "proxy"},
		} {
			a.PutStr(kv[0], kv[1])
		}
	}
	return td
}

func BenchmarkReadSpans(b *testing.B) {
	td := benchTraces()
	n := 0
	emit := func(*SpanObservation) { n++ }
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ReadSpans(td, emit)
	}
	perItem(b, benchPoints)
}

func validLines(tb testing.TB, file string) []string {
	var lines []string
	for _, c := range loadCases(tb, file) {
		if !isGarbage(c.Name) {
			lines = append(lines, c.Line)
		}
	}
	return lines
}

func BenchmarkParseAccessLogText(b *testing.B) {
	lines := validLines(b, textCases)
	var o AccessLogObservation
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !ParseAccessLogText(lines[i%len(lines)], &o) {
			b.Fatal("parse")
		}
	}
	perItem(b, 1)
}

func BenchmarkParseAccessLogJSON(b *testing.B) {
	lines := validLines(b, jsonCases)
	var o AccessLogObservation
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !ParseAccessLogJSON(lines[i%len(lines)], &o) {
			b.Fatal("parse")
		}
	}
	perItem(b, 1)
}

func benchLogs(tb testing.TB) plog.Logs {
	lines := validLines(tb, textCases)
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for i := 0; i < benchPoints; i++ {
		lrs.AppendEmpty().Body().SetStr(lines[i%len(lines)])
	}
	return ld
}

func BenchmarkReadAccessLogs(b *testing.B) {
	ld := benchLogs(b)
	n := 0
	emit := func(*AccessLogObservation) { n++ }
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ReadAccessLogs(ld, emit)
	}
	perItem(b, benchPoints)
}

// The clean path must not allocate per item: these guard the benchmarks' promises.

func TestParseAccessLogTextDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	lines := validLines(t, textCases)
	var o AccessLogObservation
	i := 0
	allocs := testing.AllocsPerRun(200, func() {
		ParseAccessLogText(lines[i%len(lines)], &o)
		i++
	})
	require.Zero(t, allocs)
}

func TestParseAccessLogJSONAllocatesOnlyForEscapes(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	var o AccessLogObservation
	for _, c := range loadCases(t, jsonCases) {
		if isGarbage(c.Name) || c.Name == "header_injection" { // that one has escaped quotes
			continue
		}
		allocs := testing.AllocsPerRun(50, func() { ParseAccessLogJSON(c.Line, &o) })
		require.Zero(t, allocs, c.Name)
	}
}

func TestReadersAllocateOncePerBatchNotPerItem(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	td := benchTraces()
	spans := testing.AllocsPerRun(20, func() { ReadSpans(td, func(*SpanObservation) {}) })
	require.LessOrEqual(t, spans, 1.0, "spans")

	ld := benchLogs(t)
	logs := testing.AllocsPerRun(20, func() { ReadAccessLogs(ld, func(*AccessLogObservation) {}) })
	require.LessOrEqual(t, logs, 1.0, "access logs")

	md, dps := benchMetrics()
	r := &MetricsReader{Deltas: NewDeltaTracker(10_000, time.Hour)}
	r.Read(md, func(*TrafficObservation) {}, nil)
	step := 0
	metrics := testing.AllocsPerRun(20, func() {
		advance(dps, step, 1)
		step++
		r.Read(md, func(*TrafficObservation) {}, nil)
	})
	require.LessOrEqual(t, metrics, 2.0, "metrics, known series")
}
