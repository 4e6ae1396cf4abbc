package rules_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/inventory/inventorytest"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

var ctx = rules.PodContext{Cluster: "prod-eu-1"}

func cleanPod(t testing.TB) *corev1.Pod {
	t.Helper()
	return inventorytest.LoadPod(t, inventorytest.Testdata("pods", "clean-deployment-pod.yaml"))
}

func realPod(t testing.TB, file string) *corev1.Pod {
	t.Helper()
	return inventorytest.LoadPod(t, inventorytest.Testdata("real", "istio", "inject", file))
}

// specOnly drops the kubelet's report, so the spec alone decides.
func specOnly(p *corev1.Pod) *corev1.Pod {
	p.Status.ContainerStatuses = nil
	p.Status.InitContainerStatuses = nil
	p.Status.EphemeralContainerStatuses = nil
	return p
}

func specContainer(t testing.TB, p *corev1.Pod, name string) *corev1.Container {
	t.Helper()
	for _, list := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	t.Fatalf("pod has no container %q", name)
	return nil
}

func i64(v int64) *int64 { return &v }

func check(t testing.TB, p *corev1.Pod) []findings.Finding {
	t.Helper()
	return rules.AppUID1337{}.CheckPod(inventory.FromPod(p, inventory.DefaultProxyIdentity()), ctx)
}

func containersOf(fs []findings.Finding) []string {
	var names []string
	for _, f := range fs {
		names = append(names, f.Container)
	}
	return names
}

func evidence(t testing.TB, f findings.Finding) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, e := range f.Evidence {
		switch {
		case e.IsInt():
			out[e.Name] = e.Int
		case e.IsList():
			out[e.Name] = e.List
		default:
			out[e.Name] = e.Str
		}
	}
	return out
}

func TestAppUID1337(t *testing.T) {
	t.Run("clean_deployment_pod_is_clean", func(t *testing.T) {
		assert.Empty(t, check(t, cleanPod(t)))
	})

	t.Run("pod_level_uid_inherited_by_app_container", func(t *testing.T) {
		pod := specOnly(cleanPod(t))
		pod.Spec.SecurityContext.RunAsUser = i64(1337)
		pod.Spec.SecurityContext.RunAsGroup = i64(1337)
		specContainer(t, pod, "payments").SecurityContext.RunAsUser = nil
		fs := check(t, pod)
		require.Equal(t, []string{"payments"}, containersOf(fs))
		assert.Equal(t, map[string]any{
			"uid": int64(1337), "uid_source": "pod_security_context", "container_kind": "container",
			"proxy_uid_source": "istio_init_args",
		}, evidence(t, fs[0]))
	})

	t.Run("container_level_uid", func(t *testing.T) {
		pod := specOnly(cleanPod(t))
		specContainer(t, pod, "payments").SecurityContext.RunAsUser = i64(1337)
		fs := check(t, pod)
		require.Len(t, fs, 1)
		f := fs[0]
		assert.Equal(t, "app_uid_1337", f.Rule.ID)
		assert.Equal(t, "prod-eu-1", f.Cluster)
		assert.Equal(t, findings.Subject{Kind: findings.KindDeployment, Name: "payments", Namespace: "shop"}, f.Subject)
		assert.Equal(t, "payments-6d8f9c7b5d-q2xlm", f.PodName)
		assert.Equal(t, "5b0e2f8a-3c1d-4e7a-9f62-81d4c0a7b913", f.PodUID)
		assert.Equal(t, []string{"payments-6d8f9c7b5d-q2xlm"}, f.Pods)
		assert.Equal(t, "payments", f.Container)
		assert.Equal(t, "payments", f.EvidenceKey)
		assert.Equal(t, `Container "payments" of deployment/payments in namespace shop runs as UID 1337, the Istio proxy's UID: `+
			`iptables exempts its traffic from the sidecar, so it bypasses mTLS, authorization policy and telemetry.`, f.Summary)
		assert.Equal(t, map[string]any{
			"uid": int64(1337), "uid_source": "container_security_context", "container_kind": "container",
			"proxy_uid_source": "istio_init_args",
		}, evidence(t, f))
	})

	t.Run("init_container_as_1337", func(t *testing.T) {
		pod := specOnly(cleanPod(t))
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{
			Name: "fetch-schema", Image: "docker.io/curlimages/curl:8.10.1",
			SecurityContext: &corev1.SecurityContext{RunAsUser: i64(1337)},
		})
		fs := check(t, pod)
		require.Equal(t, []string{"fetch-schema"}, containersOf(fs))
		assert.Equal(t, "init_container", evidence(t, fs[0])["container_kind"])
		assert.True(t, strings.HasPrefix(fs[0].Summary, `Init container "fetch-schema" of deployment/payments`), fs[0].Summary)
	})

	t.Run("ephemeral_container_as_1337", func(t *testing.T) {
		pod := specOnly(cleanPod(t))
		pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debugger-7x2k", Image: "docker.io/nicolaka/netshoot:v0.13",
				SecurityContext: &corev1.SecurityContext{RunAsUser: i64(1337)},
			},
			TargetContainerName: "payments",
		}}
		fs := check(t, pod)
		require.Equal(t, []string{"debugger-7x2k"}, containersOf(fs))
		assert.Equal(t, "ephemeral_container", evidence(t, fs[0])["container_kind"])
		assert.True(t, strings.HasPrefix(fs[0].Summary, `Ephemeral container "debugger-7x2k"`), fs[0].Summary)
	})

	t.Run("kubelet_reported_uid_wins_over_spec", func(t *testing.T) {
		// The image's USER is 1337 and the spec says nothing: only the kubelet knows.
		pod := cleanPod(t)
		specContainer(t, pod, "payments").SecurityContext.RunAsUser = nil
		pod.Status.ContainerStatuses[0].User.Linux.UID = 1337
		fs := check(t, pod)
		require.Equal(t, []string{"payments"}, containersOf(fs))
		assert.Equal(t, "container_status", evidence(t, fs[0])["uid_source"])

		// And the other way round: what the process really runs as decides.
		pod = cleanPod(t)
		specContainer(t, pod, "payments").SecurityContext.RunAsUser = i64(1337)
		assert.Empty(t, check(t, pod), "kubelet reports 10001")
	})

	t.Run("pod_level_1337_overridden_per_container_is_clean", func(t *testing.T) {
		pod := specOnly(cleanPod(t))
		pod.Spec.SecurityContext.RunAsUser = i64(1337)
		pod.Spec.SecurityContext.RunAsGroup = i64(1337)
		assert.Empty(t, check(t, pod), "payments sets 10001, istio-init 0, istio-proxy is the proxy")
	})

	t.Run("unknown_uid_is_not_evidence", func(t *testing.T) {
		pod := specOnly(cleanPod(t))
		specContainer(t, pod, "payments").SecurityContext = nil
		assert.Empty(t, check(t, pod))
	})

	t.Run("unmeshed_pod_is_clean", func(t *testing.T) {
		pod := cleanPod(t)
		delete(pod.Annotations, "sidecar.istio.io/status")
		specContainer(t, pod, "payments").SecurityContext.RunAsUser = i64(1337)
		pod.Status.ContainerStatuses[0].User.Linux.UID = 1337
		assert.False(t, inventory.FromPod(pod, inventory.DefaultProxyIdentity()).Meshed)
		assert.Empty(t, check(t, pod))
	})

	t.Run("container_named_istio_proxy_without_annotation_is_not_trusted", func(t *testing.T) {
		// Nothing in the pod says Istio injected it: no container is the proxy, the pod is
		// not meshed, and a UID-1337 container there bypasses nothing (missing_sidecar's case).
		pod := cleanPod(t)
		delete(pod.Annotations, "sidecar.istio.io/status")
		p := inventory.FromPod(pod, inventory.DefaultProxyIdentity())
		for _, c := range p.Containers {
			assert.False(t, c.Proxy, c.Name)
		}
		assert.False(t, p.Meshed)

		// Named in the annotation but running a foreign image: not the proxy either.
		pod = cleanPod(t)
		specContainer(t, pod, "istio-proxy").Image = "ghcr.io/attacker/istio-proxy:1.28.0"
		p = inventory.FromPod(pod, inventory.DefaultProxyIdentity())
		assert.False(t, p.Meshed)
	})

	t.Run("container_named_istio_init_outside_annotation_is_checked", func(t *testing.T) {
		// A CNI pod (istio-validation, no istio-init) with an extra init container that merely
		// borrows Istio's name and image.
		pod := realPod(t, "hello.yaml.cni.injected")
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{
			Name: "istio-init", Image: "docker.io/istio/proxyv2:1.28.0",
			SecurityContext: &corev1.SecurityContext{RunAsUser: i64(1337)},
		})
		assert.Equal(t, []string{"istio-init"}, containersOf(check(t, pod)))
	})

	t.Run("pod_labelled_istio_is_still_checked", func(t *testing.T) {
		pod := specOnly(cleanPod(t))
		pod.Labels["app"] = "istio-proxy"
		pod.Labels["istio"] = "sidecar"
		pod.Labels["sidecar.istio.io/inject"] = "true"
		pod.Annotations["sidecar.istio.io/inject"] = "true"
		specContainer(t, pod, "payments").SecurityContext.RunAsUser = i64(1337)
		assert.Equal(t, []string{"payments"}, containersOf(check(t, pod)))
	})

	t.Run("statefulset_and_job_owned_pods_name_their_controller", func(t *testing.T) {
		ownedBy := func(kind, name string) *corev1.Pod {
			pod := specOnly(cleanPod(t))
			delete(pod.Labels, "pod-template-hash")
			pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, Controller: func() *bool { b := true; return &b }()}}
			specContainer(t, pod, "payments").SecurityContext.RunAsUser = i64(1337)
			return pod
		}
		for _, tc := range []struct {
			pod      *corev1.Pod
			subject  findings.Subject
			workload string
		}{
			{ownedBy("StatefulSet", "ledger"), findings.Subject{Kind: findings.KindStatefulSet, Name: "ledger", Namespace: "shop"}, "statefulset/ledger"},
			{ownedBy("DaemonSet", "node-agent"), findings.Subject{Kind: findings.KindDaemonSet, Name: "node-agent", Namespace: "shop"}, "daemonset/node-agent"},
			{ownedBy("Job", "reindex"), findings.Subject{Kind: findings.KindJob, Name: "reindex", Namespace: "shop"}, "job/reindex"},
			{ownedBy("Job", "nightly-backup-29381520"), findings.Subject{Kind: findings.KindCronJob, Name: "nightly-backup", Namespace: "shop"}, "cronjob/nightly-backup"},
			{ownedBy("ReplicaSet", "payments-legacy"), findings.Subject{Kind: findings.KindReplicaSet, Name: "payments-legacy", Namespace: "shop"}, "replicaset/payments-legacy"},
			{ownedBy("Node", "worker-1"), findings.Subject{Kind: findings.KindPod, Name: "payments-6d8f9c7b5d-q2xlm", Namespace: "shop"}, "pod/payments-6d8f9c7b5d-q2xlm"},
		} {
			fs := check(t, tc.pod)
			require.Len(t, fs, 1, tc.workload)
			assert.Equal(t, tc.subject, fs[0].Subject, tc.workload)
			assert.Equal(t, tc.workload, fs[0].Subject.Workload())
			assert.Contains(t, fs[0].Summary, " of "+tc.workload+" in namespace shop ")
		}
	})

	t.Run("sapwned_job_fixture", func(t *testing.T) {
		pod := inventorytest.LoadPod(t, inventorytest.Testdata("pods", "sapwned-job-uid-1337.yaml"))
		fs := check(t, pod)
		require.Len(t, fs, 1)
		f := fs[0]
		assert.Equal(t, findings.Subject{Kind: findings.KindJob, Name: "train-model-run-42", Namespace: "ai-workloads"}, f.Subject)
		assert.Equal(t, "trainer", f.Container)
		assert.Equal(t, "train-model-run-42-x7k2p", f.PodName)
		assert.Equal(t, `Container "trainer" of job/train-model-run-42 in namespace ai-workloads runs as UID 1337, the Istio proxy's UID: `+
			`iptables exempts its traffic from the sidecar, so it bypasses mTLS, authorization policy and telemetry.`, f.Summary)
		assert.Equal(t, map[string]any{
			"uid": int64(1337), "uid_source": "container_status", "container_kind": "container", "proxy_uid_source": "istio_init_args",
		}, evidence(t, f))
	})

	t.Run("istio_validation_as_1337_is_clean", func(t *testing.T) {
		pod := realPod(t, "hello.yaml.cni.injected")
		p := inventory.FromPod(pod, inventory.DefaultProxyIdentity())
		validation := p.Containers[slices.IndexFunc(p.Containers, func(c inventory.Container) bool { return c.Name == "istio-validation" })]
		require.Equal(t, int64(1337), *validation.UID)
		assert.True(t, validation.Proxy)
		assert.Empty(t, check(t, pod))
	})

	t.Run("tproxy_proxy_uid0_gid1337_app_as_1337", func(t *testing.T) {
		// TPROXY runs istio-proxy as UID 0 / GID 1337, but istio-init still installs
		// --uid-owner 1337 (testdata/real/istio/iptables/tproxy.golden): an app as UID 1337
		// bypasses capture there too, while an app as root does not.
		pod := realPod(t, "hello-tproxy.yaml.injected")
		assert.Empty(t, check(t, pod), "the root istio-proxy is the proxy")

		specContainer(t, pod, "hello").SecurityContext = &corev1.SecurityContext{RunAsUser: i64(1337)}
		fs := check(t, pod)
		require.Equal(t, []string{"hello"}, containersOf(fs))
		assert.Equal(t, "istio_init_args", evidence(t, fs[0])["proxy_uid_source"])

		specContainer(t, pod, "hello").SecurityContext = &corev1.SecurityContext{RunAsUser: i64(0)}
		assert.Empty(t, check(t, pod), "UID 0 is not what the rules exempt")
	})

	t.Run("openshift_moved_proxy_uid", func(t *testing.T) {
		pod := realPod(t, "hello-openshift.yaml.injected")
		proxyUID := *specContainer(t, pod, "istio-proxy").SecurityContext.RunAsUser
		require.Equal(t, int64(1000629999), proxyUID)

		specContainer(t, pod, "hello").SecurityContext = &corev1.SecurityContext{RunAsUser: i64(proxyUID)}
		fs := check(t, pod)
		require.Equal(t, []string{"hello"}, containersOf(fs))
		assert.Contains(t, fs[0].Summary, "runs as UID 1000629999, the Istio proxy's UID")
		assert.Equal(t, "container_security_context", evidence(t, fs[0])["proxy_uid_source"])

		specContainer(t, pod, "hello").SecurityContext = &corev1.SecurityContext{RunAsUser: i64(1337)}
		assert.Empty(t, check(t, pod), "1337 is not exempt when the proxy runs as another UID")
	})

	t.Run("one_finding_per_container", func(t *testing.T) {
		pod := specOnly(cleanPod(t))
		pod.Spec.SecurityContext.RunAsUser = i64(1337)
		specContainer(t, pod, "payments").SecurityContext.RunAsUser = nil
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "worker", Image: "ghcr.io/example/payments:2.4.1"})
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{Name: "migrate", Image: "ghcr.io/example/payments:2.4.1"})
		fs := check(t, pod)
		assert.ElementsMatch(t, []string{"migrate", "payments", "worker"}, containersOf(fs))
		fps := map[string]bool{}
		for _, f := range fs {
			fps[f.Fingerprint()] = true
		}
		assert.Len(t, fps, 3, "distinct fingerprints per container")
	})

	t.Run("fingerprint_survives_a_rollout", func(t *testing.T) {
		a := specOnly(cleanPod(t))
		specContainer(t, a, "payments").SecurityContext.RunAsUser = i64(1337)
		b := a.DeepCopy()
		b.Name, b.UID = "payments-5f7c9d8b6e-zz9qp", "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
		b.Labels["pod-template-hash"] = "5f7c9d8b6e"
		b.OwnerReferences[0].Name = "payments-5f7c9d8b6e"
		fa, fb := check(t, a), check(t, b)
		require.Len(t, fa, 1)
		require.Len(t, fb, 1)
		assert.Equal(t, fa[0].Fingerprint(), fb[0].Fingerprint())
		assert.NotEqual(t, fa[0].PodName, fb[0].PodName)
	})

	t.Run("findings_carry_no_secrets", func(t *testing.T) {
		const secret = "s3cr3t-db-password-do-not-leak"
		pod := specOnly(cleanPod(t))
		app := specContainer(t, pod, "payments")
		app.SecurityContext.RunAsUser = i64(1337)
		app.Env = []corev1.EnvVar{{Name: "DB_PASSWORD", Value: secret}}
		app.Args = []string{"--token=" + secret}
		pod.Annotations["example.com/config"] = secret
		pod.Labels["leak"] = secret
		fs := check(t, pod)
		require.Len(t, fs, 1)
		assert.NotContains(t, fmt.Sprintf("%+v", fs[0]), secret)
	})

	t.Run("nil_pod", func(t *testing.T) {
		assert.Empty(t, rules.AppUID1337{}.CheckPod(nil, ctx))
	})
}

func TestAppUID1337Rule(t *testing.T) {
	r := rules.AppUID1337{}.Rule()
	assert.Equal(t, "app_uid_1337", r.ID)
	assert.Equal(t, "INS-0001", r.Code)
	assert.Equal(t, "Application container runs as the proxy UID", r.Title)
	assert.Equal(t, "capture_bypass", r.Category)
	assert.Equal(t, findings.SeverityCritical, r.Severity)
	assert.Equal(t, findings.RuleUUID("app_uid_1337"), r.UUID)
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, r.UUID)
	assert.Equal(t, "https://github.com/meshinsights/otelcol-insights#app_uid_1337", r.Reference)
	for _, must := range []string{"runAsUser", "traffic.sidecar.istio.io/excludeOutboundIPRanges", "native sidecar", "ValidatingAdmissionPolicy", "runAsUser != 1337"} {
		assert.Contains(t, r.Remediation, must)
	}
}

// TestAppUID1337RealInjectorOutput: Istio's own injector output never runs an application
// container as the proxy's UID or GID, so neither rule may fire on any of it; and the model
// must read each injected pod's proxy identity off the pod itself. (What every rule reports
// on each fixture is in TestRealInjectorOutput.)
func TestAppUID1337RealInjectorOutput(t *testing.T) {
	files, err := filepath.Glob(inventorytest.Testdata("real", "istio", "inject", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	uidArg := regexp.MustCompile(`^[0-9]+$`)

	pods := 0
	for _, file := range files {
		for _, pod := range inventorytest.LoadPods(t, file) {
			pods++
			name := filepath.Base(file) + ":" + pod.Name
			p := inventory.FromPod(pod, inventory.ProxyIdentity{UID: 4242, GID: 4343})
			for _, rule := range []rules.PodRule{rules.AppUID1337{}, rules.AppGID1337{}} {
				assert.Empty(t, rule.CheckPod(p, ctx), "%s: %s", name, rule.Rule().ID)
			}

			var status struct{ Containers, InitContainers []string }
			if a, ok := pod.Annotations["sidecar.istio.io/status"]; ok {
				require.NoError(t, json.Unmarshal([]byte(a), &status), name)
			}
			if !slices.Contains(append(status.Containers, status.InitContainers...), "istio-proxy") {
				assert.False(t, p.Meshed, name)
				continue
			}
			assert.True(t, p.Meshed, name)
			sc := specContainer(t, pod, "istio-proxy").SecurityContext
			wantUID, wantGID := *sc.RunAsUser, *sc.RunAsGroup
			if wantUID == 0 {
				// TPROXY: the root proxy is exempted by GID; istio-init's -u stays the exempt UID.
				init := specContainer(t, pod, "istio-init")
				i := slices.Index(init.Args, "-u")
				require.True(t, i >= 0 && uidArg.MatchString(init.Args[i+1]), name)
				wantUID, _ = strconv.ParseInt(init.Args[i+1], 10, 64)
				assert.Equal(t, int64(1337), wantUID, name)
			}
			assert.Equal(t, wantUID, p.ProxyUID, name)
			assert.Equal(t, wantGID, p.ProxyGID, name)
			assert.NotEqual(t, inventory.IdentityFallback, p.ProxyUIDSource, name)
		}
	}
	assert.GreaterOrEqual(t, pods, len(files))
}
