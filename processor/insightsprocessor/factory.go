// Package insightsprocessor is the collector adapter of the insights engine: config,
// factory, pdata -> observations, findings -> plog. The engine lives in internal/.
package insightsprocessor // import "github.com/meshinsights/otelcol-insights/processor/insightsprocessor"

import (
	"context"
	"fmt"
	"slices"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/meshinsights/otelcol-insights/internal/engine"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/rules"
	"github.com/meshinsights/otelcol-insights/processor/insightsprocessor/internal/metadata"
)

// The processor only reads the telemetry passing through: the pipeline can share one
// read-only copy of every batch with it.
var processorCapabilities = consumer.Capabilities{MutatesData: false}

// NewFactory returns the insights processor factory.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithTraces(createTraces, metadata.TracesStability),
		processor.WithMetrics(createMetrics, metadata.MetricsStability),
		processor.WithLogs(createLogs, metadata.LogsStability),
	)
}

func createTraces(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	p, err := newInsightsProcessor(set, cfg)
	if err != nil {
		return nil, err
	}
	return processorhelper.NewTraces(ctx, set, cfg, next, p.processTraces,
		processorhelper.WithCapabilities(processorCapabilities),
		processorhelper.WithStart(p.start), processorhelper.WithShutdown(p.shutdown))
}

func createMetrics(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	p, err := newInsightsProcessor(set, cfg)
	if err != nil {
		return nil, err
	}
	return processorhelper.NewMetrics(ctx, set, cfg, next, p.processMetrics,
		processorhelper.WithCapabilities(processorCapabilities),
		processorhelper.WithStart(p.start), processorhelper.WithShutdown(p.shutdown))
}

func createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	p, err := newInsightsProcessor(set, cfg)
	if err != nil {
		return nil, err
	}
	p.findingsOut = next
	p.shared.engine.ExpectLogsPipeline()
	return processorhelper.NewLogs(ctx, set, cfg, next, p.processLogs,
		processorhelper.WithCapabilities(processorCapabilities),
		processorhelper.WithStart(p.start), processorhelper.WithShutdown(p.shutdown))
}

func newInsightsProcessor(set processor.Settings, cfg component.Config) (*insightsProcessor, error) {
	pCfg, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("insights: unexpected config type %T", cfg)
	}
	shared, err := sharedEngines.acquire(set.ID, pCfg, func() (*sharedEngine, error) {
		tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
		if err != nil {
			return nil, err
		}
		tel := newProcessorTelemetry(tb)
		ecfg := engineConfig(pCfg)
		var ipIndex *inventory.IPIndex
		if pCfg.Kubernetes.Enabled {
			// The informer keeps a cluster-wide IP index; the traffic rules read it.
			ipIndex = inventory.NewIPIndex(inventory.IPIndexOptions{})
			ecfg.Traffic.PodIPs = ipIndex
		}
		eng := engine.New(ecfg, engine.Settings{
			Logger:    set.Logger,
			Telemetry: tel,
			Name:      set.ID.String(),
		})
		return &sharedEngine{engine: eng, telemetry: tel, logger: set.Logger, ipIndex: ipIndex}, nil
	})
	if err != nil {
		return nil, err
	}
	return &insightsProcessor{shared: shared, id: set.ID, buildVersion: set.BuildInfo.Version}, nil
}

func engineConfig(cfg *Config) engine.Config {
	var podRules []rules.PodRule
	excluded := append(slices.Clone(cfg.Rules.MissingSidecar.ExcludedNamespaces), ownNamespace()...)
	if excluded == nil {
		excluded = []string{} // an explicitly empty list excludes nothing
	}
	for _, r := range rules.PodRules(rules.RuleOptions{MissingSidecarExcludedNamespaces: excluded}) {
		if cfg.ruleEnabled(r.Rule().ID) {
			podRules = append(podRules, r)
		}
	}
	return engine.Config{
		Cluster:         cfg.ClusterName,
		ProxyFallback:   inventory.ProxyIdentity{UID: cfg.Mesh.ProxyUID, GID: cfg.Mesh.ProxyGID},
		FlushInterval:   cfg.Findings.FlushInterval,
		ReemitInterval:  cfg.Findings.ReemitInterval,
		MaxPending:      cfg.Findings.MaxPending,
		MaxActive:       cfg.Findings.MaxActive,
		MaxRetryBackoff: cfg.Findings.MaxRetryBackoff,
		ResolveAfter:    cfg.Findings.ResolveAfter,
		MaxPods:         cfg.Inventory.MaxPods,
		PullInterval:    cfg.Inventory.PullInterval,
		MissedPulls:     cfg.Inventory.MissedPulls,
		PodRules:        podRules,
		Traffic:         engine.TrafficConfig{Rules: cfg.Rules.trafficRules(cfg.ruleEnabled), Node: nodeName(cfg)},
	}
}

// ruleEnabled reads the per-rule toggle; a rule without configuration is on.
func (cfg *Config) ruleEnabled(id string) bool {
	switch id {
	case "app_uid_1337":
		return cfg.Rules.AppUID1337.Enabled
	case "app_gid_1337":
		return cfg.Rules.AppGID1337.Enabled
	case "shared_process_namespace":
		return cfg.Rules.SharedProcessNamespace.Enabled
	case "proxy_credentials_mounted":
		return cfg.Rules.ProxyCredentialsMounted.Enabled
	case "capture_weakened":
		return cfg.Rules.CaptureWeakened.Enabled
	case "net_admin_in_mesh":
		return cfg.Rules.NetAdminInMesh.Enabled
	case "host_network_in_mesh":
		return cfg.Rules.HostNetworkInMesh.Enabled
	case "missing_sidecar":
		return cfg.Rules.MissingSidecar.Enabled
	case "sidecar_bypass":
		return cfg.Rules.SidecarBypass.Enabled
	case "plaintext_inbound":
		return cfg.Rules.PlaintextInbound.Enabled
	case "passthrough_egress":
		return cfg.Rules.PassthroughEgress.Enabled
	case "blackhole_egress":
		return cfg.Rules.BlackholeEgress.Enabled
	case "inbound_passthrough":
		return cfg.Rules.InboundPassthrough.Enabled
	case "authz_denial_spike":
		return cfg.Rules.AuthzDenialSpike.Enabled
	case "new_edge":
		return cfg.Rules.NewEdge.Enabled
	case "unaccounted_egress":
		return cfg.Rules.UnaccountedEgress.Enabled
	}
	return true
}
