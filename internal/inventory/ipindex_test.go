package inventory_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/inventory/inventorytest"
)

// ipIndexClock is a settable clock for IPIndexOptions.Now.
type ipIndexClock struct{ t time.Time }

func (c *ipIndexClock) Now() time.Time          { return c.t }
func (c *ipIndexClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

var ipIndexEpoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// indexPod is a minimal running pod for the IP index: started at start, holding ips.
func ipIndexPod(namespace, name, uid, node string, start time.Time, ips ...string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, UID: types.UID(uid), ResourceVersion: "100"},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &metav1.Time{Time: start}},
	}
	for _, ip := range ips {
		p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip})
	}
	if len(ips) > 0 {
		p.Status.PodIP = ips[0]
	}
	return p
}

func ipIndexApply(x *inventory.IPIndex, t inventory.EventType, p *corev1.Pod) {
	x.Apply(inventory.ObjectEvent{Type: t, Pod: p})
}

func TestIPIndex(t *testing.T) {
	t.Run("lookup_returns_the_holder_while_it_runs", func(t *testing.T) {
		clock := &ipIndexClock{t: ipIndexEpoch}
		x := inventory.NewIPIndex(inventory.IPIndexOptions{Now: clock.Now})
		ipIndexApply(x, inventory.EventAdded, ipIndexPod("shop", "cart-1", "u1", "worker-1", ipIndexEpoch.Add(-time.Minute), "10.244.1.5"))

		ref, ok := x.Lookup("10.244.1.5", ipIndexEpoch)
		require.True(t, ok)
		assert.Equal(t, inventory.PodRef{Namespace: "shop", Name: "cart-1", UID: "u1", NodeName: "worker-1"}, ref)
		_, ok = x.Lookup("10.244.1.5", time.Time{})
		assert.True(t, ok, "zero time asks for the current holder")
		_, ok = x.Lookup("10.244.1.5", ipIndexEpoch.Add(-2*time.Minute))
		assert.False(t, ok, "before the pod started, nobody held the IP")
		_, ok = x.Lookup("10.244.1.6", ipIndexEpoch)
		assert.False(t, ok)
		_, ok = x.Lookup("not-an-ip", ipIndexEpoch)
		assert.False(t, ok)
	})

	t.Run("meshed_pod_is_marked_meshed", func(t *testing.T) {
		x := inventory.NewIPIndex(inventory.IPIndexOptions{})
		pod := inventorytest.LoadPod(t, inventorytest.Testdata("pods", "sapwned-job-uid-1337.yaml"))
		ipIndexApply(x, inventory.EventAdded, pod)
		ref, ok := x.Lookup(pod.Status.PodIP, pod.Status.StartTime.Add(time.Second))
		require.True(t, ok)
		assert.True(t, ref.Meshed)
		assert.Equal(t, pod.Spec.NodeName, ref.NodeName)
	})

	t.Run("gateway_is_marked_for_pods_of_every_node", func(t *testing.T) {
		x := inventory.NewIPIndex(inventory.IPIndexOptions{})
		gw := inventorytest.LoadPod(t, inventorytest.Testdata("pods", "ingressgateway-other-node.yaml"))
		app := inventorytest.LoadPod(t, inventorytest.Testdata("pods", "sapwned-job-uid-1337.yaml"))
		ipIndexApply(x, inventory.EventAdded, gw)
		ipIndexApply(x, inventory.EventAdded, app)
		ref, ok := x.Lookup(gw.Status.PodIP, time.Time{})
		require.True(t, ok)
		assert.True(t, ref.Meshed)
		assert.True(t, ref.Gateway, "its only regular container is the proxy")
		ref, ok = x.Lookup(app.Status.PodIP, time.Time{})
		require.True(t, ok)
		assert.False(t, ref.Gateway, "a sidecar sits next to an application container")
	})

	t.Run("reused_ip_answers_by_time", func(t *testing.T) {
		clock := &ipIndexClock{t: ipIndexEpoch}
		x := inventory.NewIPIndex(inventory.IPIndexOptions{Now: clock.Now})
		ipIndexApply(x, inventory.EventAdded, ipIndexPod("shop", "cart-1", "u1", "worker-1", ipIndexEpoch, "10.244.1.5"))
		clock.Advance(time.Minute)
		ipIndexApply(x, inventory.EventDeleted, ipIndexPod("shop", "cart-1", "u1", "worker-1", ipIndexEpoch, "10.244.1.5"))
		clock.Advance(time.Minute)
		ipIndexApply(x, inventory.EventAdded, ipIndexPod("batch", "etl-7", "u2", "worker-1", clock.Now(), "10.244.1.5"))

		old, ok := x.Lookup("10.244.1.5", ipIndexEpoch.Add(30*time.Second))
		require.True(t, ok)
		assert.Equal(t, "cart-1", old.Name)
		_, ok = x.Lookup("10.244.1.5", ipIndexEpoch.Add(90*time.Second))
		assert.False(t, ok, "between the two pods the IP was free")
		cur, ok := x.Lookup("10.244.1.5", ipIndexEpoch.Add(3*time.Minute))
		require.True(t, ok)
		assert.Equal(t, "etl-7", cur.Name)
		cur, ok = x.Lookup("10.244.1.5", time.Time{})
		require.True(t, ok)
		assert.Equal(t, "etl-7", cur.Name)
	})

	t.Run("completed_pod_frees_its_ip_while_the_object_stays", func(t *testing.T) {
		clock := &ipIndexClock{t: ipIndexEpoch}
		x := inventory.NewIPIndex(inventory.IPIndexOptions{Now: clock.Now})
		job := ipIndexPod("batch", "etl-1", "u1", "worker-1", ipIndexEpoch, "10.244.1.9")
		ipIndexApply(x, inventory.EventAdded, job)
		clock.Advance(time.Minute)
		done := job.DeepCopy()
		done.ResourceVersion = "101"
		done.Status.Phase = corev1.PodSucceeded
		ipIndexApply(x, inventory.EventModified, done)

		_, ok := x.Lookup("10.244.1.9", time.Time{})
		assert.False(t, ok, "a Succeeded pod holds no IP")
		ref, ok := x.Lookup("10.244.1.9", ipIndexEpoch.Add(30*time.Second))
		require.True(t, ok, "but it did while it ran")
		assert.Equal(t, "etl-1", ref.Name)
		assert.Equal(t, 1, x.Stats().Pods, "the pod object still exists")
	})

	t.Run("pod_gets_its_ip_after_it_was_added", func(t *testing.T) {
		clock := &ipIndexClock{t: ipIndexEpoch}
		x := inventory.NewIPIndex(inventory.IPIndexOptions{Now: clock.Now})
		pending := ipIndexPod("shop", "cart-1", "u1", "worker-1", ipIndexEpoch)
		ipIndexApply(x, inventory.EventAdded, pending)
		assert.Equal(t, 0, x.Stats().IPs)
		running := ipIndexPod("shop", "cart-1", "u1", "worker-1", ipIndexEpoch, "10.244.1.5", "fd00::5")
		running.ResourceVersion = "101"
		clock.Advance(2 * time.Second)
		ipIndexApply(x, inventory.EventModified, running)
		for _, ip := range []string{"10.244.1.5", "fd00::5", "::ffff:10.244.1.5"} {
			ref, ok := x.Lookup(ip, ipIndexEpoch.Add(time.Second))
			require.True(t, ok, ip)
			assert.Equal(t, "cart-1", ref.Name, ip)
		}
	})

	t.Run("stale_update_is_ignored", func(t *testing.T) {
		x := inventory.NewIPIndex(inventory.IPIndexOptions{})
		newer := ipIndexPod("shop", "cart-1", "u1", "worker-1", ipIndexEpoch, "10.244.1.5")
		newer.ResourceVersion = "200"
		ipIndexApply(x, inventory.EventAdded, newer)
		older := ipIndexPod("shop", "cart-1", "u1", "worker-1", ipIndexEpoch)
		older.ResourceVersion = "150"
		older.Status.Phase = corev1.PodFailed
		ipIndexApply(x, inventory.EventModified, older)
		_, ok := x.Lookup("10.244.1.5", time.Time{})
		assert.True(t, ok)
	})

	t.Run("same_name_new_uid_replaces_the_pod", func(t *testing.T) {
		clock := &ipIndexClock{t: ipIndexEpoch}
		x := inventory.NewIPIndex(inventory.IPIndexOptions{Now: clock.Now})
		ipIndexApply(x, inventory.EventAdded, ipIndexPod("db", "pg-0", "u1", "worker-1", ipIndexEpoch, "10.244.1.5"))
		clock.Advance(time.Minute)
		// The deletion was missed; the StatefulSet's new pg-0 comes with another IP.
		ipIndexApply(x, inventory.EventAdded, ipIndexPod("db", "pg-0", "u2", "worker-2", clock.Now(), "10.244.2.8"))
		_, ok := x.Lookup("10.244.1.5", time.Time{})
		assert.False(t, ok, "the old pod's IP is free")
		ref, ok := x.Lookup("10.244.1.5", ipIndexEpoch.Add(time.Second))
		require.True(t, ok)
		assert.Equal(t, "u1", ref.UID)
		ref, ok = x.Lookup("10.244.2.8", time.Time{})
		require.True(t, ok)
		assert.Equal(t, "u2", ref.UID)
		// A late deletion of the old pod must not remove the new one.
		ipIndexApply(x, inventory.EventDeleted, ipIndexPod("db", "pg-0", "u1", "worker-1", ipIndexEpoch, "10.244.1.5"))
		_, ok = x.Lookup("10.244.2.8", time.Time{})
		assert.True(t, ok)
		assert.Equal(t, 1, x.Stats().Pods)
	})

	t.Run("pod_network_beats_host_network_on_a_shared_ip", func(t *testing.T) {
		x := inventory.NewIPIndex(inventory.IPIndexOptions{})
		host := ipIndexPod("kube-system", "node-exporter-x", "u1", "worker-1", ipIndexEpoch.Add(time.Minute), "10.0.1.12")
		host.Spec.HostNetwork = true
		ipIndexApply(x, inventory.EventAdded, host)
		ref, ok := x.Lookup("10.0.1.12", time.Time{})
		require.True(t, ok)
		assert.True(t, ref.HostNetwork, "a node IP says so")
		ipIndexApply(x, inventory.EventAdded, ipIndexPod("shop", "odd-1", "u2", "worker-1", ipIndexEpoch, "10.0.1.12"))
		ref, ok = x.Lookup("10.0.1.12", time.Time{})
		require.True(t, ok)
		assert.Equal(t, "odd-1", ref.Name)
	})

	t.Run("ended_lifetimes_expire_after_the_ttl", func(t *testing.T) {
		clock := &ipIndexClock{t: ipIndexEpoch}
		x := inventory.NewIPIndex(inventory.IPIndexOptions{Now: clock.Now, EndedTTL: time.Minute})
		ipIndexApply(x, inventory.EventAdded, ipIndexPod("shop", "cart-1", "u1", "worker-1", ipIndexEpoch, "10.244.1.5"))
		clock.Advance(time.Second)
		ipIndexApply(x, inventory.EventDeleted, ipIndexPod("shop", "cart-1", "u1", "worker-1", ipIndexEpoch, "10.244.1.5"))
		_, ok := x.Lookup("10.244.1.5", ipIndexEpoch)
		assert.True(t, ok, "within the TTL a past holder answers")

		clock.Advance(2 * time.Minute)
		// Expiry runs on writes: any event will do.
		ipIndexApply(x, inventory.EventAdded, ipIndexPod("shop", "other", "u9", "worker-1", clock.Now(), "10.244.9.9"))
		_, ok = x.Lookup("10.244.1.5", ipIndexEpoch)
		assert.False(t, ok)
		st := x.Stats()
		assert.Equal(t, uint64(1), st.Expired)
		assert.Equal(t, uint64(0), st.Evicted)
		assert.Equal(t, 1, st.IPs)
		assert.Equal(t, 1, st.Lifetimes)
	})

	t.Run("history_per_ip_is_capped", func(t *testing.T) {
		clock := &ipIndexClock{t: ipIndexEpoch}
		x := inventory.NewIPIndex(inventory.IPIndexOptions{Now: clock.Now, MaxLifetimesPerIP: 2})
		for i := range 4 {
			name := fmt.Sprintf("p%d", i)
			ipIndexApply(x, inventory.EventAdded, ipIndexPod("ns", name, name, "w", clock.Now(), "10.244.1.5"))
			clock.Advance(time.Minute)
			ipIndexApply(x, inventory.EventDeleted, ipIndexPod("ns", name, name, "w", ipIndexEpoch, "10.244.1.5"))
			clock.Advance(time.Second)
		}
		st := x.Stats()
		assert.Equal(t, 2, st.Lifetimes)
		assert.Equal(t, uint64(2), st.Evicted)
		_, ok := x.Lookup("10.244.1.5", ipIndexEpoch.Add(30*time.Second))
		assert.False(t, ok, "the oldest lifetime was evicted")
		ref, ok := x.Lookup("10.244.1.5", clock.Now().Add(-30*time.Second))
		require.True(t, ok)
		assert.Equal(t, "p3", ref.Name)
	})

	t.Run("ended_lifetimes_are_capped", func(t *testing.T) {
		clock := &ipIndexClock{t: ipIndexEpoch}
		x := inventory.NewIPIndex(inventory.IPIndexOptions{Now: clock.Now, MaxEndedLifetimes: 3})
		for i := range 10 {
			name := fmt.Sprintf("p%d", i)
			ip := fmt.Sprintf("10.244.0.%d", i)
			ipIndexApply(x, inventory.EventAdded, ipIndexPod("ns", name, name, "w", clock.Now(), ip))
			clock.Advance(time.Second)
			ipIndexApply(x, inventory.EventDeleted, ipIndexPod("ns", name, name, "w", ipIndexEpoch, ip))
		}
		st := x.Stats()
		assert.Equal(t, 3, st.IPs)
		assert.Equal(t, 3, st.Lifetimes)
		assert.Equal(t, uint64(7), st.Evicted)
		assert.Equal(t, 0, st.Pods)
	})

	t.Run("pods_are_capped", func(t *testing.T) {
		x := inventory.NewIPIndex(inventory.IPIndexOptions{MaxPods: 2})
		for i := range 3 {
			name := fmt.Sprintf("p%d", i)
			ipIndexApply(x, inventory.EventAdded, ipIndexPod("ns", name, name, "w", ipIndexEpoch, fmt.Sprintf("10.244.0.%d", i)))
		}
		st := x.Stats()
		assert.Equal(t, 2, st.Pods)
		assert.Equal(t, uint64(1), st.Rejected)
		_, ok := x.Lookup("10.244.0.2", time.Time{})
		assert.False(t, ok)
	})

	t.Run("namespaces_and_templates_are_ignored", func(t *testing.T) {
		x := inventory.NewIPIndex(inventory.IPIndexOptions{})
		x.Apply(inventory.ObjectEvent{Type: inventory.EventAdded, Namespace: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}})
		x.Apply(inventory.ObjectEvent{Type: inventory.EventAdded, Pod: ipIndexPod("ns", "deploy", "", "", ipIndexEpoch, "10.0.0.1"),
			Template: &inventory.TemplateOrigin{Object: inventory.Controller{Kind: inventory.KindDeployment, Name: "deploy"}}})
		assert.Equal(t, inventory.IPIndexStats{}, x.Stats())
	})
}
