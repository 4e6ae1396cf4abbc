package rules_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

func checkCreds(t testing.TB, p *corev1.Pod) []findings.Finding {
	t.Helper()
	return checkIn(t, rules.ProxyCredentialsMounted{}, p, nil)
}

func TestProxyCredentialsMounted(t *testing.T) {
	t.Run("clean_deployment_pod_is_clean", func(t *testing.T) {
		assert.Empty(t, checkCreds(t, cleanPod(t)), "istio-proxy mounts them all: it is the proxy")
	})

	t.Run("app_mounts_istio_token", func(t *testing.T) {
		pod := cleanPod(t)
		addMount(t, pod, "payments", "istio-token")
		f := onlyFinding(t, checkCreds(t, pod))
		assert.Equal(t, "proxy_credentials_mounted", f.Rule.ID)
		assert.Equal(t, "payments", f.Container)
		assert.Equal(t, "payments", f.EvidenceKey)
		assert.Equal(t, `Container "payments" of deployment/payments in namespace shop mounts the Istio proxy's volumes istio-token: `+
			`it can obtain the workload's mesh identity and credentials, or tamper with the proxy's configuration.`, f.Summary)
		assert.Equal(t, map[string]any{"volumes": []string{"istio-token"}, "container_kind": "container"}, evidence(t, f))
	})

	t.Run("every_credential_volume_counts", func(t *testing.T) {
		for _, v := range []string{"istio-token", "workload-socket", "credential-socket", "workload-certs", "istio-envoy", "istio-data"} {
			pod := cleanPod(t)
			addMount(t, pod, "payments", v)
			assert.Equal(t, []string{v}, evidence(t, onlyFinding(t, checkCreds(t, pod)))["volumes"], v)
		}
	})

	t.Run("mesh_root_cert_crl_and_podinfo_are_public", func(t *testing.T) {
		pod := cleanPod(t)
		addMount(t, pod, "payments", "istiod-ca-cert", "istio-ca-crl", "istio-podinfo")
		assert.Empty(t, checkCreds(t, pod), "an app trusting the mesh CA is not holding the proxy's credentials")
	})

	t.Run("public_volumes_are_left_out_of_the_evidence", func(t *testing.T) {
		pod := cleanPod(t)
		addMount(t, pod, "payments", "istiod-ca-cert", "istio-token")
		assert.Equal(t, []string{"istio-token"}, evidence(t, onlyFinding(t, checkCreds(t, pod)))["volumes"])
	})

	t.Run("template_of_a_workload_to_be_injected", func(t *testing.T) {
		pod := uninjected(t)
		addMount(t, pod, "payments", "istio-token")
		tmpl := asTemplate(pod, "payments")
		f := onlyFinding(t, rules.ProxyCredentialsMounted{}.CheckPod(tmpl, ctxIn(nsEnabled)))
		assert.Equal(t, findings.Subject{Kind: findings.KindDeployment, Name: "payments", Namespace: "shop"}, f.Subject)
		assert.Empty(t, rules.ProxyCredentialsMounted{}.CheckPod(tmpl, ctxIn(nsPlain)), "not injected: the volume is the app's own")
	})

	t.Run("several_mounts_in_mount_order", func(t *testing.T) {
		pod := cleanPod(t)
		addMount(t, pod, "payments", "workload-socket", "cache", "istio-envoy", "workload-socket")
		assert.Equal(t, []string{"workload-socket", "istio-envoy"}, evidence(t, onlyFinding(t, checkCreds(t, pod)))["volumes"])
	})

	t.Run("init_and_ephemeral_containers", func(t *testing.T) {
		pod := cleanPod(t)
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{
			Name: "fetch-cert", Image: "docker.io/curlimages/curl:8.10.1",
			VolumeMounts: []corev1.VolumeMount{{Name: "workload-certs", MountPath: "/certs"}},
		})
		pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "debugger-7x2k", Image: "docker.io/nicolaka/netshoot:v0.13",
			VolumeMounts: []corev1.VolumeMount{{Name: "istio-envoy", MountPath: "/envoy"}},
		}}}
		fs := checkCreds(t, pod)
		assert.Equal(t, []string{"fetch-cert", "debugger-7x2k"}, containersOf(fs))
		assert.Equal(t, "init_container", evidence(t, fs[0])["container_kind"])
		assert.Equal(t, "ephemeral_container", evidence(t, fs[1])["container_kind"])
	})

	t.Run("the_status_annotation_is_authoritative", func(t *testing.T) {
		// An injector template that names its volumes differently: its list decides.
		pod := cleanPod(t)
		pod.Annotations["sidecar.istio.io/status"] = `{"initContainers":["istio-init","istio-proxy"],"containers":null,"volumes":["mesh-token"]}`
		addMount(t, pod, "payments", "istio-token", "mesh-token")
		assert.Equal(t, []string{"mesh-token"}, evidence(t, onlyFinding(t, checkCreds(t, pod)))["volumes"])
	})

	t.Run("app_own_volumes_are_clean", func(t *testing.T) {
		pod := cleanPod(t)
		addMount(t, pod, "payments", "kube-api-access-7xkqp", "config", "tls")
		assert.Empty(t, checkCreds(t, pod))
	})

	t.Run("unmeshed_pod_is_clean", func(t *testing.T) {
		pod := cleanPod(t)
		delete(pod.Annotations, "sidecar.istio.io/status")
		addMount(t, pod, "payments", "istio-token")
		assert.Empty(t, checkIn(t, rules.ProxyCredentialsMounted{}, pod, nsEnabled), "without injection the volume is not the proxy's")
	})

	t.Run("untrusted_istio_proxy_is_checked", func(t *testing.T) {
		// CNI pod with an extra container that borrows istio-proxy's look but is not named in the annotation.
		pod := realPod(t, "hello.yaml.cni.injected")
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{
			Name: "istio-proxy-sidekick", Image: "docker.io/istio/proxyv2:1.28.0",
			VolumeMounts: []corev1.VolumeMount{{Name: "istio-token", MountPath: "/var/run/secrets/tokens"}},
		})
		assert.Equal(t, []string{"istio-proxy-sidekick"}, containersOf(checkCreds(t, pod)))
	})

	t.Run("job_owned_pod_names_its_controller", func(t *testing.T) {
		pod := loadFixturePod(t, "sapwned-job-uid-1337.yaml")
		addMount(t, pod, "trainer", "istio-token")
		assert.Equal(t, "job/train-model-run-42", onlyFinding(t, checkCreds(t, pod)).Subject.Workload())
	})

	t.Run("findings_carry_no_secrets", func(t *testing.T) {
		const secret = "s3cr3t-do-not-leak"
		pod := cleanPod(t)
		addMount(t, pod, "payments", "istio-token")
		specContainer(t, pod, "payments").VolumeMounts[1].MountPath = "/" + secret
		assert.NotContains(t, fmt.Sprintf("%+v", onlyFinding(t, checkCreds(t, pod))), secret, "mount paths are not kept")
	})

	t.Run("nil_pod", func(t *testing.T) {
		assert.Empty(t, rules.ProxyCredentialsMounted{}.CheckPod(nil, ctx))
	})
}
