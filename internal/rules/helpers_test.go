package rules_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/inventory/inventorytest"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

// Namespaces as the inventory knows them.
var (
	nsEnabled  = namespaceInfo("shop", map[string]string{"istio-injection": "enabled"})
	nsRevision = namespaceInfo("shop", map[string]string{"istio.io/rev": "1-28-0"})
	nsDisabled = namespaceInfo("shop", map[string]string{"istio-injection": "disabled", "istio.io/rev": "default"})
	nsPlain    = namespaceInfo("shop", nil)
	nsAmbient  = namespaceInfo("shop", map[string]string{"istio.io/dataplane-mode": "ambient"})
)

func namespaceInfo(name string, labels map[string]string) *inventory.NamespaceInfo {
	return inventory.FromNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}})
}

// in renames a namespace info for a pod of another namespace.
func in(ns *inventory.NamespaceInfo, name string) *inventory.NamespaceInfo {
	c := *ns
	c.Name = name
	return &c
}

func ctxIn(ns *inventory.NamespaceInfo) rules.PodContext {
	return rules.PodContext{Cluster: "prod-eu-1", Namespace: ns}
}

// checkIn runs one rule on a pod in a namespace.
func checkIn(t testing.TB, rule rules.PodRule, p *corev1.Pod, ns *inventory.NamespaceInfo) []findings.Finding {
	t.Helper()
	return rule.CheckPod(inventory.FromPod(p, inventory.DefaultProxyIdentity()), ctxIn(ns))
}

// asTemplate lifts a pod's metadata and spec into Deployment <name>'s pod template, as
// DecodeObject does with a Deployment object.
func asTemplate(p *corev1.Pod, name string) *inventory.Pod {
	lifted := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: p.Namespace, Labels: p.Labels, Annotations: p.Annotations},
		Spec:       p.Spec,
	}
	self := inventory.Controller{Kind: inventory.KindDeployment, Name: name}
	return inventory.FromTemplate(lifted, inventory.TemplateOrigin{Object: self, Controller: self}, inventory.DefaultProxyIdentity())
}

// uninjected is the clean pod as its Deployment's template says before injection: no
// sidecar.istio.io/status, no istio-init, no istio-proxy.
func uninjected(t testing.TB) *corev1.Pod {
	t.Helper()
	p := specOnly(cleanPod(t))
	delete(p.Annotations, "sidecar.istio.io/status")
	p.Spec.InitContainers = nil
	return p
}

func ruleIDs(fs []findings.Finding) []string {
	var ids []string
	for _, f := range fs {
		ids = append(ids, f.Rule.ID)
	}
	slices.Sort(ids)
	return ids
}

// allRules runs every registered rule.
func allRules(pod *inventory.Pod, ctx rules.PodContext) []findings.Finding {
	var out []findings.Finding
	for _, r := range rules.PodRules(rules.RuleOptions{}) {
		out = append(out, r.CheckPod(pod, ctx)...)
	}
	return out
}

func loadFixturePod(t testing.TB, name string) *corev1.Pod {
	t.Helper()
	return inventorytest.LoadPod(t, inventorytest.Testdata("pods", name))
}

func addMount(t testing.TB, p *corev1.Pod, container string, volumes ...string) {
	t.Helper()
	c := specContainer(t, p, container)
	for _, v := range volumes {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: v, MountPath: "/mnt/" + v})
	}
}

func onlyFinding(t testing.TB, fs []findings.Finding) findings.Finding {
	t.Helper()
	require.Len(t, fs, 1)
	return fs[0]
}

func boolPtr(b bool) *bool { return &b }

func capabilities(add ...corev1.Capability) *corev1.SecurityContext {
	return &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: add}}
}

// realTemplate decodes a real injector output file (one Deployment) the way the processor
// does, through DecodeObject and template lifting.
func realTemplate(t testing.TB, file string) *inventory.Pod {
	t.Helper()
	evs := inventorytest.LoadObjects(t, inventorytest.Testdata("real", "istio", "inject", file))
	require.Len(t, evs, 1)
	require.NotNil(t, evs[0].Template, file)
	return inventory.FromTemplate(evs[0].Pod, *evs[0].Template, inventory.DefaultProxyIdentity())
}
