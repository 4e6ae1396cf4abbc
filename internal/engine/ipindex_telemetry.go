package engine

import (
	"context"

	"github.com/meshinsights/otelcol-insights/internal/inventory"
)

// Store names in processor_insights_inventory_refused{store} for the IP index: pods not
// indexed because it was full, and pod lifetimes it dropped before their TTL.
const (
	storeIPIndexPods      = "ip_index_pods"
	storeIPIndexLifetimes = "ip_index_lifetimes"
)

// ipIndexStats is what an IP index that counts its refusals reports (inventory.IPIndex).
type ipIndexStats interface {
	Stats() inventory.IPIndexStats
}

// ipIndexReported remembers the counters already reported; guarded by Engine.mu.
type ipIndexReported struct {
	rejected, evicted uint64
}

// reportIPIndexLocked counts what the IP index refused or evicted since the last flush.
func (e *Engine) reportIPIndexLocked(ctx context.Context) {
	x, ok := e.traffic.ips.(ipIndexStats)
	if !ok {
		return
	}
	st := x.Stats()
	if st.Rejected > e.ipReported.rejected {
		e.set.Telemetry.Refused(ctx, storeIPIndexPods, int(st.Rejected-e.ipReported.rejected))
		e.ipReported.rejected = st.Rejected
	}
	if st.Evicted > e.ipReported.evicted {
		e.set.Telemetry.Refused(ctx, storeIPIndexLifetimes, int(st.Evicted-e.ipReported.evicted))
		e.ipReported.evicted = st.Evicted
	}
}
