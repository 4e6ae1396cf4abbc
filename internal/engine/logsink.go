package engine

import (
	"context"

	"go.uber.org/zap"

	"github.com/meshinsights/otelcol-insights/internal/findings"
)

// logFindings writes findings to the collector's own log, for when no logs pipeline
// lists the processor. One line per finding: findings are rare, unlike telemetry items.
func logFindings(logger *zap.Logger) DeliverFunc {
	return func(_ context.Context, batch []findings.Finding) error {
		for i := range batch {
			f := &batch[i]
			logger.Warn(f.Summary,
				zap.String("insight.rule", f.Rule.ID),
				zap.String("insight.severity", f.Rule.Severity.String()),
				zap.String("insight.state", string(f.State)),
				zap.String("insight.workload", f.Subject.Workload()),
				zap.String("k8s.namespace.name", f.Subject.Namespace),
				zap.String("k8s.container.name", f.Container),
				zap.String("insight.fingerprint", f.Fingerprint()),
			)
		}
		return nil
	}
}
