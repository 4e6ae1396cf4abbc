package inventory_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshinsights/otelcol-insights/internal/inventory"
)

func decoded(t testing.TB, typ string, obj map[string]any) inventory.ObjectEvent {
	t.Helper()
	var body any = obj
	if typ != "" {
		body = envelope(typ, obj)
	}
	ev, ok, err := inventory.DecodeObject(body)
	require.NoError(t, err)
	require.True(t, ok)
	return ev
}

func namespaceEvent(typ inventory.EventType, name, rv string, labels map[string]string) inventory.ObjectEvent {
	return inventory.ObjectEvent{Type: typ, Namespace: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: rv, Labels: labels}}}
}

func applyEv(t testing.TB, s *inventory.Store, ev inventory.ObjectEvent) inventory.ApplyResult {
	t.Helper()
	res, err := s.Apply(ev, inventory.DefaultProxyIdentity())
	require.NoError(t, err)
	return res
}

func TestStoreTemplates(t *testing.T) {
	t.Run("keyed_apart_from_pods", func(t *testing.T) {
		s := inventory.NewStore(10)
		// A pod and a Deployment both named payments in shop.
		pod := podVersion(t, "100")
		pod.Name = "payments"
		assert.Equal(t, inventory.ApplyAdded, apply(t, s, inventory.EventAdded, pod).Outcome)
		res := applyEv(t, s, decoded(t, "ADDED", controllerObjects(t)["Deployment"]))
		assert.Equal(t, inventory.ApplyAdded, res.Outcome)
		assert.Equal(t, "template/Deployment/shop/payments", res.Key)
		assert.Equal(t, res.Key, res.Pod.Key())
		assert.Equal(t, 2, s.Len())
		got, ok := s.Get("template/Deployment/shop/payments")
		require.True(t, ok)
		assert.Same(t, res.Pod, got)
		assert.Equal(t, &inventory.Controller{Kind: inventory.KindDeployment, Name: "payments"}, got.Template)
	})

	t.Run("each_kind_its_own_key", func(t *testing.T) {
		s := inventory.NewStore(10)
		keys := map[string]bool{}
		for _, obj := range controllerObjects(t) {
			res := applyEv(t, s, decoded(t, "", obj))
			assert.Equal(t, inventory.ApplyAdded, res.Outcome)
			keys[res.Key] = true
		}
		assert.Len(t, keys, 5, "the CronJob's Job and the CronJob are two sources")
	})

	t.Run("newest_version_wins_and_deleted_withdraws", func(t *testing.T) {
		s := inventory.NewStore(10)
		obj := controllerObjects(t)["StatefulSet"]
		applyEv(t, s, decoded(t, "ADDED", obj))
		at(t, obj, "metadata")["resourceVersion"] = "4000"
		assert.Equal(t, inventory.ApplyStale, applyEv(t, s, decoded(t, "MODIFIED", obj)).Outcome)
		at(t, obj, "metadata")["resourceVersion"] = "6000"
		assert.Equal(t, inventory.ApplyUpdated, applyEv(t, s, decoded(t, "MODIFIED", obj)).Outcome)
		res := applyEv(t, s, decoded(t, "DELETED", obj))
		assert.Equal(t, inventory.ApplyDeleted, res.Outcome)
		assert.Equal(t, "template/StatefulSet/shop/ledger", res.Key)
		require.NotNil(t, res.Pod)
		assert.Equal(t, 0, s.Len())
		assert.Empty(t, s.PodsInNamespace("shop"))
	})

	t.Run("templates_count_against_the_cap", func(t *testing.T) {
		s := inventory.NewStore(1)
		apply(t, s, inventory.EventAdded, podVersion(t, "1"))
		res := applyEv(t, s, decoded(t, "ADDED", controllerObjects(t)["DaemonSet"]))
		assert.Equal(t, inventory.ApplyRejected, res.Outcome)
		assert.Equal(t, "template/DaemonSet/shop/node-agent", res.Key)
	})
}

func TestStoreNamespaces(t *testing.T) {
	enabled := map[string]string{"istio-injection": "enabled"}

	t.Run("lifecycle", func(t *testing.T) {
		s := inventory.NewStore(10)
		assert.Nil(t, s.Namespace("shop"))
		res := applyEv(t, s, namespaceEvent(inventory.EventAdded, "shop", "10", enabled))
		assert.Equal(t, inventory.ApplyAdded, res.Outcome)
		assert.Equal(t, "shop", res.Key)
		assert.Nil(t, res.Pod)
		require.NotNil(t, res.Namespace)
		assert.True(t, res.Stored())
		assert.Same(t, res.Namespace, s.Namespace("shop"))
		assert.Equal(t, 1, s.Namespaces())
		assert.Equal(t, 0, s.Len(), "namespaces are not pods")

		assert.Equal(t, inventory.ApplyUnchanged, applyEv(t, s, namespaceEvent(inventory.EventSnapshot, "shop", "10", nil)).Outcome)
		assert.Equal(t, inventory.ApplyStale, applyEv(t, s, namespaceEvent(inventory.EventModified, "shop", "9", nil)).Outcome)
		assert.True(t, s.Namespace("shop").InjectionEnabled())

		res = applyEv(t, s, namespaceEvent(inventory.EventModified, "shop", "11", nil))
		assert.Equal(t, inventory.ApplyUpdated, res.Outcome)
		assert.False(t, s.Namespace("shop").InjectionEnabled())

		res = applyEv(t, s, namespaceEvent(inventory.EventDeleted, "shop", "12", nil))
		assert.Equal(t, inventory.ApplyDeleted, res.Outcome)
		assert.Nil(t, s.Namespace("shop"))
		assert.Equal(t, inventory.ApplyNotFound, applyEv(t, s, namespaceEvent(inventory.EventDeleted, "shop", "13", nil)).Outcome)
	})

	t.Run("cap_rejects_new_namespaces", func(t *testing.T) {
		s := inventory.NewStore(2)
		for i := range 2 {
			assert.Equal(t, inventory.ApplyAdded, applyEv(t, s, namespaceEvent(inventory.EventAdded, fmt.Sprintf("ns-%d", i), "1", nil)).Outcome)
		}
		res := applyEv(t, s, namespaceEvent(inventory.EventAdded, "ns-2", "1", nil))
		assert.Equal(t, inventory.ApplyRejected, res.Outcome)
		assert.Equal(t, "ns-2", res.Key)
		assert.Equal(t, inventory.ApplyUpdated, applyEv(t, s, namespaceEvent(inventory.EventModified, "ns-0", "2", enabled)).Outcome)
		assert.Equal(t, 2, s.Namespaces())
	})

	t.Run("pods_in_namespace", func(t *testing.T) {
		s := inventory.NewStore(10)
		for _, name := range []string{"b-pod", "a-pod"} {
			p := podVersion(t, "1")
			p.Name = name
			apply(t, s, inventory.EventAdded, p)
		}
		other := podVersion(t, "1")
		other.Namespace = "other"
		apply(t, s, inventory.EventAdded, other)
		applyEv(t, s, decoded(t, "", controllerObjects(t)["Deployment"]))

		var keys []string
		for _, p := range s.PodsInNamespace("shop") {
			keys = append(keys, p.Key())
		}
		assert.Equal(t, []string{"shop/a-pod", "shop/b-pod", "template/Deployment/shop/payments"}, keys)
		assert.Len(t, s.PodsInNamespace("other"), 1)
		assert.Empty(t, s.PodsInNamespace("nowhere"))

		gone := podVersion(t, "2")
		gone.Name = "a-pod"
		apply(t, s, inventory.EventDeleted, gone)
		assert.Len(t, s.PodsInNamespace("shop"), 2)
	})

	t.Run("event_with_pod_and_namespace_is_an_error", func(t *testing.T) {
		ev := namespaceEvent(inventory.EventAdded, "shop", "1", nil)
		ev.Pod = cleanPod(t)
		_, err := inventory.NewStore(1).Apply(ev, inventory.DefaultProxyIdentity())
		assert.Error(t, err)
	})
}
