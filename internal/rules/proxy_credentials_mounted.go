// proxy_credentials_mounted (INS-0004).
//
// Threat: the volumes Istio's injector adds are the proxy's: the istio-ca audience token
// (istio-token) that istiod exchanges for the workload's certificate, the SDS and credential
// sockets (workload-socket, credential-socket) that hand out the certificate and key, the
// certificate files (workload-certs), Envoy's bootstrap and local XDS socket (istio-envoy,
// istio-data) and the mesh trust anchors. An application container that mounts them can
// obtain the workload's mesh identity and talk mTLS as it, past its own sidecar's policy and
// telemetry, or tamper with what the proxy reads.
//
// Evidence: each volumeMount of a non-proxy container whose volume is one the pod's
// sidecar.istio.io/status annotation lists (the authoritative set; Istio's default list
// when the annotation has none), in a meshed pod. Only volume names are reported. The
// injector's public volumes (the mesh root certificate, its CRL, the downward-API pod info)
// hold nothing secret and are read-only: an app that trusts the mesh's CA by mounting them
// is not a finding.
//
// Not a false positive on Istio's own containers: istio-proxy (and istio-init,
// istio-validation) are skipped only when the annotation names them and they run the proxy
// image. Unmeshed pods are not checked: without injection those volumes are not the proxy's.
// A controller's template is checked when its pods will be injected: the injector adds the
// volumes its containers already mount.

package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
)

// ProxyCredentialsMounted reports non-proxy containers that mount the proxy's volumes.
type ProxyCredentialsMounted struct{}

var proxyCredentialsMountedRule = findings.Rule{
	ID:        "proxy_credentials_mounted",
	Code:      "INS-0004",
	Title:     "Application container mounts the proxy's credential volumes",
	Category:  "credential_exposure",
	Severity:  findings.SeverityHigh,
	UUID:      findings.RuleUUID("proxy_credentials_mounted"),
	Reference: "https://github.com/meshinsights/otelcol-insights#proxy_credentials_mounted",
	Remediation: "Remove the volumeMounts of Istio's proxy volumes (istio-token, workload-socket, credential-socket, " +
		"workload-certs, istio-envoy, istio-data and the others the pod's sidecar.istio.io/status annotation lists) " +
		"from every container but istio-proxy (mounting the mesh root certificate, istiod-ca-cert, is fine). An application " +
		"that needs a workload " +
		"certificate should get it from cert-manager or SPIRE under its own identity, not the proxy's. To stop " +
		"regressions, a ValidatingAdmissionPolicy validation such as object.spec.containers.all(c, " +
		"c.name == 'istio-proxy' || !has(c.volumeMounts) || c.volumeMounts.all(m, !(m.name in ['istio-token', " +
		"'workload-socket', 'credential-socket', 'workload-certs', 'istio-envoy', 'istio-data']))), " +
		"likewise for initContainers.",
}

// Rule describes proxy_credentials_mounted.
func (ProxyCredentialsMounted) Rule() *findings.Rule { return &proxyCredentialsMountedRule }

// CheckPod reports each non-proxy container (regular, init or ephemeral) of a meshed pod
// that mounts one of the proxy's volumes.
func (r ProxyCredentialsMounted) CheckPod(pod *inventory.Pod, ctx PodContext) []findings.Finding {
	if pod == nil || !sidecarApplies(pod, ctx) {
		return nil
	}
	var out []findings.Finding
	for i := range pod.Containers {
		c := &pod.Containers[i]
		if c.Proxy {
			continue
		}
		mounted := credentialVolumes(c.ProxyVolumeMounts)
		if len(mounted) == 0 {
			continue
		}
		f := PodFinding(r.Rule(), pod, ctx)
		f.Container = c.Name
		f.EvidenceKey = c.Name
		f.Summary = fmt.Sprintf("%s %q of %s in namespace %s mounts the Istio proxy's volumes %s: "+
			"it can obtain the workload's mesh identity and credentials, or tamper with the proxy's configuration.",
			containerNoun(c.Kind), c.Name, f.Subject.Workload(), pod.Namespace, strings.Join(mounted, ", "))
		f.Evidence = []findings.EvidenceValue{
			findings.ListEvidence("volumes", mounted),
			findings.StrEvidence("container_kind", string(c.Kind)),
		}
		out = append(out, f)
	}
	return out
}

// publicProxyVolumes are injector volumes that hold nothing secret and are mounted read-only:
// the mesh root certificate (the istio-ca-root-cert ConfigMap), its CRL and the pod's own
// labels and annotations (downward API).
var publicProxyVolumes = map[string]bool{"istiod-ca-cert": true, "istio-ca-crl": true, "istio-podinfo": true}

// credentialVolumes returns the mounted proxy volumes that are not public; no copy when none is.
func credentialVolumes(mounts []string) []string {
	public := func(v string) bool { return publicProxyVolumes[v] }
	if !slices.ContainsFunc(mounts, public) {
		return mounts
	}
	return slices.DeleteFunc(slices.Clone(mounts), public)
}
