//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/meshinsights/otelcol-insights/internal/meshsim"
)

// TestDeployManifestConfigValidates runs the binary's own `validate` on the collector
// configuration shipped in deploy/, so the manifest users apply never drifts from the build.
func TestDeployManifestConfigValidates(t *testing.T) {
	bin := os.Getenv("OTELCOL_INSIGHTS_BIN")
	require.NotEmpty(t, bin, "OTELCOL_INSIGHTS_BIN is not set: run `make e2e-test`")
	objs, err := meshsim.LoadObjects("../../deploy/otelcol-insights.yaml")
	require.NoError(t, err)
	var config string
	for _, o := range objs {
		if o.Kind() == "ConfigMap" && o.Name() == "otelcol-insights" {
			data, _ := o["data"].(map[string]any)
			config, _ = data["config.yaml"].(string)
		}
	}
	require.NotEmpty(t, config, "deploy manifest has no otelcol-insights ConfigMap with config.yaml")
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(config), 0o600))

	cmd := exec.Command(bin, "validate", "--config", path)
	cmd.Env = append(os.Environ(), "POD_IP=127.0.0.1", "K8S_NODE_NAME=node-a", "CLUSTER_NAME=test",
		"FINDINGS_OTLP_ENDPOINT=127.0.0.1:4317")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "validate failed:\n%s", out)
}
