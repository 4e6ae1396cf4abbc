package inventory

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

func ipIndexStorePod(name, ip string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, UID: types.UID("uid-" + name), ResourceVersion: "7"},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, StartTime: &metav1.Time{Time: time.Unix(1000, 0)}},
	}
}

// The reflector's store: a relist (Replace) ends the pods missing from it, and the
// watch-list stream's transform keeps only indexedPods, keyable by client-go.
func TestIPIndexStore(t *testing.T) {
	now := time.Unix(2000, 0)
	x := NewIPIndex(IPIndexOptions{Now: func() time.Time { return now }})
	store := ipIndexStore{x: x}
	assert.False(t, x.HasSynced())

	transform := store.Transformer()
	a, err := transform(ipIndexStorePod("a", "10.0.0.1"))
	require.NoError(t, err)
	again, err := transform(a)
	require.NoError(t, err)
	assert.Same(t, a, again, "the transform must be idempotent")
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(a)
	require.NoError(t, err)
	assert.Equal(t, "shop/a", key)

	require.NoError(t, store.Replace([]any{a, ipIndexStorePod("b", "10.0.0.2")}, "10"))
	assert.True(t, x.HasSynced())
	assert.Equal(t, 2, x.Stats().Pods)

	require.NoError(t, store.Add(ipIndexStorePod("c", "10.0.0.3")))
	require.NoError(t, store.Update(ipIndexStorePod("c", "10.0.0.3")))
	require.NoError(t, store.Delete(cache.DeletedFinalStateUnknown{Key: "shop/b", Obj: ipIndexStorePod("b", "10.0.0.2")}))
	assert.Equal(t, 2, x.Stats().Pods)
	require.NoError(t, store.Resync())

	now = now.Add(time.Second)
	require.NoError(t, store.Replace([]any{ipIndexStorePod("c", "10.0.0.3")}, "11"))
	assert.Equal(t, 1, x.Stats().Pods)
	_, ok := x.Lookup("10.0.0.1", time.Time{})
	assert.False(t, ok, "a pod missing from the relist has ended")
	ref, ok := x.Lookup("10.0.0.1", time.Unix(1500, 0))
	require.True(t, ok)
	assert.Equal(t, "a", ref.Name)
	assert.Len(t, x.byIP[netip.MustParseAddr("10.0.0.3")], 1, "an update of a held IP adds no lifetime")
}
