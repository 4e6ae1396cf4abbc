package meshsim

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

// decodeWatch round-trips an object through a k8sobjects watch record, as the processor
// receives it.
func decodeWatch(t *testing.T, obj Object) inventory.ObjectEvent {
	t.Helper()
	ld := plog.NewLogs()
	require.NoError(t, AppendWatchRecord(ld, WatchAdded, obj, SimStart))
	ev, ok, err := inventory.DecodeObject(ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().AsRaw())
	require.NoError(t, err)
	require.True(t, ok)
	return ev
}

// TestPodSpecScenarios_PodRulesMatchTheTruth runs every pod rule over every pod of the
// pod-spec scenarios: the findings are exactly the truth's pod-rule entries (the
// near-misses stay quiet), and an opted-out pod's missing_sidecar is low severity.
func TestPodSpecScenarios_PodRulesMatchTheTruth(t *testing.T) {
	podRules := rules.PodRules(rules.RuleOptions{})
	isPodRule := func(id string) bool {
		return slices.ContainsFunc(podRules, func(r rules.PodRule) bool { return r.Rule().ID == id })
	}
	for _, name := range []string{"clean", "net_admin", "missing_sidecar", "host_network", "proxy_credentials"} {
		t.Run(name, func(t *testing.T) {
			plan := mustPlan(t, name)
			namespaces := map[string]*inventory.NamespaceInfo{}
			for _, ns := range plan.Topology.Namespaces {
				namespaces[ns.Name] = inventory.FromNamespace(decodeWatch(t, NamespaceObject(ns, SimStart)).Namespace)
			}
			got := map[string]findings.Severity{}
			for _, p := range plan.Topology.Pods() {
				ip := inventory.FromPod(decodeWatch(t, PodObject(p, 1)).Pod, inventory.DefaultProxyIdentity())
				assert.Equal(t, p.Meshed(), ip.Meshed, "%s: the sim and the inventory agree on the sidecar", p.Name)
				assert.Equal(t, p.Workload.Spec != nil && p.Workload.Spec.HostNetwork, ip.HostNetwork, p.Name)
				for _, r := range podRules {
					for _, f := range r.CheckPod(ip, rules.PodContext{Cluster: "meshsim", Namespace: namespaces[p.Namespace()]}) {
						got[f.Rule.ID+" "+p.Namespace()+" "+f.Subject.Workload()] = f.Rule.Severity
					}
				}
			}
			var want []string
			for _, tr := range plan.Truth {
				if isPodRule(tr.Rule) {
					want = append(want, tr.Rule+" "+tr.Namespace+" "+tr.Subject())
				}
			}
			var have []string
			for k := range got {
				have = append(have, k)
			}
			assert.ElementsMatch(t, want, have)
			if name == "missing_sidecar" {
				assert.Equal(t, findings.SeverityLow, got["missing_sidecar shop deployment/search-indexer"], "opted out")
				assert.Equal(t, findings.SeverityMedium, got["missing_sidecar shop deployment/loyalty"], "the webhook failed open")
			}
		})
	}
}

// TestHostNetworkPodsHaveTheirNodesIP: a hostNetwork pod's IP is its node's, and takes
// none of the node's pod addresses.
func TestHostNetworkPodsHaveTheirNodesIP(t *testing.T) {
	plan := mustPlan(t, "host_network")
	agent := plan.Topology.Workload("payments", "node-agent")
	require.Len(t, agent.Pods, 3)
	seen := map[string]bool{}
	for _, p := range agent.Pods {
		assert.Equal(t, p.NodeIP, p.IP)
		seen[p.Node] = true
		obj := PodObject(p, 1)
		assert.Equal(t, true, obj["spec"].(map[string]any)["hostNetwork"])
		assert.Equal(t, p.NodeIP, obj["status"].(map[string]any)["podIP"])
	}
	assert.Len(t, seen, 3, "one DaemonSet pod per node")
	ips := map[string]string{}
	for _, p := range plan.Topology.Pods() {
		if p.Workload.Spec != nil && p.Workload.Spec.HostNetwork {
			continue
		}
		require.Empty(t, ips[p.IP], "%s and %s share %s", ips[p.IP], p.Name, p.IP)
		ips[p.IP] = p.Name
	}
}
