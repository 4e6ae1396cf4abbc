package inventory_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/inventory/inventorytest"
)

// informerSecret is planted in env values, args and annotations of test pods: no cached
// object and no delivered event may contain it.
const informerSecret = "s3cr3t-db-password-value"

const informerWait = 10 * time.Second

// informerRecorder collects the events an InformerSource delivers.
type informerRecorder struct {
	mu     sync.Mutex
	events []inventory.ObjectEvent
	// concurrent counts handler calls that overlapped another (there must be none).
	inFlight, concurrent atomic.Int32
}

func (r *informerRecorder) handle(ev inventory.ObjectEvent) {
	if r.inFlight.Add(1) > 1 {
		r.concurrent.Add(1)
	}
	defer r.inFlight.Add(-1)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *informerRecorder) snapshot() []inventory.ObjectEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]inventory.ObjectEvent(nil), r.events...)
}

// waitPod waits for an event of type t about pod namespace/name and returns it.
func (r *informerRecorder) waitPod(t *testing.T, typ inventory.EventType, namespace, name string) inventory.ObjectEvent {
	t.Helper()
	var found inventory.ObjectEvent
	require.Eventually(t, func() bool {
		for _, ev := range r.snapshot() {
			if ev.Type == typ && ev.Pod != nil && ev.Pod.Namespace == namespace && ev.Pod.Name == name {
				found = ev
				return true
			}
		}
		return false
	}, informerWait, 10*time.Millisecond, "no %s event for pod %s/%s; got %v", typ, namespace, name, r.summary())
	return found
}

func (r *informerRecorder) waitNamespace(t *testing.T, typ inventory.EventType, name string) inventory.ObjectEvent {
	t.Helper()
	var found inventory.ObjectEvent
	require.Eventually(t, func() bool {
		for _, ev := range r.snapshot() {
			if ev.Type == typ && ev.Namespace != nil && ev.Namespace.Name == name {
				found = ev
				return true
			}
		}
		return false
	}, informerWait, 10*time.Millisecond, "no %s event for namespace %s; got %v", typ, name, r.summary())
	return found
}

func (r *informerRecorder) hasPod(namespace, name string) bool {
	for _, ev := range r.snapshot() {
		if ev.Pod != nil && ev.Pod.Namespace == namespace && ev.Pod.Name == name {
			return true
		}
	}
	return false
}

func (r *informerRecorder) summary() []string {
	var out []string
	for _, ev := range r.snapshot() {
		switch {
		case ev.Pod != nil:
			out = append(out, string(ev.Type)+" pod "+ev.Pod.Namespace+"/"+ev.Pod.Name)
		case ev.Namespace != nil:
			out = append(out, string(ev.Type)+" namespace "+ev.Namespace.Name)
		}
	}
	return out
}

// informerSecretPod is the SAPwned fixture pod with a secret planted where real pods carry them.
func informerSecretPod(t *testing.T) *corev1.Pod {
	t.Helper()
	pod := inventorytest.LoadPod(t, inventorytest.Testdata("pods", "sapwned-job-uid-1337.yaml"))
	pod.ResourceVersion = ""
	pod.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate,
		FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:containers":{}}}`)}}}
	pod.Annotations["kubectl.kubernetes.io/last-applied-configuration"] = `{"env":[{"name":"DB_PASSWORD","value":"` + informerSecret + `"}]}`
	app := &pod.Spec.Containers[0]
	app.Env = append(app.Env, corev1.EnvVar{Name: "DB_PASSWORD", Value: informerSecret})
	app.Args = append(app.Args, "--password="+informerSecret)
	proxy := &pod.Spec.InitContainers[1]
	proxy.Env = append(proxy.Env, corev1.EnvVar{Name: "TOKEN", Value: informerSecret})
	return pod
}

// informerAssertNoSecrets fails when a stripped pod still carries env, managed fields or the
// planted secret anywhere.
func informerAssertNoSecrets(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	assert.Empty(t, pod.ManagedFields)
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			assert.Empty(t, c.Env, c.Name)
			assert.Empty(t, c.EnvFrom, c.Name)
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		assert.Empty(t, c.Env, c.Name)
	}
	js, err := json.Marshal(pod)
	require.NoError(t, err)
	assert.NotContains(t, string(js), informerSecret)
}

func informerStart(t *testing.T, client *fake.Clientset, opts inventory.InformerOptions, index *inventory.IPIndex) (*inventory.InformerSource, *informerRecorder) {
	t.Helper()
	rec := &informerRecorder{}
	src, err := inventory.NewInformerSource(client, opts, rec.handle, index)
	require.NoError(t, err)
	require.NoError(t, src.Start(context.Background()))
	t.Cleanup(src.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), informerWait)
	defer cancel()
	require.True(t, src.WaitForSync(ctx), "informers did not sync")
	return src, rec
}

func TestInformerSource(t *testing.T) {
	t.Run("pod_added_modified_deleted", func(t *testing.T) {
		client := fake.NewClientset()
		src, rec := informerStart(t, client, inventory.InformerOptions{NodeName: "worker-2"}, nil)
		ctx := context.Background()

		pod := informerSecretPod(t)
		_, err := client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
		require.NoError(t, err)
		added := rec.waitPod(t, inventory.EventAdded, pod.Namespace, pod.Name)
		informerAssertNoSecrets(t, added.Pod)
		assert.True(t, inventory.FromPod(added.Pod, inventory.DefaultProxyIdentity()).Meshed)

		cached, ok := src.CachedPod(pod.Namespace, pod.Name)
		require.True(t, ok)
		informerAssertNoSecrets(t, cached)

		updated := pod.DeepCopy()
		updated.Labels["service.istio.io/canonical-revision"] = "v2"
		_, err = client.CoreV1().Pods(pod.Namespace).Update(ctx, updated, metav1.UpdateOptions{})
		require.NoError(t, err)
		modified := rec.waitPod(t, inventory.EventModified, pod.Namespace, pod.Name)
		assert.Equal(t, "v2", modified.Pod.Labels["service.istio.io/canonical-revision"])
		assert.NotContains(t, modified.Pod.Labels, "app", "labels nobody reads are stripped")

		require.NoError(t, client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{}))
		rec.waitPod(t, inventory.EventDeleted, pod.Namespace, pod.Name)
		_, ok = src.CachedPod(pod.Namespace, pod.Name)
		assert.False(t, ok)
		assert.Zero(t, rec.concurrent.Load(), "handler calls overlapped")
	})

	t.Run("namespace_added_modified_deleted", func(t *testing.T) {
		client := fake.NewClientset()
		src, rec := informerStart(t, client, inventory.InformerOptions{NodeName: "worker-2"}, nil)
		ctx := context.Background()

		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop",
			Labels:      map[string]string{"istio-injection": "enabled", "team": "payments"},
			Annotations: map[string]string{"owner": "someone@example.com"}}}
		_, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
		require.NoError(t, err)
		added := rec.waitNamespace(t, inventory.EventAdded, "shop")
		assert.Equal(t, map[string]string{"istio-injection": "enabled"}, added.Namespace.Labels)
		assert.Empty(t, added.Namespace.Annotations)
		assert.True(t, inventory.FromNamespace(added.Namespace).InjectionEnabled())
		_, ok := src.CachedNamespace("shop")
		assert.True(t, ok)

		ns.Labels = map[string]string{"istio.io/rev": "canary"}
		_, err = client.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{})
		require.NoError(t, err)
		modified := rec.waitNamespace(t, inventory.EventModified, "shop")
		assert.Equal(t, inventory.InjectionRevision, inventory.FromNamespace(modified.Namespace).Injection)

		require.NoError(t, client.CoreV1().Namespaces().Delete(ctx, "shop", metav1.DeleteOptions{}))
		rec.waitNamespace(t, inventory.EventDeleted, "shop")
	})

	t.Run("initial_list_is_delivered_as_added", func(t *testing.T) {
		pod := informerSecretPod(t)
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: pod.Namespace, Labels: map[string]string{"istio-injection": "enabled"}}}
		client := fake.NewClientset(ns, pod)
		_, rec := informerStart(t, client, inventory.InformerOptions{NodeName: "worker-2"}, nil)
		rec.waitNamespace(t, inventory.EventAdded, pod.Namespace)
		rec.waitPod(t, inventory.EventAdded, pod.Namespace, pod.Name)
	})

	t.Run("node_filter_is_a_field_selector_and_the_index_sees_every_pod", func(t *testing.T) {
		here := informerSecretPod(t)
		there := informerSecretPod(t)
		there.Name, there.UID, there.Spec.NodeName = "train-elsewhere", "uid-elsewhere", "worker-9"
		there.Status.PodIP, there.Status.PodIPs = "10.244.9.3", []corev1.PodIP{{IP: "10.244.9.3"}}
		client := fake.NewClientset()
		// The fake ignores field selectors; it answers as the apiserver would.
		client.PrependReactor("list", "pods", func(action clienttesting.Action) (bool, runtime.Object, error) {
			sel := action.(clienttesting.ListAction).GetListRestrictions().Fields
			list := &corev1.PodList{}
			for _, p := range []*corev1.Pod{here, there} {
				if sel.Matches(fields.Set{"spec.nodeName": p.Spec.NodeName}) {
					list.Items = append(list.Items, *p.DeepCopy())
				}
			}
			return true, list, nil
		})
		index := inventory.NewIPIndex(inventory.IPIndexOptions{})
		_, rec := informerStart(t, client, inventory.InformerOptions{NodeName: "worker-2"}, index)

		rec.waitPod(t, inventory.EventAdded, here.Namespace, here.Name)
		assert.False(t, rec.hasPod(there.Namespace, there.Name), "a pod of another node reached the handler")
		ref, ok := index.Lookup("10.244.9.3", time.Time{})
		require.True(t, ok, "the IP index is cluster-wide")
		assert.Equal(t, inventory.PodRef{Namespace: there.Namespace, Name: there.Name, UID: "uid-elsewhere", NodeName: "worker-9",
			Controller: inventory.Controller{Kind: "Job", Name: "train-model-run-42"}, Meshed: true}, ref)
		_, ok = index.Lookup(here.Status.PodIP, time.Time{})
		assert.True(t, ok)

		var nodeLists, indexLists, nodeWatches int
		for _, a := range client.Actions() {
			if a.GetResource().Resource != "pods" {
				continue
			}
			switch a := a.(type) {
			case clienttesting.ListAction:
				switch a.GetListRestrictions().Fields.String() {
				case "spec.nodeName=worker-2":
					nodeLists++
				case "":
					indexLists++
				}
			case clienttesting.WatchAction:
				if a.GetWatchRestrictions().Fields.String() == "spec.nodeName=worker-2" {
					nodeWatches++
				}
			}
		}
		assert.Positive(t, nodeLists)
		assert.Positive(t, nodeWatches)
		assert.Positive(t, indexLists)
	})

	t.Run("no_node_name_watches_every_pod", func(t *testing.T) {
		client := fake.NewClientset()
		informerStart(t, client, inventory.InformerOptions{}, nil)
		for _, a := range client.Actions() {
			if l, ok := a.(clienttesting.ListAction); ok && a.GetResource().Resource == "pods" {
				assert.Empty(t, l.GetListRestrictions().Fields.String())
			}
		}
	})

	t.Run("deletion_missed_by_the_watch_arrives_as_a_tombstone", func(t *testing.T) {
		pod := informerSecretPod(t)
		client := fake.NewClientset(pod)
		// The node informer's first watch is ours: it never reports the deletion, then
		// expires (410 Gone), so the informer relists and finds the pod gone.
		firstWatch := watch.NewFake()
		var taken atomic.Bool
		client.PrependWatchReactor("pods", func(action clienttesting.Action) (bool, watch.Interface, error) {
			if action.(clienttesting.WatchAction).GetWatchRestrictions().Fields.String() != "spec.nodeName=worker-2" || !taken.CompareAndSwap(false, true) {
				return false, nil, nil
			}
			return true, firstWatch, nil
		})
		_, rec := informerStart(t, client, inventory.InformerOptions{NodeName: "worker-2"}, nil)
		rec.waitPod(t, inventory.EventAdded, pod.Namespace, pod.Name)
		require.Eventually(t, taken.Load, informerWait, 10*time.Millisecond)

		gvr := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
		require.NoError(t, client.Tracker().Delete(gvr, pod.Namespace, pod.Name))
		gone := apierrors.NewResourceExpired("too old resource version").ErrStatus
		firstWatch.Error(&gone)

		deleted := rec.waitPod(t, inventory.EventDeleted, pod.Namespace, pod.Name)
		assert.Equal(t, pod.UID, deleted.Pod.UID, "the tombstone carries the last cached state")
		informerAssertNoSecrets(t, deleted.Pod)
	})

	t.Run("list_errors_are_logged", func(t *testing.T) {
		client := fake.NewClientset()
		client.PrependReactor("list", "namespaces", func(clienttesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "", assert.AnError)
		})
		core, logs := observer.New(zap.WarnLevel)
		src, err := inventory.NewInformerSource(client, inventory.InformerOptions{Logger: zap.New(core)}, func(inventory.ObjectEvent) {}, nil)
		require.NoError(t, err)
		require.NoError(t, src.Start(context.Background()))
		defer src.Shutdown()
		require.Eventually(t, func() bool { return logs.FilterMessageSnippet("list failed").Len() > 0 }, informerWait, 10*time.Millisecond)
		assert.False(t, src.HasSynced())
	})

	t.Run("start_and_shutdown", func(t *testing.T) {
		client := fake.NewClientset()
		rec := &informerRecorder{}
		src, err := inventory.NewInformerSource(client, inventory.InformerOptions{}, rec.handle, inventory.NewIPIndex(inventory.IPIndexOptions{}))
		require.NoError(t, err)
		src.Shutdown() // without Start
		src.Shutdown()
		assert.Error(t, src.Start(context.Background()), "start after shutdown")

		src, err = inventory.NewInformerSource(client, inventory.InformerOptions{}, rec.handle, nil)
		require.NoError(t, err)
		require.NoError(t, src.Start(context.Background()))
		assert.Error(t, src.Start(context.Background()), "second start")
		ctx, cancel := context.WithTimeout(context.Background(), informerWait)
		defer cancel()
		require.True(t, src.WaitForSync(ctx))
		src.Shutdown()
		src.Shutdown()

		_, err = client.CoreV1().Pods("shop").Create(context.Background(), ipIndexPod("shop", "late", "u", "w", ipIndexEpoch), metav1.CreateOptions{})
		require.NoError(t, err)
		time.Sleep(200 * time.Millisecond)
		assert.False(t, rec.hasPod("shop", "late"), "an event was delivered after Shutdown")
	})

	t.Run("needs_a_client_and_a_handler", func(t *testing.T) {
		_, err := inventory.NewInformerSource(nil, inventory.InformerOptions{}, func(inventory.ObjectEvent) {}, nil)
		assert.Error(t, err)
		_, err = inventory.NewInformerSource(fake.NewClientset(), inventory.InformerOptions{}, nil, nil)
		assert.Error(t, err)
	})
}

func TestStripPod(t *testing.T) {
	var pods []*corev1.Pod
	for _, dir := range []string{inventorytest.Testdata("pods", "*.yaml"), inventorytest.Testdata("real", "istio", "inject", "*.injected")} {
		files, err := filepath.Glob(dir)
		require.NoError(t, err)
		for _, f := range files {
			pods = append(pods, inventorytest.LoadPods(t, f)...)
		}
	}
	require.NotEmpty(t, pods)
	pods = append(pods, informerSecretPod(t))
	// An app container mounting the proxy's token next to its own volume, and an untrusted
	// "istio-proxy" (not a proxy image) mounting Envoy's config: both must stay visible.
	mounting := inventorytest.LoadPod(t, inventorytest.Testdata("pods", "clean-deployment-pod.yaml"))
	mounting.Name += "-mounting"
	mounting.Spec.Containers[0].VolumeMounts = append(mounting.Spec.Containers[0].VolumeMounts,
		corev1.VolumeMount{Name: "istio-token", MountPath: "/t"}, corev1.VolumeMount{Name: "cache", MountPath: "/c"})
	mounting.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		Name: "istio-proxy", Image: "docker.io/nicolaka/netshoot:v0.13",
		VolumeMounts: []corev1.VolumeMount{{Name: "istio-envoy", MountPath: "/envoy"}},
	}}}
	pods = append(pods, mounting)
	// A debug container with the proxy's image and a name the annotation lists: the injector
	// never adds ephemeral containers, so it is never trusted and its mounts stay.
	impostor := inventorytest.LoadPod(t, inventorytest.Testdata("pods", "clean-deployment-pod.yaml"))
	impostor.Name += "-impostor"
	impostor.Annotations["sidecar.istio.io/status"] = `{"containers":["debug-proxy"],"initContainers":["istio-init","istio-proxy"]}`
	impostor.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		Name: "debug-proxy", Image: "docker.io/istio/proxyv2:1.28.0",
		VolumeMounts: []corev1.VolumeMount{{Name: "istio-token", MountPath: "/t"}},
	}}}
	pods = append(pods, impostor)

	for _, pod := range pods {
		t.Run(pod.Namespace+"/"+pod.Name, func(t *testing.T) {
			before := pod.DeepCopy()
			stripped := inventory.StripPod(pod)
			assert.Equal(t, before, pod, "StripPod modified its argument")
			informerAssertNoSecrets(t, stripped)
			// Whatever the model reads survives: the model of the stripped pod is the same.
			fallback := inventory.ProxyIdentity{UID: 4242, GID: 4242}
			assert.Equal(t, inventory.FromPod(pod, fallback), inventory.FromPod(stripped, fallback))
			if pod.Name == mounting.Name {
				m := inventory.FromPod(stripped, fallback)
				var mounted []string
				for _, c := range m.Containers {
					mounted = append(mounted, c.ProxyVolumeMounts...)
				}
				assert.Equal(t, []string{"istio-token", "istio-envoy"}, mounted)
			}
			assert.Equal(t, stripped, inventory.StripPod(stripped), "not idempotent")
			for _, c := range stripped.Spec.Containers {
				assert.Empty(t, c.Args, c.Name)
				assert.Empty(t, c.Command, c.Name)
				assert.Nil(t, c.ReadinessProbe, c.Name)
				assert.Empty(t, c.Resources, c.Name)
			}
			assert.Empty(t, stripped.Spec.Volumes)
			for k := range stripped.Annotations {
				assert.Contains(t, k, "sidecar.istio.io/")
			}
			assert.Empty(t, stripped.Status.Conditions)
		})
	}
}

func TestStripNamespace(t *testing.T) {
	files, err := filepath.Glob(inventorytest.Testdata("namespaces", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		ns := inventorytest.LoadNamespace(t, f)
		ns.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": informerSecret}
		stripped := inventory.StripNamespace(ns)
		assert.Equal(t, inventory.FromNamespace(ns), inventory.FromNamespace(stripped), f)
		assert.Empty(t, stripped.Annotations, f)
		assert.Equal(t, stripped, inventory.StripNamespace(stripped), f)
	}
}

func TestNewClientset(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
users:
- name: test
  user: {token: abc}
contexts:
- name: test
  context: {cluster: test, user: test}
current-context: test
`), 0o600))

	t.Run("kubeconfig_explicit_path", func(t *testing.T) {
		t.Setenv("KUBECONFIG", filepath.Join(dir, "missing"))
		c, err := inventory.NewClientset(inventory.AuthTypeKubeConfig, kubeconfig)
		require.NoError(t, err)
		assert.NotNil(t, c)
	})
	t.Run("kubeconfig_from_env", func(t *testing.T) {
		t.Setenv("KUBECONFIG", kubeconfig)
		_, err := inventory.NewClientset(inventory.AuthTypeKubeConfig, "")
		require.NoError(t, err)
	})
	t.Run("no_kubeconfig", func(t *testing.T) {
		_, err := inventory.NewClientset(inventory.AuthTypeKubeConfig, filepath.Join(dir, "missing"))
		assert.Error(t, err)
		// ~/.kube/config is resolved when clientcmd loads: only testable where there is none.
		if _, statErr := os.Stat(clientcmd.RecommendedHomeFile); statErr == nil {
			t.Skip("this machine has a ~/.kube/config")
		}
		t.Setenv("KUBECONFIG", "")
		_, err = inventory.NewClientset(inventory.AuthTypeKubeConfig, "")
		assert.ErrorContains(t, err, "no kubeconfig found")
	})
	t.Run("service_account_outside_a_cluster", func(t *testing.T) {
		t.Setenv("KUBERNETES_SERVICE_HOST", "")
		t.Setenv("KUBERNETES_SERVICE_PORT", "")
		_, err := inventory.NewClientset(inventory.AuthTypeServiceAccount, "")
		assert.Error(t, err)
	})
	t.Run("unknown_auth_type", func(t *testing.T) {
		_, err := inventory.NewClientset("none", "")
		assert.ErrorContains(t, err, "want serviceAccount or kubeConfig")
	})
}
