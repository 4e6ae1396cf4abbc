package engine

import (
	"context"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

// Store names in processor_insights_inventory_refused{store}.
const (
	storePods       = "pods"
	storeNamespaces = "namespaces"
)

// ApplyObject takes a pod, controller template or namespace event into the inventory and
// re-evaluates the pod rules where it matters: for a pod or template, its findings are
// replaced by what it supports now, or withdrawn when it is gone; for a namespace whose
// injection or ambient labels changed (or that is new or gone), every stored pod and
// template of that namespace is evaluated again.
func (e *Engine) ApplyObject(ctx context.Context, ev inventory.ObjectEvent) {
	e.mu.Lock()
	now := e.set.Now()
	if !e.pulled.note(ev, now) {
		e.set.Telemetry.Refused(ctx, storePulled, 1)
	}
	if ev.Pod != nil && ev.Template == nil && !e.onThisNode(ev.Pod.Spec.NodeName) {
		// Another node's agent owns this pod's spec findings; its IP is still indexed by the
		// caller for the traffic rules (and its staleness tracked above, for the index).
		e.mu.Unlock()
		return
	}
	var previous *inventory.NamespaceInfo
	if ev.Namespace != nil {
		previous = e.store.Namespace(ev.Namespace.Name)
	}
	res, err := e.store.Apply(ev, e.cfg.ProxyFallback)
	var dropped int
	switch {
	case err != nil:
	case ev.Namespace != nil:
		if res.Outcome == inventory.ApplyAdded || res.Outcome == inventory.ApplyUpdated || res.Outcome == inventory.ApplyDeleted {
			current := e.store.Namespace(res.Key)
			if !current.SameMesh(previous) {
				for _, pod := range e.store.PodsInNamespace(res.Key) {
					dropped += e.tracker.Report(podSource(pod), e.checkPod(pod), now)
				}
			}
		}
	case res.Outcome == inventory.ApplyAdded || res.Outcome == inventory.ApplyUpdated:
		dropped = e.tracker.Report(podSource(res.Pod), e.checkPod(res.Pod), now)
	case res.Outcome == inventory.ApplyDeleted:
		e.tracker.Report(podSource(res.Pod), nil, now)
	}
	e.mu.Unlock()

	switch {
	case err != nil:
		e.set.Telemetry.Undecodable(ctx, "logs", "malformed_k8s_object")
	case res.Outcome == inventory.ApplyRejected && ev.Namespace != nil:
		e.set.Telemetry.Refused(ctx, storeNamespaces, 1)
	case res.Outcome == inventory.ApplyRejected:
		e.set.Telemetry.Refused(ctx, storePods, 1)
	}
	if dropped > 0 {
		e.set.Telemetry.Dropped(ctx, DropActiveFull, dropped)
	}
}

// onThisNode tells whether this collector reports a pod's spec: every pod when no node is
// configured, else only pods scheduled on this node (as the informer's field selector).
func (e *Engine) onThisNode(nodeName string) bool {
	return e.cfg.Traffic.Node == "" || nodeName == e.cfg.Traffic.Node
}

// checkPod runs every pod rule on a pod or template, with its namespace as the store knows it.
func (e *Engine) checkPod(pod *inventory.Pod) []findings.Finding {
	pctx := rules.PodContext{Cluster: e.cfg.Cluster, Namespace: e.store.Namespace(pod.Namespace)}
	var out []findings.Finding
	for _, r := range e.cfg.PodRules {
		out = append(out, r.CheckPod(pod, pctx)...)
	}
	return out
}

// podSource is the tracker source of a pod ("pod/<ns>/<name>") or of a controller's
// template ("template/<kind>/<ns>/<name>"): a template and the controller's pods support
// the same findings as distinct sources, so a finding resolves only when neither shows it.
func podSource(p *inventory.Pod) string {
	if p.Template != nil {
		return p.Key()
	}
	return "pod/" + p.Key()
}
