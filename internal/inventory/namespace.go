package inventory

import (
	corev1 "k8s.io/api/core/v1"
)

// Injection is what a namespace's labels say about sidecar injection.
type Injection string

const (
	// InjectionNone: no injection label; the namespace is not injected (a pod may still
	// opt in with the sidecar.istio.io/inject=true label).
	InjectionNone Injection = "none"
	// InjectionEnabled: istio-injection=enabled.
	InjectionEnabled Injection = "enabled"
	// InjectionRevision: istio.io/rev=<revision> (and no istio-injection label).
	InjectionRevision Injection = "revision"
	// InjectionDisabled: istio-injection set to anything but enabled. Istio's revision
	// webhooks require the label to be absent, so istio.io/rev no longer applies either.
	InjectionDisabled Injection = "disabled"
)

// Namespace labels Istio reads.
const (
	LabelIstioInjection = "istio-injection"
	LabelRevision       = "istio.io/rev"
)

// NamespaceInfo is the stripped-down namespace the inventory keeps: how Istio treats its pods.
type NamespaceInfo struct {
	Name            string
	ResourceVersion string
	Injection       Injection
	// Revision is the istio.io/rev label's value when Injection is InjectionRevision.
	Revision string
	// Ambient: istio.io/dataplane-mode=ambient, ztunnel captures the namespace's pods
	// rather than sidecars.
	Ambient bool
}

// InjectionEnabled reports whether Istio injects sidecars into the namespace's pods, by
// label or by revision. A nil namespace (not known yet) is not evidence of anything.
func (n *NamespaceInfo) InjectionEnabled() bool {
	return n != nil && (n.Injection == InjectionEnabled || n.Injection == InjectionRevision)
}

// SameMesh reports whether two versions of a namespace mean the same to the rules, so a
// change of anything else need not re-evaluate its pods.
func (n *NamespaceInfo) SameMesh(o *NamespaceInfo) bool {
	if n == nil || o == nil {
		return n == o
	}
	return n.Name == o.Name && n.Injection == o.Injection && n.Revision == o.Revision && n.Ambient == o.Ambient
}

// FromNamespace strips a namespace down to what the rules need, the way Istio's default
// webhooks select it: istio-injection=enabled injects; istio-injection with any other
// value disables injection; otherwise istio.io/rev=<rev> injects that revision. A nil
// namespace gives nil.
func FromNamespace(ns *corev1.Namespace) *NamespaceInfo {
	if ns == nil {
		return nil
	}
	out := &NamespaceInfo{
		Name:            ns.Name,
		ResourceVersion: ns.ResourceVersion,
		Injection:       InjectionNone,
		Ambient:         ns.Labels[LabelDataplaneMode] == DataplaneModeAmbient,
	}
	if v, ok := ns.Labels[LabelIstioInjection]; ok {
		if v == "enabled" {
			out.Injection = InjectionEnabled
		} else {
			out.Injection = InjectionDisabled
		}
	} else if rev := ns.Labels[LabelRevision]; rev != "" {
		out.Injection = InjectionRevision
		out.Revision = truncateName(rev)
	}
	return out
}

// truncateName bounds a kept label value (Kubernetes allows 63 bytes).
func truncateName(s string) string {
	if len(s) > maxNamespaceLen {
		return s[:maxNamespaceLen]
	}
	return s
}
