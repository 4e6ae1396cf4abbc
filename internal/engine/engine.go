// Package engine is the insights processor's core: it keeps the inventory, runs the rules,
// tracks each finding's lifecycle and delivers findings to every logs pipeline from one
// background loop. One Engine serves every pipeline that lists the same component ID.
package engine

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

// Config is what the engine needs, already validated by the processor's config.
type Config struct {
	Cluster         string
	ProxyFallback   inventory.ProxyIdentity
	FlushInterval   time.Duration
	ReemitInterval  time.Duration
	MaxPending      int
	MaxActive       int
	MaxRetryBackoff time.Duration
	MaxPods         int
	PodRules        []rules.PodRule
	// ResolveAfter resolves a traffic finding no evidence supported for that long
	// (DefaultResolveAfter when zero); Traffic configures traffic inspection (traffic.go).
	ResolveAfter time.Duration
	Traffic      TrafficConfig
	// PullInterval is the k8sobjects receiver's pull interval; an object delivered as a
	// pull-mode snapshot that missed MissedPulls pulls in a row is taken as deleted
	// (pulled.go). Zero values take DefaultPullInterval and DefaultMissedPulls.
	PullInterval time.Duration
	MissedPulls  int
}

// Settings are the engine's collaborators.
type Settings struct {
	Logger    *zap.Logger
	Telemetry Telemetry
	// Now is the clock; tests inject their own.
	Now func() time.Time
	// Name identifies the component in log lines (e.g. "insights/2").
	Name string
}

// Engine is safe for concurrent use by every pipeline's consume calls.
type Engine struct {
	cfg Config
	set Settings

	mu            sync.Mutex // guards store, tracker, sinks, expectedSinks, started
	store         *inventory.Store
	tracker       *findings.Tracker
	sinks         []*Sink
	expectedSinks int
	started       bool
	traffic       *trafficState   // guarded by mu too (see traffic.go)
	pulled        *pulledTracker  // guarded by mu too (see pulled.go)
	ipReported    ipIndexReported // guarded by mu too (see ipindex_telemetry.go)

	stop chan struct{}
	done chan struct{}
}

// New builds an engine; nothing runs until Start.
func New(cfg Config, set Settings) *Engine {
	if set.Logger == nil {
		set.Logger = zap.NewNop()
	}
	if set.Telemetry == nil {
		set.Telemetry = NopTelemetry{}
	}
	if set.Now == nil {
		set.Now = time.Now
	}
	return &Engine{
		cfg:     cfg,
		set:     set,
		store:   inventory.NewStore(cfg.MaxPods),
		tracker: findings.NewTracker(findings.TrackerConfig{ReemitInterval: cfg.ReemitInterval, MaxActive: cfg.MaxActive}),
		traffic: newTrafficState(cfg, set),
		pulled:  newPulledTracker(cfg),
	}
}

// ExpectLogsPipeline is called when a logs pipeline that lists the processor is created,
// before anything starts, so Start knows whether findings have somewhere to go.
func (e *Engine) ExpectLogsPipeline() {
	e.mu.Lock()
	e.expectedSinks++
	e.mu.Unlock()
}

// Start starts the delivery loop. Without any logs pipeline, findings go to the
// collector's own log instead of being lost.
func (e *Engine) Start(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		return errors.New("engine already started")
	}
	e.started = true
	if e.expectedSinks == 0 {
		e.set.Logger.Warn("No logs pipeline lists this processor: findings will be written to the collector's own log. "+
			"Add the processor to a logs pipeline to export findings as log records.", zap.String("component", e.set.Name))
		e.sinks = append(e.sinks, e.newSink("collector_log", logFindings(e.set.Logger)))
	}
	e.stop = make(chan struct{})
	e.done = make(chan struct{})
	go e.loop(e.stop, e.done)
	return nil
}

// Shutdown stops the loop and flushes what the remaining sinks hold, within ctx.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	if !e.started {
		e.mu.Unlock()
		return nil
	}
	e.started = false
	stop, done := e.stop, e.done
	e.mu.Unlock()

	close(stop)
	<-done

	e.mu.Lock()
	e.dispatchDueLocked(ctx, e.set.Now())
	sinks := e.sinks
	e.sinks = nil
	e.mu.Unlock()
	for _, s := range sinks {
		s.drain(ctx, e.set.Now)
	}
	return nil
}

// AddSink attaches a destination (a logs pipeline's next consumer).
func (e *Engine) AddSink(name string, deliver DeliverFunc) *Sink {
	s := e.newSink(name, deliver)
	e.mu.Lock()
	e.sinks = append(e.sinks, s)
	e.mu.Unlock()
	return s
}

// RemoveSink detaches a destination after flushing what it holds, within ctx: the
// collector shuts pipelines down in order, so this is that pipeline's last chance.
func (e *Engine) RemoveSink(ctx context.Context, s *Sink) {
	e.mu.Lock()
	e.dispatchDueLocked(ctx, e.set.Now())
	for i, cur := range e.sinks {
		if cur == s {
			e.sinks = append(e.sinks[:i], e.sinks[i+1:]...)
			break
		}
	}
	e.mu.Unlock()
	s.drain(ctx, e.set.Now)
}

func (e *Engine) newSink(name string, deliver DeliverFunc) *Sink {
	return &Sink{
		name:       name,
		deliver:    deliver,
		maxPending: e.cfg.MaxPending,
		minBackoff: e.cfg.FlushInterval,
		maxBackoff: e.cfg.MaxRetryBackoff,
		telemetry:  e.set.Telemetry,
	}
}

func (e *Engine) loop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	ticker := time.NewTicker(e.cfg.FlushInterval)
	defer ticker.Stop()
	ctx := context.Background()
	for {
		select {
		case <-stop:
			return
		case <-ticker.C:
			e.Flush(ctx)
		}
	}
}

// Flush moves due findings to every sink and sends what each sink may send now.
// The loop calls it on every tick; tests call it directly.
func (e *Engine) Flush(ctx context.Context) {
	now := e.set.Now()
	e.expirePulled(ctx, now) // pull-mode objects that stopped appearing are deleted (pulled.go)
	e.mu.Lock()
	e.expireTrafficLocked(ctx, now) // traffic findings: confirm held ones, resolve stale ones (traffic.go)
	e.reportIPIndexLocked(ctx)
	e.dispatchDueLocked(ctx, now)
	sinks := append([]*Sink(nil), e.sinks...)
	e.mu.Unlock()
	for _, s := range sinks {
		for s.trySend(ctx, now, false) == sendDone {
		}
	}
}

// dispatchDueLocked hands due findings to every sink. Without any sink they stay in
// the tracker, so a pipeline that attaches late still gets them.
func (e *Engine) dispatchDueLocked(ctx context.Context, now time.Time) {
	if len(e.sinks) == 0 {
		return
	}
	due := e.tracker.Due(now)
	for _, s := range e.sinks {
		s.enqueue(ctx, due)
	}
}

// Inspected counts telemetry items seen on a signal.
func (e *Engine) Inspected(ctx context.Context, signal string, n int) {
	e.set.Telemetry.Inspected(ctx, signal, n)
}

// Undecodable counts an input that claimed to be something we read but was malformed.
func (e *Engine) Undecodable(ctx context.Context, signal, reason string) {
	e.set.Telemetry.Undecodable(ctx, signal, reason)
}

// Pending is the number of findings waiting for delivery over all sinks.
func (e *Engine) Pending() int {
	e.mu.Lock()
	sinks := append([]*Sink(nil), e.sinks...)
	e.mu.Unlock()
	n := 0
	for _, s := range sinks {
		n += s.Pending()
	}
	return n
}

// Active is the number of distinct open findings.
func (e *Engine) Active() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tracker.Active()
}

// Pods is the number of pods in the inventory.
func (e *Engine) Pods() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.store.Len()
}
