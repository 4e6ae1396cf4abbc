// net_admin_in_mesh (INS-0006).
//
// Threat: the sidecar's capture is a set of netfilter rules in the pod's network namespace,
// shared by every container. A container with NET_ADMIN can delete or rewrite them; with
// NET_RAW it can send raw packets that no REDIRECT rule sees; SYS_ADMIN (or ALL, or
// privileged: true) gives both and more. Its traffic, and its neighbours', then bypasses the
// sidecar: no mTLS, no authorization policy, no telemetry. kubectl debug --profile=netadmin
// adds exactly NET_ADMIN and NET_RAW to a debug container.
//
// Evidence: securityContext.capabilities.add (any case, with or without CAP_) and
// securityContext.privileged of each non-proxy container (regular, init or ephemeral) of a
// meshed pod, or of a template whose pods will be injected. The runtime's default set
// (which includes NET_RAW on most runtimes) is not in the spec and is not reported: the
// remediation says to drop it.
//
// Not a false positive on Istio's own containers: istio-init needs NET_ADMIN and NET_RAW to
// install the capture rules, and istio-proxy has NET_ADMIN in TPROXY mode; both are skipped
// only when the pod's sidecar.istio.io/status annotation names them and they run the proxy
// image. A container merely named istio-init is checked.

package rules

import (
	"fmt"
	"strings"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
)

// NetAdminInMesh reports non-proxy containers of a meshed pod that can rewrite or evade its capture rules.
type NetAdminInMesh struct{}

var netAdminInMeshRule = findings.Rule{
	ID:        "net_admin_in_mesh",
	Code:      "INS-0006",
	Title:     "Application container can rewrite or evade the sidecar's capture rules",
	Category:  "privilege",
	Severity:  findings.SeverityHigh,
	UUID:      findings.RuleUUID("net_admin_in_mesh"),
	Reference: "https://github.com/meshinsights/otelcol-insights#net_admin_in_mesh",
	Remediation: "Remove NET_ADMIN, NET_RAW, SYS_ADMIN (and ALL) from securityContext.capabilities.add and " +
		"privileged: true from every container but Istio's own, and add capabilities.drop: [ALL] so the runtime's " +
		"default NET_RAW goes too. An application that needs raw sockets (ping, some health checks) or network " +
		"administration belongs outside the mesh; to debug a meshed pod, prefer istioctl and the proxy's own " +
		"endpoints to kubectl debug --profile=netadmin, and delete the pod afterwards. With Istio CNI (no istio-init), " +
		"Pod Security Admission's baseline level enforces this; otherwise a ValidatingAdmissionPolicy validation " +
		"such as object.spec.containers.all(c, c.name == 'istio-proxy' || !has(c.securityContext) || " +
		"((!has(c.securityContext.privileged) || !c.securityContext.privileged) && " +
		"(!has(c.securityContext.capabilities) || !has(c.securityContext.capabilities.add) || " +
		"!c.securityContext.capabilities.add.exists(a, a.upperAscii().replace('CAP_', '') in " +
		"['NET_ADMIN', 'NET_RAW', 'SYS_ADMIN', 'ALL'])))), likewise for initContainers (allowing istio-init) and, " +
		"on the pods/ephemeralcontainers subresource, for ephemeralContainers.",
}

// captureCapabilities are the capabilities that let a process rewrite or evade netfilter
// capture; ALL includes them.
var captureCapabilities = map[string]bool{"NET_ADMIN": true, "NET_RAW": true, "SYS_ADMIN": true, "ALL": true}

// Rule describes net_admin_in_mesh.
func (NetAdminInMesh) Rule() *findings.Rule { return &netAdminInMeshRule }

// CheckPod reports each non-proxy container that adds a capture capability or is privileged.
func (r NetAdminInMesh) CheckPod(pod *inventory.Pod, ctx PodContext) []findings.Finding {
	if pod == nil || !sidecarApplies(pod, ctx) {
		return nil
	}
	var out []findings.Finding
	for i := range pod.Containers {
		c := &pod.Containers[i]
		if c.Proxy {
			continue
		}
		var caps []string
		for _, cp := range c.CapabilitiesAdded {
			if captureCapabilities[cp] {
				caps = append(caps, cp)
			}
		}
		if len(caps) == 0 && !c.Privileged {
			continue
		}
		var what []string
		if c.Privileged {
			what = append(what, "is privileged")
		}
		if len(caps) > 0 {
			what = append(what, "adds "+strings.Join(caps, ", "))
		}
		f := PodFinding(r.Rule(), pod, ctx)
		f.Container = c.Name
		f.EvidenceKey = c.Name
		f.Summary = fmt.Sprintf("%s %q of %s in namespace %s %s: it can rewrite the pod's iptables capture rules "+
			"or send raw packets past them, bypassing the Istio sidecar.",
			containerNoun(c.Kind), c.Name, f.Subject.Workload(), pod.Namespace, strings.Join(what, " and "))
		if caps == nil {
			caps = []string{}
		}
		f.Evidence = []findings.EvidenceValue{
			findings.ListEvidence("capabilities", caps),
			findings.StrEvidence("privileged", fmt.Sprint(c.Privileged)),
			findings.StrEvidence("container_kind", string(c.Kind)),
		}
		out = append(out, f)
	}
	return out
}
