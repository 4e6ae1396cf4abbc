package insightsprocessor

import (
	"context"
	"fmt"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"

	"github.com/meshinsights/otelcol-insights/internal/engine"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
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
	logger    *zap.Logger

	// With kubernetes.enabled: the cluster-wide IP index the traffic rules read, and the
	// informers feeding it and the engine.
	ipIndex *inventory.IPIndex
	source  *inventory.InformerSource

	mu      sync.Mutex // guards running and source
	running int
}

// acquire returns the engine for id, creating it with build when there is none for this
// config yet.
func (r *engineRegistry) acquire(id component.ID, cfg *Config, build func() (*sharedEngine, error)) (*sharedEngine, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if se, ok := r.entries[id]; ok && se.cfg == cfg {
		return se, nil
	}
	se, err := build()
	if err != nil {
		return nil, err
	}
	se.registry, se.id, se.cfg = r, id, cfg
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
	if se.cfg.Kubernetes.Enabled {
		if err := se.startInformers(ctx); err != nil {
			_ = se.engine.Shutdown(ctx)
			se.running--
			return err
		}
	}
	return nil
}

// startInformers connects to the API server and feeds this node's pods and every
// namespace to the engine, and every pod's IPs to the index. It returns without waiting
// for the caches to sync: findings follow as objects arrive.
func (se *sharedEngine) startInformers(ctx context.Context) error {
	client, err := inventory.NewClientset(se.cfg.Kubernetes.AuthType, "")
	if err != nil {
		return fmt.Errorf("kubernetes: %w", err)
	}
	eng := se.engine
	source, err := inventory.NewInformerSource(client, inventory.InformerOptions{
		NodeName: nodeName(se.cfg),
		Logger:   se.logger,
	}, func(ev inventory.ObjectEvent) {
		eng.ApplyObject(context.Background(), ev)
	}, se.ipIndex)
	if err != nil {
		return fmt.Errorf("kubernetes: %w", err)
	}
	if err := source.Start(ctx); err != nil {
		return fmt.Errorf("kubernetes: %w", err)
	}
	se.source = source
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
	if se.source != nil {
		se.source.Shutdown()
		se.source = nil
	}
	err := se.engine.Shutdown(ctx)
	se.telemetry.shutdown()
	return err
}
