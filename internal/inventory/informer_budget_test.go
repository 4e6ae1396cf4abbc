package inventory_test

import "testing"

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
	t.Run("store_model_at_most_8KiB_per_pod", func(t *testing.T) {
		perPod := informerStoreBytesPerPod(t, 2000)
		t.Logf("Store model: %.0f bytes/pod", perPod)
		if perPod > 8192 {
			t.Errorf("Store holds %.0f bytes per pod, budget 8192", perPod)
		}
	})
}
