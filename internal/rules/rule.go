// Package rules holds the detection rules, one small type per file, and the registry.
// Rules are plain Go over inventory and observation values: no pdata, no clock, no globals.
package rules

import (
	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
)

// PodContext is what a pod rule may know besides the pod itself.
type PodContext struct {
	Cluster string
	// Namespace is the pod's namespace as the inventory knows it; nil when unknown, which
	// is not evidence of anything (a rule that needs it stays quiet).
	Namespace *inventory.NamespaceInfo
}

// PodRule inspects one pod's spec and status. It returns every finding the pod supports
// right now; an empty result means the pod is clean (and resolves what it had).
type PodRule interface {
	Rule() *findings.Rule
	CheckPod(pod *inventory.Pod, ctx PodContext) []findings.Finding
}
