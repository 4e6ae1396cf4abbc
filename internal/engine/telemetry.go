package engine

import (
	"context"

	"github.com/meshinsights/otelcol-insights/internal/findings"
)

// Telemetry is how the engine reports on itself. The processor adapter implements it
// with the collector's own metrics; tests use a recorder.
type Telemetry interface {
	Inspected(ctx context.Context, signal string, n int)
	Undecodable(ctx context.Context, signal, reason string)
	Emitted(ctx context.Context, f *findings.Finding)
	Dropped(ctx context.Context, reason string, n int)
	Retried(ctx context.Context)
	Refused(ctx context.Context, store string, n int)
}

// Reasons a finding is dropped (processor_insights_findings_dropped{reason}).
const (
	DropPendingFull    = "pending_full"
	DropPermanentError = "permanent_error"
	DropShutdown       = "shutdown"
	DropActiveFull     = "active_full"
)

// NopTelemetry records nothing.
type NopTelemetry struct{}

func (NopTelemetry) Inspected(context.Context, string, int)      {}
func (NopTelemetry) Undecodable(context.Context, string, string) {}
func (NopTelemetry) Emitted(context.Context, *findings.Finding)  {}
func (NopTelemetry) Dropped(context.Context, string, int)        {}
func (NopTelemetry) Retried(context.Context)                     {}
func (NopTelemetry) Refused(context.Context, string, int)        {}
