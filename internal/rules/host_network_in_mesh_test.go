package rules_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

// hostNetworkPod is a plain pod of Deployment shop/node-probe on the host network: Istio
// did not inject it.
func hostNetworkPod(t testing.TB) *corev1.Pod {
	t.Helper()
	pod := loadFixturePod(t, "unmeshed-deployment-pod.yaml")
	pod.Spec.HostNetwork = true
	return pod
}

func TestHostNetworkInMesh(t *testing.T) {
	t.Run("injection_enabled_namespace", func(t *testing.T) {
		f := onlyFinding(t, checkIn(t, rules.HostNetworkInMesh{}, hostNetworkPod(t), nsEnabled))
		assert.Equal(t, "host_network_in_mesh", f.Rule.ID)
		assert.Equal(t, findings.Subject{Kind: findings.KindDeployment, Name: "inventory", Namespace: "shop"}, f.Subject)
		assert.Equal(t, "inventory-7c9d8f6b4a-m5k8w", f.PodName)
		assert.Empty(t, f.Container)
		assert.Equal(t, map[string]any{"namespace_injection": "istio-injection=enabled"}, evidence(t, f))
		assert.Equal(t, "deployment/inventory in namespace shop uses the host network although the namespace enables sidecar injection "+
			"(istio-injection=enabled): Istio never injects hostNetwork pods, so none of its traffic goes through a sidecar: "+
			"no mTLS, no authorization policy, no telemetry.", f.Summary)
	})

	t.Run("revision_labelled_namespace", func(t *testing.T) {
		f := onlyFinding(t, checkIn(t, rules.HostNetworkInMesh{}, hostNetworkPod(t), nsRevision))
		assert.Equal(t, "istio.io/rev=1-28-0", evidence(t, f)["namespace_injection"])
	})

	t.Run("namespace_without_injection_is_clean", func(t *testing.T) {
		for name, ns := range map[string]*inventory.NamespaceInfo{"unknown": nil, "plain": nsPlain, "disabled": nsDisabled, "ambient": nsAmbient} {
			assert.Empty(t, checkIn(t, rules.HostNetworkInMesh{}, hostNetworkPod(t), ns), name)
		}
	})

	t.Run("pod_network_pod_is_clean", func(t *testing.T) {
		assert.Empty(t, checkIn(t, rules.HostNetworkInMesh{}, loadFixturePod(t, "unmeshed-deployment-pod.yaml"), nsEnabled))
		assert.Empty(t, checkIn(t, rules.HostNetworkInMesh{}, cleanPod(t), nsEnabled))
	})

	t.Run("opted_out_pod_still_uncaptured", func(t *testing.T) {
		pod := hostNetworkPod(t)
		pod.Labels["sidecar.istio.io/inject"] = "false"
		assert.Len(t, checkIn(t, rules.HostNetworkInMesh{}, pod, nsEnabled), 1)
	})

	t.Run("template_reports_before_any_pod_exists", func(t *testing.T) {
		tmpl := realTemplate(t, "hello-host-network.yaml.injected")
		f := onlyFinding(t, rules.HostNetworkInMesh{}.CheckPod(tmpl, ctxIn(in(nsEnabled, "default"))))
		assert.Equal(t, findings.Subject{Kind: findings.KindDeployment, Name: "hello-host-network", Namespace: "default"}, f.Subject)
		assert.Empty(t, f.PodName)
		assert.Empty(t, f.Pods)
		assert.Empty(t, rules.HostNetworkInMesh{}.CheckPod(tmpl, ctxIn(nil)))
	})

	t.Run("statefulset_and_daemonset_pods_name_their_controller", func(t *testing.T) {
		for _, kind := range []string{"StatefulSet", "DaemonSet"} {
			pod := hostNetworkPod(t)
			delete(pod.Labels, "pod-template-hash")
			pod.OwnerReferences[0].Kind, pod.OwnerReferences[0].Name = kind, "node-probe"
			f := onlyFinding(t, checkIn(t, rules.HostNetworkInMesh{}, pod, nsEnabled))
			assert.Equal(t, kind, f.Subject.Kind)
		}
	})

	t.Run("nil_pod", func(t *testing.T) {
		assert.Empty(t, rules.HostNetworkInMesh{}.CheckPod(nil, ctxIn(nsEnabled)))
	})
}

func TestHostNetworkInMeshRule(t *testing.T) {
	r := rules.HostNetworkInMesh{}.Rule()
	for _, must := range []string{"hostNetwork", "PeerAuthentication", "ValidatingAdmissionPolicy", "namespaceObject"} {
		assert.Contains(t, r.Remediation, must)
	}
}
