package insightsprocessor

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/meshinsights/otelcol-insights/internal/engine"
	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/mesh"
)

const (
	signalTraces  = "traces"
	signalMetrics = "metrics"
	signalLogs    = "logs"

	scopeName = "github.com/meshinsights/otelcol-insights/processor/insightsprocessor"

	// defaultFlushTimeout bounds a logs pipeline's final flush when the shutdown context
	// has no deadline of its own.
	defaultFlushTimeout = 5 * time.Second
)

// insightsProcessor is one pipeline's view of the shared engine.
type insightsProcessor struct {
	shared       *sharedEngine
	id           component.ID
	buildVersion string

	// findingsOut is the logs pipeline's next consumer; nil on traces/metrics pipelines.
	findingsOut consumer.Logs
	sink        *engine.Sink
	started     bool
}

func (p *insightsProcessor) start(ctx context.Context, _ component.Host) error {
	if err := p.shared.start(ctx); err != nil {
		return err
	}
	p.started = true
	if p.findingsOut != nil {
		p.sink = p.shared.engine.AddSink(p.id.String(), p.deliverFindings)
	}
	return nil
}

// shutdown flushes this pipeline's pending findings first: pipelines are shut down in
// graph order, so another pipeline's exporter may already be gone.
func (p *insightsProcessor) shutdown(ctx context.Context) error {
	if !p.started {
		return nil
	}
	p.started = false
	if p.sink != nil {
		flushCtx, cancel := ctx, context.CancelFunc(func() {})
		if _, ok := ctx.Deadline(); !ok {
			flushCtx, cancel = context.WithTimeout(ctx, defaultFlushTimeout)
		}
		p.shared.engine.RemoveSink(flushCtx, p.sink)
		cancel()
		p.sink = nil
	}
	return p.shared.shutdown(ctx)
}

// deliverFindings builds a fresh batch for every attempt: the next consumer owns what
// it is given.
func (p *insightsProcessor) deliverFindings(ctx context.Context, batch []findings.Finding) error {
	ld := findings.Encode(batch, time.Now(), findings.ScopeInfo{Name: scopeName, Version: p.buildVersion})
	return p.findingsOut.ConsumeLogs(ctx, ld)
}

// The process functions read the batch, never change it, and keep nothing of it: the
// engine's rules copy what they keep out of the observations.

func (p *insightsProcessor) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	eng := p.shared.engine
	eng.Inspected(ctx, signalTraces, td.SpanCount())
	if eng.ObservesSpans() {
		eng.ObserveTraffic(ctx, func(b *engine.TrafficBatch) { mesh.ReadSpans(td, b.Span) })
	}
	return td, nil
}

func (p *insightsProcessor) processMetrics(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	eng := p.shared.engine
	eng.Inspected(ctx, signalMetrics, md.DataPointCount())
	if eng.ObservesMetrics() {
		eng.ObserveTraffic(ctx, func(b *engine.TrafficBatch) {
			if eng.ObservesPodNetwork() { // unaccounted_egress: kubeletstats pod network points too
				eng.MetricsReader().Read(md, b.Metric, b.PodNetwork)
				return
			}
			eng.MetricsReader().Read(md, b.Metric, nil)
		})
	}
	return md, nil
}

func (p *insightsProcessor) processLogs(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
	n := inspectLogs(ctx, p.shared.engine, ld)
	p.shared.engine.Inspected(ctx, signalLogs, n)
	return ld, nil
}
