// host_network_in_mesh (INS-0007).
//
// Threat: Istio never injects a sidecar into a hostNetwork pod (its traffic is the node's,
// which the pod's iptables cannot capture), so in a namespace whose workloads are meant to
// be in the mesh such a pod sends and receives everything in plaintext, outside
// authorization policy and telemetry, from the node's own address.
//
// Evidence: spec.hostNetwork of a pod or of a controller's pod template, and the
// namespace's injection label (istio-injection=enabled or istio.io/rev=<revision>). An
// unknown namespace is not evidence.
//
// Not a false positive on Istio's own containers: Istio's components do not run with the
// host network in injection-enabled namespaces (the CNI node agent and ztunnel run in
// istio-system, which is not labelled for injection).

package rules

import (
	"fmt"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
)

// HostNetworkInMesh reports hostNetwork pods in injection-enabled namespaces.
type HostNetworkInMesh struct{}

var hostNetworkInMeshRule = findings.Rule{
	ID:        "host_network_in_mesh",
	Code:      "INS-0007",
	Title:     "Host-network pod in a mesh namespace is never captured",
	Category:  "coverage",
	Severity:  findings.SeverityMedium,
	UUID:      findings.RuleUUID("host_network_in_mesh"),
	Reference: "https://github.com/meshinsights/otelcol-insights#host_network_in_mesh",
	Remediation: "Run the workload without hostNetwork: true so Istio injects a sidecar, or, if it must use the " +
		"node's network (a node agent, a CNI or storage daemon), move it to a namespace that is not labelled for " +
		"injection and make its peers require mTLS (PeerAuthentication STRICT) so they refuse its plaintext. To stop " +
		"regressions, a ValidatingAdmissionPolicy validation using the namespace's labels, e.g. " +
		"!has(object.spec.hostNetwork) || !object.spec.hostNetwork || !has(namespaceObject.metadata.labels) || " +
		"!(namespaceObject.metadata.labels['istio-injection'] == 'enabled' || " +
		"('istio.io/rev' in namespaceObject.metadata.labels && !('istio-injection' in namespaceObject.metadata.labels))).",
}

// Rule describes host_network_in_mesh.
func (HostNetworkInMesh) Rule() *findings.Rule { return &hostNetworkInMeshRule }

// CheckPod reports a hostNetwork pod (or template) whose namespace enables injection.
func (r HostNetworkInMesh) CheckPod(pod *inventory.Pod, ctx PodContext) []findings.Finding {
	if pod == nil || !pod.HostNetwork || !ctx.Namespace.InjectionEnabled() {
		return nil
	}
	f := PodFinding(r.Rule(), pod, ctx)
	f.Summary = fmt.Sprintf("%s in namespace %s uses the host network although the namespace enables sidecar injection (%s): "+
		"Istio never injects hostNetwork pods, so none of its traffic goes through a sidecar: no mTLS, no authorization policy, no telemetry.",
		f.Subject.Workload(), pod.Namespace, namespaceInjection(ctx.Namespace))
	f.Evidence = []findings.EvidenceValue{findings.StrEvidence("namespace_injection", namespaceInjection(ctx.Namespace))}
	return []findings.Finding{f}
}
