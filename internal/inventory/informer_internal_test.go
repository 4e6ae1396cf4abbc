package inventory

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

// A tombstone may carry only the key when the last state is gone too: the deletion must
// still be delivered, by name.
func TestInformerSourceTombstones(t *testing.T) {
	var got []ObjectEvent
	src, err := NewInformerSource(fake.NewClientset(), InformerOptions{}, func(ev ObjectEvent) { got = append(got, ev) }, nil)
	require.NoError(t, err)

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "cart-1", UID: "u1"}}
	src.deliverPod(EventDeleted, cache.DeletedFinalStateUnknown{Key: "shop/cart-1", Obj: pod})
	src.deliverPod(EventDeleted, cache.DeletedFinalStateUnknown{Key: "shop/cart-2"})
	src.deliverPod(EventDeleted, cache.DeletedFinalStateUnknown{Key: "no-namespace"})
	src.deliverPod(EventDeleted, "not a pod")
	src.deliverNamespace(EventDeleted, cache.DeletedFinalStateUnknown{Key: "shop"})
	src.deliverNamespace(EventDeleted, cache.DeletedFinalStateUnknown{Key: "a/b"})

	require.Len(t, got, 3)
	assert.Same(t, pod, got[0].Pod)
	assert.Equal(t, ObjectEvent{Type: EventDeleted, Pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "cart-2"}}}, got[1])
	assert.Equal(t, ObjectEvent{Type: EventDeleted, Namespace: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}}, got[2])

	// The transforms pass tombstones through untouched.
	tomb := cache.DeletedFinalStateUnknown{Key: "shop/cart-1", Obj: pod}
	out, err := transformPod(tomb)
	require.NoError(t, err)
	assert.Equal(t, tomb, out)
	out, err = transformNamespace(tomb)
	require.NoError(t, err)
	assert.Equal(t, tomb, out)
}
