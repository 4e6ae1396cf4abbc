package insightsprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/meshinsights/otelcol-insights/internal/engine"
	"github.com/meshinsights/otelcol-insights/processor/insightsprocessor/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	tests := []struct {
		id       component.ID
		expected *Config
		errMsg   string
	}{
		{
			id:       component.NewID(metadata.Type),
			expected: createDefaultConfig().(*Config),
		},
		{
			id: component.NewIDWithName(metadata.Type, "2"),
			expected: func() *Config {
				c := createDefaultConfig().(*Config)
				c.ClusterName = "prod-eu-1"
				c.Mesh = MeshConfig{ProxyUID: 1000670001, ProxyGID: 1000670001}
				c.Findings = FindingsConfig{
					FlushInterval:   2 * time.Second,
					ReemitInterval:  15 * time.Minute,
					MaxPending:      500,
					MaxActive:       2000,
					MaxRetryBackoff: time.Minute,
					ResolveAfter:    5 * time.Minute,
				}
				c.Inventory = InventoryConfig{MaxPods: 5000, PullInterval: 10 * time.Minute, MissedPulls: 3}
				c.Rules.AppUID1337.Enabled = false
				c.Rules.HostNetworkInMesh.Enabled = false
				c.Rules.MissingSidecar.ExcludedNamespaces = []string{"kube-system", "istio-system", "batch-legacy"}
				c.Rules.PassthroughEgress.AllowHosts = []string{"*.amazonaws.com", "api.github.com"}
				c.Rules.PlaintextInbound.AllowSources = []string{"10.0.0.0/8", "monitoring/prometheus"}
				c.Rules.NewEdge.LearningWindow = time.Hour
				return c
			}(),
		},
		{
			id: component.NewIDWithName(metadata.Type, "kubernetes_enabled"),
			expected: func() *Config {
				c := createDefaultConfig().(*Config)
				c.Kubernetes = KubernetesConfig{Enabled: true, AuthType: "kubeConfig", NodeName: "node-a"}
				return c
			}(),
		},
		{
			id: component.NewIDWithName(metadata.Type, "unaccounted_egress"),
			expected: func() *Config {
				c := createDefaultConfig().(*Config)
				c.Rules.UnaccountedEgress = UnaccountedEgressConfig{RuleToggle: RuleToggle{Enabled: true},
					LearningWindow: 2 * time.Hour, Window: 10 * time.Minute, MinBytesPerMinute: 4 << 20, Factor: 6}
				return c
			}(),
		},
		{id: component.NewIDWithName(metadata.Type, "bad_unaccounted_egress"),
			errMsg: "rules::unaccounted_egress: window: must be at least 10s, got 1s\nmin_bytes_per_minute: must be positive, got 0\nfactor: must be greater than 1, got 1"},
		{id: component.NewIDWithName(metadata.Type, "bad_auth_type"), errMsg: `kubernetes.auth_type: "token" is not one of`},
		{id: component.NewIDWithName(metadata.Type, "bad_uid"), errMsg: "mesh.proxy_uid: -1 is not a valid Linux UID"},
		{id: component.NewIDWithName(metadata.Type, "zero_flush"), errMsg: "findings.flush_interval: must be positive"},
		{id: component.NewIDWithName(metadata.Type, "zero_pending"), errMsg: "findings.max_pending: must be positive"},
		{id: component.NewIDWithName(metadata.Type, "backoff_below_flush"), errMsg: "findings.max_retry_backoff: must be at least findings.flush_interval"},
		{id: component.NewIDWithName(metadata.Type, "zero_pods"), errMsg: "inventory.max_pods: must be positive"},
		{id: component.NewIDWithName(metadata.Type, "zero_pull_interval"), errMsg: "inventory.pull_interval: must be positive"},
		{id: component.NewIDWithName(metadata.Type, "zero_missed_pulls"), errMsg: "inventory.missed_pulls: must be positive"},
		{id: component.NewIDWithName(metadata.Type, "zero_resolve_after"), errMsg: "findings.resolve_after: must be positive"},
		{id: component.NewIDWithName(metadata.Type, "bad_allow_sources"), errMsg: `rules::plaintext_inbound: allow_sources: [0] "10.0.0.0/33": not a valid CIDR`},
		{id: component.NewIDWithName(metadata.Type, "bad_allow_hosts"), errMsg: `rules::passthrough_egress: allow_hosts: [0] "[a-": not a valid host glob`},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if tt.errMsg != "" {
				require.ErrorContains(t, err, tt.errMsg)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.expected, cfg)
		})
	}
}

func TestDefaultConfigMatchesDesignDefaults(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.False(t, cfg.Kubernetes.Enabled, "pod objects arrive as log records unless the informer is enabled")
	assert.Equal(t, "serviceAccount", cfg.Kubernetes.AuthType)
	assert.Equal(t, int64(1337), cfg.Mesh.ProxyUID)
	assert.Equal(t, int64(1337), cfg.Mesh.ProxyGID)
	assert.Equal(t, time.Second, cfg.Findings.FlushInterval, "new findings within a second")
	assert.Equal(t, 10000, cfg.Findings.MaxPending)
	assert.Equal(t, time.Hour, cfg.Inventory.PullInterval, "the k8sobjects receiver's default pull interval")
	assert.Equal(t, []string{"kube-system", "istio-system"}, cfg.Rules.MissingSidecar.ExcludedNamespaces)
	require.NoError(t, confmap.Validate(cfg))
}

func TestEveryRuleHasAnEnabledToggleOnByDefault(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	ids := map[string]bool{}
	for _, r := range engineConfig(cfg).PodRules {
		ids[r.Rule().ID] = true
	}
	for _, r := range engineConfig(cfg).Traffic.Rules {
		ids[r.Rule().ID] = true
	}
	require.Len(t, ids, 15, "every rule of the catalogue but the experimental unaccounted_egress is on by default")
	assert.NotContains(t, ids, "unaccounted_egress", "experimental: off by default")
	assert.False(t, engine.New(engineConfig(cfg), engine.Settings{}).ObservesPodNetwork(),
		"off, kubeletstats points are not even read")

	t.Run("unaccounted_egress_turns_on", func(t *testing.T) {
		cm := confmap.NewFromStringMap(map[string]any{"rules": map[string]any{"unaccounted_egress": map[string]any{"enabled": true}}})
		c := createDefaultConfig().(*Config)
		require.NoError(t, cm.Unmarshal(c))
		var on []string
		for _, r := range engineConfig(c).Traffic.Rules {
			on = append(on, r.Rule().ID)
		}
		assert.Contains(t, on, "unaccounted_egress")
		assert.Len(t, on, 8)
	})

	// Turning each one off through its own key removes exactly that rule.
	for id := range ids {
		t.Run(id, func(t *testing.T) {
			cm := confmap.NewFromStringMap(map[string]any{"rules": map[string]any{id: map[string]any{"enabled": false}}})
			c := createDefaultConfig().(*Config)
			require.NoError(t, cm.Unmarshal(c), "rules.%s.enabled is a config key", id)
			ec := engineConfig(c)
			left := map[string]bool{}
			for _, r := range ec.PodRules {
				left[r.Rule().ID] = true
			}
			for _, r := range ec.Traffic.Rules {
				left[r.Rule().ID] = true
			}
			assert.Len(t, left, len(ids)-1)
			assert.NotContains(t, left, id)
		})
	}
}
