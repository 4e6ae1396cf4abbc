// app_uid_1337 (INS-0001).
//
// Threat: Istio's iptables return early for packets of --uid-owner <proxy UID> so the proxy's
// own traffic is not captured again. Any other process running as that UID (1337 unless the
// pod says otherwise) skips the sidecar: no mTLS, no authorization policy, no telemetry. The
// SAP AI Core compromise ("SAPwned") started with exactly that: a job running as UID 1337.
//
// Evidence: the effective UID of each container of a meshed pod (securityContext, or the
// kubelet's status.*ContainerStatuses[].user.linux, which also sees an image's USER),
// compared with the proxy UID the pod itself reveals (see inventory.FromPod).
//
// Not a false positive on Istio's own containers: istio-proxy, istio-init and
// istio-validation are skipped only when the pod's sidecar.istio.io/status annotation names
// them and they run the proxy image; a container merely named like them is checked.
// Unmeshed pods are not checked: without a sidecar there is no capture to bypass
// (missing_sidecar covers that). A controller's pod template is checked when its pods will
// be injected (see sidecarApplies), against the configured proxy UID.

package rules

import (
	"fmt"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
)

// AppUID1337 reports non-proxy containers of a meshed pod that run as the proxy's UID.
type AppUID1337 struct{}

var appUID1337Rule = findings.Rule{
	ID:        "app_uid_1337",
	Code:      "INS-0001",
	Title:     "Application container runs as the proxy UID",
	Category:  "capture_bypass",
	Severity:  findings.SeverityCritical,
	UUID:      findings.RuleUUID("app_uid_1337"),
	Reference: "https://github.com/meshinsights/otelcol-insights#app_uid_1337",
	Remediation: "Run the container as a non-root UID other than the proxy's (1337 unless your mesh changed it): " +
		"set securityContext.runAsUser and runAsGroup in the workload's pod template to another UID such as 10001, " +
		"and rebuild images whose USER is 1337; only Istio's own containers may use the proxy's UID. " +
		"For an application init container, Istio documents runAsUser 1337 as a workaround when the CNI plugin's " +
		"rules (or DNS capture) block its traffic before the sidecar is up; prefer the safer alternatives: exclude " +
		"only what it needs, e.g. the API server's IP with the traffic.sidecar.istio.io/excludeOutboundIPRanges " +
		"annotation, or run istio-proxy as a native sidecar (sidecar.istio.io/nativeSidecar: \"true\", Kubernetes " +
		"1.29+) so it starts before your init containers and captures them like any other container. " +
		"To stop regressions, reject the proxy UID at admission, e.g. a ValidatingAdmissionPolicy validation " +
		"object.spec.containers.all(c, c.name == 'istio-proxy' || !has(c.securityContext) || " +
		"!has(c.securityContext.runAsUser) || c.securityContext.runAsUser != 1337), likewise for initContainers " +
		"(allowing istio-init and istio-validation) and spec.securityContext.runAsUser.",
}

// Rule describes app_uid_1337.
func (AppUID1337) Rule() *findings.Rule { return &appUID1337Rule }

// CheckPod reports, in a meshed pod (or a template whose pods will be), each non-proxy
// container (regular, init or ephemeral) whose effective UID is the pod's proxy UID. An
// unknown UID (no securityContext, no kubelet report yet) is not evidence.
func (r AppUID1337) CheckPod(pod *inventory.Pod, ctx PodContext) []findings.Finding {
	if pod == nil || !sidecarApplies(pod, ctx) {
		return nil
	}
	var out []findings.Finding
	for i := range pod.Containers {
		c := &pod.Containers[i]
		if c.Proxy || c.UID == nil || *c.UID != pod.ProxyUID {
			continue
		}
		f := PodFinding(r.Rule(), pod, ctx)
		f.Container = c.Name
		f.EvidenceKey = c.Name
		f.Summary = fmt.Sprintf("%s %q of %s in namespace %s runs as UID %d, the Istio proxy's UID: "+
			"iptables exempts its traffic from the sidecar, so it bypasses mTLS, authorization policy and telemetry.",
			containerNoun(c.Kind), c.Name, f.Subject.Workload(), pod.Namespace, *c.UID)
		f.Evidence = []findings.EvidenceValue{
			findings.IntEvidence("uid", *c.UID),
			findings.StrEvidence("uid_source", string(c.UIDSource)),
			findings.StrEvidence("container_kind", string(c.Kind)),
			findings.StrEvidence("proxy_uid_source", string(pod.ProxyUIDSource)),
		}
		out = append(out, f)
	}
	return out
}

// containerNoun starts a summary sentence: which kind of container it is.
func containerNoun(k inventory.ContainerKind) string {
	switch k {
	case inventory.ContainerInit:
		return "Init container"
	case inventory.ContainerEphemeral:
		return "Ephemeral container"
	}
	return "Container"
}
