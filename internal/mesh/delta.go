package mesh

import (
	"sync"
	"sync/atomic"
	"time"
)

// SeriesID identifies one cumulative series: metric name, resource identity and data point
// attributes, hashed (see seriesHasher). A 64-bit hash: a collision, vanishingly unlikely at
// the series counts a node sees, would make two series share one baseline.
type SeriesID uint64

// DeltaResult says what a point meant for its series.
type DeltaResult uint8

const (
	// DeltaBaseline: the series was not known (first sighting, or forgotten after eviction
	// or TTL). Its value is history of unknown age, so it yields no delta; it is recorded
	// as the baseline for the next point.
	DeltaBaseline DeltaResult = iota
	// DeltaContinued: the series grew (or stayed) since its previous point; the delta is the
	// difference (possibly 0).
	DeltaContinued
	// DeltaReset: the counter restarted (its value decreased, or its start time changed):
	// everything it counts now is new, so the delta is the new value.
	DeltaReset
	// DeltaStale: the point is not newer than the last one seen (a duplicate, e.g. the same
	// batch reaching the processor through two pipelines, or out of order): ignored.
	DeltaStale
)

var deltaResultNames = [...]string{"baseline", "continued", "reset", "stale"}

func (r DeltaResult) String() string {
	if int(r) < len(deltaResultNames) {
		return deltaResultNames[r]
	}
	return "unknown"
}

// Defaults for NewDeltaTracker.
const (
	DefaultMaxSeries = 100_000
	DefaultSeriesTTL = 15 * time.Minute
)

// DeltaStats are the tracker's counters since it was created, for self-telemetry.
type DeltaStats struct {
	Series      int    // series tracked now
	Baselines   uint64 // first sightings (including re-sightings after eviction or expiry)
	Resets      uint64 // counter resets and start-time changes
	Stale       uint64 // duplicate or out-of-order points ignored
	Evicted     uint64 // series dropped, least recently seen first, because MaxSeries was reached
	Expired     uint64 // series dropped because they were not seen for TTL
	DeltaPoints uint64 // delta-temporality points, passed on as they are (not tracked)
}

// DeltaTracker turns cumulative counter points into per-series deltas. It is bounded: at
// most maxSeries series (least recently seen evicted first) and a TTL after which an unseen
// series is forgotten. Lookups of a known series do not allocate. Safe for concurrent use.
//
// Its TTL runs on the caller's clock (now), not on the telemetry's timestamps: pods' clocks
// and scrape times differ, and the question is "when did this collector last see it".
type DeltaTracker struct {
	mu      sync.Mutex
	max     int
	ttl     int64 // ns
	index   map[SeriesID]int32
	entries []deltaEntry
	head    int32 // most recently seen; -1 when empty
	tail    int32 // least recently seen; -1 when empty
	free    int32 // free list through next; -1 when empty
	stats   DeltaStats
	raw     atomic.Uint64 // delta-temporality points; counted without the lock
}

type deltaEntry struct {
	id         SeriesID
	start, ts  uint64 // the last point's start time and time (ns since epoch); 0 unknown
	value      float64
	seen       int64 // caller's clock at the last touch (ns)
	prev, next int32
}

// NewDeltaTracker returns a tracker for at most maxSeries series, forgetting a series not
// seen for ttl. Zero or negative values take DefaultMaxSeries and DefaultSeriesTTL.
func NewDeltaTracker(maxSeries int, ttl time.Duration) *DeltaTracker {
	if maxSeries <= 0 {
		maxSeries = DefaultMaxSeries
	}
	if ttl <= 0 {
		ttl = DefaultSeriesTTL
	}
	return &DeltaTracker{
		max:   maxSeries,
		ttl:   int64(ttl),
		index: make(map[SeriesID]int32, min(maxSeries, 4096)),
		head:  -1,
		tail:  -1,
		free:  -1,
	}
}

// Cumulative records one point of a cumulative series and returns its delta:
// start and ts are the point's start time and time in ns since the epoch (0 if unknown),
// now is the caller's clock. See DeltaResult for the cases; the delta is 0 unless the result
// is DeltaContinued or DeltaReset.
func (t *DeltaTracker) Cumulative(id SeriesID, start, ts uint64, value float64, now time.Time) (float64, DeltaResult) {
	nowNs := now.UnixNano()
	t.mu.Lock()
	defer t.mu.Unlock()

	i, ok := t.index[id]
	if ok {
		e := &t.entries[i]
		if nowNs-e.seen > t.ttl {
			// Not seen for longer than the TTL: whatever happened meanwhile is unknown.
			t.stats.Expired++
			t.stats.Baselines++
			*e = deltaEntry{id: id, start: start, ts: ts, value: value, seen: nowNs, prev: e.prev, next: e.next}
			t.touch(i)
			return 0, DeltaBaseline
		}
		if ts != 0 && e.ts != 0 && (ts < e.ts || (ts == e.ts && value == e.value && start == e.start)) {
			t.stats.Stale++
			return 0, DeltaStale
		}
		prev := e.value
		restarted := (start != 0 && e.start != 0 && start != e.start) || value < prev
		e.start, e.ts, e.value, e.seen = start, ts, value, nowNs
		t.touch(i)
		if restarted {
			t.stats.Resets++
			return value, DeltaReset
		}
		return value - prev, DeltaContinued
	}

	t.stats.Baselines++
	i = t.alloc(nowNs)
	t.entries[i] = deltaEntry{id: id, start: start, ts: ts, value: value, seen: nowNs, prev: -1, next: -1}
	t.index[id] = i
	t.pushFront(i)
	return 0, DeltaBaseline
}

// Stats returns the tracker's counters.
func (t *DeltaTracker) Stats() DeltaStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stats
	s.Series = len(t.index)
	s.DeltaPoints = t.raw.Load()
	return s
}

// Evictions returns how many series were dropped because the cap was reached.
func (t *DeltaTracker) Evictions() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stats.Evicted
}

// Len returns the number of series tracked.
func (t *DeltaTracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.index)
}

// ExpireStale forgets every series not seen for the TTL at now and returns how many. Lookups
// already ignore expired series and new series reuse expired slots first; call this from a
// ticker to give the memory back when traffic stops.
func (t *DeltaTracker) ExpireStale(now time.Time) int {
	nowNs := now.UnixNano()
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for t.tail >= 0 && nowNs-t.entries[t.tail].seen > t.ttl {
		t.remove(t.tail)
		t.stats.Expired++
		n++
	}
	return n
}

// countRaw counts a delta-temporality point passed through untracked.
func (t *DeltaTracker) countRaw() { t.raw.Add(1) }

// alloc returns a free slot, reclaiming the least recently seen series when at the cap.
func (t *DeltaTracker) alloc(nowNs int64) int32 {
	if len(t.index) >= t.max && t.tail >= 0 {
		if nowNs-t.entries[t.tail].seen > t.ttl {
			t.stats.Expired++
		} else {
			t.stats.Evicted++
		}
		t.remove(t.tail)
	}
	if t.free >= 0 {
		i := t.free
		t.free = t.entries[i].next
		return i
	}
	t.entries = append(t.entries, deltaEntry{})
	return int32(len(t.entries) - 1)
}

func (t *DeltaTracker) remove(i int32) {
	t.unlink(i)
	delete(t.index, t.entries[i].id)
	t.entries[i] = deltaEntry{prev: -1, next: t.free}
	t.free = i
}

func (t *DeltaTracker) touch(i int32) {
	if t.head == i {
		return
	}
	t.unlink(i)
	t.pushFront(i)
}

func (t *DeltaTracker) unlink(i int32) {
	e := &t.entries[i]
	if e.prev >= 0 {
		t.entries[e.prev].next = e.next
	} else if t.head == i {
		t.head = e.next
	}
	if e.next >= 0 {
		t.entries[e.next].prev = e.prev
	} else if t.tail == i {
		t.tail = e.prev
	}
	e.prev, e.next = -1, -1
}

func (t *DeltaTracker) pushFront(i int32) {
	e := &t.entries[i]
	e.prev, e.next = -1, t.head
	if t.head >= 0 {
		t.entries[t.head].prev = i
	}
	t.head = i
	if t.tail < 0 {
		t.tail = i
	}
}
