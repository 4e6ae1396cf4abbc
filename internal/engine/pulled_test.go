package engine_test

import (
	"cmp"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshinsights/otelcol-insights/internal/engine"
	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

// The k8sobjects receiver's pull mode never says DELETED: an object that misses
// DefaultMissedPulls pulls in a row (1h interval by default, plus half an interval of
// slack) is taken as deleted.

const sapwnedPodIP = "10.244.2.17"

func sapwnedSnapshot(t *testing.T) inventory.ObjectEvent {
	ev := load(t, "pods", "sapwned-job-uid-1337.yaml")
	require.Equal(t, inventory.EventSnapshot, ev.Type, "a bare object is a pull-mode snapshot")
	return ev
}

func TestPulledPodThatStopsAppearingIsResolvedAfterMissedPulls(t *testing.T) {
	h := newHarness(t, 100)
	h.apply(sapwnedSnapshot(t))
	require.Contains(t, states(h.flush()), "open app_uid_1337")

	h.now = h.now.Add(2 * time.Hour) // two pulls missed, within the slack
	assert.Empty(t, resolved(h.flush()))
	assert.Equal(t, 1, h.engine.Pods())

	h.now = h.now.Add(31 * time.Minute)
	got := states(h.flush())
	assert.Contains(t, got, "resolved app_uid_1337")
	for _, s := range got {
		assert.Regexp(t, "^resolved ", s)
	}
	assert.Equal(t, 0, h.engine.Pods(), "the pod left the inventory")
}

func TestPulledPodSeenEveryPullStays(t *testing.T) {
	h := newHarness(t, 100)
	h.apply(sapwnedSnapshot(t))
	require.NotEmpty(t, h.flush())
	for i := 0; i < 6; i++ {
		h.now = h.now.Add(time.Hour)
		h.apply(sapwnedSnapshot(t))
		assert.Empty(t, resolved(h.flush()), "after pull %d", i+1)
	}
	assert.Equal(t, 1, h.engine.Pods())
}

func TestWatchedPodIsNeverExpired(t *testing.T) {
	h := newHarness(t, 100)
	h.apply(withType(sapwnedSnapshot(t), inventory.EventAdded))
	require.NotEmpty(t, h.flush())
	h.now = h.now.Add(48 * time.Hour)
	assert.Empty(t, resolved(h.flush()), "a watch-mode object is deleted by its DELETED event, never by time")
	assert.Equal(t, 1, h.engine.Pods())
}

func TestPulledPodLaterWatchedIsNeverExpired(t *testing.T) {
	h := newHarness(t, 100)
	h.apply(sapwnedSnapshot(t))
	modified := withType(sapwnedSnapshot(t), inventory.EventModified)
	h.apply(modified)
	require.NotEmpty(t, h.flush())
	h.now = h.now.Add(48 * time.Hour)
	assert.Empty(t, resolved(h.flush()))
}

func TestPulledNamespaceThatStopsAppearingWithdrawsMissingSidecar(t *testing.T) {
	h := newHarness(t, 100)
	// The namespace is pulled; the pod is watched, so only the namespace can go stale.
	h.apply(load(t, "namespaces", "shop-injection-enabled.yaml"),
		withType(load(t, "pods", "unmeshed-deployment-pod.yaml"), inventory.EventAdded))
	require.Equal(t, []string{"open missing_sidecar"}, states(h.flush()))

	h.now = h.now.Add(3 * time.Hour)
	assert.Equal(t, []string{"resolved missing_sidecar"}, states(h.flush()),
		"without its namespace the pod is no longer evidence")
	assert.Equal(t, 1, h.engine.Pods(), "the watched pod stays")
}

func TestPulledPodOfAnotherNodeLeavesTheIPIndexWhenItStopsAppearing(t *testing.T) {
	ips := inventory.NewIPIndex(inventory.IPIndexOptions{})
	var now time.Time
	h := newHarness(t, 100)
	h.engine = engine.New(engine.Config{
		FlushInterval: time.Second, MaxRetryBackoff: time.Second, MaxPods: 100,
		PodRules:     rules.PodRules(rules.RuleOptions{}),
		PullInterval: time.Minute, MissedPulls: 3,
		Traffic: engine.TrafficConfig{Node: "worker-1", PodIPs: ips},
	}, engine.Settings{Now: func() time.Time { return h.now }})
	h.engine.AddSink("logs", h.sink.deliver)

	ev := sapwnedSnapshot(t) // scheduled on worker-2
	h.engine.ApplyObject(context.Background(), ev)
	h.engine.IndexObject(ev)
	assert.Empty(t, h.flush(), "worker-2's agent reports its spec")
	now = time.Now()
	_, ok := ips.Lookup(sapwnedPodIP, now)
	require.True(t, ok)

	h.now = h.now.Add(3*time.Minute + 20*time.Second) // 3 missed pulls + 30 s slack not yet over
	h.flush()
	_, ok = ips.Lookup(sapwnedPodIP, time.Now())
	assert.True(t, ok)

	h.now = h.now.Add(20 * time.Second)
	h.flush()
	_, ok = ips.Lookup(sapwnedPodIP, time.Now().Add(time.Second))
	assert.False(t, ok, "the IP no longer belongs to the vanished pod")
}

func TestPulledObjectsBeyondTheBoundAreCountedNotTracked(t *testing.T) {
	h := newHarness(t, 1)
	h.apply(load(t, "namespaces", "shop-injection-enabled.yaml")) // tracked
	h.apply(sapwnedSnapshot(t))                                   // tracker full: refused
	assert.Equal(t, 1, h.tel.byStore["pulled"])
}

// resolved keeps the resolved records of a delivery (still-active findings are re-sent
// as "ongoing" once the re-emit interval has passed).
func resolved(fs []findings.Finding) []string {
	var out []string
	for _, f := range fs {
		if f.State == findings.StateResolved {
			out = append(out, f.Rule.ID)
		}
	}
	return out
}

func TestLogFedPodOnThisNodeIsJudgedOnOtherNodesItIsNot(t *testing.T) {
	for _, tc := range []struct {
		node string
		want []string
	}{
		{node: "worker-2", want: []string{"open app_gid_1337", "open app_uid_1337", "open shared_process_namespace"}},
		{node: "worker-1"}, // worker-2's agent reports it
		{node: "", want: []string{"open app_gid_1337", "open app_uid_1337", "open shared_process_namespace"}}, // no node: every pod is ours
	} {
		t.Run("agent_on_"+cmp.Or(tc.node, "no_node"), func(t *testing.T) {
			h := newHarness(t, 100)
			h.engine = engine.New(engine.Config{
				ProxyFallback: inventory.DefaultProxyIdentity(), FlushInterval: time.Second, MaxRetryBackoff: time.Second,
				MaxPending: 100, MaxActive: 100, MaxPods: 100, PodRules: rules.PodRules(rules.RuleOptions{}),
				Traffic: engine.TrafficConfig{Node: tc.node},
			}, engine.Settings{Now: func() time.Time { return h.now }})
			h.engine.AddSink("logs", h.sink.deliver)
			h.apply(withType(sapwnedSnapshot(t), inventory.EventAdded)) // scheduled on worker-2
			got := states(h.flush())
			slices.Sort(got)
			assert.Equal(t, tc.want, got)
		})
	}
}
