package engine

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/inventory/inventorytest"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

// recordingTelemetry counts what the engine reports.
type recordingTelemetry struct {
	NopTelemetry
	mu      sync.Mutex
	dropped map[string]int
	retried int
	emitted int
}

func newRecordingTelemetry() *recordingTelemetry {
	return &recordingTelemetry{dropped: map[string]int{}}
}

func (r *recordingTelemetry) Dropped(_ context.Context, reason string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dropped[reason] += n
}

func (r *recordingTelemetry) Retried(context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.retried++
}

func (r *recordingTelemetry) Emitted(context.Context, *findings.Finding) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.emitted++
}

// fakeClock is a settable clock for backoff tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// collectingSink records what was delivered and fails while failWith is set.
type collectingSink struct {
	mu        sync.Mutex
	delivered []findings.Finding
	attempts  int
	failWith  error
}

func (s *collectingSink) deliver(_ context.Context, batch []findings.Finding) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	if s.failWith != nil {
		return s.failWith
	}
	s.delivered = append(s.delivered, batch...)
	return nil
}

func (s *collectingSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.delivered)
}

func testEngine(t *testing.T, tel Telemetry, clock *fakeClock) *Engine {
	t.Helper()
	set := Settings{Telemetry: tel}
	if clock != nil {
		set.Now = clock.Now
	}
	return New(Config{
		Cluster:         "test",
		ProxyFallback:   inventory.DefaultProxyIdentity(),
		FlushInterval:   time.Second,
		ReemitInterval:  time.Hour,
		MaxPending:      100,
		MaxActive:       100,
		MaxRetryBackoff: 8 * time.Second,
		MaxPods:         100,
		PodRules:        []rules.PodRule{rules.AppUID1337{}},
	}, set)
}

func sapwnedEvent(t *testing.T) inventory.ObjectEvent {
	t.Helper()
	return inventory.ObjectEvent{Type: inventory.EventAdded, Pod: inventorytest.LoadPod(t, "../../testdata/pods/sapwned-job-uid-1337.yaml")}
}

func TestSinkDropsOldestBeyondMaxPending(t *testing.T) {
	tel := newRecordingTelemetry()
	s := &Sink{maxPending: 3, telemetry: tel}
	batch := make([]findings.Finding, 5)
	for i := range batch {
		batch[i].Summary = string(rune('a' + i))
	}
	s.enqueue(context.Background(), batch)
	require.Equal(t, 3, s.Pending())
	assert.Equal(t, 2, tel.dropped[DropPendingFull])
	assert.Equal(t, "c", s.pending[0].finding.Summary, "the oldest are dropped, the newest kept")
}

func TestFindingsWaitInTrackerUntilASinkAttaches(t *testing.T) {
	e := testEngine(t, nil, nil)
	e.ApplyObject(context.Background(), sapwnedEvent(t))
	e.Flush(context.Background()) // no sink yet: the finding stays due
	sink := &collectingSink{}
	e.AddSink("logs", sink.deliver)
	e.Flush(context.Background())
	require.Equal(t, 1, sink.count())
	assert.Equal(t, findings.StateOpen, sink.delivered[0].State)
}

func TestRetryableErrorBacksOffThenDelivers(t *testing.T) {
	tel := newRecordingTelemetry()
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	e := testEngine(t, tel, clock)
	sink := &collectingSink{failWith: errors.New("backend down")}
	e.AddSink("logs", sink.deliver)
	e.ApplyObject(context.Background(), sapwnedEvent(t))

	e.Flush(context.Background()) // attempt 1 fails: wait 1s
	clock.Advance(500 * time.Millisecond)
	e.Flush(context.Background()) // still backing off: no attempt
	assert.Equal(t, 1, sink.attempts)
	clock.Advance(600 * time.Millisecond)
	e.Flush(context.Background()) // attempt 2 fails: wait 2s
	assert.Equal(t, 2, sink.attempts)
	clock.Advance(1500 * time.Millisecond)
	e.Flush(context.Background())
	assert.Equal(t, 2, sink.attempts, "backoff doubled")
	sink.mu.Lock()
	sink.failWith = nil
	sink.mu.Unlock()
	clock.Advance(time.Second)
	e.Flush(context.Background())
	assert.Equal(t, 1, sink.count())
	assert.Equal(t, 2, tel.retried)
	assert.Equal(t, 1, tel.emitted)
	assert.Equal(t, 0, e.Pending())
}

func TestBackoffIsCappedAtMaxRetryBackoff(t *testing.T) {
	s := &Sink{maxPending: 10, minBackoff: time.Second, maxBackoff: 4 * time.Second, telemetry: NopTelemetry{},
		deliver: func(context.Context, []findings.Finding) error { return errors.New("down") }}
	s.enqueue(context.Background(), []findings.Finding{{}})
	now := time.Unix(0, 0)
	var waits []time.Duration
	for range 5 {
		require.Equal(t, sendRetry, s.trySend(context.Background(), now, false))
		waits = append(waits, s.nextAttempt.Sub(now))
		now = s.nextAttempt
	}
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second}, waits)
}

func TestRemoveSinkDropsAndCountsWhatCannotBeDeliveredByDeadline(t *testing.T) {
	tel := newRecordingTelemetry()
	e := testEngine(t, tel, nil)
	sink := &collectingSink{failWith: errors.New("exporter gone")}
	s := e.AddSink("logs", sink.deliver)
	e.ApplyObject(context.Background(), sapwnedEvent(t))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	e.RemoveSink(ctx, s)
	assert.Equal(t, 1, tel.dropped[DropShutdown])
	assert.Equal(t, 0, s.Pending())
}

func TestWithoutLogsPipelineFindingsAreWrittenToCollectorLog(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	e := New(Config{
		ProxyFallback: inventory.DefaultProxyIdentity(), FlushInterval: time.Hour, MaxPending: 10,
		MaxActive: 10, MaxRetryBackoff: time.Hour, MaxPods: 10, PodRules: []rules.PodRule{rules.AppUID1337{}},
	}, Settings{Logger: zap.New(core), Name: "insights"})
	require.NoError(t, e.Start(context.Background()))
	e.ApplyObject(context.Background(), sapwnedEvent(t))
	e.Flush(context.Background())
	require.NoError(t, e.Shutdown(context.Background()))

	assert.Equal(t, 1, logs.FilterMessageSnippet("No logs pipeline lists this processor").Len())
	found := logs.FilterField(zap.String("insight.rule", "app_uid_1337")).All()
	require.Len(t, found, 1)
	assert.Contains(t, found[0].Message, "1337")
}

func TestActiveFindingCapCountsDrops(t *testing.T) {
	tel := newRecordingTelemetry()
	e := testEngine(t, tel, nil)
	e.cfg.MaxActive = 1
	e.tracker = findings.NewTracker(findings.TrackerConfig{ReemitInterval: time.Hour, MaxActive: 1})
	ev := sapwnedEvent(t)
	e.ApplyObject(context.Background(), ev)
	other := ev.Pod.DeepCopy()
	other.Name, other.Namespace = "other", "elsewhere"
	e.ApplyObject(context.Background(), inventory.ObjectEvent{Type: inventory.EventAdded, Pod: other})
	assert.Equal(t, 1, e.Active())
	assert.Equal(t, 1, tel.dropped[DropActiveFull])
}

func TestShutdownIsSafeWithoutStartAndTwice(t *testing.T) {
	e := testEngine(t, nil, nil)
	require.NoError(t, e.Shutdown(context.Background()))
	require.NoError(t, e.Start(context.Background()))
	require.NoError(t, e.Shutdown(context.Background()))
	require.NoError(t, e.Shutdown(context.Background()))
}

func TestPodsOfOtherNodesAreLeftToTheirAgents(t *testing.T) {
	e := testEngine(t, nil, nil)
	e.cfg.Traffic.Node = "node-a"
	sink := &collectingSink{}
	e.AddSink("logs", sink.deliver)

	elsewhere := sapwnedEvent(t)
	elsewhere.Pod.Spec.NodeName = "node-b"
	e.ApplyObject(context.Background(), elsewhere)
	e.Flush(context.Background())
	assert.Zero(t, sink.count(), "a pod on node-b is node-b's agent's to report")
	assert.Zero(t, e.Pods())

	here := sapwnedEvent(t)
	here.Pod.Spec.NodeName = "node-a"
	e.ApplyObject(context.Background(), here)
	e.Flush(context.Background())
	assert.Positive(t, sink.count())
}
