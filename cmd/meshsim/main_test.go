package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/meshinsights/otelcol-insights/internal/meshsim"
)

func TestList_NamesEveryScenarioWithItsRules(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run([]string{"list"}, &out))
	for _, want := range []string{"clean", "sapwned", "permissive_plaintext", "passthrough_exfil", "blackhole_probe",
		"undeclared_port", "authz_probe", "new_edge", "capture_excluded", "tls_disable", "net_admin", "missing_sidecar", "host_network",
		"proxy_credentials", "bulk_but_proxied", "app_uid_1337", "sidecar_bypass", "host_network_in_mesh", "proxy_credentials_mounted"} {
		assert.Contains(t, out.String(), want)
	}
}

func TestWrite_OTLPJSONFilesAndTruth(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	require.NoError(t, run([]string{"write", "--scenario", "net_admin", "--out", dir}, &out))
	files, err := filepath.Glob(filepath.Join(dir, "tick-*-metrics.json"))
	require.NoError(t, err)
	assert.Len(t, files, scenarioTicks(t, "net_admin"), "one scrape per tick")
	data, err := os.ReadFile(files[0])
	require.NoError(t, err)
	md, err := (&pmetricotlpJSON{}).unmarshal(data)
	require.NoError(t, err)
	assert.Positive(t, md)
	raw, err := os.ReadFile(filepath.Join(dir, "truth.json"))
	require.NoError(t, err)
	var truth struct {
		Truth []struct{ Rule string } `json:"truth"`
	}
	require.NoError(t, json.Unmarshal(raw, &truth))
	require.Len(t, truth.Truth, 1)
	assert.Equal(t, "net_admin_in_mesh", truth.Truth[0].Rule)
}

type pmetricotlpJSON struct{}

func (pmetricotlpJSON) unmarshal(data []byte) (int, error) {
	req := pmetricotlp.NewExportRequest()
	if err := req.UnmarshalJSON(data); err != nil {
		return 0, err
	}
	return req.Metrics().DataPointCount(), nil
}

func TestRun_SendsEverySignalOverOTLPHTTP(t *testing.T) {
	var mu sync.Mutex
	paths := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		assert.Equal(t, "application/x-protobuf", r.Header.Get("Content-Type"))
		mu.Lock()
		paths[r.URL.Path]++
		mu.Unlock()
	}))
	defer srv.Close()
	var out bytes.Buffer
	require.NoError(t, run([]string{"run", "--scenario", "clean", "--protocol", "http", "--endpoint", strings.TrimPrefix(srv.URL, "http://")}, &out))
	ticks := scenarioTicks(t, "clean")
	assert.Contains(t, out.String(), fmt.Sprintf("sent %d ticks", ticks))
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, ticks, paths["/v1/metrics"])
	assert.Equal(t, ticks, paths["/v1/traces"])
	assert.Equal(t, ticks+1, paths["/v1/logs"], "access logs every tick, and the objects at the start")
}

// scenarioTicks is how many simulated ticks a scenario plays with the default seed.
func scenarioTicks(t *testing.T, name string) int {
	t.Helper()
	s, err := meshsim.ScenarioByName(name)
	require.NoError(t, err)
	return s.Plan(1).Ticks
}

func TestRun_UnknownScenarioIsAnError(t *testing.T) {
	err := run([]string{"run", "--scenario", "nope"}, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "sapwned")
}
