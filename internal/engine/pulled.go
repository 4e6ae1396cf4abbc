package engine

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshinsights/otelcol-insights/internal/inventory"
)

// Pull-mode staleness. The k8sobjects receiver's pull mode re-sends every object once per
// interval and never says DELETED; an object that stops appearing is gone. The engine
// remembers when each snapshot-delivered object was last seen (collector clock) and, once
// it missed MissedPulls pulls in a row, applies a DELETED event for it: its findings
// resolve and its IPs leave the index, exactly as a watch-mode deletion would. An object
// seen through a watch event (or the informer) is not tracked: its deletion will arrive.

// Defaults for Config.PullInterval and Config.MissedPulls: the k8sobjects receiver's
// default pull interval, and two missed pulls.
const (
	DefaultPullInterval = time.Hour
	DefaultMissedPulls  = 2
)

// storePulled names in processor_insights_inventory_refused{store}: snapshot objects
// whose staleness could not be tracked because the tracker was full.
const storePulled = "pulled"

// pulledObject is what staleness needs of a snapshot object: when it was last seen, and
// just enough of it to build its deletion event (names, UID, node; nothing else).
type pulledObject struct {
	lastSeen time.Time
	gone     inventory.ObjectEvent
}

// pulledTracker is bounded by max entries; guarded by Engine.mu.
type pulledTracker struct {
	objects map[string]*pulledObject
	max     int
	// staleAfter is MissedPulls intervals plus half an interval of slack, so a pull that
	// arrives a little late does not delete anything.
	staleAfter time.Duration
	// sweepEvery avoids walking the map on every flush tick.
	sweepEvery time.Duration
	lastSweep  time.Time
}

func newPulledTracker(cfg Config) *pulledTracker {
	interval, missed := cfg.PullInterval, cfg.MissedPulls
	if interval <= 0 {
		interval = DefaultPullInterval
	}
	if missed <= 0 {
		missed = DefaultMissedPulls
	}
	max := cfg.MaxPods
	if max <= 0 {
		max = 200000
	}
	sweep := interval / 10
	if sweep < time.Second {
		sweep = time.Second
	}
	return &pulledTracker{
		objects:    make(map[string]*pulledObject),
		max:        max,
		staleAfter: time.Duration(missed)*interval + interval/2,
		sweepEvery: sweep,
	}
}

// pulledKey identifies an object across kinds: pods, templates and namespaces never share one.
func pulledKey(ev inventory.ObjectEvent) string {
	switch {
	case ev.Namespace != nil:
		return "namespace/" + ev.Namespace.Name
	case ev.Pod == nil:
		return ""
	case ev.Template != nil:
		return "template/" + ev.Template.Object.Kind + "/" + ev.Pod.Namespace + "/" + ev.Pod.Name
	}
	return "pod/" + ev.Pod.Namespace + "/" + ev.Pod.Name
}

// note records one event: a snapshot refreshes (or starts) its object's clock, any watch
// event stops tracking it. It reports false when a new snapshot object could not be
// tracked because the tracker is full.
func (t *pulledTracker) note(ev inventory.ObjectEvent, now time.Time) bool {
	key := pulledKey(ev)
	if key == "" {
		return true
	}
	if ev.Type != inventory.EventSnapshot {
		delete(t.objects, key)
		return true
	}
	if o, ok := t.objects[key]; ok {
		o.lastSeen = now
		return true
	}
	if len(t.objects) >= t.max {
		return false
	}
	t.objects[key] = &pulledObject{lastSeen: now, gone: deletionOf(ev)}
	return true
}

// stale removes and returns the deletion events of objects not seen for staleAfter.
func (t *pulledTracker) stale(now time.Time) []inventory.ObjectEvent {
	if len(t.objects) == 0 || now.Sub(t.lastSweep) < t.sweepEvery {
		return nil
	}
	t.lastSweep = now
	var out []inventory.ObjectEvent
	for key, o := range t.objects {
		if now.Sub(o.lastSeen) > t.staleAfter {
			out = append(out, o.gone)
			delete(t.objects, key)
		}
	}
	return out
}

// deletionOf builds the DELETED event for an object from its identity only. An empty
// resourceVersion makes the store take it as newer than what it holds.
func deletionOf(ev inventory.ObjectEvent) inventory.ObjectEvent {
	gone := inventory.ObjectEvent{Type: inventory.EventDeleted}
	if ev.Namespace != nil {
		gone.Namespace = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ev.Namespace.Name, UID: ev.Namespace.UID}}
		return gone
	}
	gone.Pod = &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: ev.Pod.Name, Namespace: ev.Pod.Namespace, UID: ev.Pod.UID},
		Spec:       corev1.PodSpec{NodeName: ev.Pod.Spec.NodeName},
	}
	if ev.Template != nil {
		tmpl := *ev.Template
		gone.Template = &tmpl
	}
	return gone
}

// expirePulled applies the deletion of every snapshot object that missed its pulls. It
// takes the engine's lock itself (ApplyObject does), so callers must not hold it.
func (e *Engine) expirePulled(ctx context.Context, now time.Time) {
	e.mu.Lock()
	gone := e.pulled.stale(now)
	e.mu.Unlock()
	for _, ev := range gone {
		e.ApplyObject(ctx, ev)
		e.IndexObject(ev)
	}
}
