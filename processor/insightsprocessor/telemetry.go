package insightsprocessor

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/meshinsights/otelcol-insights/internal/engine"
	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/processor/insightsprocessor/internal/metadata"
)

// processorTelemetry implements engine.Telemetry with the collector's own metrics.
type processorTelemetry struct {
	tb *metadata.TelemetryBuilder
	// Pre-built attribute sets for the per-batch counters on the hot path.
	signalAttrs map[string]metric.MeasurementOption
}

var _ engine.Telemetry = (*processorTelemetry)(nil)

func newProcessorTelemetry(tb *metadata.TelemetryBuilder) *processorTelemetry {
	t := &processorTelemetry{tb: tb, signalAttrs: map[string]metric.MeasurementOption{}}
	for _, s := range []string{signalTraces, signalMetrics, signalLogs} {
		t.signalAttrs[s] = metric.WithAttributeSet(attribute.NewSet(attribute.String("signal", s)))
	}
	return t
}

func (t *processorTelemetry) Inspected(ctx context.Context, signal string, n int) {
	t.tb.ProcessorInsightsItemsInspected.Add(ctx, int64(n), t.signalAttrs[signal])
}

func (t *processorTelemetry) Undecodable(ctx context.Context, signal, reason string) {
	t.tb.ProcessorInsightsInputsUndecodable.Add(ctx, 1, metric.WithAttributes(
		attribute.String("signal", signal), attribute.String("reason", reason)))
}

func (t *processorTelemetry) Emitted(ctx context.Context, f *findings.Finding) {
	t.tb.ProcessorInsightsFindingsEmitted.Add(ctx, 1, metric.WithAttributes(
		attribute.String("rule", f.Rule.ID),
		attribute.String("severity", f.Rule.Severity.String()),
		attribute.String("state", string(f.State))))
}

func (t *processorTelemetry) Dropped(ctx context.Context, reason string, n int) {
	t.tb.ProcessorInsightsFindingsDropped.Add(ctx, int64(n), metric.WithAttributes(attribute.String("reason", reason)))
}

func (t *processorTelemetry) Retried(ctx context.Context) {
	t.tb.ProcessorInsightsFindingsDeliveryRetries.Add(ctx, 1)
}

func (t *processorTelemetry) Refused(ctx context.Context, store string, n int) {
	t.tb.ProcessorInsightsInventoryRefused.Add(ctx, int64(n), metric.WithAttributes(attribute.String("store", store)))
}

// registerGauges wires the asynchronous gauges to the engine they describe.
func (t *processorTelemetry) registerGauges(e *engine.Engine) error {
	if err := t.tb.RegisterProcessorInsightsFindingsPendingCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(int64(e.Pending()))
		return nil
	}); err != nil {
		return err
	}
	if err := t.tb.RegisterProcessorInsightsFindingsActiveCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(int64(e.Active()))
		return nil
	}); err != nil {
		return err
	}
	return t.tb.RegisterProcessorInsightsInventoryPodsCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(int64(e.Pods()))
		return nil
	})
}

func (t *processorTelemetry) shutdown() { t.tb.Shutdown() }
