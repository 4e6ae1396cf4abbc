package rules

import (
	"strings"

	"github.com/meshinsights/otelcol-insights/internal/inventory"
)

// sidecarApplies reports whether the rules about what may happen next to a sidecar apply:
// the pod has one, or it is a controller's pod template whose pods will get one. Automatic
// injection happens when a pod is created, so a template in an injection-enabled namespace
// has no sidecar yet; judging it now reports a bad spec before any pod of it exists (its
// proxy identity is then the configured fallback). Istio never injects a hostNetwork pod.
func sidecarApplies(pod *inventory.Pod, ctx PodContext) bool {
	if pod.Meshed {
		return true
	}
	return pod.Template != nil && !pod.HostNetwork && injectionWanted(pod, ctx.Namespace)
}

// injectionWanted: Istio's default webhooks inject a pod whose namespace enables injection
// (label or revision), or that carries the sidecar.istio.io/inject=true label in a namespace
// without injection labels (or one not known yet); never one that opts out.
func injectionWanted(pod *inventory.Pod, ns *inventory.NamespaceInfo) bool {
	if injectOptOut(pod) {
		return false
	}
	if ns.InjectionEnabled() {
		return true
	}
	label, _ := pod.Label(inventory.LabelInject)
	return label == "true" && (ns == nil || ns.Injection == inventory.InjectionNone)
}

// podInjectSwitch is the pod's own say on injection, as Istio's injector reads it: the
// label wins over the (older) annotation.
func podInjectSwitch(pod *inventory.Pod) (string, bool) {
	if v, ok := pod.Label(inventory.LabelInject); ok {
		return v, true
	}
	return pod.Annotation(inventory.AnnotationInject)
}

// injectOptOut: the injector injects on y, yes, true or on (any case) and on an empty value
// (the namespace decides); any other value keeps the sidecar out.
func injectOptOut(pod *inventory.Pod) bool {
	v, ok := podInjectSwitch(pod)
	if !ok {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "y", "yes", "true", "on":
		return false
	}
	return true
}

// ambientPod: ztunnel, not a sidecar, captures the pod. The pod's istio.io/dataplane-mode
// label decides (ambient, or none to opt out); otherwise its namespace's.
func ambientPod(pod *inventory.Pod, ns *inventory.NamespaceInfo) bool {
	switch mode, _ := pod.Label(inventory.LabelDataplaneMode); mode {
	case inventory.DataplaneModeAmbient:
		return true
	case inventory.DataplaneModeNone:
		return false
	}
	return ns != nil && ns.Ambient
}

// namespaceInjection describes how a namespace enables injection, for evidence and summaries.
func namespaceInjection(ns *inventory.NamespaceInfo) string {
	if ns.Injection == inventory.InjectionRevision {
		return inventory.LabelRevision + "=" + ns.Revision
	}
	return inventory.LabelIstioInjection + "=enabled"
}
