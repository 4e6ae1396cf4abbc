package inventory_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshinsights/otelcol-insights/internal/inventory"
)

const cleanKey = "shop/payments-6d8f9c7b5d-q2xlm"

func podVersion(t testing.TB, rv string) *corev1.Pod {
	t.Helper()
	p := cleanPod(t)
	p.ResourceVersion = rv
	return p
}

func apply(t testing.TB, s *inventory.Store, typ inventory.EventType, p *corev1.Pod) inventory.ApplyResult {
	t.Helper()
	res, err := s.Apply(inventory.ObjectEvent{Type: typ, Pod: p}, inventory.DefaultProxyIdentity())
	require.NoError(t, err)
	return res
}

func TestStore(t *testing.T) {
	t.Run("adds_then_updates", func(t *testing.T) {
		s := inventory.NewStore(10)
		res := apply(t, s, inventory.EventSnapshot, podVersion(t, "100"))
		assert.Equal(t, inventory.ApplyAdded, res.Outcome)
		assert.Equal(t, cleanKey, res.Key)
		require.NotNil(t, res.Pod)
		assert.True(t, res.Stored())
		assert.Equal(t, 1, s.Len())

		newer := podVersion(t, "101")
		newer.Spec.NodeName = "worker-9"
		res = apply(t, s, inventory.EventModified, newer)
		assert.Equal(t, inventory.ApplyUpdated, res.Outcome)
		got, ok := s.Get(cleanKey)
		require.True(t, ok)
		assert.Equal(t, "worker-9", got.NodeName)
		assert.Same(t, got, res.Pod)
		assert.Equal(t, 1, s.Len())
	})

	t.Run("older_resource_version_is_ignored", func(t *testing.T) {
		s := inventory.NewStore(10)
		apply(t, s, inventory.EventModified, podVersion(t, "1000"))
		older := podVersion(t, "999")
		older.Spec.NodeName = "worker-9"
		res := apply(t, s, inventory.EventSnapshot, older)
		assert.Equal(t, inventory.ApplyStale, res.Outcome)
		assert.Nil(t, res.Pod)
		assert.False(t, res.Stored())
		got, _ := s.Get(cleanKey)
		assert.Equal(t, "worker-1", got.NodeName)
		assert.Equal(t, "1000", got.ResourceVersion)
	})

	t.Run("compares_as_numbers_not_strings", func(t *testing.T) {
		s := inventory.NewStore(10)
		apply(t, s, inventory.EventAdded, podVersion(t, "99"))
		assert.Equal(t, inventory.ApplyUpdated, apply(t, s, inventory.EventModified, podVersion(t, "100")).Outcome)
		assert.Equal(t, inventory.ApplyStale, apply(t, s, inventory.EventModified, podVersion(t, "99")).Outcome)
		assert.Equal(t, inventory.ApplyUpdated, apply(t, s, inventory.EventModified, podVersion(t, "18446744073709551615")).Outcome)
	})

	t.Run("same_resource_version_is_unchanged", func(t *testing.T) {
		s := inventory.NewStore(10)
		first := apply(t, s, inventory.EventAdded, podVersion(t, "100"))
		res := apply(t, s, inventory.EventSnapshot, podVersion(t, "100"))
		assert.Equal(t, inventory.ApplyUnchanged, res.Outcome)
		assert.Same(t, first.Pod, res.Pod)
		assert.True(t, res.Stored())
	})

	t.Run("unparsable_resource_version_is_accepted", func(t *testing.T) {
		for _, pair := range [][2]string{{"100", "opaque-7"}, {"opaque-7", "5"}, {"100", ""}, {"", "5"}, {"100", "18446744073709551616"}} {
			s := inventory.NewStore(10)
			apply(t, s, inventory.EventAdded, podVersion(t, pair[0]))
			res := apply(t, s, inventory.EventModified, podVersion(t, pair[1]))
			assert.Equal(t, inventory.ApplyUpdated, res.Outcome, "%q then %q", pair[0], pair[1])
			assert.Equal(t, pair[1], res.Pod.ResourceVersion)
		}
	})

	t.Run("deleted_removes_and_returns_the_pod", func(t *testing.T) {
		s := inventory.NewStore(10)
		added := apply(t, s, inventory.EventAdded, podVersion(t, "100"))
		res := apply(t, s, inventory.EventDeleted, podVersion(t, "120"))
		assert.Equal(t, inventory.ApplyDeleted, res.Outcome)
		assert.Equal(t, cleanKey, res.Key)
		assert.Same(t, added.Pod, res.Pod, "the removed pod, so its findings can be withdrawn")
		assert.False(t, res.Stored())
		assert.Equal(t, 0, s.Len())
		_, ok := s.Get(cleanKey)
		assert.False(t, ok)
	})

	t.Run("deleted_at_the_same_version_still_removes", func(t *testing.T) {
		s := inventory.NewStore(10)
		apply(t, s, inventory.EventAdded, podVersion(t, "100"))
		assert.Equal(t, inventory.ApplyDeleted, apply(t, s, inventory.EventDeleted, podVersion(t, "100")).Outcome)
	})

	t.Run("stale_delete_is_ignored", func(t *testing.T) {
		// A recreated pod (same name) must survive a late DELETED of its predecessor.
		s := inventory.NewStore(10)
		apply(t, s, inventory.EventAdded, podVersion(t, "200"))
		res := apply(t, s, inventory.EventDeleted, podVersion(t, "150"))
		assert.Equal(t, inventory.ApplyStale, res.Outcome)
		assert.Equal(t, 1, s.Len())
	})

	t.Run("delete_of_unknown_pod", func(t *testing.T) {
		s := inventory.NewStore(10)
		res := apply(t, s, inventory.EventDeleted, podVersion(t, "100"))
		assert.Equal(t, inventory.ApplyNotFound, res.Outcome)
		assert.Equal(t, cleanKey, res.Key)
		assert.Nil(t, res.Pod)
	})

	t.Run("cap_rejects_new_pods_but_updates_existing_ones", func(t *testing.T) {
		s := inventory.NewStore(2)
		for i := range 2 {
			p := podVersion(t, "100")
			p.Name = fmt.Sprintf("pod-%d", i)
			assert.Equal(t, inventory.ApplyAdded, apply(t, s, inventory.EventAdded, p).Outcome)
		}
		extra := podVersion(t, "100")
		extra.Name = "pod-2"
		res := apply(t, s, inventory.EventAdded, extra)
		assert.Equal(t, inventory.ApplyRejected, res.Outcome)
		assert.Equal(t, "shop/pod-2", res.Key)
		assert.Equal(t, 2, s.Len())

		update := podVersion(t, "101")
		update.Name = "pod-0"
		assert.Equal(t, inventory.ApplyUpdated, apply(t, s, inventory.EventModified, update).Outcome)

		gone := podVersion(t, "102")
		gone.Name = "pod-1"
		assert.Equal(t, inventory.ApplyDeleted, apply(t, s, inventory.EventDeleted, gone).Outcome)
		assert.Equal(t, inventory.ApplyAdded, apply(t, s, inventory.EventAdded, extra).Outcome, "room again after a delete")
	})

	t.Run("zero_cap_is_unbounded", func(t *testing.T) {
		s := inventory.NewStore(0)
		for i := range 50 {
			p := podVersion(t, "1")
			p.Name = fmt.Sprintf("pod-%d", i)
			apply(t, s, inventory.EventSnapshot, p)
		}
		assert.Equal(t, 50, s.Len())
	})

	t.Run("uses_the_fallback_identity", func(t *testing.T) {
		s := inventory.NewStore(10)
		p := podVersion(t, "1")
		delete(p.Annotations, sidecarStatus)
		res, err := s.Apply(inventory.ObjectEvent{Pod: p}, inventory.ProxyIdentity{UID: 2000, GID: 2001})
		require.NoError(t, err)
		assert.Equal(t, int64(2000), res.Pod.ProxyUID)
		assert.Equal(t, int64(2001), res.Pod.ProxyGID)
	})

	t.Run("event_without_pod_is_an_error", func(t *testing.T) {
		_, err := inventory.NewStore(1).Apply(inventory.ObjectEvent{Type: inventory.EventAdded}, inventory.DefaultProxyIdentity())
		assert.Error(t, err)
	})

	t.Run("outcome_names", func(t *testing.T) {
		names := map[string]bool{}
		for o := inventory.ApplyAdded; o <= inventory.ApplyNotFound; o++ {
			assert.NotEqual(t, "unknown", o.String())
			names[o.String()] = true
		}
		assert.Len(t, names, int(inventory.ApplyNotFound))
	})
}
