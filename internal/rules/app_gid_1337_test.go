package rules_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

func checkGID(t testing.TB, p *corev1.Pod) []findings.Finding {
	t.Helper()
	return checkIn(t, rules.AppGID1337{}, p, nil)
}

func TestAppGID1337(t *testing.T) {
	t.Run("clean_deployment_pod_is_clean", func(t *testing.T) {
		assert.Empty(t, checkGID(t, cleanPod(t)))
	})

	t.Run("gid_only", func(t *testing.T) {
		// UID 10001 is not exempt, but the primary group alone is enough for --gid-owner.
		pod := specOnly(cleanPod(t))
		specContainer(t, pod, "payments").SecurityContext.RunAsGroup = i64(1337)
		f := onlyFinding(t, checkGID(t, pod))
		assert.Equal(t, "app_gid_1337", f.Rule.ID)
		assert.Equal(t, findings.Subject{Kind: findings.KindDeployment, Name: "payments", Namespace: "shop"}, f.Subject)
		assert.Equal(t, "payments", f.Container)
		assert.Equal(t, "payments", f.EvidenceKey)
		assert.Equal(t, "payments-6d8f9c7b5d-q2xlm", f.PodName)
		assert.Equal(t, `Container "payments" of deployment/payments in namespace shop runs with GID 1337, the Istio proxy's GID: `+
			`iptables exempts its traffic from the sidecar, so it bypasses mTLS, authorization policy and telemetry.`, f.Summary)
		assert.Equal(t, map[string]any{
			"gid": int64(1337), "gid_source": "container_security_context", "container_kind": "container",
			"proxy_gid_source": "istio_init_args",
		}, evidence(t, f))
		assert.Empty(t, check(t, pod), "app_uid_1337 stays quiet: the UID is 10001")
	})

	t.Run("pod_level_gid_inherited_by_app_container", func(t *testing.T) {
		pod := specOnly(cleanPod(t))
		pod.Spec.SecurityContext.RunAsGroup = i64(1337)
		specContainer(t, pod, "payments").SecurityContext.RunAsGroup = nil
		f := onlyFinding(t, checkGID(t, pod))
		assert.Equal(t, "pod_security_context", evidence(t, f)["gid_source"])
	})

	t.Run("kubelet_reported_gid_wins_over_spec", func(t *testing.T) {
		// The image's USER names group 1337; only the kubelet knows.
		pod := cleanPod(t)
		specContainer(t, pod, "payments").SecurityContext.RunAsGroup = nil
		pod.Status.ContainerStatuses[0].User.Linux.GID = 1337
		f := onlyFinding(t, checkGID(t, pod))
		assert.Equal(t, "container_status", evidence(t, f)["gid_source"])

		pod = cleanPod(t)
		specContainer(t, pod, "payments").SecurityContext.RunAsGroup = i64(1337)
		assert.Empty(t, checkGID(t, pod), "the kubelet reports 10001")
	})

	t.Run("supplementary_groups_are_not_the_primary_gid", func(t *testing.T) {
		pod := specOnly(cleanPod(t))
		pod.Spec.SecurityContext.FSGroup = i64(1337)
		pod.Spec.SecurityContext.SupplementalGroups = []int64{1337}
		assert.Empty(t, checkGID(t, pod), "Istio does not pass --suppl-groups")
	})

	t.Run("init_and_ephemeral_containers", func(t *testing.T) {
		pod := specOnly(cleanPod(t))
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{
			Name: "migrate", Image: "ghcr.io/example/payments:2.4.1",
			SecurityContext: &corev1.SecurityContext{RunAsUser: i64(10001), RunAsGroup: i64(1337)},
		})
		pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "debugger-7x2k", Image: "docker.io/nicolaka/netshoot:v0.13",
			SecurityContext: &corev1.SecurityContext{RunAsGroup: i64(1337)},
		}}}
		fs := checkGID(t, pod)
		assert.Equal(t, []string{"migrate", "debugger-7x2k"}, containersOf(fs))
		assert.True(t, strings.HasPrefix(fs[0].Summary, `Init container "migrate"`))
		assert.True(t, strings.HasPrefix(fs[1].Summary, `Ephemeral container "debugger-7x2k"`))
	})

	t.Run("tproxy_proxy_uid0_gid1337_app_gid_1337_fires", func(t *testing.T) {
		// TPROXY: istio-proxy runs as UID 0 and is exempted by --gid-owner 1337 alone.
		pod := realPod(t, "hello-tproxy.yaml.injected")
		assert.Empty(t, checkGID(t, pod), "the root istio-proxy with GID 1337 is the proxy")

		specContainer(t, pod, "hello").SecurityContext = &corev1.SecurityContext{RunAsUser: i64(0), RunAsGroup: i64(1337)}
		f := onlyFinding(t, checkGID(t, pod))
		assert.Equal(t, "hello", f.Container)
		assert.Equal(t, "istio_init_args", evidence(t, f)["proxy_gid_source"])
		assert.Empty(t, check(t, pod), "UID 0 is not the exempt UID")
	})

	t.Run("istio_validation_gid_1337_is_clean", func(t *testing.T) {
		assert.Empty(t, checkGID(t, realPod(t, "hello.yaml.cni.injected")))
	})

	t.Run("openshift_moved_proxy_gid", func(t *testing.T) {
		pod := realPod(t, "hello-openshift.yaml.injected")
		specContainer(t, pod, "hello").SecurityContext = &corev1.SecurityContext{RunAsGroup: i64(1000629999)}
		f := onlyFinding(t, checkGID(t, pod))
		assert.Contains(t, f.Summary, "runs with GID 1000629999, the Istio proxy's GID")

		specContainer(t, pod, "hello").SecurityContext = &corev1.SecurityContext{RunAsGroup: i64(1337)}
		assert.Empty(t, checkGID(t, pod), "1337 is not exempt when the proxy runs with another GID")
	})

	t.Run("unknown_gid_is_not_evidence", func(t *testing.T) {
		pod := specOnly(cleanPod(t))
		specContainer(t, pod, "payments").SecurityContext = nil
		assert.Empty(t, checkGID(t, pod))
	})

	t.Run("unmeshed_pod_is_clean", func(t *testing.T) {
		pod := specOnly(cleanPod(t))
		delete(pod.Annotations, "sidecar.istio.io/status")
		specContainer(t, pod, "payments").SecurityContext.RunAsGroup = i64(1337)
		assert.Empty(t, checkIn(t, rules.AppGID1337{}, pod, nsEnabled), "no sidecar to bypass: missing_sidecar's case")
	})

	t.Run("template_of_a_workload_to_be_injected", func(t *testing.T) {
		pod := uninjected(t)
		specContainer(t, pod, "payments").SecurityContext.RunAsGroup = i64(1337)
		tmpl := asTemplate(pod, "payments")
		require.False(t, tmpl.Meshed)

		f := onlyFinding(t, rules.AppGID1337{}.CheckPod(tmpl, ctxIn(nsEnabled)))
		assert.Equal(t, findings.Subject{Kind: findings.KindDeployment, Name: "payments", Namespace: "shop"}, f.Subject)
		assert.Empty(t, f.PodName)
		assert.Empty(t, f.PodUID)
		assert.Empty(t, f.Pods)
		assert.Equal(t, "config", evidence(t, f)["proxy_gid_source"], "no sidecar yet: the configured proxy GID")

		for name, ns := range map[string]*inventory.NamespaceInfo{"unknown": nil, "plain": nsPlain, "disabled": nsDisabled} {
			assert.Empty(t, rules.AppGID1337{}.CheckPod(tmpl, ctxIn(ns)), name)
		}
		pod.Labels["sidecar.istio.io/inject"] = "true"
		assert.Len(t, rules.AppGID1337{}.CheckPod(asTemplate(pod, "payments"), ctxIn(nsPlain)), 1, "opted in by label")
		pod.Labels["sidecar.istio.io/inject"] = "false"
		assert.Empty(t, rules.AppGID1337{}.CheckPod(asTemplate(pod, "payments"), ctxIn(nsEnabled)), "opted out")
	})

	t.Run("statefulset_and_job_owned_pods_name_their_controller", func(t *testing.T) {
		for kind, want := range map[string]findings.Subject{
			"StatefulSet": {Kind: findings.KindStatefulSet, Name: "ledger", Namespace: "shop"},
			"Job":         {Kind: findings.KindJob, Name: "ledger", Namespace: "shop"},
		} {
			pod := specOnly(cleanPod(t))
			delete(pod.Labels, "pod-template-hash")
			pod.OwnerReferences = []metav1.OwnerReference{{Kind: kind, Name: "ledger", Controller: boolPtr(true)}}
			specContainer(t, pod, "payments").SecurityContext.RunAsGroup = i64(1337)
			assert.Equal(t, want, onlyFinding(t, checkGID(t, pod)).Subject, kind)
		}
	})

	t.Run("pod_labelled_istio_is_still_checked", func(t *testing.T) {
		pod := specOnly(cleanPod(t))
		pod.Labels["istio"] = "ingressgateway"
		pod.Labels["app"] = "istio-proxy"
		specContainer(t, pod, "payments").SecurityContext.RunAsGroup = i64(1337)
		assert.Equal(t, []string{"payments"}, containersOf(checkGID(t, pod)))
	})

	t.Run("sapwned_job_fixture", func(t *testing.T) {
		f := onlyFinding(t, checkGID(t, loadFixturePod(t, "sapwned-job-uid-1337.yaml")))
		assert.Equal(t, findings.Subject{Kind: findings.KindJob, Name: "train-model-run-42", Namespace: "ai-workloads"}, f.Subject)
		assert.Equal(t, "trainer", f.Container)
		assert.Equal(t, map[string]any{
			"gid": int64(1337), "gid_source": "container_status", "container_kind": "container", "proxy_gid_source": "istio_init_args",
		}, evidence(t, f))
	})

	t.Run("uid_and_gid_findings_have_distinct_fingerprints", func(t *testing.T) {
		pod := loadFixturePod(t, "sapwned-job-uid-1337.yaml")
		uid, gid := onlyFinding(t, check(t, pod)), onlyFinding(t, checkGID(t, pod))
		assert.NotEqual(t, uid.Fingerprint(), gid.Fingerprint())
	})

	t.Run("findings_carry_no_secrets", func(t *testing.T) {
		const secret = "s3cr3t-db-password-do-not-leak"
		pod := specOnly(cleanPod(t))
		app := specContainer(t, pod, "payments")
		app.SecurityContext.RunAsGroup = i64(1337)
		app.Env = []corev1.EnvVar{{Name: "DB_PASSWORD", Value: secret}}
		pod.Annotations["example.com/config"] = secret
		assert.NotContains(t, fmt.Sprintf("%+v", onlyFinding(t, checkGID(t, pod))), secret)
	})

	t.Run("nil_pod", func(t *testing.T) {
		assert.Empty(t, rules.AppGID1337{}.CheckPod(nil, ctx))
	})
}

func TestAppGID1337Rule(t *testing.T) {
	r := rules.AppGID1337{}.Rule()
	assert.Equal(t, "Application container runs with the proxy GID", r.Title)
	for _, must := range []string{"runAsGroup", "fsGroup", "ValidatingAdmissionPolicy", "runAsGroup != 1337"} {
		assert.Contains(t, r.Remediation, must)
	}
}
