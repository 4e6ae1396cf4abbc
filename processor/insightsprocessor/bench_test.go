package insightsprocessor

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/meshinsights/otelcol-insights/processor/insightsprocessor/internal/metadata"
)

// Realistic batches: what one scrape / one export from a busy node looks like.
const benchBatchItems = 1000

// benchTraces builds Envoy sidecar spans with Istio's attributes (see TELEMETRY.md).
func benchTraces(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "productpage.bookinfo")
	rs.Resource().Attributes().PutStr("k8s.pod.name", "productpage-v1-6b746f74dc-9stvs")
	rs.Resource().Attributes().PutStr("k8s.namespace.name", "bookinfo")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	spans.EnsureCapacity(n)
	for i := range n {
		s := spans.AppendEmpty()
		s.SetName("reviews.bookinfo.svc.cluster.local:9080/*")
		s.SetKind(ptrace.SpanKindClient)
		s.SetTraceID(pcommon.TraceID{byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
		s.SetSpanID(pcommon.SpanID{byte(i), 1, 2, 3, 4, 5, 6, 7})
		a := s.Attributes()
		a.PutStr("component", "proxy")
		a.PutStr("node_id", "sidecar~10.244.1.7~productpage-v1-6b746f74dc-9stvs.bookinfo~bookinfo.svc.cluster.local")
		a.PutStr("zone", "us-east-1a")
		a.PutStr("guid:x-request-id", fmt.Sprintf("5d0e5e1c-7b8a-9f3e-a0c1-%012d", i))
		a.PutStr("http.url", "http://reviews:9080/reviews/0")
		a.PutStr("http.method", "GET")
		a.PutStr("downstream_cluster", "-")
		a.PutStr("user_agent", "python-requests/2.31.0")
		a.PutStr("http.protocol", "HTTP/1.1")
		a.PutStr("peer.address", "10.244.1.7")
		a.PutStr("request_size", "0")
		a.PutStr("upstream_cluster", "outbound|9080||reviews.bookinfo.svc.cluster.local")
		a.PutStr("upstream_cluster.name", "outbound|9080||reviews.bookinfo.svc.cluster.local")
		a.PutStr("upstream_address", "10.244.2.9:9080")
		a.PutStr("http.status_code", "200")
		a.PutStr("response_size", "358")
		a.PutStr("response_flags", "-")
		a.PutStr("istio.canonical_service", "productpage")
		a.PutStr("istio.canonical_revision", "v1")
		a.PutStr("istio.namespace", "bookinfo")
		a.PutStr("istio.mesh_id", "cluster.local")
	}
	return td
}

// benchMetrics builds istio_requests_total series as the prometheus receiver delivers them
// from a sidecar: every edge twice, as the client's sidecar reports it (reporter=source,
// connection_security_policy=unknown) and as the server's does (reporter=destination).
func benchMetrics(n int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "envoy-stats")
	rm.Resource().Attributes().PutStr("service.instance.id", "10.244.1.7:15090")
	rm.Resource().Attributes().PutStr("k8s.pod.name", "productpage-v1-6b746f74dc-9stvs")
	rm.Resource().Attributes().PutStr("k8s.namespace.name", "bookinfo")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("istio_requests_total")
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dps := sum.DataPoints()
	dps.EnsureCapacity(n)
	for i := range n {
		dp := dps.AppendEmpty()
		dp.SetDoubleValue(float64(i * 7))
		dp.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Unix(1_700_000_000, 0)))
		dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Unix(1_700_000_060, 0)))
		a := dp.Attributes()
		if i%2 == 0 {
			a.PutStr("reporter", "source")
		} else {
			a.PutStr("reporter", "destination")
		}
		a.PutStr("source_workload", fmt.Sprintf("client-%d", i%50))
		a.PutStr("source_workload_namespace", "bookinfo")
		a.PutStr("source_principal", "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage")
		a.PutStr("source_app", "productpage")
		a.PutStr("source_version", "v1")
		a.PutStr("source_canonical_service", "productpage")
		a.PutStr("source_canonical_revision", "v1")
		a.PutStr("source_cluster", "Kubernetes")
		a.PutStr("destination_workload", "reviews-v1")
		a.PutStr("destination_workload_namespace", "bookinfo")
		a.PutStr("destination_principal", "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews")
		a.PutStr("destination_app", "reviews")
		a.PutStr("destination_version", "v1")
		a.PutStr("destination_service", "reviews.bookinfo.svc.cluster.local")
		a.PutStr("destination_service_name", "reviews")
		a.PutStr("destination_service_namespace", "bookinfo")
		a.PutStr("destination_canonical_service", "reviews")
		a.PutStr("destination_canonical_revision", "v1")
		a.PutStr("destination_cluster", "Kubernetes")
		a.PutStr("request_protocol", "http")
		a.PutStr("response_flags", "-")
		if i%2 == 0 {
			a.PutStr("connection_security_policy", "unknown")
		} else {
			a.PutStr("connection_security_policy", "mutual_tls")
		}
		a.PutStr("response_code", fmt.Sprintf("%d", 200+i%3))
		a.PutStr("grpc_response_status", "")
	}
	return md
}

// benchLogs builds Envoy access log records in Istio's default text format.
func benchLogs(n int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("k8s.pod.name", "reviews-v1-545db77b95-kx7nm")
	rl.Resource().Attributes().PutStr("k8s.namespace.name", "bookinfo")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	lrs.EnsureCapacity(n)
	for i := range n {
		lr := lrs.AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Unix(1_700_000_000, int64(i))))
		lr.Body().SetStr(fmt.Sprintf(`[2026-11-23T10:00:00.%03dZ] "GET /reviews/0 HTTP/1.1" 200 - via_upstream - "-" 0 358 12 11 "-" "python-requests/2.31.0" "5d0e5e1c-7b8a-9f3e-a0c1-%012d" "reviews:9080" "10.244.2.9:9080" inbound|9080|| 127.0.0.6:43251 10.244.2.9:9080 10.244.1.7:51234 outbound_.9080_._.reviews.bookinfo.svc.cluster.local default`, i%1000, i))
	}
	return ld
}

// itemsBench runs consume over the batch b.N times and reports per-item cost.
func itemsBench(b *testing.B, items int, consume func() error) {
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		if err := consume(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	perItem := float64(b.N) * float64(items)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/perItem, "ns/item")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/perItem, "allocs/item")
}

// The baseline in each benchmark is the same processorhelper wrapper doing nothing: the
// difference is what inspection costs.
func benchSetup() (context.Context, consumer.Capabilities) {
	return context.Background(), consumer.Capabilities{MutatesData: false}
}

func BenchmarkTraces(b *testing.B) {
	td := benchTraces(benchBatchItems)
	ctx, caps := benchSetup()
	set := processortest.NewNopSettings(metadata.Type)
	b.Run("baseline_passthrough", func(b *testing.B) {
		p, _ := processorhelper.NewTraces(ctx, set, testConfig(), consumertest.NewNop(),
			func(_ context.Context, td ptrace.Traces) (ptrace.Traces, error) { return td, nil },
			processorhelper.WithCapabilities(caps))
		itemsBench(b, benchBatchItems, func() error { return p.ConsumeTraces(ctx, td) })
	})
	b.Run("insights", func(b *testing.B) {
		p, _ := NewFactory().CreateTraces(ctx, set, testConfig(), consumertest.NewNop())
		_ = p.Start(ctx, componenttest.NewNopHost())
		defer p.Shutdown(ctx)
		itemsBench(b, benchBatchItems, func() error { return p.ConsumeTraces(ctx, td) })
	})
}

func BenchmarkMetrics(b *testing.B) {
	md := benchMetrics(benchBatchItems)
	ctx, caps := benchSetup()
	set := processortest.NewNopSettings(metadata.Type)
	b.Run("baseline_passthrough", func(b *testing.B) {
		p, _ := processorhelper.NewMetrics(ctx, set, testConfig(), consumertest.NewNop(),
			func(_ context.Context, md pmetric.Metrics) (pmetric.Metrics, error) { return md, nil },
			processorhelper.WithCapabilities(caps))
		itemsBench(b, benchBatchItems, func() error { return p.ConsumeMetrics(ctx, md) })
	})
	b.Run("insights", func(b *testing.B) {
		p, _ := NewFactory().CreateMetrics(ctx, set, testConfig(), consumertest.NewNop())
		_ = p.Start(ctx, componenttest.NewNopHost())
		defer p.Shutdown(ctx)
		itemsBench(b, benchBatchItems, func() error { return p.ConsumeMetrics(ctx, md) })
	})
	b.Run("insights_unaccounted_egress_on", func(b *testing.B) {
		cfg := testConfig()
		cfg.Rules.UnaccountedEgress.Enabled = true
		p, _ := NewFactory().CreateMetrics(ctx, set, cfg, consumertest.NewNop())
		_ = p.Start(ctx, componenttest.NewNopHost())
		defer p.Shutdown(ctx)
		itemsBench(b, benchBatchItems, func() error { return p.ConsumeMetrics(ctx, md) })
	})
}

func BenchmarkLogs(b *testing.B) {
	ld := benchLogs(benchBatchItems)
	ctx, caps := benchSetup()
	set := processortest.NewNopSettings(metadata.Type)
	b.Run("baseline_passthrough", func(b *testing.B) {
		p, _ := processorhelper.NewLogs(ctx, set, testConfig(), consumertest.NewNop(),
			func(_ context.Context, ld plog.Logs) (plog.Logs, error) { return ld, nil },
			processorhelper.WithCapabilities(caps))
		itemsBench(b, benchBatchItems, func() error { return p.ConsumeLogs(ctx, ld) })
	})
	b.Run("insights", func(b *testing.B) {
		p, _ := NewFactory().CreateLogs(ctx, set, testConfig(), consumertest.NewNop())
		_ = p.Start(ctx, componenttest.NewNopHost())
		defer p.Shutdown(ctx)
		itemsBench(b, benchBatchItems, func() error { return p.ConsumeLogs(ctx, ld) })
	})
}
