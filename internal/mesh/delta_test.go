package mesh

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2024, 5, 14, 9, 0, 0, 0, time.UTC)

func ns(t time.Time) uint64 { return uint64(t.UnixNano()) }

func TestDeltaTracker(t *testing.T) {
	start := ns(t0)
	at := func(s int) uint64 { return ns(t0.Add(time.Duration(s) * time.Second)) }
	now := t0.Add(time.Minute)

	t.Run("first_sighting_records_baseline_without_delta", func(t *testing.T) {
		dt := NewDeltaTracker(10, time.Hour)
		d, r := dt.Cumulative(1, start, at(15), 42, now)
		assert.Equal(t, DeltaBaseline, r)
		assert.Zero(t, d)
		assert.Equal(t, 1, dt.Len())
		assert.Equal(t, uint64(1), dt.Stats().Baselines)
	})

	t.Run("growth_yields_difference", func(t *testing.T) {
		dt := NewDeltaTracker(10, time.Hour)
		dt.Cumulative(1, start, at(15), 42, now)
		d, r := dt.Cumulative(1, start, at(30), 50, now)
		assert.Equal(t, DeltaContinued, r)
		assert.Equal(t, 8.0, d)
		d, r = dt.Cumulative(1, start, at(45), 50, now)
		assert.Equal(t, DeltaContinued, r)
		assert.Zero(t, d)
	})

	t.Run("value_decrease_is_reset_yielding_new_value", func(t *testing.T) {
		dt := NewDeltaTracker(10, time.Hour)
		dt.Cumulative(1, start, at(15), 42, now)
		d, r := dt.Cumulative(1, start, at(30), 3, now)
		assert.Equal(t, DeltaReset, r)
		assert.Equal(t, 3.0, d)
		d, r = dt.Cumulative(1, start, at(45), 5, now)
		assert.Equal(t, DeltaContinued, r)
		assert.Equal(t, 2.0, d)
		assert.Equal(t, uint64(1), dt.Stats().Resets)
	})

	t.Run("start_time_change_is_reset_even_if_value_grew", func(t *testing.T) {
		dt := NewDeltaTracker(10, time.Hour)
		dt.Cumulative(1, start, at(15), 42, now)
		d, r := dt.Cumulative(1, at(20), at(30), 60, now)
		assert.Equal(t, DeltaReset, r)
		assert.Equal(t, 60.0, d)
	})

	t.Run("unknown_start_time_is_not_a_change", func(t *testing.T) {
		dt := NewDeltaTracker(10, time.Hour)
		dt.Cumulative(1, 0, at(15), 42, now)
		d, r := dt.Cumulative(1, 0, at(30), 44, now)
		assert.Equal(t, DeltaContinued, r)
		assert.Equal(t, 2.0, d)
	})

	t.Run("duplicate_and_older_points_are_stale", func(t *testing.T) {
		dt := NewDeltaTracker(10, time.Hour)
		dt.Cumulative(1, start, at(30), 42, now)
		d, r := dt.Cumulative(1, start, at(30), 42, now) // the same batch through a second pipeline
		assert.Equal(t, DeltaStale, r)
		assert.Zero(t, d)
		_, r = dt.Cumulative(1, start, at(15), 40, now)
		assert.Equal(t, DeltaStale, r)
		d, r = dt.Cumulative(1, start, at(45), 43, now) // the baseline was not disturbed
		assert.Equal(t, DeltaContinued, r)
		assert.Equal(t, 1.0, d)
		assert.Equal(t, uint64(2), dt.Stats().Stale)
	})

	t.Run("eviction_at_cap_drops_least_recently_seen_and_is_counted", func(t *testing.T) {
		dt := NewDeltaTracker(3, time.Hour)
		for id := SeriesID(1); id <= 3; id++ {
			dt.Cumulative(id, start, at(15), 1, now)
		}
		dt.Cumulative(1, start, at(30), 2, now) // 1 is now the most recent; 2 the least
		dt.Cumulative(4, start, at(30), 1, now) // evicts 2
		assert.Equal(t, 3, dt.Len())
		assert.Equal(t, uint64(1), dt.Evictions())
		_, r := dt.Cumulative(2, start, at(45), 5, now)
		assert.Equal(t, DeltaBaseline, r, "an evicted series starts over")
		d, r := dt.Cumulative(1, start, at(45), 3, now)
		assert.Equal(t, DeltaContinued, r, "re-adding 2 evicted 3, the least recent then; 1 stays")
		assert.Equal(t, 1.0, d)
		_, r = dt.Cumulative(3, start, at(45), 1, now)
		assert.Equal(t, DeltaBaseline, r)
		st := dt.Stats()
		assert.Equal(t, uint64(3), st.Evicted)
		assert.Equal(t, 3, st.Series)
	})

	t.Run("ttl_expiry_on_lookup_and_by_sweep", func(t *testing.T) {
		dt := NewDeltaTracker(10, time.Minute)
		dt.Cumulative(1, start, at(15), 10, now)
		dt.Cumulative(2, start, at(15), 10, now)
		later := now.Add(2 * time.Minute)
		d, r := dt.Cumulative(1, start, at(135), 20, later)
		assert.Equal(t, DeltaBaseline, r, "unseen longer than the TTL: the gap is unknown")
		assert.Zero(t, d)
		assert.Equal(t, 1, dt.ExpireStale(later), "series 2 expires, series 1 was just seen")
		assert.Equal(t, 1, dt.Len())
		assert.Equal(t, uint64(2), dt.Stats().Expired)
		assert.Zero(t, dt.Evictions())
	})

	t.Run("new_series_reuses_expired_slot_before_evicting", func(t *testing.T) {
		dt := NewDeltaTracker(2, time.Minute)
		dt.Cumulative(1, start, at(15), 1, now)
		dt.Cumulative(2, start, at(15), 1, now.Add(90*time.Second))
		dt.Cumulative(3, start, at(15), 1, now.Add(90*time.Second))
		st := dt.Stats()
		assert.Equal(t, uint64(1), st.Expired)
		assert.Zero(t, st.Evicted)
	})

	t.Run("defaults_for_zero_config", func(t *testing.T) {
		dt := NewDeltaTracker(0, 0)
		assert.Equal(t, DefaultMaxSeries, dt.max)
		assert.Equal(t, int64(DefaultSeriesTTL), dt.ttl)
	})
}

func TestDeltaTrackerLRUInvariants(t *testing.T) {
	// Many inserts, touches and evictions: the list and the index must stay consistent.
	dt := NewDeltaTracker(50, time.Hour)
	now := t0
	for i := 0; i < 5000; i++ {
		id := SeriesID(i*7919%173 + 1)
		dt.Cumulative(id, 1, uint64(i+1), float64(i), now)
		if i%500 == 0 {
			now = now.Add(30 * time.Minute)
			dt.ExpireStale(now)
		}
	}
	require.LessOrEqual(t, dt.Len(), 50)
	seen := 0
	prev := int32(-1)
	for i := dt.head; i >= 0; i = dt.entries[i].next {
		require.Equal(t, prev, dt.entries[i].prev)
		idx, ok := dt.index[dt.entries[i].id]
		require.True(t, ok)
		require.Equal(t, i, idx)
		prev = i
		seen++
		require.LessOrEqual(t, seen, dt.Len())
	}
	require.Equal(t, prev, dt.tail)
	require.Equal(t, dt.Len(), seen)
}

func TestDeltaTrackerConcurrentUse(t *testing.T) {
	dt := NewDeltaTracker(100, time.Hour)
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func(g int) {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 1000; i++ {
				dt.Cumulative(SeriesID(g*1000+i%200), 1, uint64(i+1), float64(i), t0)
			}
		}(g)
	}
	for g := 0; g < 4; g++ {
		<-done
	}
	assert.LessOrEqual(t, dt.Len(), 100)
	assert.Positive(t, dt.Evictions())
}
