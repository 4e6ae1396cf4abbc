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
				c.Inventory.MaxPods = 5000
				c.Rules.AppUID1337.Enabled = false
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
		{id: component.NewIDWithName(metadata.Type, "bad_auth_type"), errMsg: `kubernetes.auth_type: "token" is not one of`},
		{id: component.NewIDWithName(metadata.Type, "bad_uid"), errMsg: "mesh.proxy_uid: -1 is not a valid Linux UID"},
		{id: component.NewIDWithName(metadata.Type, "zero_flush"), errMsg: "findings.flush_interval: must be positive"},
		{id: component.NewIDWithName(metadata.Type, "zero_pending"), errMsg: "findings.max_pending: must be positive"},
		{id: component.NewIDWithName(metadata.Type, "backoff_below_flush"), errMsg: "findings.max_retry_backoff: must be at least findings.flush_interval"},
		{id: component.NewIDWithName(metadata.Type, "zero_pods"), errMsg: "inventory.max_pods: must be positive"},
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
	assert.True(t, cfg.Rules.AppUID1337.Enabled)
	require.NoError(t, confmap.Validate(cfg))
}
