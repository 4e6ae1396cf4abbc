// shared_process_namespace (INS-0003).
//
// Threat: with shareProcessNamespace: true every container of the pod sees the proxy's
// processes. Through /proc/<pid>/root and /proc/<pid>/environ a process with the proxy's
// UID (see app_uid_1337) or CAP_SYS_PTRACE reads the proxy's files: its istio-ca token, the
// workload certificate and key, Envoy's bootstrap. With them it can speak as the workload
// anywhere in the mesh. That was the second step of the SAP AI Core attack ("SAPwned"). An
// ephemeral container that targets the proxy (kubectl debug --target=istio-proxy) joins the
// proxy's process namespace in the same way, even without shareProcessNamespace.
//
// Evidence: spec.shareProcessNamespace of a meshed pod (or of a template whose pods will be
// injected); each ephemeral container whose targetContainerName is one of the pod's proxy
// containers (the ones the sidecar.istio.io/status annotation names, running a proxy image).
//
// Not a false positive on Istio's own containers: Istio's injector never sets
// shareProcessNamespace and never adds ephemeral containers; an ephemeral container that
// targets the application container is not reported.

package rules

import (
	"fmt"
	"strings"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
)

// SharedProcessNamespace reports meshed pods whose other containers can see into the proxy's processes.
type SharedProcessNamespace struct{}

var sharedProcessNamespaceRule = findings.Rule{
	ID:        "shared_process_namespace",
	Code:      "INS-0003",
	Title:     "Application processes can reach into the proxy's processes",
	Category:  "credential_exposure",
	Severity:  findings.SeverityHigh,
	UUID:      findings.RuleUUID("shared_process_namespace"),
	Reference: "https://github.com/meshinsights/otelcol-insights#shared_process_namespace",
	Remediation: "Remove shareProcessNamespace: true from the pod template of meshed workloads; a process that " +
		"must see another container's processes belongs in its own pod outside the mesh. To debug the proxy, use " +
		"istioctl proxy-config and istioctl proxy-status, or target the application container (kubectl debug " +
		"--target=<app>), never istio-proxy; an ephemeral container cannot be removed, so delete the pod when done " +
		"to rotate what it could read. To stop regressions, a ValidatingAdmissionPolicy on pods can require " +
		"!has(object.spec.shareProcessNamespace) || !object.spec.shareProcessNamespace, and one on the " +
		"pods/ephemeralcontainers subresource !has(object.spec.ephemeralContainers) || " +
		"object.spec.ephemeralContainers.all(e, !has(e.targetContainerName) || e.targetContainerName != 'istio-proxy').",
}

// Rule describes shared_process_namespace.
func (SharedProcessNamespace) Rule() *findings.Rule { return &sharedProcessNamespaceRule }

// CheckPod reports a meshed pod that shares its process namespace (one finding for the
// pod) and each ephemeral container that targets a proxy container (one per container).
func (r SharedProcessNamespace) CheckPod(pod *inventory.Pod, ctx PodContext) []findings.Finding {
	if pod == nil || !sidecarApplies(pod, ctx) {
		return nil
	}
	var out []findings.Finding
	if pod.ShareProcessNamespace {
		var apps, proxies []string
		for i := range pod.Containers {
			if c := &pod.Containers[i]; c.Proxy {
				proxies = append(proxies, c.Name)
			} else {
				apps = append(apps, c.Name)
			}
		}
		f := PodFinding(r.Rule(), pod, ctx)
		f.Summary = fmt.Sprintf("%s in namespace %s shares one process namespace between its containers "+
			"(shareProcessNamespace: true): %s can read the Istio proxy's token, certificates and configuration "+
			"through /proc.", f.Subject.Workload(), pod.Namespace, quotedList(apps, "its application containers"))
		f.Evidence = []findings.EvidenceValue{findings.ListEvidence("app_containers", apps)}
		if len(proxies) > 0 {
			f.Evidence = append(f.Evidence, findings.ListEvidence("proxy_containers", proxies))
		}
		out = append(out, f)
	}
	for i := range pod.Containers {
		c := &pod.Containers[i]
		if c.Kind != inventory.ContainerEphemeral || c.TargetContainer == "" || !isProxyContainer(pod, c.TargetContainer) {
			continue
		}
		f := PodFinding(r.Rule(), pod, ctx)
		f.Container = c.Name
		f.EvidenceKey = c.Name
		f.Summary = fmt.Sprintf("Ephemeral container %q of %s in namespace %s targets the Istio proxy container %q: "+
			"it shares the proxy's process namespace and can read its token, certificates and configuration through /proc.",
			c.Name, f.Subject.Workload(), pod.Namespace, c.TargetContainer)
		f.Evidence = []findings.EvidenceValue{
			findings.StrEvidence("target_container", c.TargetContainer),
			findings.StrEvidence("container_kind", string(c.Kind)),
		}
		out = append(out, f)
	}
	return out
}

func isProxyContainer(pod *inventory.Pod, name string) bool {
	for i := range pod.Containers {
		if c := &pod.Containers[i]; c.Name == name && c.Proxy {
			return true
		}
	}
	return false
}

// quotedList names containers in a sentence, or says what stands for none.
func quotedList(names []string, none string) string {
	if len(names) == 0 {
		return none
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
