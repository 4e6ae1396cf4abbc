package integration_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/inventory/inventorytest"
	"github.com/meshinsights/otelcol-insights/test/integration/k8stest"
)

// secret is planted in the pod's env: nothing the collector caches or hands on may hold it.
const secret = "s3cr3t-db-password-value"

const eventWait = 30 * time.Second

// collectorUser is the identity the collector runs as, with only the access its RBAC
// gives: get, list and watch pods and namespaces.
const collectorUser = "otelcol-insights"

// recorder keeps what an InformerSource delivers.
type recorder struct {
	mu     sync.Mutex
	events []inventory.ObjectEvent
}

func (r *recorder) handle(ev inventory.ObjectEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

// find returns the first event matching pred.
func (r *recorder) find(pred func(inventory.ObjectEvent) bool) (inventory.ObjectEvent, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range r.events {
		if pred(ev) {
			return ev, true
		}
	}
	return inventory.ObjectEvent{}, false
}

func (r *recorder) wait(t *testing.T, what string, pred func(inventory.ObjectEvent) bool) inventory.ObjectEvent {
	t.Helper()
	var got inventory.ObjectEvent
	require.Eventually(t, func() bool {
		var ok bool
		got, ok = r.find(pred)
		return ok
	}, eventWait, 20*time.Millisecond, "no event: %s", what)
	return got
}

func podEvent(typ inventory.EventType, namespace, name string, extra func(*corev1.Pod) bool) func(inventory.ObjectEvent) bool {
	return func(ev inventory.ObjectEvent) bool {
		return ev.Type == typ && ev.Pod != nil && ev.Pod.Namespace == namespace && ev.Pod.Name == name && (extra == nil || extra(ev.Pod))
	}
}

// fixturePod is the SAPwned fixture as a client would create it: no server-set metadata,
// status apart (only the kubelet writes it), and a secret in its env.
func fixturePod(t *testing.T) (*corev1.Pod, corev1.PodStatus) {
	t.Helper()
	pod := inventorytest.LoadPod(t, inventorytest.Testdata("pods", "sapwned-job-uid-1337.yaml"))
	status := pod.Status
	pod.Status = corev1.PodStatus{}
	pod.ResourceVersion, pod.UID, pod.CreationTimestamp = "", "", metav1.Time{}
	pod.Spec.Containers[0].Env = append(pod.Spec.Containers[0].Env, corev1.EnvVar{Name: "DB_PASSWORD", Value: secret})
	return pod, status
}

// createPod creates a pod and writes its status as a kubelet would.
func createPod(t *testing.T, client kubernetes.Interface, pod *corev1.Pod, status corev1.PodStatus) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	created, err := client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	created.Status = status
	updated, err := client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{})
	require.NoError(t, err)
	return updated
}

func ensureNamespace(t *testing.T, client kubernetes.Interface, ns *corev1.Namespace) {
	t.Helper()
	_, err := client.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
}

// grantCollectorAccess gives collectorUser what the collector's ClusterRole gives it.
func grantCollectorAccess(t *testing.T, client kubernetes.Interface) {
	t.Helper()
	ctx := context.Background()
	_, err := client.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: collectorUser},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods", "namespaces"}, Verbs: []string{"get", "list", "watch"}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: collectorUser},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: collectorUser},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: collectorUser}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

// TestInformerSource runs the collector's informers against a real kube-apiserver, as
// the collector's own user with its RBAC, through a kubeconfig file.
func TestInformerSource(t *testing.T) {
	begin := time.Now()
	cluster := k8stest.StartForTest(t)
	t.Logf("kube-apiserver + etcd started in %s", time.Since(begin).Round(time.Millisecond))
	admin := cluster.Client
	ctx := context.Background()

	grantCollectorAccess(t, admin)
	kubeconfig, err := cluster.WriteKubeconfig(collectorUser)
	require.NoError(t, err)
	client, err := inventory.NewClientset(inventory.AuthTypeKubeConfig, kubeconfig)
	require.NoError(t, err)
	_, err = client.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
	require.True(t, apierrors.IsForbidden(err), "the collector's user must not read secrets: %v", err)

	pod, status := fixturePod(t)
	ensureNamespace(t, admin, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: pod.Namespace, Labels: map[string]string{"istio-injection": "enabled"}}})

	rec := &recorder{}
	index := inventory.NewIPIndex(inventory.IPIndexOptions{})
	src, err := inventory.NewInformerSource(client, inventory.InformerOptions{NodeName: pod.Spec.NodeName, Logger: zaptest.NewLogger(t)}, rec.handle, index)
	require.NoError(t, err)
	require.NoError(t, src.Start(ctx))
	defer src.Shutdown()
	syncCtx, cancel := context.WithTimeout(ctx, eventWait)
	defer cancel()
	require.True(t, src.WaitForSync(syncCtx), "informers did not sync")

	t.Run("namespace_added", func(t *testing.T) {
		ev := rec.wait(t, "namespace ADDED", func(ev inventory.ObjectEvent) bool {
			return ev.Type == inventory.EventAdded && ev.Namespace != nil && ev.Namespace.Name == pod.Namespace
		})
		assert.True(t, inventory.FromNamespace(ev.Namespace).InjectionEnabled())
	})

	created := createPod(t, admin, pod, status)

	t.Run("pod_added_and_stripped", func(t *testing.T) {
		ev := rec.wait(t, "pod ADDED", podEvent(inventory.EventAdded, pod.Namespace, pod.Name, nil))
		assertNoSecret(t, ev.Pod)
		// The kubelet's status arrives as MODIFIED: IP, and the users containers run as.
		ev = rec.wait(t, "pod MODIFIED with status", podEvent(inventory.EventModified, pod.Namespace, pod.Name,
			func(p *corev1.Pod) bool { return p.Status.PodIP != "" }))
		model := inventory.FromPod(ev.Pod, inventory.DefaultProxyIdentity())
		assert.True(t, model.Meshed)
		assert.Equal(t, []string{status.PodIP}, model.IPs)
		cached, ok := src.CachedPod(pod.Namespace, pod.Name)
		require.True(t, ok)
		assertNoSecret(t, cached)
	})

	t.Run("fields_we_read_round_trip", func(t *testing.T) {
		server, err := admin.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		require.NoError(t, err)
		want := inventory.FromPod(inventorytest.LoadPod(t, inventorytest.Testdata("pods", "sapwned-job-uid-1337.yaml")), inventory.DefaultProxyIdentity())
		want.UID, want.ResourceVersion = string(server.UID), server.ResourceVersion
		assert.Equal(t, want, inventory.FromPod(server, inventory.DefaultProxyIdentity()),
			"the apiserver dropped or changed a field the model reads (a feature-gated field?)")
		assert.Equal(t, created.UID, server.UID)
	})

	t.Run("pod_modified", func(t *testing.T) {
		current, err := admin.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		require.NoError(t, err)
		current.Labels["service.istio.io/canonical-revision"] = "v2"
		_, err = admin.CoreV1().Pods(pod.Namespace).Update(ctx, current, metav1.UpdateOptions{})
		require.NoError(t, err)
		rec.wait(t, "pod MODIFIED with the new label", podEvent(inventory.EventModified, pod.Namespace, pod.Name,
			func(p *corev1.Pod) bool { return p.Labels["service.istio.io/canonical-revision"] == "v2" }))
	})

	other := pod.DeepCopy()
	other.Name, other.Spec.NodeName = "train-model-run-43-elsewhere", "worker-9"
	otherStatus := *status.DeepCopy()
	otherStatus.PodIP, otherStatus.PodIPs = "10.244.9.3", []corev1.PodIP{{IP: "10.244.9.3"}}

	t.Run("pod_of_another_node_is_only_in_the_ip_index", func(t *testing.T) {
		createPod(t, admin, other, otherStatus)
		require.Eventually(t, func() bool {
			ref, ok := index.Lookup("10.244.9.3", time.Time{})
			return ok && ref.Name == other.Name
		}, eventWait, 20*time.Millisecond, "the IP index never saw the other node's pod")
		ref, _ := index.Lookup("10.244.9.3", time.Time{})
		assert.Equal(t, inventory.PodRef{Namespace: other.Namespace, Name: other.Name, UID: ref.UID, NodeName: "worker-9",
			Controller: inventory.Controller{Kind: "Job", Name: "train-model-run-42"}, Meshed: true}, ref)
		assert.NotEmpty(t, ref.UID)
		// Both informers watch the same apiserver: by now the node informer would have it.
		_, delivered := rec.find(func(ev inventory.ObjectEvent) bool { return ev.Pod != nil && ev.Pod.Name == other.Name })
		assert.False(t, delivered, "a pod of another node reached the handler")
		_, cached := src.CachedPod(other.Namespace, other.Name)
		assert.False(t, cached)
	})

	t.Run("pod_deleted", func(t *testing.T) {
		seenRunning := time.Now()
		// No kubelet confirms a graceful deletion here: delete at once.
		require.NoError(t, admin.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}))
		rec.wait(t, "pod DELETED", podEvent(inventory.EventDeleted, pod.Namespace, pod.Name, nil))
		require.Eventually(t, func() bool {
			_, held := index.Lookup(status.PodIP, time.Time{})
			return !held
		}, eventWait, 20*time.Millisecond, "the IP index still says the IP is held")
		ref, ok := index.Lookup(status.PodIP, seenRunning)
		require.True(t, ok, "the deleted pod held the IP while it ran")
		assert.Equal(t, pod.Name, ref.Name)
	})
	t.Logf("test took %s", time.Since(begin).Round(time.Millisecond))
}

// TestFixturesValidate: every pod and namespace fixture the unit tests judge is a valid
// object to this apiserver (server-side dry run), so no test leans on an impossible spec.
func TestFixturesValidate(t *testing.T) {
	cluster := k8stest.StartForTest(t)
	ctx := context.Background()
	dryRun := []string{metav1.DryRunAll}

	nsFiles, err := filepath.Glob(inventorytest.Testdata("namespaces", "*.yaml"))
	require.NoError(t, err)
	for _, f := range nsFiles {
		ns := inventorytest.LoadNamespace(t, f)
		ns.ResourceVersion, ns.UID = "", ""
		_, err := cluster.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{DryRun: dryRun})
		assert.NoError(t, err, f)
	}

	var files []string
	for _, glob := range []string{inventorytest.Testdata("pods", "*.yaml"), inventorytest.Testdata("real", "istio", "inject", "*.injected")} {
		m, err := filepath.Glob(glob)
		require.NoError(t, err)
		files = append(files, m...)
	}
	require.NotEmpty(t, files)
	for _, f := range files {
		for _, pod := range inventorytest.LoadPods(t, f) {
			ensureNamespace(t, cluster.Client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: pod.Namespace}})
			pod.ResourceVersion, pod.UID, pod.Status = "", "", corev1.PodStatus{}
			// What the ServiceAccount admission plugin (off in envtest) does before validation.
			if pod.Spec.ServiceAccountName == "" {
				pod.Spec.ServiceAccountName = "default"
			}
			// Istio's injector test inputs include names no apiserver takes ("statusPort");
			// the names are not what is being validated here.
			pod.Name = strings.ToLower(pod.Name)
			pods := cluster.Client.CoreV1().Pods(pod.Namespace)
			ephemeral := pod.Spec.EphemeralContainers
			if len(ephemeral) == 0 {
				_, err := pods.Create(ctx, pod, metav1.CreateOptions{DryRun: dryRun})
				assert.NoError(t, err, "%s: %s", f, pod.Name)
				continue
			}
			// Ephemeral containers are only ever added to a running pod (kubectl debug).
			pod.Spec.EphemeralContainers = nil
			created, err := pods.Create(ctx, pod, metav1.CreateOptions{})
			require.NoError(t, err, "%s: %s", f, pod.Name)
			created.Spec.EphemeralContainers = ephemeral
			_, err = pods.UpdateEphemeralContainers(ctx, created.Name, created, metav1.UpdateOptions{DryRun: dryRun})
			assert.NoError(t, err, "%s: %s: ephemeral containers", f, pod.Name)
			require.NoError(t, pods.Delete(ctx, created.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}))
		}
	}
}

func assertNoSecret(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	js, err := json.Marshal(pod)
	require.NoError(t, err)
	assert.NotContains(t, string(js), secret)
	assert.Empty(t, pod.ManagedFields)
	for _, c := range append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...) {
		assert.Empty(t, c.Env, c.Name)
	}
}
