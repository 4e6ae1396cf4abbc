package engine

import (
	"context"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

// storePods names the pod store in processor_insights_inventory_refused{store}.
const storePods = "pods"

// ApplyObject takes a pod event into the inventory and re-evaluates the pod rules for
// that pod: its findings are replaced by what the pod supports now, or withdrawn when it
// is gone.
func (e *Engine) ApplyObject(ctx context.Context, ev inventory.ObjectEvent) {
	e.mu.Lock()
	res, err := e.store.Apply(ev, e.cfg.ProxyFallback)
	var dropped int
	switch {
	case err != nil:
	case res.Outcome == inventory.ApplyAdded || res.Outcome == inventory.ApplyUpdated:
		dropped = e.tracker.Report(podSource(res.Key), e.checkPod(res.Pod), e.set.Now())
	case res.Outcome == inventory.ApplyDeleted:
		e.tracker.Report(podSource(res.Key), nil, e.set.Now())
	}
	e.mu.Unlock()

	switch {
	case err != nil:
		e.set.Telemetry.Undecodable(ctx, "logs", "malformed_k8s_object")
	case res.Outcome == inventory.ApplyRejected:
		e.set.Telemetry.Refused(ctx, storePods, 1)
	}
	if dropped > 0 {
		e.set.Telemetry.Dropped(ctx, DropActiveFull, dropped)
	}
}

func (e *Engine) checkPod(pod *inventory.Pod) []findings.Finding {
	pctx := rules.PodContext{Cluster: e.cfg.Cluster}
	var out []findings.Finding
	for _, r := range e.cfg.PodRules {
		out = append(out, r.CheckPod(pod, pctx)...)
	}
	return out
}

func podSource(key string) string { return "pod/" + key }
