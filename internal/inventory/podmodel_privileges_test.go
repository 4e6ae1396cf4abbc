package inventory_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshinsights/otelcol-insights/internal/inventory"
)

func boolPtr(b bool) *bool { return &b }

func TestFromPodPrivileges(t *testing.T) {
	t.Run("capabilities_are_normalised", func(t *testing.T) {
		pod := withoutStatus(cleanPod(t))
		specContainer(t, pod, "payments").SecurityContext.Capabilities.Add = []corev1.Capability{
			"cap_net_admin", " Net_Raw ", "NET_ADMIN", "CAP_SYS_ADMIN", "", "chown",
		}
		c := container(t, inventory.FromPod(pod, fallback), "payments")
		assert.Equal(t, []string{"CHOWN", "NET_ADMIN", "NET_RAW", "SYS_ADMIN"}, c.CapabilitiesAdded)
	})

	t.Run("dropped_capabilities_are_not_added_ones", func(t *testing.T) {
		c := container(t, inventory.FromPod(cleanPod(t), fallback), "payments")
		assert.Empty(t, c.CapabilitiesAdded, "the clean pod drops ALL")
	})

	t.Run("privileged", func(t *testing.T) {
		pod := withoutStatus(cleanPod(t))
		specContainer(t, pod, "payments").SecurityContext.Privileged = boolPtr(true)
		assert.True(t, container(t, inventory.FromPod(pod, fallback), "payments").Privileged)
		assert.False(t, container(t, inventory.FromPod(pod, fallback), "istio-init").Privileged, "privileged: false")
	})

	t.Run("only_proxy_volume_mounts_are_kept", func(t *testing.T) {
		pod := withoutStatus(cleanPod(t))
		app := specContainer(t, pod, "payments")
		app.VolumeMounts = append(app.VolumeMounts,
			corev1.VolumeMount{Name: "istio-token", MountPath: "/var/run/secrets/tokens"},
			corev1.VolumeMount{Name: "cache", MountPath: "/cache"},
			corev1.VolumeMount{Name: "istio-token", MountPath: "/again", SubPath: "istio-token"},
			corev1.VolumeMount{Name: "workload-socket", MountPath: "/sds"},
		)
		c := container(t, inventory.FromPod(pod, fallback), "payments")
		assert.Equal(t, []string{"istio-token", "workload-socket"}, c.ProxyVolumeMounts)
	})

	t.Run("the_status_annotation_names_the_proxy_volumes", func(t *testing.T) {
		pod := withoutStatus(cleanPod(t))
		pod.Annotations[sidecarStatus] = `{"initContainers":["istio-init","istio-proxy"],"containers":null,"volumes":["istio-envoy","custom-token"]}`
		app := specContainer(t, pod, "payments")
		app.VolumeMounts = append(app.VolumeMounts,
			corev1.VolumeMount{Name: "custom-token", MountPath: "/t"},
			corev1.VolumeMount{Name: "istio-token", MountPath: "/var/run/secrets/tokens"},
		)
		p := inventory.FromPod(pod, fallback)
		assert.Equal(t, []string{"istio-envoy", "custom-token"}, p.ProxyVolumes)
		assert.Equal(t, []string{"custom-token"}, container(t, p, "payments").ProxyVolumeMounts)
	})

	t.Run("istio_default_volumes_without_a_list", func(t *testing.T) {
		pod := withoutStatus(cleanPod(t))
		pod.Annotations[sidecarStatus] = `{"initContainers":["istio-init","istio-proxy"],"containers":null}`
		app := specContainer(t, pod, "payments")
		app.VolumeMounts = append(app.VolumeMounts, corev1.VolumeMount{Name: "istio-token", MountPath: "/t"})
		p := inventory.FromPod(pod, fallback)
		assert.Contains(t, p.ProxyVolumes, "istio-token")
		assert.Equal(t, []string{"istio-token"}, container(t, p, "payments").ProxyVolumeMounts)
	})

	t.Run("ephemeral_container_target", func(t *testing.T) {
		pod := withoutStatus(cleanPod(t))
		pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debugger-h7x2k", Image: "docker.io/nicolaka/netshoot:v0.13",
				SecurityContext: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}},
				VolumeMounts:    []corev1.VolumeMount{{Name: "istio-envoy", MountPath: "/envoy"}},
			},
			TargetContainerName: "istio-proxy",
		}}
		c := container(t, inventory.FromPod(pod, fallback), "debugger-h7x2k")
		assert.Equal(t, "istio-proxy", c.TargetContainer)
		assert.Equal(t, []string{"NET_ADMIN"}, c.CapabilitiesAdded)
		assert.Equal(t, []string{"istio-envoy"}, c.ProxyVolumeMounts)
		assert.False(t, c.Proxy)
	})

	t.Run("share_process_namespace", func(t *testing.T) {
		pod := withoutStatus(cleanPod(t))
		pod.Spec.ShareProcessNamespace = boolPtr(true)
		assert.True(t, inventory.FromPod(pod, fallback).ShareProcessNamespace)
		pod.Spec.ShareProcessNamespace = boolPtr(false)
		assert.False(t, inventory.FromPod(pod, fallback).ShareProcessNamespace)
	})
}

func TestFromPodMeshSwitches(t *testing.T) {
	t.Run("keeps_only_istio_capture_and_injection_switches", func(t *testing.T) {
		pod := withoutStatus(cleanPod(t))
		pod.Annotations["traffic.sidecar.istio.io/excludeOutboundPorts"] = "5432"
		pod.Annotations["traffic.sidecar.istio.io/includeOutboundPorts"] = "443"
		pod.Annotations["traffic.sidecar.istio.io/unknownKey"] = "x"
		pod.Annotations["sidecar.istio.io/interceptionMode"] = "TPROXY"
		pod.Annotations["sidecar.istio.io/inject"] = "true"
		pod.Annotations["status.sidecar.istio.io/port"] = "15021"
		pod.Annotations["example.com/db-password"] = "s3cr3t"
		pod.Labels["sidecar.istio.io/inject"] = "false"
		pod.Labels["istio.io/dataplane-mode"] = "none"
		pod.Labels["leak"] = "s3cr3t"
		p := inventory.FromPod(pod, fallback)
		assert.Equal(t, map[string]string{
			"traffic.sidecar.istio.io/excludeOutboundPorts": "5432",
			"sidecar.istio.io/interceptionMode":             "TPROXY",
			"sidecar.istio.io/inject":                       "true",
			"status.sidecar.istio.io/port":                  "15021",
		}, p.MeshAnnotations)
		assert.Equal(t, map[string]string{"sidecar.istio.io/inject": "false", "istio.io/dataplane-mode": "none"}, p.MeshLabels)
		v, ok := p.Annotation(inventory.AnnotationExcludeOutboundPorts)
		assert.True(t, ok)
		assert.Equal(t, "5432", v)
		_, ok = p.Label("leak")
		assert.False(t, ok)
		assert.NotContains(t, fmt.Sprintf("%+v", *p), "s3cr3t")
	})

	t.Run("long_values_are_cut_after_a_whole_entry", func(t *testing.T) {
		pod := withoutStatus(cleanPod(t))
		ranges := make([]string, 0, 600)
		for i := range 600 {
			ranges = append(ranges, fmt.Sprintf("10.%d.%d.0/24", i/250, i%250))
		}
		pod.Annotations[inventory.AnnotationExcludeOutboundIPRanges] = strings.Join(ranges, ",")
		v, _ := inventory.FromPod(pod, fallback).Annotation(inventory.AnnotationExcludeOutboundIPRanges)
		assert.LessOrEqual(t, len(v), 4096)
		assert.True(t, strings.HasPrefix(strings.Join(ranges, ","), v+","), "cut at an entry boundary")
	})
}

func TestFromTemplate(t *testing.T) {
	pod := cleanPod(t)
	origin := inventory.TemplateOrigin{
		Object:     inventory.Controller{Kind: inventory.KindJob, Name: "nightly-backup-29381520"},
		Controller: inventory.Controller{Kind: inventory.KindCronJob, Name: "nightly-backup"},
	}
	p := inventory.FromTemplate(pod, origin, fallback)
	require.NotNil(t, p)
	assert.Equal(t, "template/Job/shop/nightly-backup-29381520", p.Key())
	assert.Equal(t, &origin.Object, p.Template)
	assert.Equal(t, origin.Controller, p.Controller)
	assert.Empty(t, p.Name)
	assert.Empty(t, p.UID)
	assert.Empty(t, p.NodeName)
	assert.Empty(t, p.IPs)
	assert.True(t, p.Meshed, "a manually injected template carries its sidecar")
	assert.Nil(t, inventory.FromTemplate(nil, origin, fallback))
}

func TestFromNamespace(t *testing.T) {
	ns := func(labels map[string]string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", ResourceVersion: "7", Labels: labels}}
	}
	for name, tc := range map[string]struct {
		labels   map[string]string
		want     inventory.Injection
		revision string
		ambient  bool
		enabled  bool
	}{
		"no_labels":                        {nil, inventory.InjectionNone, "", false, false},
		"istio_injection_enabled":          {map[string]string{"istio-injection": "enabled"}, inventory.InjectionEnabled, "", false, true},
		"revision":                         {map[string]string{"istio.io/rev": "1-28-0"}, inventory.InjectionRevision, "1-28-0", false, true},
		"enabled_wins_over_revision":       {map[string]string{"istio-injection": "enabled", "istio.io/rev": "canary"}, inventory.InjectionEnabled, "", false, true},
		"disabled_wins_over_revision":      {map[string]string{"istio-injection": "disabled", "istio.io/rev": "default"}, inventory.InjectionDisabled, "", false, false},
		"any_other_injection_value_is_off": {map[string]string{"istio-injection": "true"}, inventory.InjectionDisabled, "", false, false},
		"empty_revision_is_none":           {map[string]string{"istio.io/rev": ""}, inventory.InjectionNone, "", false, false},
		"ambient":                          {map[string]string{"istio.io/dataplane-mode": "ambient"}, inventory.InjectionNone, "", true, false},
		"ambient_and_injection":            {map[string]string{"istio.io/dataplane-mode": "ambient", "istio-injection": "enabled"}, inventory.InjectionEnabled, "", true, true},
	} {
		t.Run(name, func(t *testing.T) {
			n := inventory.FromNamespace(ns(tc.labels))
			assert.Equal(t, &inventory.NamespaceInfo{Name: "shop", ResourceVersion: "7", Injection: tc.want, Revision: tc.revision, Ambient: tc.ambient}, n)
			assert.Equal(t, tc.enabled, n.InjectionEnabled())
		})
	}
	t.Run("nil", func(t *testing.T) {
		var n *inventory.NamespaceInfo
		assert.Nil(t, inventory.FromNamespace(nil))
		assert.False(t, n.InjectionEnabled(), "unknown is not evidence")
		assert.True(t, n.SameMesh(nil))
	})
	t.Run("same_mesh_ignores_the_resource_version", func(t *testing.T) {
		a := inventory.FromNamespace(ns(map[string]string{"istio-injection": "enabled"}))
		b := inventory.FromNamespace(ns(map[string]string{"istio-injection": "enabled", "team": "payments"}))
		b.ResourceVersion = "8"
		assert.True(t, a.SameMesh(b))
		assert.False(t, a.SameMesh(inventory.FromNamespace(ns(nil))))
		assert.False(t, a.SameMesh(nil))
	})
}
