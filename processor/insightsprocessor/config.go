package insightsprocessor // import "github.com/meshinsights/otelcol-insights/processor/insightsprocessor"

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/meshinsights/otelcol-insights/internal/engine"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

// Config is the insights processor's configuration. The key names are a public contract.
type Config struct {
	// ClusterName becomes k8s.cluster.name on every finding and is part of its fingerprint.
	ClusterName string `mapstructure:"cluster_name"`

	Kubernetes KubernetesConfig `mapstructure:"kubernetes"`
	Mesh       MeshConfig       `mapstructure:"mesh"`
	Findings   FindingsConfig   `mapstructure:"findings"`
	Inventory  InventoryConfig  `mapstructure:"inventory"`
	Rules      RulesConfig      `mapstructure:"rules"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// KubernetesConfig configures the live pod/namespace source (a client-go informer).
type KubernetesConfig struct {
	// Enabled turns on the informer: this node's pods and every namespace are watched
	// (get/list/watch pods and namespaces), and every pod's IPs are indexed. Off by
	// default: pod objects then arrive as log records in the k8sobjects receiver's format.
	Enabled bool `mapstructure:"enabled"`
	// AuthType is serviceAccount or kubeConfig (KUBECONFIG, else ~/.kube/config), as in
	// k8s_attributes.
	AuthType string `mapstructure:"auth_type"`
	// NodeName limits spec rules to this node's pods (usually ${env:K8S_NODE_NAME}).
	NodeName string `mapstructure:"node_name"`
}

// MeshConfig holds mesh facts used when a pod does not reveal them itself.
type MeshConfig struct {
	// ProxyUID and ProxyGID are the fallback when neither the proxy container's
	// securityContext nor istio-init's -u/-g arguments say what the proxy runs as.
	ProxyUID int64 `mapstructure:"proxy_uid"`
	ProxyGID int64 `mapstructure:"proxy_gid"`
}

// FindingsConfig controls how findings leave the processor.
type FindingsConfig struct {
	// FlushInterval is how often the background loop sends new findings.
	FlushInterval time.Duration `mapstructure:"flush_interval"`
	// ReemitInterval is how often a still-active finding is sent again as "ongoing".
	ReemitInterval time.Duration `mapstructure:"reemit_interval"`
	// MaxPending bounds the findings waiting for delivery, per logs pipeline.
	MaxPending int `mapstructure:"max_pending"`
	// MaxActive bounds the distinct findings (fingerprints) tracked at once.
	MaxActive int `mapstructure:"max_active"`
	// MaxRetryBackoff caps the backoff after a retryable delivery error.
	MaxRetryBackoff time.Duration `mapstructure:"max_retry_backoff"`
	// ResolveAfter resolves a traffic finding once no evidence has supported it for this long.
	ResolveAfter time.Duration `mapstructure:"resolve_after"`
}

// InventoryConfig bounds the Kubernetes inventory.
type InventoryConfig struct {
	// MaxPods bounds the pods kept; pods beyond it are refused and counted.
	MaxPods int `mapstructure:"max_pods"`
	// PullInterval is the k8sobjects receiver's pull `interval` (its default is 1h) for
	// objects that arrive as pull-mode snapshots: pull mode never says DELETED, so an
	// object missing from MissedPulls pulls in a row is taken as deleted (its findings
	// resolve, its IPs leave the index). Watch-mode and informer objects are not affected.
	PullInterval time.Duration `mapstructure:"pull_interval"`
	MissedPulls  int           `mapstructure:"missed_pulls"`
}

// RuleToggle is the configuration every rule has.
type RuleToggle struct {
	Enabled bool `mapstructure:"enabled"`
}

// RulesConfig has one entry per rule, keyed by rule ID.
type RulesConfig struct {
	AppUID1337              RuleToggle           `mapstructure:"app_uid_1337"`
	AppGID1337              RuleToggle           `mapstructure:"app_gid_1337"`
	SharedProcessNamespace  RuleToggle           `mapstructure:"shared_process_namespace"`
	ProxyCredentialsMounted RuleToggle           `mapstructure:"proxy_credentials_mounted"`
	CaptureWeakened         RuleToggle           `mapstructure:"capture_weakened"`
	NetAdminInMesh          RuleToggle           `mapstructure:"net_admin_in_mesh"`
	HostNetworkInMesh       RuleToggle           `mapstructure:"host_network_in_mesh"`
	MissingSidecar          MissingSidecarConfig `mapstructure:"missing_sidecar"`

	SidecarBypass      SidecarBypassConfig     `mapstructure:"sidecar_bypass"`
	PlaintextInbound   PlaintextInboundConfig  `mapstructure:"plaintext_inbound"`
	PassthroughEgress  PassthroughEgressConfig `mapstructure:"passthrough_egress"`
	BlackholeEgress    RuleToggle              `mapstructure:"blackhole_egress"`
	InboundPassthrough RuleToggle              `mapstructure:"inbound_passthrough"`
	AuthzDenialSpike   AuthzDenialSpikeConfig  `mapstructure:"authz_denial_spike"`
	NewEdge            NewEdgeConfig           `mapstructure:"new_edge"`
	UnaccountedEgress  UnaccountedEgressConfig `mapstructure:"unaccounted_egress"`
}

// MissingSidecarConfig configures missing_sidecar.
type MissingSidecarConfig struct {
	RuleToggle `mapstructure:",squash"`
	// ExcludedNamespaces are never reported; the default is kube-system and istio-system.
	// The collector's own namespace (POD_NAMESPACE, else the service account's namespace
	// file) is always added.
	ExcludedNamespaces []string `mapstructure:"excluded_namespaces"`
}

// SidecarBypassConfig configures sidecar_bypass.
type SidecarBypassConfig struct {
	RuleToggle `mapstructure:",squash"`
	// ConfirmAfter holds a new finding back that long, waiting for the destination's
	// metrics that would show the client's own sidecar sent the plaintext (TLS DISABLE).
	// Set it above the metrics scrape interval.
	ConfirmAfter time.Duration `mapstructure:"confirm_after"`
}

// PlaintextInboundConfig configures plaintext_inbound.
type PlaintextInboundConfig struct {
	RuleToggle `mapstructure:",squash"`
	// AllowSources are known plaintext clients: CIDRs or IPs (matched against access logs'
	// client addresses) and workloads as "name" or "namespace/name".
	AllowSources []string `mapstructure:"allow_sources"`
}

// Validate checks allow_sources.
func (c *PlaintextInboundConfig) Validate() error {
	if _, err := rules.NewPlaintextInbound(c.AllowSources); err != nil {
		return fmt.Errorf("allow_sources: %w", err)
	}
	return nil
}

// PassthroughEgressConfig configures passthrough_egress.
type PassthroughEgressConfig struct {
	RuleToggle `mapstructure:",squash"`
	// AllowHosts are host globs (e.g. "*.amazonaws.com") never reported.
	AllowHosts []string `mapstructure:"allow_hosts"`
}

// Validate checks allow_hosts.
func (c *PassthroughEgressConfig) Validate() error {
	if _, err := rules.NewPassthroughEgress(c.AllowHosts); err != nil {
		return fmt.Errorf("allow_hosts: %w", err)
	}
	return nil
}

// AuthzDenialSpikeConfig configures authz_denial_spike.
type AuthzDenialSpikeConfig struct {
	RuleToggle `mapstructure:",squash"`
	// MinDenials is the fewest denials in one minute that can be a spike.
	MinDenials int64 `mapstructure:"min_denials"`
	// LearningWindow keeps a newly seen destination pod quiet while its baseline forms.
	LearningWindow time.Duration `mapstructure:"learning_window"`
}

// Validate checks the thresholds.
func (c *AuthzDenialSpikeConfig) Validate() error {
	var errs []error
	if c.MinDenials <= 0 {
		errs = append(errs, fmt.Errorf("min_denials: must be positive, got %d", c.MinDenials))
	}
	if c.LearningWindow < 0 {
		errs = append(errs, fmt.Errorf("learning_window: must not be negative, got %s", c.LearningWindow))
	}
	return errors.Join(errs...)
}

// NewEdgeConfig configures new_edge.
type NewEdgeConfig struct {
	RuleToggle `mapstructure:",squash"`
	// LearningWindow is how long a newly seen destination pod learns its clients quietly.
	LearningWindow time.Duration `mapstructure:"learning_window"`
}

// Validate checks learning_window.
func (c *NewEdgeConfig) Validate() error {
	if c.LearningWindow <= 0 {
		return fmt.Errorf("learning_window: must be positive, got %s", c.LearningWindow)
	}
	return nil
}

// UnaccountedEgressConfig configures unaccounted_egress (experimental, off by default). It
// needs the kubeletstats receiver's k8s.pod.network.io in a metrics pipeline that lists
// the processor, next to the proxies' Istio metrics.
type UnaccountedEgressConfig struct {
	RuleToggle `mapstructure:",squash"`
	// LearningWindow keeps a newly seen pod quiet while its own ratio forms.
	LearningWindow time.Duration `mapstructure:"learning_window"`
	// Window is the length of the windows compared: at least ten times the slower of the
	// kubeletstats collection_interval and the proxies' scrape interval (the default 5m
	// fits intervals up to 30s).
	Window time.Duration `mapstructure:"window"`
	// MinBytesPerMinute is the fewest unaccounted bytes per minute, beyond the pod's usual,
	// that can be reported.
	MinBytesPerMinute int64 `mapstructure:"min_bytes_per_minute"`
	// Factor: the unaccounted bytes must also exceed this many times the pod's usual.
	Factor float64 `mapstructure:"factor"`
}

// Validate checks the window and thresholds.
func (c *UnaccountedEgressConfig) Validate() error {
	var errs []error
	if c.LearningWindow < 0 {
		errs = append(errs, fmt.Errorf("learning_window: must not be negative, got %s", c.LearningWindow))
	}
	if c.Window < 10*time.Second {
		errs = append(errs, fmt.Errorf("window: must be at least 10s, got %s", c.Window))
	}
	if c.MinBytesPerMinute <= 0 {
		errs = append(errs, fmt.Errorf("min_bytes_per_minute: must be positive, got %d", c.MinBytesPerMinute))
	}
	if c.Factor <= 1 {
		errs = append(errs, fmt.Errorf("factor: must be greater than 1, got %g", c.Factor))
	}
	return errors.Join(errs...)
}

// defaultRulesConfig enables every rule with its defaults, except the experimental
// unaccounted_egress.
func defaultRulesConfig() RulesConfig {
	on := RuleToggle{Enabled: true}
	return RulesConfig{
		AppUID1337:              on,
		AppGID1337:              on,
		SharedProcessNamespace:  on,
		ProxyCredentialsMounted: on,
		CaptureWeakened:         on,
		NetAdminInMesh:          on,
		HostNetworkInMesh:       on,
		MissingSidecar: MissingSidecarConfig{RuleToggle: on,
			ExcludedNamespaces: rules.DefaultMissingSidecarExcludedNamespaces()},
		SidecarBypass:      SidecarBypassConfig{RuleToggle: on, ConfirmAfter: rules.DefaultSidecarBypassConfirmAfter},
		PlaintextInbound:   PlaintextInboundConfig{RuleToggle: on},
		PassthroughEgress:  PassthroughEgressConfig{RuleToggle: on},
		BlackholeEgress:    on,
		InboundPassthrough: on,
		AuthzDenialSpike: AuthzDenialSpikeConfig{RuleToggle: on, MinDenials: rules.DefaultAuthzMinDenials,
			LearningWindow: rules.DefaultAuthzLearningWindow},
		NewEdge: NewEdgeConfig{RuleToggle: on, LearningWindow: rules.DefaultNewEdgeLearningWindow},
		UnaccountedEgress: UnaccountedEgressConfig{
			LearningWindow:    rules.DefaultUnaccountedEgressLearningWindow,
			Window:            rules.DefaultUnaccountedEgressWindow,
			MinBytesPerMinute: rules.DefaultUnaccountedEgressMinBytesPerMinute,
			Factor:            rules.DefaultUnaccountedEgressFactor,
		},
	}
}

// trafficRules are the enabled traffic rules, configured.
func (r *RulesConfig) trafficRules(enabled func(id string) bool) []rules.TrafficRule {
	all := rules.TrafficRules(rules.TrafficOptions{
		PassthroughAllowHosts:     r.PassthroughEgress.AllowHosts,
		PlaintextAllowSources:     r.PlaintextInbound.AllowSources,
		SidecarBypassConfirmAfter: r.SidecarBypass.ConfirmAfter,
		NewEdgeLearningWindow:     r.NewEdge.LearningWindow,
		AuthzMinDenials:           r.AuthzDenialSpike.MinDenials,
		AuthzLearningWindow:       r.AuthzDenialSpike.LearningWindow,
		UnaccountedEgress: rules.UnaccountedEgressOptions{
			LearningWindow:    r.UnaccountedEgress.LearningWindow,
			Window:            r.UnaccountedEgress.Window,
			MinBytesPerMinute: r.UnaccountedEgress.MinBytesPerMinute,
			Factor:            r.UnaccountedEgress.Factor,
		},
	})
	var out []rules.TrafficRule
	for _, tr := range all {
		if enabled(tr.Rule().ID) {
			out = append(out, tr)
		}
	}
	return out
}

const (
	authTypeServiceAccount = "serviceAccount"
	authTypeKubeConfig     = "kubeConfig"
	maxLinuxID             = 1<<32 - 2 // (uid_t)-1 is reserved
)

var _ component.Config = (*Config)(nil)

// Validate checks the configuration; errors name the offending key.
func (cfg *Config) Validate() error {
	var errs []error
	switch cfg.Kubernetes.AuthType {
	case authTypeServiceAccount, authTypeKubeConfig:
	default:
		errs = append(errs, fmt.Errorf("kubernetes.auth_type: %q is not one of %q, %q",
			cfg.Kubernetes.AuthType, authTypeServiceAccount, authTypeKubeConfig))
	}
	if cfg.Mesh.ProxyUID < 0 || cfg.Mesh.ProxyUID > maxLinuxID {
		errs = append(errs, fmt.Errorf("mesh.proxy_uid: %d is not a valid Linux UID", cfg.Mesh.ProxyUID))
	}
	if cfg.Mesh.ProxyGID < 0 || cfg.Mesh.ProxyGID > maxLinuxID {
		errs = append(errs, fmt.Errorf("mesh.proxy_gid: %d is not a valid Linux GID", cfg.Mesh.ProxyGID))
	}
	if cfg.Findings.FlushInterval <= 0 {
		errs = append(errs, fmt.Errorf("findings.flush_interval: must be positive, got %s", cfg.Findings.FlushInterval))
	}
	if cfg.Findings.ReemitInterval < 0 {
		errs = append(errs, fmt.Errorf("findings.reemit_interval: must not be negative (0 disables re-emission), got %s", cfg.Findings.ReemitInterval))
	}
	if cfg.Findings.ResolveAfter <= 0 {
		errs = append(errs, fmt.Errorf("findings.resolve_after: must be positive, got %s", cfg.Findings.ResolveAfter))
	}
	if cfg.Findings.MaxPending <= 0 {
		errs = append(errs, fmt.Errorf("findings.max_pending: must be positive, got %d", cfg.Findings.MaxPending))
	}
	if cfg.Findings.MaxActive <= 0 {
		errs = append(errs, fmt.Errorf("findings.max_active: must be positive, got %d", cfg.Findings.MaxActive))
	}
	if cfg.Findings.MaxRetryBackoff < cfg.Findings.FlushInterval {
		errs = append(errs, fmt.Errorf("findings.max_retry_backoff: must be at least findings.flush_interval (%s), got %s",
			cfg.Findings.FlushInterval, cfg.Findings.MaxRetryBackoff))
	}
	if cfg.Inventory.MaxPods <= 0 {
		errs = append(errs, fmt.Errorf("inventory.max_pods: must be positive, got %d", cfg.Inventory.MaxPods))
	}
	if cfg.Inventory.PullInterval <= 0 {
		errs = append(errs, fmt.Errorf("inventory.pull_interval: must be positive, got %s", cfg.Inventory.PullInterval))
	}
	if cfg.Inventory.MissedPulls <= 0 {
		errs = append(errs, fmt.Errorf("inventory.missed_pulls: must be positive, got %d", cfg.Inventory.MissedPulls))
	}
	return errors.Join(errs...)
}

func createDefaultConfig() component.Config {
	return &Config{
		Kubernetes: KubernetesConfig{AuthType: authTypeServiceAccount},
		Mesh:       MeshConfig{ProxyUID: 1337, ProxyGID: 1337},
		Findings: FindingsConfig{
			FlushInterval:   time.Second,
			ReemitInterval:  time.Hour,
			MaxPending:      10000,
			MaxActive:       10000,
			MaxRetryBackoff: 30 * time.Second,
			ResolveAfter:    15 * time.Minute,
		},
		Inventory: InventoryConfig{MaxPods: 200000, PullInterval: engine.DefaultPullInterval, MissedPulls: engine.DefaultMissedPulls},
		Rules:     defaultRulesConfig(),
	}
}
