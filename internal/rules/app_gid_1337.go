// app_gid_1337 (INS-0002).
//
// Threat: Istio's iptables return early not only for --uid-owner but also for --gid-owner
// <proxy GID> (testdata/real/istio/iptables/empty.golden). Any process whose primary group
// is the proxy's (1337 unless the pod says otherwise) skips the sidecar whatever its UID:
// no mTLS, no authorization policy, no telemetry. The SAPwned job ran as UID and GID 1337.
// In TPROXY mode istio-proxy itself runs as UID 0 and is exempted by exactly this GID.
//
// Evidence: the effective primary GID of each container of a meshed pod (securityContext
// runAsGroup, or the kubelet's status.*ContainerStatuses[].user.linux.gid, which also sees
// an image's USER), compared with the proxy GID the pod itself reveals (istio-init's -g, else
// its -u, else istio-proxy's own GID; see inventory.FromPod). Supplementary groups (fsGroup,
// supplementalGroups) do not count: Istio does not pass --suppl-groups.
//
// Not a false positive on Istio's own containers: istio-proxy, istio-init and
// istio-validation are skipped only when the pod's sidecar.istio.io/status annotation names
// them and they run the proxy image.

package rules

import (
	"fmt"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
)

// AppGID1337 reports non-proxy containers of a meshed pod whose primary group is the proxy's GID.
type AppGID1337 struct{}

var appGID1337Rule = findings.Rule{
	ID:        "app_gid_1337",
	Code:      "INS-0002",
	Title:     "Application container runs with the proxy GID",
	Category:  "capture_bypass",
	Severity:  findings.SeverityHigh,
	UUID:      findings.RuleUUID("app_gid_1337"),
	Reference: "https://github.com/meshinsights/otelcol-insights#app_gid_1337",
	Remediation: "Run the container with a primary group other than the proxy's (1337 unless your mesh changed it): " +
		"set securityContext.runAsGroup in the workload's pod template to another GID such as 10001 (a pod-level " +
		"runAsGroup applies to every container that does not set its own), and rebuild images whose USER names group " +
		"1337. Supplementary groups (fsGroup, supplementalGroups) are not matched by Istio's --gid-owner rule and may " +
		"stay. To stop regressions, reject the proxy GID at admission, e.g. a ValidatingAdmissionPolicy validation " +
		"object.spec.containers.all(c, c.name == 'istio-proxy' || !has(c.securityContext) || " +
		"!has(c.securityContext.runAsGroup) || c.securityContext.runAsGroup != 1337) && " +
		"(!has(object.spec.securityContext) || !has(object.spec.securityContext.runAsGroup) || " +
		"object.spec.securityContext.runAsGroup != 1337), likewise for initContainers (allowing istio-init and " +
		"istio-validation).",
}

// Rule describes app_gid_1337.
func (AppGID1337) Rule() *findings.Rule { return &appGID1337Rule }

// CheckPod reports, in a meshed pod (or a template whose pods will be), each non-proxy
// container whose effective primary GID is the pod's proxy GID. An unknown GID is not evidence.
func (r AppGID1337) CheckPod(pod *inventory.Pod, ctx PodContext) []findings.Finding {
	if pod == nil || !sidecarApplies(pod, ctx) {
		return nil
	}
	var out []findings.Finding
	for i := range pod.Containers {
		c := &pod.Containers[i]
		if c.Proxy || c.GID == nil || *c.GID != pod.ProxyGID {
			continue
		}
		f := PodFinding(r.Rule(), pod, ctx)
		f.Container = c.Name
		f.EvidenceKey = c.Name
		f.Summary = fmt.Sprintf("%s %q of %s in namespace %s runs with GID %d, the Istio proxy's GID: "+
			"iptables exempts its traffic from the sidecar, so it bypasses mTLS, authorization policy and telemetry.",
			containerNoun(c.Kind), c.Name, f.Subject.Workload(), pod.Namespace, *c.GID)
		f.Evidence = []findings.EvidenceValue{
			findings.IntEvidence("gid", *c.GID),
			findings.StrEvidence("gid_source", string(c.GIDSource)),
			findings.StrEvidence("container_kind", string(c.Kind)),
			findings.StrEvidence("proxy_gid_source", string(pod.ProxyGIDSource)),
		}
		out = append(out, f)
	}
	return out
}
