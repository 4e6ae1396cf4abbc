package rules_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

func unmeshedPod(t testing.TB) *corev1.Pod {
	t.Helper()
	return loadFixturePod(t, "unmeshed-deployment-pod.yaml")
}

func checkMissing(t testing.TB, p *corev1.Pod, ns *inventory.NamespaceInfo) []findings.Finding {
	t.Helper()
	return checkIn(t, rules.NewMissingSidecar(nil), p, ns)
}

func TestMissingSidecar(t *testing.T) {
	t.Run("injection_enabled_namespace", func(t *testing.T) {
		f := onlyFinding(t, checkMissing(t, unmeshedPod(t), nsEnabled))
		assert.Equal(t, "missing_sidecar", f.Rule.ID)
		assert.Equal(t, findings.SeverityMedium, f.Rule.Severity)
		assert.Equal(t, "INS-0008", f.Rule.Code)
		assert.Equal(t, findings.Subject{Kind: findings.KindDeployment, Name: "inventory", Namespace: "shop"}, f.Subject)
		assert.Equal(t, "inventory-7c9d8f6b4a-m5k8w", f.PodName)
		assert.Equal(t, []string{"inventory-7c9d8f6b4a-m5k8w"}, f.Pods)
		assert.Empty(t, f.Container)
		assert.Equal(t, map[string]any{"namespace_injection": "istio-injection=enabled"}, evidence(t, f))
		assert.Equal(t, "Pod inventory-7c9d8f6b4a-m5k8w of deployment/inventory in namespace shop runs without an Istio sidecar "+
			"although the namespace enables injection (istio-injection=enabled): its traffic is neither encrypted nor authorized "+
			"by the mesh, and services that accept plaintext (PERMISSIVE) take it.", f.Summary)
	})

	t.Run("revision_labelled_namespace", func(t *testing.T) {
		f := onlyFinding(t, checkMissing(t, unmeshedPod(t), nsRevision))
		assert.Equal(t, "istio.io/rev=1-28-0", evidence(t, f)["namespace_injection"])
		assert.Contains(t, f.Summary, "(istio.io/rev=1-28-0)")
	})

	t.Run("namespace_without_injection_is_clean", func(t *testing.T) {
		for name, ns := range map[string]*inventory.NamespaceInfo{"unknown": nil, "plain": nsPlain, "disabled_wins_over_revision": nsDisabled} {
			assert.Empty(t, checkMissing(t, unmeshedPod(t), ns), name)
		}
	})

	t.Run("meshed_pod_is_clean", func(t *testing.T) {
		assert.Empty(t, checkMissing(t, cleanPod(t), nsEnabled))
	})

	t.Run("untrusted_sidecar_is_no_sidecar", func(t *testing.T) {
		pod := cleanPod(t)
		specContainer(t, pod, "istio-proxy").Image = "ghcr.io/attacker/istio-proxy:1.28.0"
		assert.Len(t, checkMissing(t, pod, nsEnabled), 1)
	})

	t.Run("explicit_opt_out_is_low", func(t *testing.T) {
		for name, set := range map[string]func(p *corev1.Pod){
			"annotation": func(p *corev1.Pod) { p.Annotations = map[string]string{"sidecar.istio.io/inject": "false"} },
			"label":      func(p *corev1.Pod) { p.Labels["sidecar.istio.io/inject"] = "false" },
		} {
			pod := unmeshedPod(t)
			set(pod)
			f := onlyFinding(t, checkMissing(t, pod, nsEnabled))
			assert.Equal(t, findings.SeverityLow, f.Rule.Severity, name)
			assert.Equal(t, "missing_sidecar", f.Rule.ID, name)
			assert.Equal(t, "INS-0008", f.Rule.Code, name)
			assert.Equal(t, "false", evidence(t, f)["pod_inject"], name)
			assert.Contains(t, f.Summary, "it opted out of injection", name)

			medium := onlyFinding(t, checkMissing(t, unmeshedPod(t), nsEnabled))
			assert.Equal(t, medium.Fingerprint(), f.Fingerprint(), "opting out changes the severity, not the finding")
		}
	})

	t.Run("label_wins_over_annotation", func(t *testing.T) {
		pod := unmeshedPod(t)
		pod.Annotations = map[string]string{"sidecar.istio.io/inject": "false"}
		pod.Labels["sidecar.istio.io/inject"] = "true"
		assert.Equal(t, findings.SeverityMedium, onlyFinding(t, checkMissing(t, pod, nsEnabled)).Rule.Severity)
	})

	t.Run("kube_system_excluded", func(t *testing.T) {
		for _, ns := range []string{"kube-system", "istio-system"} {
			pod := unmeshedPod(t)
			pod.Namespace = ns
			assert.Empty(t, checkMissing(t, pod, in(nsEnabled, ns)), ns)
			assert.Empty(t, rules.MissingSidecar{}.CheckPod(inventory.FromPod(pod, inventory.DefaultProxyIdentity()), ctxIn(in(nsEnabled, ns))),
				"the zero value excludes the defaults too")
		}
	})

	t.Run("configured_exclusions", func(t *testing.T) {
		pod := unmeshedPod(t)
		pod.Namespace = "observability"
		p := inventory.FromPod(pod, inventory.DefaultProxyIdentity())
		ns := ctxIn(in(nsEnabled, "observability"))
		assert.Len(t, rules.NewMissingSidecar(nil).CheckPod(p, ns), 1)
		excluded := append(rules.DefaultMissingSidecarExcludedNamespaces(), "observability")
		assert.Empty(t, rules.NewMissingSidecar(excluded).CheckPod(p, ns))
		assert.Empty(t, missingSidecarOf(rules.RuleOptions{MissingSidecarExcludedNamespaces: excluded}).CheckPod(p, ns), "through the registry")

		pod.Namespace = "kube-system"
		p = inventory.FromPod(pod, inventory.DefaultProxyIdentity())
		assert.Len(t, rules.NewMissingSidecar([]string{}).CheckPod(p, ctxIn(in(nsEnabled, "kube-system"))), 1, "an empty list excludes none")
	})

	t.Run("ambient_pod_is_not_missing_sidecar", func(t *testing.T) {
		pod := unmeshedPod(t)
		pod.Labels["istio.io/dataplane-mode"] = "ambient"
		assert.Empty(t, checkMissing(t, pod, nsEnabled))
	})

	t.Run("ambient_namespace_is_not_missing_sidecar", func(t *testing.T) {
		ambientAndInjection := namespaceInfo("shop", map[string]string{"istio.io/dataplane-mode": "ambient", "istio-injection": "enabled"})
		assert.Empty(t, checkMissing(t, unmeshedPod(t), ambientAndInjection))

		// A pod that leaves ambient in a namespace that also injects: neither captures it.
		pod := unmeshedPod(t)
		pod.Labels["istio.io/dataplane-mode"] = "none"
		assert.Len(t, checkMissing(t, pod, ambientAndInjection), 1)
	})

	t.Run("host_network_pod_is_host_network_in_mesh", func(t *testing.T) {
		pod := unmeshedPod(t)
		pod.Spec.HostNetwork = true
		assert.Empty(t, checkMissing(t, pod, nsEnabled))
		assert.Len(t, checkIn(t, rules.HostNetworkInMesh{}, pod, nsEnabled), 1)
	})

	t.Run("templates_are_never_missing_a_sidecar", func(t *testing.T) {
		// Automatic injection happens at pod creation: the Deployment's template has no sidecar.
		assert.Empty(t, rules.NewMissingSidecar(nil).CheckPod(asTemplate(unmeshedPod(t), "inventory"), ctxIn(nsEnabled)))
	})

	t.Run("statefulset_and_job_owned_pods_name_their_controller", func(t *testing.T) {
		for _, tc := range []struct {
			kind, name, workload string
		}{
			{"StatefulSet", "ledger", "statefulset/ledger"},
			{"Job", "reindex", "job/reindex"},
			{"Job", "nightly-backup-29381520", "cronjob/nightly-backup"},
		} {
			pod := unmeshedPod(t)
			delete(pod.Labels, "pod-template-hash")
			pod.OwnerReferences = []metav1.OwnerReference{{Kind: tc.kind, Name: tc.name, Controller: boolPtr(true)}}
			f := onlyFinding(t, checkMissing(t, pod, nsEnabled))
			assert.Equal(t, tc.workload, f.Subject.Workload())
			assert.Contains(t, f.Summary, " of "+tc.workload+" in namespace shop ")
		}
	})

	t.Run("bare_pod", func(t *testing.T) {
		pod := unmeshedPod(t)
		pod.OwnerReferences = nil
		f := onlyFinding(t, checkMissing(t, pod, nsEnabled))
		assert.Equal(t, findings.Subject{Kind: findings.KindPod, Name: "inventory-7c9d8f6b4a-m5k8w", Namespace: "shop"}, f.Subject)
		assert.Contains(t, f.Summary, "Pod inventory-7c9d8f6b4a-m5k8w in namespace shop runs without")
	})

	t.Run("pod_labelled_istio_is_still_checked", func(t *testing.T) {
		pod := unmeshedPod(t)
		pod.Labels["istio"] = "ingressgateway"
		pod.Labels["app"] = "istio-ingressgateway"
		assert.Len(t, checkMissing(t, pod, nsEnabled), 1)
	})

	t.Run("findings_carry_no_secrets", func(t *testing.T) {
		const secret = "s3cr3t-do-not-leak"
		pod := unmeshedPod(t)
		pod.Annotations = map[string]string{"example.com/token": secret}
		pod.Labels["leak"] = secret
		assert.NotContains(t, fmt.Sprintf("%+v", onlyFinding(t, checkMissing(t, pod, nsEnabled))), secret)
	})

	t.Run("nil_pod", func(t *testing.T) {
		assert.Empty(t, rules.NewMissingSidecar(nil).CheckPod(nil, ctxIn(nsEnabled)))
	})
}

func missingSidecarOf(opts rules.RuleOptions) rules.PodRule {
	for _, r := range rules.PodRules(opts) {
		if r.Rule().ID == "missing_sidecar" {
			return r
		}
	}
	return nil
}

func TestMissingSidecarRule(t *testing.T) {
	r := rules.MissingSidecar{}.Rule()
	require.Equal(t, findings.SeverityMedium, r.Severity, "the catalogue's severity; opted-out pods are low")
	for _, must := range []string{"rollout restart", "sidecar.istio.io/inject", "ValidatingAdmissionPolicy", "sidecar.istio.io/status"} {
		assert.Contains(t, r.Remediation, must)
	}
	assert.Equal(t, []string{"kube-system", "istio-system"}, rules.DefaultMissingSidecarExcludedNamespaces())
}
