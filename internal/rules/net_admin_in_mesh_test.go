package rules_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

func checkNetAdmin(t testing.TB, p *corev1.Pod) []findings.Finding {
	t.Helper()
	return checkIn(t, rules.NetAdminInMesh{}, p, nil)
}

// withAppSecurity is the clean pod with the app container's securityContext replaced.
func withAppSecurity(t testing.TB, sc *corev1.SecurityContext) *corev1.Pod {
	t.Helper()
	pod := specOnly(cleanPod(t))
	specContainer(t, pod, "payments").SecurityContext = sc
	return pod
}

func TestNetAdminInMesh(t *testing.T) {
	t.Run("clean_deployment_pod_is_clean", func(t *testing.T) {
		assert.Empty(t, checkNetAdmin(t, cleanPod(t)))
	})

	t.Run("istio_init_net_admin_is_clean", func(t *testing.T) {
		pod := cleanPod(t)
		assert.Equal(t, []corev1.Capability{"NET_ADMIN", "NET_RAW"}, specContainer(t, pod, "istio-init").SecurityContext.Capabilities.Add)
		assert.Empty(t, checkNetAdmin(t, pod))
		assert.Empty(t, checkNetAdmin(t, realPod(t, "hello.yaml.injected")))
	})

	t.Run("tproxy_proxy_net_admin_is_clean", func(t *testing.T) {
		pod := realPod(t, "hello-tproxy.yaml.injected")
		assert.Contains(t, specContainer(t, pod, "istio-proxy").SecurityContext.Capabilities.Add, corev1.Capability("NET_ADMIN"))
		assert.Empty(t, checkNetAdmin(t, pod))
	})

	t.Run("runtime_default_net_raw_is_clean", func(t *testing.T) {
		// No securityContext: the runtime's default set (with NET_RAW) applies, but nothing is added.
		assert.Empty(t, checkNetAdmin(t, withAppSecurity(t, nil)))
		assert.Empty(t, checkNetAdmin(t, withAppSecurity(t, &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"NET_RAW"}}})))
	})

	t.Run("net_admin_added", func(t *testing.T) {
		f := onlyFinding(t, checkNetAdmin(t, withAppSecurity(t, capabilities("NET_ADMIN", "NET_BIND_SERVICE"))))
		assert.Equal(t, "net_admin_in_mesh", f.Rule.ID)
		assert.Equal(t, "payments", f.Container)
		assert.Equal(t, "payments", f.EvidenceKey)
		assert.Equal(t, `Container "payments" of deployment/payments in namespace shop adds NET_ADMIN: it can rewrite the pod's iptables `+
			`capture rules or send raw packets past them, bypassing the Istio sidecar.`, f.Summary)
		assert.Equal(t, map[string]any{"capabilities": []string{"NET_ADMIN"}, "privileged": "false", "container_kind": "container"}, evidence(t, f))
	})

	t.Run("any_spelling_of_a_capability", func(t *testing.T) {
		for add, want := range map[corev1.Capability]string{
			"NET_RAW": "NET_RAW", "cap_net_raw": "NET_RAW", "CAP_NET_ADMIN": "NET_ADMIN", "Sys_Admin": "SYS_ADMIN", "ALL": "ALL", "all": "ALL",
		} {
			f := onlyFinding(t, checkNetAdmin(t, withAppSecurity(t, capabilities(add))))
			assert.Equal(t, []string{want}, evidence(t, f)["capabilities"], string(add))
		}
	})

	t.Run("harmless_capabilities_are_clean", func(t *testing.T) {
		assert.Empty(t, checkNetAdmin(t, withAppSecurity(t, capabilities("NET_BIND_SERVICE", "CHOWN", "SYS_TIME"))))
	})

	t.Run("privileged", func(t *testing.T) {
		f := onlyFinding(t, checkNetAdmin(t, withAppSecurity(t, &corev1.SecurityContext{Privileged: boolPtr(true)})))
		assert.Equal(t, map[string]any{"capabilities": []string{}, "privileged": "true", "container_kind": "container"}, evidence(t, f))
		assert.Contains(t, f.Summary, `"payments" of deployment/payments in namespace shop is privileged: `)

		both := &corev1.SecurityContext{Privileged: boolPtr(true), Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN", "NET_RAW"}}}
		f = onlyFinding(t, checkNetAdmin(t, withAppSecurity(t, both)))
		assert.Contains(t, f.Summary, " is privileged and adds NET_RAW, SYS_ADMIN: ")
	})

	t.Run("privileged_false_is_clean", func(t *testing.T) {
		assert.Empty(t, checkNetAdmin(t, withAppSecurity(t, &corev1.SecurityContext{Privileged: boolPtr(false)})))
	})

	t.Run("app_init_container_with_net_admin", func(t *testing.T) {
		pod := cleanPod(t)
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{
			Name: "setup-routes", Image: "docker.io/library/alpine:3.20", SecurityContext: capabilities("NET_ADMIN"),
		})
		assert.Equal(t, []string{"setup-routes"}, containersOf(checkNetAdmin(t, pod)))
	})

	t.Run("untrusted_istio_init_is_checked", func(t *testing.T) {
		// CNI pods have no istio-init: one that appears is not the injector's.
		pod := realPod(t, "hello.yaml.cni.injected")
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{
			Name: "istio-init", Image: "docker.io/istio/proxyv2:1.28.0", SecurityContext: capabilities("NET_ADMIN", "NET_RAW"),
		})
		f := onlyFinding(t, checkNetAdmin(t, pod))
		assert.Equal(t, "istio-init", f.Container)
		assert.Equal(t, []string{"NET_ADMIN", "NET_RAW"}, evidence(t, f)["capabilities"])
	})

	t.Run("kubectl_debug_netadmin_fixture", func(t *testing.T) {
		f := onlyFinding(t, checkNetAdmin(t, loadFixturePod(t, "debug-netadmin-targeting-proxy.yaml")))
		assert.Equal(t, "debugger-h7x2k", f.Container)
		assert.Equal(t, map[string]any{"capabilities": []string{"NET_ADMIN", "NET_RAW"}, "privileged": "false", "container_kind": "ephemeral_container"}, evidence(t, f))
		assert.Contains(t, f.Summary, `Ephemeral container "debugger-h7x2k" of deployment/payments`)
	})

	t.Run("unmeshed_pod_is_clean", func(t *testing.T) {
		pod := withAppSecurity(t, capabilities("NET_ADMIN"))
		delete(pod.Annotations, "sidecar.istio.io/status")
		assert.Empty(t, checkIn(t, rules.NetAdminInMesh{}, pod, nsEnabled))
	})

	t.Run("template_of_a_workload_to_be_injected", func(t *testing.T) {
		pod := uninjected(t)
		specContainer(t, pod, "payments").SecurityContext = capabilities("NET_RAW")
		tmpl := asTemplate(pod, "payments")
		assert.Equal(t, []string{"payments"}, containersOf(rules.NetAdminInMesh{}.CheckPod(tmpl, ctxIn(nsEnabled))))
		assert.Empty(t, rules.NetAdminInMesh{}.CheckPod(tmpl, ctxIn(nsPlain)))
	})

	t.Run("job_owned_pod_names_its_controller", func(t *testing.T) {
		pod := loadFixturePod(t, "sapwned-job-uid-1337.yaml")
		specContainer(t, pod, "trainer").SecurityContext.Capabilities = &corev1.Capabilities{Add: []corev1.Capability{"NET_RAW"}}
		assert.Equal(t, "job/train-model-run-42", onlyFinding(t, checkNetAdmin(t, pod)).Subject.Workload())
	})

	t.Run("pod_labelled_istio_is_still_checked", func(t *testing.T) {
		pod := withAppSecurity(t, capabilities("NET_ADMIN"))
		pod.Labels["istio"] = "ingressgateway"
		assert.Len(t, checkNetAdmin(t, pod), 1)
	})

	t.Run("nil_pod", func(t *testing.T) {
		assert.Empty(t, rules.NetAdminInMesh{}.CheckPod(nil, ctx))
	})
}

func TestNetAdminInMeshRule(t *testing.T) {
	r := rules.NetAdminInMesh{}.Rule()
	for _, must := range []string{"NET_ADMIN", "NET_RAW", "SYS_ADMIN", "privileged", "drop: [ALL]", "ValidatingAdmissionPolicy", "istio-init"} {
		assert.Contains(t, r.Remediation, must)
	}
}
