package insightsprocessor

import (
	"context"
	"encoding/json"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/meshinsights/otelcol-insights/processor/insightsprocessor/internal/metadatatest"
)

// FuzzConsumeLogs feeds arbitrary record bodies, as strings and as OTLP JSON maps, with and
// without the k8sobjects marker: the processor must never panic and must pass every batch on.
func FuzzConsumeLogs(f *testing.F) {
	f.Add(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"b"}}`, true)
	f.Add(`{"type":"ADDED","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"b"},"spec":{"containers":[{"name":"c","securityContext":{"runAsUser":1337}}]}}}`, true)
	f.Add(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":1}}`, false)
	f.Add(`[2026-11-23T10:00:00.000Z] "GET / HTTP/1.1" 200 - via_upstream`, false)
	f.Add(`{"type":"DELETED","object":"x"}`, true)

	lp, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), testConfig(), consumertest.NewNop())
	if err != nil {
		f.Fatal(err)
	}
	if err := lp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = lp.Shutdown(context.Background()) })

	f.Fuzz(func(t *testing.T, body string, markedAsPod bool) {
		ld := plog.NewLogs()
		recs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
		asString := recs.AppendEmpty()
		asString.Body().SetStr(body)
		// The same input as a structured body, as a k8sobjects receiver or OTLP JSON sender sends it.
		asMap := recs.AppendEmpty()
		var raw map[string]any
		if json.Unmarshal([]byte(body), &raw) == nil && raw != nil {
			_ = asMap.Body().SetEmptyMap().FromRaw(raw)
		}
		if markedAsPod {
			asString.Attributes().PutStr("k8s.resource.name", "pods")
			asMap.Attributes().PutStr("k8s.resource.name", "pods")
		}
		if err := lp.ConsumeLogs(context.Background(), ld); err != nil {
			t.Fatalf("batch not passed on: %v", err)
		}
	})
}
