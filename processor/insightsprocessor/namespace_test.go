package insightsprocessor

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/meshinsights/otelcol-insights/internal/meshsim"
	"github.com/meshinsights/otelcol-insights/processor/insightsprocessor/internal/metadatatest"
)

// An unmeshed pod in the injection-enabled namespace "shop": missing_sidecar unless "shop"
// is excluded.
const (
	shopNamespaceFixture = "../../testdata/namespaces/shop-injection-enabled.yaml"
	shopUnmeshedPod      = "../../testdata/pods/unmeshed-deployment-pod.yaml"
)

func missingSidecarFindings(t *testing.T, cfg *Config) int {
	t.Helper()
	set := metadatatest.NewSettings(componenttest.NewTelemetry())
	out := new(consumertest.LogsSink)
	lp, err := NewFactory().CreateLogs(context.Background(), set, cfg, out)
	require.NoError(t, err)
	start(t, lp)
	require.NoError(t, lp.ConsumeLogs(context.Background(), podLogs(t, meshsim.WatchAdded, shopNamespaceFixture, shopUnmeshedPod)))
	require.NoError(t, lp.Shutdown(context.Background()))
	n := 0
	for _, f := range findingsIn(out.AllLogs()) {
		if f.Attr("insight.rule") == "missing_sidecar" {
			n++
		}
	}
	return n
}

// outsideKubernetes points the own-namespace sources at nothing.
func outsideKubernetes(t *testing.T) {
	t.Setenv(podNamespaceEnv, "")
	old := serviceAccountNamespaceAt
	serviceAccountNamespaceAt = filepath.Join(t.TempDir(), "absent")
	t.Cleanup(func() { serviceAccountNamespaceAt = old })
}

func TestMissingSidecarReportsUnmeshedPodOutsideExcludedNamespaces(t *testing.T) {
	outsideKubernetes(t)
	assert.Equal(t, 1, missingSidecarFindings(t, testConfig()))
}

func TestMissingSidecarSkipsTheCollectorsOwnNamespaceFromPodNamespaceEnv(t *testing.T) {
	outsideKubernetes(t)
	t.Setenv(podNamespaceEnv, "shop")
	assert.Zero(t, missingSidecarFindings(t, testConfig()))
}

func TestMissingSidecarSkipsTheCollectorsOwnNamespaceFromServiceAccountFile(t *testing.T) {
	outsideKubernetes(t)
	serviceAccountNamespaceAt = filepath.Join(t.TempDir(), "namespace")
	require.NoError(t, os.WriteFile(serviceAccountNamespaceAt, []byte("shop"), 0o600))
	assert.Zero(t, missingSidecarFindings(t, testConfig()))
}

func TestMissingSidecarExcludedNamespacesFromConfig(t *testing.T) {
	outsideKubernetes(t)
	cfg := testConfig()
	cfg.Rules.MissingSidecar.ExcludedNamespaces = []string{"shop"}
	assert.Zero(t, missingSidecarFindings(t, cfg))
}

func TestMissingSidecarDisabled(t *testing.T) {
	outsideKubernetes(t)
	cfg := testConfig()
	cfg.Rules.MissingSidecar.Enabled = false
	assert.Zero(t, missingSidecarFindings(t, cfg))
}

func TestNodeNameFallsBackToTheDownwardAPIVariable(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	t.Setenv(nodeNameEnv, "")
	assert.Empty(t, nodeName(cfg), "outside Kubernetes: no node, every pod is this collector's")
	t.Setenv(nodeNameEnv, " worker-7\n")
	assert.Equal(t, "worker-7", nodeName(cfg))
	assert.Equal(t, "worker-7", engineConfig(cfg).Traffic.Node, "the node filter and the observing node use it")
	cfg.Kubernetes.NodeName = "worker-1"
	assert.Equal(t, "worker-1", nodeName(cfg), "the configured name wins")
}
