package rules_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

func checkSPN(t testing.TB, p *corev1.Pod) []findings.Finding {
	t.Helper()
	return checkIn(t, rules.SharedProcessNamespace{}, p, nil)
}

func debugContainer(name, target string) corev1.EphemeralContainer {
	return corev1.EphemeralContainer{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: name, Image: "docker.io/nicolaka/netshoot:v0.13"},
		TargetContainerName:      target,
	}
}

func TestSharedProcessNamespace(t *testing.T) {
	t.Run("clean_deployment_pod_is_clean", func(t *testing.T) {
		assert.Empty(t, checkSPN(t, cleanPod(t)))
	})

	t.Run("share_process_namespace_in_meshed_pod", func(t *testing.T) {
		pod := cleanPod(t)
		pod.Spec.ShareProcessNamespace = boolPtr(true)
		f := onlyFinding(t, checkSPN(t, pod))
		assert.Equal(t, "shared_process_namespace", f.Rule.ID)
		assert.Equal(t, findings.Subject{Kind: findings.KindDeployment, Name: "payments", Namespace: "shop"}, f.Subject)
		assert.Empty(t, f.Container, "about the pod, not one container")
		assert.Empty(t, f.EvidenceKey)
		assert.Equal(t, "payments-6d8f9c7b5d-q2xlm", f.PodName)
		assert.Equal(t, `deployment/payments in namespace shop shares one process namespace between its containers `+
			`(shareProcessNamespace: true): "payments" can read the Istio proxy's token, certificates and configuration through /proc.`, f.Summary)
		assert.Equal(t, map[string]any{
			"app_containers": []string{"payments"}, "proxy_containers": []string{"istio-init", "istio-proxy"},
		}, evidence(t, f))
	})

	t.Run("share_process_namespace_false_is_clean", func(t *testing.T) {
		pod := cleanPod(t)
		pod.Spec.ShareProcessNamespace = boolPtr(false)
		assert.Empty(t, checkSPN(t, pod))
	})

	t.Run("ephemeral_container_targeting_proxy", func(t *testing.T) {
		pod := cleanPod(t)
		pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{debugContainer("debugger-h7x2k", "istio-proxy")}
		f := onlyFinding(t, checkSPN(t, pod))
		assert.Equal(t, "debugger-h7x2k", f.Container)
		assert.Equal(t, "debugger-h7x2k", f.EvidenceKey)
		assert.Equal(t, `Ephemeral container "debugger-h7x2k" of deployment/payments in namespace shop targets the Istio proxy container "istio-proxy": `+
			`it shares the proxy's process namespace and can read its token, certificates and configuration through /proc.`, f.Summary)
		assert.Equal(t, map[string]any{"target_container": "istio-proxy", "container_kind": "ephemeral_container"}, evidence(t, f))
	})

	t.Run("ephemeral_container_targeting_the_app_is_clean", func(t *testing.T) {
		pod := cleanPod(t)
		pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{debugContainer("debugger-a", "payments"), debugContainer("debugger-b", "")}
		assert.Empty(t, checkSPN(t, pod))
	})

	t.Run("ephemeral_container_targeting_an_untrusted_istio_proxy_is_clean", func(t *testing.T) {
		// Named istio-proxy but not Istio's (foreign image): the pod has no proxy at all.
		pod := cleanPod(t)
		specContainer(t, pod, "istio-proxy").Image = "ghcr.io/attacker/istio-proxy:1.28.0"
		pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{debugContainer("debugger-h7x2k", "istio-proxy")}
		assert.Empty(t, checkSPN(t, pod))
	})

	t.Run("both_give_two_findings", func(t *testing.T) {
		pod := cleanPod(t)
		pod.Spec.ShareProcessNamespace = boolPtr(true)
		pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{debugContainer("debugger-h7x2k", "istio-proxy")}
		fs := checkSPN(t, pod)
		require.Len(t, fs, 2)
		assert.NotEqual(t, fs[0].Fingerprint(), fs[1].Fingerprint())
	})

	t.Run("regular_container_proxy_is_a_target_too", func(t *testing.T) {
		pod := realPod(t, "native-sidecar-opt-out.yaml.injected")
		pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{debugContainer("debugger-h7x2k", "istio-proxy")}
		assert.Equal(t, []string{"debugger-h7x2k"}, containersOf(checkSPN(t, pod)))
	})

	t.Run("unmeshed_pod_is_clean", func(t *testing.T) {
		pod := cleanPod(t)
		delete(pod.Annotations, "sidecar.istio.io/status")
		pod.Spec.ShareProcessNamespace = boolPtr(true)
		assert.Empty(t, checkIn(t, rules.SharedProcessNamespace{}, pod, nsEnabled))
	})

	t.Run("template_of_a_workload_to_be_injected", func(t *testing.T) {
		pod := uninjected(t)
		pod.Spec.ShareProcessNamespace = boolPtr(true)
		tmpl := asTemplate(pod, "payments")
		f := onlyFinding(t, rules.SharedProcessNamespace{}.CheckPod(tmpl, ctxIn(nsRevision)))
		assert.Equal(t, map[string]any{"app_containers": []string{"payments"}}, evidence(t, f), "no proxy yet")
		assert.Empty(t, f.Pods)
		assert.Empty(t, rules.SharedProcessNamespace{}.CheckPod(tmpl, ctxIn(nsPlain)))
	})

	t.Run("sapwned_job_fixture", func(t *testing.T) {
		f := onlyFinding(t, checkSPN(t, loadFixturePod(t, "sapwned-job-uid-1337.yaml")))
		assert.Equal(t, findings.Subject{Kind: findings.KindJob, Name: "train-model-run-42", Namespace: "ai-workloads"}, f.Subject)
		assert.Equal(t, []string{"trainer"}, evidence(t, f)["app_containers"])
	})

	t.Run("kubectl_debug_fixture", func(t *testing.T) {
		f := onlyFinding(t, checkSPN(t, loadFixturePod(t, "debug-netadmin-targeting-proxy.yaml")))
		assert.Equal(t, "debugger-h7x2k", f.Container)
	})

	t.Run("statefulset_owned_pod_names_its_controller", func(t *testing.T) {
		pod := cleanPod(t)
		delete(pod.Labels, "pod-template-hash")
		pod.OwnerReferences[0].Kind, pod.OwnerReferences[0].Name = "StatefulSet", "ledger"
		pod.Spec.ShareProcessNamespace = boolPtr(true)
		assert.Equal(t, "statefulset/ledger", onlyFinding(t, checkSPN(t, pod)).Subject.Workload())
	})

	t.Run("nil_pod", func(t *testing.T) {
		assert.Empty(t, rules.SharedProcessNamespace{}.CheckPod(nil, ctx))
	})
}

func TestSharedProcessNamespaceRule(t *testing.T) {
	r := rules.SharedProcessNamespace{}.Rule()
	for _, must := range []string{"shareProcessNamespace", "kubectl debug", "pods/ephemeralcontainers", "targetContainerName != 'istio-proxy'"} {
		assert.Contains(t, r.Remediation, must)
	}
}
