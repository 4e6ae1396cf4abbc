package inventory_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/inventory/inventorytest"
)

const sidecarStatus = "sidecar.istio.io/status"

func cleanPod(t testing.TB) *corev1.Pod {
	t.Helper()
	return inventorytest.LoadPod(t, inventorytest.Testdata("pods", "clean-deployment-pod.yaml"))
}

func realPod(t testing.TB, file string) *corev1.Pod {
	t.Helper()
	return inventorytest.LoadPod(t, inventorytest.Testdata("real", "istio", "inject", file))
}

func container(t testing.TB, p *inventory.Pod, name string) inventory.Container {
	t.Helper()
	for _, c := range p.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("pod %s has no container %q", p.Key(), name)
	return inventory.Container{}
}

func specContainer(t testing.TB, p *corev1.Pod, name string) *corev1.Container {
	t.Helper()
	for i := range p.Spec.InitContainers {
		if p.Spec.InitContainers[i].Name == name {
			return &p.Spec.InitContainers[i]
		}
	}
	for i := range p.Spec.Containers {
		if p.Spec.Containers[i].Name == name {
			return &p.Spec.Containers[i]
		}
	}
	t.Fatalf("pod has no container %q", name)
	return nil
}

func i64(v int64) *int64 { return &v }

func withoutStatus(p *corev1.Pod) *corev1.Pod {
	p.Status = corev1.PodStatus{}
	return p
}

var fallback = inventory.ProxyIdentity{UID: 4242, GID: 4343}

func TestFromPod(t *testing.T) {
	t.Run("clean_deployment_pod", func(t *testing.T) {
		p := inventory.FromPod(cleanPod(t), inventory.DefaultProxyIdentity())
		assert.Equal(t, "shop/payments-6d8f9c7b5d-q2xlm", p.Key())
		assert.Equal(t, "5b0e2f8a-3c1d-4e7a-9f62-81d4c0a7b913", p.UID)
		assert.Equal(t, "48213377", p.ResourceVersion)
		assert.Equal(t, "worker-1", p.NodeName)
		assert.Equal(t, []string{"10.244.1.23"}, p.IPs)
		assert.False(t, p.HostNetwork)
		assert.Equal(t, inventory.Controller{Kind: inventory.KindDeployment, Name: "payments"}, p.Controller)
		assert.True(t, p.Meshed)
		assert.Equal(t, int64(1337), p.ProxyUID)
		assert.Equal(t, inventory.IdentityIstioInit, p.ProxyUIDSource)
		assert.Equal(t, int64(1337), p.ProxyGID)

		assert.False(t, p.ShareProcessNamespace)
		assert.Nil(t, p.Template)
		assert.Nil(t, p.MeshAnnotations, "istio.io/rev, prometheus.io/* and the status annotation are not kept")
		assert.Nil(t, p.MeshLabels)
		assert.Equal(t, []string{
			"workload-socket", "credential-socket", "workload-certs", "istio-envoy", "istio-data",
			"istio-podinfo", "istio-token", "istiod-ca-cert", "istio-ca-crl",
		}, p.ProxyVolumes)

		require.Len(t, p.Containers, 3)
		assert.Equal(t, inventory.Container{
			Name: "istio-init", Kind: inventory.ContainerInit, Image: "docker.io/istio/proxyv2:1.28.0", Proxy: true,
			UID: i64(0), UIDSource: inventory.IdentityKubelet, GID: i64(0), GIDSource: inventory.IdentityKubelet,
			CapabilitiesAdded: []string{"NET_ADMIN", "NET_RAW"},
		}, p.Containers[0])
		assert.Equal(t, inventory.Container{
			Name: "istio-proxy", Kind: inventory.ContainerInit, Image: "docker.io/istio/proxyv2:1.28.0", Proxy: true, NativeSidecar: true,
			UID: i64(1337), UIDSource: inventory.IdentityKubelet, GID: i64(1337), GIDSource: inventory.IdentityKubelet,
		}, p.Containers[1], "the proxy's own mounts of its volumes are not kept")
		assert.Equal(t, inventory.Container{
			Name: "payments", Kind: inventory.ContainerRegular, Image: "ghcr.io/example/payments:2.4.1",
			UID: i64(10001), UIDSource: inventory.IdentityKubelet, GID: i64(10001), GIDSource: inventory.IdentityKubelet,
		}, p.Containers[2])
	})

	t.Run("nil_pod", func(t *testing.T) {
		assert.Nil(t, inventory.FromPod(nil, fallback))
	})

	t.Run("the_model_does_not_alias_the_pod", func(t *testing.T) {
		pod := withoutStatus(cleanPod(t))
		p := inventory.FromPod(pod, fallback)
		*specContainer(t, pod, "payments").SecurityContext.RunAsUser = 1337
		assert.Equal(t, int64(10001), *container(t, p, "payments").UID)
	})
}

func TestFromPodIdentity(t *testing.T) {
	t.Run("container_security_context_over_pod", func(t *testing.T) {
		pod := withoutStatus(cleanPod(t))
		pod.Spec.SecurityContext.RunAsUser = i64(2000)
		pod.Spec.SecurityContext.RunAsGroup = i64(3000)
		specContainer(t, pod, "payments").SecurityContext.RunAsGroup = nil
		c := container(t, inventory.FromPod(pod, fallback), "payments")
		assert.Equal(t, int64(10001), *c.UID)
		assert.Equal(t, inventory.IdentitySpec, c.UIDSource)
		assert.Equal(t, int64(3000), *c.GID)
		assert.Equal(t, inventory.IdentityPodSpec, c.GIDSource)
	})

	t.Run("pod_security_context_is_inherited", func(t *testing.T) {
		pod := withoutStatus(cleanPod(t))
		pod.Spec.SecurityContext.RunAsUser = i64(2000)
		specContainer(t, pod, "payments").SecurityContext = nil
		c := container(t, inventory.FromPod(pod, fallback), "payments")
		assert.Equal(t, int64(2000), *c.UID)
		assert.Equal(t, inventory.IdentityPodSpec, c.UIDSource)
		assert.Nil(t, c.GID)
		assert.Equal(t, inventory.IdentityNone, c.GIDSource)
	})

	t.Run("unknown_without_security_context_or_kubelet_report", func(t *testing.T) {
		pod := withoutStatus(cleanPod(t))
		pod.Spec.SecurityContext = nil
		specContainer(t, pod, "payments").SecurityContext = nil
		c := container(t, inventory.FromPod(pod, fallback), "payments")
		assert.Nil(t, c.UID)
		assert.Equal(t, inventory.IdentityNone, c.UIDSource)
	})

	t.Run("kubelet_report_wins_and_reveals_image_user", func(t *testing.T) {
		pod := cleanPod(t)
		specContainer(t, pod, "payments").SecurityContext = nil
		pod.Status.ContainerStatuses[0].User.Linux.UID = 1337
		pod.Status.ContainerStatuses[0].User.Linux.GID = 1337
		c := container(t, inventory.FromPod(pod, fallback), "payments")
		assert.Equal(t, int64(1337), *c.UID)
		assert.Equal(t, inventory.IdentityKubelet, c.UIDSource)
		assert.Equal(t, int64(1337), *c.GID)
	})

	t.Run("status_without_user_falls_back_to_spec", func(t *testing.T) {
		pod := cleanPod(t)
		pod.Status.ContainerStatuses[0].User = nil
		c := container(t, inventory.FromPod(pod, fallback), "payments")
		assert.Equal(t, int64(10001), *c.UID)
		assert.Equal(t, inventory.IdentitySpec, c.UIDSource)
	})

	t.Run("ephemeral_containers_match_their_own_statuses", func(t *testing.T) {
		pod := cleanPod(t)
		pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debugger-x2k", Image: "busybox:1.36"},
			TargetContainerName:      "payments",
		}}
		pod.Status.EphemeralContainerStatuses = []corev1.ContainerStatus{{
			Name: "debugger-x2k", User: &corev1.ContainerUser{Linux: &corev1.LinuxContainerUser{UID: 0, GID: 0}},
		}}
		c := container(t, inventory.FromPod(pod, fallback), "debugger-x2k")
		assert.Equal(t, inventory.ContainerEphemeral, c.Kind)
		assert.False(t, c.Proxy)
		assert.Equal(t, int64(0), *c.UID)
		assert.Equal(t, inventory.IdentityKubelet, c.UIDSource)
	})
}

func TestFromPodProxyContainers(t *testing.T) {
	t.Run("named_in_annotation_with_proxy_image", func(t *testing.T) {
		p := inventory.FromPod(cleanPod(t), fallback)
		assert.True(t, container(t, p, "istio-init").Proxy)
		assert.True(t, container(t, p, "istio-proxy").Proxy)
		assert.False(t, container(t, p, "payments").Proxy)
	})

	t.Run("without_annotation_nothing_is_trusted", func(t *testing.T) {
		pod := cleanPod(t)
		delete(pod.Annotations, sidecarStatus)
		p := inventory.FromPod(pod, fallback)
		assert.False(t, p.Meshed)
		for _, c := range p.Containers {
			assert.False(t, c.Proxy, c.Name)
		}
		assert.Equal(t, fallback.UID, p.ProxyUID)
		assert.Equal(t, inventory.IdentityFallback, p.ProxyUIDSource)
	})

	t.Run("malformed_annotation_means_not_meshed", func(t *testing.T) {
		for _, bad := range []string{`{"initContainers":["istio-init","istio-proxy"]`, `[]`, `"istio-proxy"`, `{"initContainers":"istio-proxy"}`} {
			pod := cleanPod(t)
			pod.Annotations[sidecarStatus] = bad
			p := inventory.FromPod(pod, fallback)
			assert.False(t, p.Meshed, bad)
			assert.False(t, container(t, p, "istio-proxy").Proxy, bad)
		}
	})

	t.Run("null_lists_are_empty", func(t *testing.T) {
		pod := cleanPod(t)
		pod.Annotations[sidecarStatus] = `{"initContainers":null,"containers":null}`
		assert.False(t, inventory.FromPod(pod, fallback).Meshed)
	})

	t.Run("foreign_image_is_not_the_proxy", func(t *testing.T) {
		pod := cleanPod(t)
		specContainer(t, pod, "istio-proxy").Image = "docker.io/attacker/istio-proxy:1.28.0"
		p := inventory.FromPod(pod, fallback)
		assert.False(t, container(t, p, "istio-proxy").Proxy)
		assert.False(t, p.Meshed, "istio-init alone proxies nothing")
		assert.True(t, container(t, p, "istio-init").Proxy)
	})

	t.Run("annotation_list_must_match_where_the_container_is_declared", func(t *testing.T) {
		pod := cleanPod(t)
		pod.Annotations[sidecarStatus] = `{"initContainers":["istio-init"],"containers":["istio-proxy"]}`
		p := inventory.FromPod(pod, fallback)
		assert.False(t, container(t, p, "istio-proxy").Proxy)
		assert.False(t, p.Meshed)
	})

	t.Run("regular_container_sidecar_is_meshed", func(t *testing.T) {
		p := inventory.FromPod(realPod(t, "native-sidecar-opt-out.yaml.injected"), fallback)
		proxy := container(t, p, "istio-proxy")
		assert.Equal(t, inventory.ContainerRegular, proxy.Kind)
		assert.True(t, proxy.Proxy)
		assert.False(t, proxy.NativeSidecar)
		assert.True(t, p.Meshed)
	})

	t.Run("init_container_without_restart_policy_always_is_not_a_sidecar", func(t *testing.T) {
		pod := cleanPod(t)
		specContainer(t, pod, "istio-proxy").RestartPolicy = nil
		p := inventory.FromPod(pod, fallback)
		assert.False(t, container(t, p, "istio-proxy").NativeSidecar)
		assert.False(t, p.Meshed)
	})
}

func TestIsProxyImage(t *testing.T) {
	for image, want := range map[string]bool{
		"docker.io/istio/proxyv2:1.28.0":                       true,
		"gcr.io/istio-release/proxyv2:1.24.0-distroless":       true,
		"registry.istio.io/testing/proxyv2:latest":             true,
		"localhost:5000/proxyv2":                               true,
		"localhost:5000/istio/proxyv2@sha256:0123456789abcdef": true,
		"proxyv2":                     true,
		"docker.io/istio/proxy:0.8.0": true,
		"registry.redhat.io/openshift-service-mesh/proxyv2-rhel8":                       true,
		"registry.redhat.io/openshift-service-mesh/istio-proxyv2-rhel9@sha256:1306526a": true,
		"docker.io/istio/proxyv2-evil:1.28.0":                                           false,
		"docker.io/attacker/istio-proxy:1.28.0":                                         false,
		"docker.io/library/busybox:1.36":                                                false,
		"proxyv2.example.com/app:1":                                                     false,
		"docker.io/proxyv2/app:1":                                                       false,
		"":                                                                              false,
	} {
		assert.Equal(t, want, inventory.IsProxyImage(image), image)
	}
}

func TestFromPodProxyIdentity(t *testing.T) {
	type want struct {
		uid, gid       int64
		uidSrc, gidSrc inventory.IdentitySource
	}
	check := func(t *testing.T, p *inventory.Pod, w want) {
		t.Helper()
		assert.Equal(t, w.uid, p.ProxyUID, "uid")
		assert.Equal(t, w.uidSrc, p.ProxyUIDSource, "uid source")
		assert.Equal(t, w.gid, p.ProxyGID, "gid")
		assert.Equal(t, w.gidSrc, p.ProxyGIDSource, "gid source")
	}

	t.Run("istio_init_args", func(t *testing.T) {
		check(t, inventory.FromPod(realPod(t, "hello.yaml.injected"), fallback),
			want{1337, 1337, inventory.IdentityIstioInit, inventory.IdentityIstioInit})
	})

	t.Run("tproxy_root_proxy_still_exempts_uid_1337", func(t *testing.T) {
		// istio-proxy runs as UID 0 / GID 1337; tproxy.golden still has --uid-owner 1337.
		pod := realPod(t, "hello-tproxy.yaml.injected")
		require.Equal(t, int64(0), *specContainer(t, pod, "istio-proxy").SecurityContext.RunAsUser)
		check(t, inventory.FromPod(pod, fallback), want{1337, 1337, inventory.IdentityIstioInit, inventory.IdentityIstioInit})
	})

	t.Run("tproxy_with_cni_takes_uid_from_validation_and_gid_from_proxy", func(t *testing.T) {
		pod := realPod(t, "hello.yaml.cni.injected")
		proxy := specContainer(t, pod, "istio-proxy")
		proxy.SecurityContext.RunAsUser = i64(0)
		check(t, inventory.FromPod(pod, fallback), want{1337, 1337, inventory.IdentityIstioInit, inventory.IdentitySpec})
	})

	t.Run("cni_takes_the_proxy_container", func(t *testing.T) {
		check(t, inventory.FromPod(realPod(t, "hello.yaml.cni.injected"), fallback),
			want{1337, 1337, inventory.IdentitySpec, inventory.IdentitySpec})
	})

	t.Run("openshift_moved_proxy_uid", func(t *testing.T) {
		check(t, inventory.FromPod(realPod(t, "hello-openshift.yaml.injected"), fallback),
			want{1000629999, 1000629999, inventory.IdentitySpec, inventory.IdentitySpec})
	})

	t.Run("no_capture_init_takes_the_proxy_container", func(t *testing.T) {
		check(t, inventory.FromPod(realPod(t, "init-no-intercept-no-native-sidecar.yaml.injected"), fallback),
			want{1337, 1337, inventory.IdentitySpec, inventory.IdentitySpec})
	})

	t.Run("kubelet_reported_proxy_identity", func(t *testing.T) {
		pod := cleanPod(t)
		pod.Spec.InitContainers = pod.Spec.InitContainers[1:] // CNI: no istio-init
		pod.Annotations[sidecarStatus] = `{"initContainers":["istio-proxy"]}`
		pod.Status.InitContainerStatuses = pod.Status.InitContainerStatuses[1:]
		pod.Status.InitContainerStatuses[0].User.Linux.UID = 7777
		check(t, inventory.FromPod(pod, fallback), want{7777, 1337, inventory.IdentityKubelet, inventory.IdentityKubelet})
	})

	t.Run("fallback_when_the_pod_reveals_nothing", func(t *testing.T) {
		pod := withoutStatus(cleanPod(t))
		pod.Spec.InitContainers = pod.Spec.InitContainers[1:]
		pod.Annotations[sidecarStatus] = `{"initContainers":["istio-proxy"]}`
		specContainer(t, pod, "istio-proxy").SecurityContext = nil
		p := inventory.FromPod(pod, fallback)
		assert.True(t, p.Meshed)
		check(t, p, want{4242, 4343, inventory.IdentityFallback, inventory.IdentityFallback})
	})

	t.Run("untrusted_istio_init_args_are_ignored", func(t *testing.T) {
		pod := cleanPod(t)
		pod.Annotations[sidecarStatus] = `{"initContainers":["istio-proxy"]}`
		init := specContainer(t, pod, "istio-init")
		init.Args = []string{"istio-iptables", "-u", "5555"}
		check(t, inventory.FromPod(pod, fallback), want{1337, 1337, inventory.IdentityKubelet, inventory.IdentityKubelet})
	})

	for name, tc := range map[string]struct {
		args     []string
		uid, gid int64
	}{
		"separate_values":      {[]string{"istio-iptables", "-u", "2001", "-g", "2002"}, 2001, 2002},
		"gid_defaults_to_uid":  {[]string{"istio-iptables", "-u", "2001"}, 2001, 2001},
		"equals_forms":         {[]string{"istio-iptables", "-u=2001", "--proxy-gid=2002"}, 2001, 2002},
		"long_forms":           {[]string{"istio-iptables", "--proxy-uid", "2001", "--proxy-gid", "2002"}, 2001, 2002},
		"attached_short_value": {[]string{"istio-iptables", "-u2001", "-g2002"}, 2001, 2002},
		"lists_take_the_first": {[]string{"istio-iptables", "-u", "2001,0", "-g", "2002,3"}, 2001, 2002},
		"last_flag_wins":       {[]string{"istio-iptables", "-u", "1", "-u", "2001"}, 2001, 2001},
	} {
		t.Run("iptables_args/"+name, func(t *testing.T) {
			pod := withoutStatus(cleanPod(t))
			specContainer(t, pod, "istio-init").Args = tc.args
			check(t, inventory.FromPod(pod, fallback), want{tc.uid, tc.gid, inventory.IdentityIstioInit, inventory.IdentityIstioInit})
		})
	}

	for name, args := range map[string][]string{
		"dangling_flag": {"istio-iptables", "-u"},
		"not_a_number":  {"istio-iptables", "-u", "envoy"},
		"negative":      {"istio-iptables", "-u", "-5"},
		"absent":        {"istio-iptables", "-p", "15001"},
	} {
		t.Run("iptables_args_unusable/"+name, func(t *testing.T) {
			pod := withoutStatus(cleanPod(t))
			specContainer(t, pod, "istio-init").Args = args
			// Falls through to the proxy container's own securityContext.
			check(t, inventory.FromPod(pod, fallback), want{1337, 1337, inventory.IdentitySpec, inventory.IdentitySpec})
		})
	}
}

func TestFromPodController(t *testing.T) {
	owner := func(kind, name string, controller bool) metav1.OwnerReference {
		return metav1.OwnerReference{APIVersion: "apps/v1", Kind: kind, Name: name, UID: "u", Controller: &controller}
	}
	for name, tc := range map[string]struct {
		refs   []metav1.OwnerReference
		labels map[string]string
		want   inventory.Controller
	}{
		"deployment_via_replicaset": {
			[]metav1.OwnerReference{owner("ReplicaSet", "payments-6d8f9c7b5d", true)},
			map[string]string{"pod-template-hash": "6d8f9c7b5d"},
			inventory.Controller{Kind: inventory.KindDeployment, Name: "payments"},
		},
		"replicaset_without_template_hash": {
			[]metav1.OwnerReference{owner("ReplicaSet", "payments-6d8f9c7b5d", true)},
			nil,
			inventory.Controller{Kind: inventory.KindReplicaSet, Name: "payments-6d8f9c7b5d"},
		},
		"replicaset_hash_not_its_suffix": {
			[]metav1.OwnerReference{owner("ReplicaSet", "payments", true)},
			map[string]string{"pod-template-hash": "payments"},
			inventory.Controller{Kind: inventory.KindReplicaSet, Name: "payments"},
		},
		"statefulset": {
			[]metav1.OwnerReference{owner("StatefulSet", "ledger", true)},
			map[string]string{"controller-revision-hash": "ledger-5b9c"},
			inventory.Controller{Kind: inventory.KindStatefulSet, Name: "ledger"},
		},
		"daemonset": {
			[]metav1.OwnerReference{owner("DaemonSet", "node-agent", true)},
			nil,
			inventory.Controller{Kind: inventory.KindDaemonSet, Name: "node-agent"},
		},
		"job": {
			[]metav1.OwnerReference{owner("Job", "train-model-run-42", true)},
			nil,
			inventory.Controller{Kind: inventory.KindJob, Name: "train-model-run-42"},
		},
		"cronjob_via_job_name": {
			[]metav1.OwnerReference{owner("Job", "nightly-backup-29381520", true)},
			nil,
			inventory.Controller{Kind: inventory.KindCronJob, Name: "nightly-backup"},
		},
		"operator_owned": {
			[]metav1.OwnerReference{owner("Rollout", "checkout", true)},
			nil,
			inventory.Controller{Kind: "Rollout", Name: "checkout"},
		},
		"static_pod_mirror": {
			[]metav1.OwnerReference{owner("Node", "worker-1", true)},
			nil,
			inventory.Controller{},
		},
		"non_controller_owner_ignored": {
			[]metav1.OwnerReference{owner("ConfigMap", "x", false), owner("StatefulSet", "ledger", true)},
			nil,
			inventory.Controller{Kind: inventory.KindStatefulSet, Name: "ledger"},
		},
		"no_owner": {nil, nil, inventory.Controller{}},
	} {
		t.Run(name, func(t *testing.T) {
			pod := cleanPod(t)
			pod.OwnerReferences = tc.refs
			pod.Labels = tc.labels
			assert.Equal(t, tc.want, inventory.FromPod(pod, fallback).Controller)
		})
	}
}

func TestFromPodAddresses(t *testing.T) {
	t.Run("dual_stack_pod_ips", func(t *testing.T) {
		pod := cleanPod(t)
		pod.Status.PodIPs = []corev1.PodIP{{IP: "10.244.1.23"}, {IP: "fd00:10:244:1::17"}}
		assert.Equal(t, []string{"10.244.1.23", "fd00:10:244:1::17"}, inventory.FromPod(pod, fallback).IPs)
	})
	t.Run("pod_ip_without_pod_ips", func(t *testing.T) {
		pod := cleanPod(t)
		pod.Status.PodIPs = nil
		assert.Equal(t, []string{"10.244.1.23"}, inventory.FromPod(pod, fallback).IPs)
	})
	t.Run("pending_pod_has_none", func(t *testing.T) {
		assert.Empty(t, inventory.FromPod(withoutStatus(cleanPod(t)), fallback).IPs)
	})
	t.Run("host_network", func(t *testing.T) {
		p := inventory.FromPod(realPod(t, "hello-host-network.yaml.injected"), fallback)
		assert.True(t, p.HostNetwork)
		assert.False(t, p.Meshed)
	})
}
