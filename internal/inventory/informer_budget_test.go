package inventory_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshinsights/otelcol-insights/internal/inventory"
)

// The memory budgets DESIGN.md's Scale section sets, checked at a size that runs in a
// second; the benchmarks (BytesPerPod) report the numbers at full scale.
func TestInventoryMemoryBudgets(t *testing.T) {
	if testing.Short() || informerRaceEnabled {
		t.Skip("heap measurements need a full, race-free run")
	}
	t.Run("ip_index_at_most_1KiB_per_pod", func(t *testing.T) {
		perPod, _ := ipIndexBytesPerPod(t, 10000)
		t.Logf("IP index: %.0f bytes/pod", perPod)
		if perPod > 1024 {
			t.Errorf("IP index holds %.0f bytes per pod, budget 1024", perPod)
		}
	})
	t.Run("node_local_pod_at_most_8KiB", func(t *testing.T) {
		// A node-local pod is held twice: stripped in the informer's cache and as the
		// rules' model in the Store.
		model := informerStoreBytesPerPod(t, 2000)
		cached := informerCachedBytesPerPod(t, 2000, func(p *corev1.Pod) any { return inventory.StripPod(p) })
		t.Logf("node-local pod: %.0f bytes (informer cache %.0f + Store model %.0f)", cached+model, cached, model)
		if cached+model > 8192 {
			t.Errorf("a node-local pod holds %.0f bytes, budget 8192", cached+model)
		}
	})
}
