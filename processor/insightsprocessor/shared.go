package insightsprocessor

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"

	"github.com/meshinsights/otelcol-insights/internal/engine"
)

// sharedEngines gives every pipeline that lists the same component ID one engine. The
// collector creates one processor per pipeline, all with the same *Config; a config
// reload creates new ones with a new *Config, which then gets a new engine.
var sharedEngines = &engineRegistry{entries: map[component.ID]*sharedEngine{}}

type engineRegistry struct {
	mu      sync.Mutex
	entries map[component.ID]*sharedEngine
}

// sharedEngine is reference-counted: the first Start starts it, the last Shutdown stops
// it and removes it from the registry.
type sharedEngine struct {
	registry  *engineRegistry
	id        component.ID
	cfg       *Config
	engine    *engine.Engine
	telemetry *processorTelemetry

	mu      sync.Mutex // guards started, running
	running int
}

// acquire returns the engine for id, creating it with build when there is none for this
// config yet.
func (r *engineRegistry) acquire(id component.ID, cfg *Config, build func() (*engine.Engine, *processorTelemetry, error)) (*sharedEngine, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if se, ok := r.entries[id]; ok && se.cfg == cfg {
		return se, nil
	}
	eng, tel, err := build()
	if err != nil {
		return nil, err
	}
	se := &sharedEngine{registry: r, id: id, cfg: cfg, engine: eng, telemetry: tel}
	r.entries[id] = se
	return se, nil
}

// start is called by each processor's Start; only the first starts the engine.
func (se *sharedEngine) start(ctx context.Context) error {
	se.mu.Lock()
	defer se.mu.Unlock()
	se.running++
	if se.running > 1 {
		return nil
	}
	if err := se.telemetry.registerGauges(se.engine); err != nil {
		se.running--
		return err
	}
	if err := se.engine.Start(ctx); err != nil {
		se.running--
		return err
	}
	return nil
}

// shutdown is called by each processor's Shutdown after its own Start; the last one
// stops the engine and forgets it.
func (se *sharedEngine) shutdown(ctx context.Context) error {
	se.mu.Lock()
	defer se.mu.Unlock()
	if se.running == 0 {
		return nil
	}
	se.running--
	if se.running > 0 {
		return nil
	}
	se.registry.mu.Lock()
	if se.registry.entries[se.id] == se {
		delete(se.registry.entries, se.id)
	}
	se.registry.mu.Unlock()
	err := se.engine.Shutdown(ctx)
	se.telemetry.shutdown()
	return err
}
