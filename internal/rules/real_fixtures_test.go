package rules_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/inventory/inventorytest"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

// evaluate takes every object of a manifest file the way the processor does (DecodeObject,
// the inventory store, template lifting) and runs every registered rule on each pod or
// template with its namespace as the store knows it. namespaces are applied first.
func evaluate(t *testing.T, path string, namespaces ...inventory.ObjectEvent) [][]findings.Finding {
	t.Helper()
	store := inventory.NewStore(100)
	for _, ns := range namespaces {
		_, err := store.Apply(ns, inventory.DefaultProxyIdentity())
		require.NoError(t, err)
	}
	var out [][]findings.Finding
	for _, ev := range inventorytest.LoadObjects(t, path) {
		res, err := store.Apply(ev, inventory.DefaultProxyIdentity())
		require.NoError(t, err)
		require.True(t, res.Stored(), "%s: %s", path, res.Outcome)
		pctx := rules.PodContext{Cluster: "prod-eu-1", Namespace: store.Namespace(res.Pod.Namespace)}
		out = append(out, allRules(res.Pod, pctx))
	}
	return out
}

// injectionEnabled is testdata/namespaces/shop-injection-enabled.yaml under another name.
func injectionEnabled(t testing.TB, name string) inventory.ObjectEvent {
	t.Helper()
	ns := inventorytest.LoadNamespace(t, inventorytest.Testdata("namespaces", "shop-injection-enabled.yaml"))
	ns.Name = name
	return inventory.ObjectEvent{Type: inventory.EventAdded, Namespace: ns}
}

// TestRealInjectorOutput runs every file of Istio's own injector output through the full
// path. Istio's output never runs an application as the proxy's UID or GID, never shares the
// process namespace, mounts proxy volumes into the app or adds capabilities to it: the only
// findings are the capture weakenings the fixtures were written to show, and the host-network
// Deployment once its namespace enables injection.
func TestRealInjectorOutput(t *testing.T) {
	type object struct {
		// Rule IDs expected with the namespace unknown, and with it labelled istio-injection=enabled.
		unknownNamespace, injectionEnabled []string
	}
	none := object{}
	capture := object{[]string{"capture_weakened"}, []string{"capture_weakened"}}
	want := map[string][]object{
		"explicit-security-context.yaml.injected":           {none},
		"hello-always.yaml.injected":                        {none},
		"hello-host-network.yaml.injected":                  {{nil, []string{"host_network_in_mesh"}}},
		"hello-multi.yaml.injected":                         {none, none},
		"hello-never.yaml.injected":                         {none},
		"hello-openshift.yaml.injected":                     {none},
		"hello-tproxy.yaml.injected":                        {none},
		"hello.yaml.cni.injected":                           {none},
		"hello.yaml.injected":                               {none},
		"init-no-intercept-no-native-sidecar.yaml.injected": {capture},
		"native-sidecar-opt-out.yaml.injected":              {none},
		"status_annotations.yaml.injected":                  {none},
		"traffic-annotations.yaml.injected":                 {capture},
	}

	files, err := filepath.Glob(inventorytest.Testdata("real", "istio", "inject", "*"))
	require.NoError(t, err)
	require.Len(t, files, len(want), "every fixture has an expectation")
	for _, path := range files {
		file := filepath.Base(path)
		t.Run(file, func(t *testing.T) {
			expected, ok := want[file]
			require.True(t, ok, "no expectation for %s", file)

			unknown := evaluate(t, path)
			enabled := evaluate(t, path, injectionEnabled(t, "default"), injectionEnabled(t, "test-ns"))
			require.Len(t, unknown, len(expected))
			for i, exp := range expected {
				assert.Equal(t, exp.unknownNamespace, ruleIDs(unknown[i]), "object %d, namespace unknown", i)
				assert.Equal(t, exp.injectionEnabled, ruleIDs(enabled[i]), "object %d, injection enabled", i)
				for _, f := range append(unknown[i], enabled[i]...) {
					if file == "native-sidecar-opt-out.yaml.injected" {
						continue // a Pod, not a template
					}
					assert.Equal(t, findings.KindDeployment, f.Subject.Kind, "a template's finding is about its Deployment")
					assert.Empty(t, f.PodName)
					assert.Empty(t, f.PodUID)
					assert.Empty(t, f.Pods)
				}
			}
		})
	}

	t.Run("capture_weakened_evidence", func(t *testing.T) {
		f := onlyFinding(t, evaluate(t, inventorytest.Testdata("real", "istio", "inject", "traffic-annotations.yaml.injected"))[0])
		ev := evidence(t, f)
		assert.Equal(t, []string{"4", "5", "6"}, ev["excluded_inbound_ports"])
		assert.Equal(t, []string{"7", "8", "9"}, ev["excluded_outbound_ports"])
		assert.Equal(t, []string{"10.96.0.2/24", "10.96.0.3/24"}, ev["excluded_outbound_ip_ranges"])
		assert.Equal(t, []string{"1", "2", "3"}, ev["included_inbound_ports"])
		assert.Equal(t, []string{"127.0.0.1/24", "10.96.0.1/24"}, ev["included_outbound_ip_ranges"])
		assert.Equal(t, findings.Subject{Kind: findings.KindDeployment, Name: "traffic", Namespace: "default"}, f.Subject)

		f = onlyFinding(t, evaluate(t, inventorytest.Testdata("real", "istio", "inject", "init-no-intercept-no-native-sidecar.yaml.injected"))[0])
		assert.Equal(t, map[string]any{"interception_mode": "NONE", "annotations": []string{"sidecar.istio.io/interceptionMode"}}, evidence(t, f))
	})

	t.Run("host_network_evidence", func(t *testing.T) {
		f := onlyFinding(t, evaluate(t, inventorytest.Testdata("real", "istio", "inject", "hello-host-network.yaml.injected"), injectionEnabled(t, "default"))[0])
		assert.Equal(t, findings.Subject{Kind: findings.KindDeployment, Name: "hello-host-network", Namespace: "default"}, f.Subject)
		assert.Equal(t, "istio-injection=enabled", evidence(t, f)["namespace_injection"])
	})
}

// TestPodFixtures: what every rule reports on each of this project's pod fixtures.
func TestPodFixtures(t *testing.T) {
	shop := injectionEnabled(t, "shop")
	for _, tc := range []struct {
		file       string
		namespaces []inventory.ObjectEvent
		want       []string
	}{
		{"clean-deployment-pod.yaml", nil, nil},
		{"clean-deployment-pod.yaml", []inventory.ObjectEvent{shop}, nil},
		{"sapwned-job-uid-1337.yaml", nil, []string{"app_gid_1337", "app_uid_1337", "shared_process_namespace"}},
		{"debug-netadmin-targeting-proxy.yaml", nil, []string{"net_admin_in_mesh", "shared_process_namespace"}},
		{"unmeshed-deployment-pod.yaml", nil, nil},
		{"unmeshed-deployment-pod.yaml", []inventory.ObjectEvent{shop}, []string{"missing_sidecar"}},
	} {
		name := tc.file + "/namespace_unknown"
		if len(tc.namespaces) > 0 {
			name = tc.file + "/injection_enabled"
		}
		t.Run(name, func(t *testing.T) {
			got := evaluate(t, inventorytest.Testdata("pods", tc.file), tc.namespaces...)
			require.Len(t, got, 1)
			assert.Equal(t, tc.want, ruleIDs(got[0]))
		})
	}

	t.Run("sapwned_findings", func(t *testing.T) {
		fs := evaluate(t, inventorytest.Testdata("pods", "sapwned-job-uid-1337.yaml"))[0]
		byRule := map[string]findings.Finding{}
		for _, f := range fs {
			byRule[f.Rule.ID] = f
		}
		job := findings.Subject{Kind: findings.KindJob, Name: "train-model-run-42", Namespace: "ai-workloads"}
		for id, container := range map[string]string{"app_uid_1337": "trainer", "app_gid_1337": "trainer", "shared_process_namespace": ""} {
			assert.Equal(t, job, byRule[id].Subject, id)
			assert.Equal(t, container, byRule[id].Container, id)
			assert.Equal(t, "train-model-run-42-x7k2p", byRule[id].PodName, id)
		}
	})
}
