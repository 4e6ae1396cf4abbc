// missing_sidecar (INS-0008).
//
// Threat: a pod in a namespace labelled for sidecar injection that runs without a proxy is
// outside the mesh while its owners believe it is inside: its traffic is plaintext, no
// authorization policy applies to what it sends, and PERMISSIVE services accept it. It
// happens when the pod predates the label, the injector webhook was down (failurePolicy
// Ignore), or the pod opted out.
//
// Evidence: the namespace's labels (istio-injection=enabled, or istio.io/rev=<revision>
// without istio-injection; istio-injection=disabled wins) and the pod: no proxy container
// (see inventory.FromPod). A pod that opted out (sidecar.istio.io/inject: "false", label or
// annotation) is reported at low severity: it is a decision, not an accident. An unknown
// namespace is not evidence.
//
// Not reported: namespaces excluded in the constructor (kube-system and istio-system by
// default; the processor adds the collector's own); hostNetwork pods, which Istio never
// injects (host_network_in_mesh covers them); ambient pods (istio.io/dataplane-mode=ambient
// on the pod or its namespace, unless the pod says none), which ztunnel captures without a
// sidecar; and controller pod templates, which never carry the sidecar automatic injection
// adds to their pods.

package rules

import (
	"fmt"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
)

// DefaultMissingSidecarExcludedNamespaces are the namespaces missing_sidecar skips unless
// configured otherwise: Kubernetes' and Istio's own.
func DefaultMissingSidecarExcludedNamespaces() []string {
	return []string{"kube-system", "istio-system"}
}

// MissingSidecar reports pods without a proxy in namespaces that enable injection. The
// zero value excludes DefaultMissingSidecarExcludedNamespaces.
type MissingSidecar struct {
	excluded map[string]bool
}

// NewMissingSidecar excludes the given namespaces; nil means
// DefaultMissingSidecarExcludedNamespaces, an empty list none.
func NewMissingSidecar(excluded []string) MissingSidecar {
	if excluded == nil {
		excluded = DefaultMissingSidecarExcludedNamespaces()
	}
	m := MissingSidecar{excluded: make(map[string]bool, len(excluded))}
	for _, ns := range excluded {
		m.excluded[ns] = true
	}
	return m
}

var missingSidecarRule = findings.Rule{
	ID:        "missing_sidecar",
	Code:      "INS-0008",
	Title:     "Pod runs without a sidecar in an injection-enabled namespace",
	Category:  "coverage",
	Severity:  findings.SeverityMedium,
	UUID:      findings.RuleUUID("missing_sidecar"),
	Reference: "https://github.com/meshinsights/otelcol-insights#missing_sidecar",
	Remediation: "Re-create the workload's pods so the injector adds the sidecar (kubectl rollout restart " +
		"deployment/<name>, or delete the pod); if pods keep coming up without it, check the injector webhook " +
		"(istioctl analyze, kubectl get mutatingwebhookconfiguration) and that the namespace's label matches an " +
		"installed revision. If the pod opted out with sidecar.istio.io/inject: \"false\", confirm it must stay " +
		"outside the mesh, and require mTLS (PeerAuthentication STRICT) on the services it calls. To stop " +
		"regressions, a ValidatingAdmissionPolicy (it runs after the injector's mutation) with a validation such as " +
		"!has(namespaceObject.metadata.labels) || namespaceObject.metadata.labels['istio-injection'] != 'enabled' || " +
		"(has(object.metadata.annotations) && 'sidecar.istio.io/status' in object.metadata.annotations) || " +
		"(has(object.spec.hostNetwork) && object.spec.hostNetwork) rejects such pods.",
}

// missingSidecarOptedOut is the same rule at low severity, for pods that opted out.
var missingSidecarOptedOut = func() findings.Rule {
	r := missingSidecarRule
	r.Severity = findings.SeverityLow
	return r
}()

// Rule describes missing_sidecar (its severity is low for pods that opted out).
func (MissingSidecar) Rule() *findings.Rule { return &missingSidecarRule }

// CheckPod reports a pod without a proxy in a namespace that enables injection.
func (m MissingSidecar) CheckPod(pod *inventory.Pod, ctx PodContext) []findings.Finding {
	ns := ctx.Namespace
	if pod == nil || pod.Template != nil || pod.Meshed || pod.HostNetwork || !ns.InjectionEnabled() ||
		m.isExcluded(pod.Namespace) || ambientPod(pod, ns) {
		return nil
	}
	rule, why := &missingSidecarRule, "its traffic is neither encrypted nor authorized by the mesh, and services that accept plaintext (PERMISSIVE) take it."
	evidence := []findings.EvidenceValue{findings.StrEvidence("namespace_injection", namespaceInjection(ns))}
	if injectOptOut(pod) {
		rule, why = &missingSidecarOptedOut, "it opted out of injection, so its traffic is neither encrypted nor authorized by the mesh."
		v, _ := podInjectSwitch(pod)
		evidence = append(evidence, findings.StrEvidence("pod_inject", v))
	}
	f := PodFinding(rule, pod, ctx)
	who := "Pod " + pod.Name
	if f.Subject.Kind != findings.KindPod {
		who += " of " + f.Subject.Workload()
	}
	f.Summary = fmt.Sprintf("%s in namespace %s runs without an Istio sidecar although the namespace enables injection (%s): %s",
		who, pod.Namespace, namespaceInjection(ns), why)
	f.Evidence = evidence
	return []findings.Finding{f}
}

func (m MissingSidecar) isExcluded(namespace string) bool {
	if m.excluded == nil {
		for _, ns := range DefaultMissingSidecarExcludedNamespaces() {
			if ns == namespace {
				return true
			}
		}
		return false
	}
	return m.excluded[namespace]
}
