package findings

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

func source(pod string) string { return "pod/shop/" + pod }

// states lists what Due returned, as "<workload>:<state>".
func states(fs []Finding) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.Subject.Workload()+":"+string(f.State))
	}
	return out
}

func podCountEvidence(f Finding) (int64, bool) {
	for _, e := range f.Evidence {
		if e.Name == "pod_count" && e.IsInt() {
			return e.Int, true
		}
	}
	return 0, false
}

func TestTracker(t *testing.T) {
	t.Run("replicas_of_one_deployment_share_one_finding", func(t *testing.T) {
		tr := NewTracker(TrackerConfig{})
		for i, pod := range []string{"checkout-b", "checkout-c", "checkout-a"} {
			require.Zero(t, tr.Report(source(pod), []Finding{checkoutFinding(pod)}, t0.Add(time.Duration(i)*time.Second)))
		}
		assert.Equal(t, 1, tr.Active())

		due := tr.Due(t0.Add(5 * time.Second))
		require.Len(t, due, 1)
		f := due[0]
		assert.Equal(t, StateOpen, f.State)
		assert.Equal(t, []string{"checkout-a", "checkout-b", "checkout-c"}, f.Pods)
		assert.Equal(t, "checkout-a", f.PodName, "the most recently reported pod")
		assert.Equal(t, "uid-checkout-a", f.PodUID)
		assert.Equal(t, t0, f.FirstSeen)
		assert.Equal(t, t0.Add(2*time.Second), f.LastSeen)
		assert.Equal(t, int64(3), f.Occurrences)
		n, ok := podCountEvidence(f)
		assert.True(t, ok)
		assert.Equal(t, int64(3), n)
	})

	t.Run("one_pod_has_no_pod_count", func(t *testing.T) {
		tr := NewTracker(TrackerConfig{})
		tr.Report(source("checkout-a"), []Finding{checkoutFinding("checkout-a")}, t0)
		due := tr.Due(t0)
		require.Len(t, due, 1)
		assert.Equal(t, []string{"checkout-a"}, due[0].Pods)
		_, ok := podCountEvidence(due[0])
		assert.False(t, ok)
	})

	t.Run("open_is_emitted_once", func(t *testing.T) {
		tr := NewTracker(TrackerConfig{})
		tr.Report(source("a"), []Finding{checkoutFinding("a")}, t0)
		assert.Equal(t, []string{"deployment/checkout:open"}, states(tr.Due(t0)))
		tr.Report(source("a"), []Finding{checkoutFinding("a")}, t0.Add(time.Minute))
		assert.Empty(t, tr.Due(t0.Add(time.Hour)), "zero ReemitInterval never re-emits")
	})

	t.Run("reemits_ongoing_after_interval", func(t *testing.T) {
		tr := NewTracker(TrackerConfig{ReemitInterval: time.Minute})
		tr.Report(source("a"), []Finding{checkoutFinding("a")}, t0)
		assert.Equal(t, []string{"deployment/checkout:open"}, states(tr.Due(t0)))
		assert.Empty(t, tr.Due(t0.Add(59*time.Second)))

		tr.Report(source("a"), []Finding{checkoutFinding("a")}, t0.Add(50*time.Second))
		due := tr.Due(t0.Add(time.Minute))
		assert.Equal(t, []string{"deployment/checkout:ongoing"}, states(due))
		assert.Equal(t, t0, due[0].FirstSeen)
		assert.Equal(t, t0.Add(50*time.Second), due[0].LastSeen)
		assert.Equal(t, int64(2), due[0].Occurrences)

		assert.Empty(t, tr.Due(t0.Add(90*time.Second)), "the interval counts from the last emission")
		assert.Equal(t, []string{"deployment/checkout:ongoing"}, states(tr.Due(t0.Add(2*time.Minute))))
	})

	t.Run("resolved_when_last_pod_withdraws", func(t *testing.T) {
		tr := NewTracker(TrackerConfig{})
		for _, pod := range []string{"a", "b", "c"} {
			tr.Report(source(pod), []Finding{checkoutFinding(pod)}, t0)
		}
		require.Len(t, tr.Due(t0), 1)

		tr.Report(source("a"), nil, t0.Add(time.Second))
		tr.Report(source("b"), []Finding{}, t0.Add(time.Second))
		assert.Empty(t, tr.Due(t0.Add(2*time.Second)), "c still supports it")

		tr.Report(source("c"), nil, t0.Add(3*time.Second))
		due := tr.Due(t0.Add(4 * time.Second))
		assert.Equal(t, []string{"deployment/checkout:resolved"}, states(due))
		assert.Equal(t, t0, due[0].FirstSeen)
		assert.Equal(t, t0, due[0].LastSeen, "last seen is the last report that contained it")
		assert.Equal(t, int64(3), due[0].Occurrences)
		assert.Equal(t, "c", due[0].PodName)

		assert.Zero(t, tr.Active(), "forgotten once resolved")
		assert.Empty(t, tr.Due(t0.Add(5*time.Second)), "resolved only once")
	})

	t.Run("report_replaces_the_sources_set", func(t *testing.T) {
		tr := NewTracker(TrackerConfig{})
		app := checkoutFinding("a")
		sidecar := checkoutFinding("a")
		sidecar.Container = "worker"
		tr.Report(source("a"), []Finding{app, sidecar}, t0)
		require.Len(t, tr.Due(t0), 2)

		tr.Report(source("a"), []Finding{sidecar}, t0.Add(time.Second))
		due := tr.Due(t0.Add(time.Second))
		require.Len(t, due, 1)
		assert.Equal(t, StateResolved, due[0].State)
		assert.Equal(t, "app", due[0].Container)
		assert.Equal(t, 1, tr.Active())
	})

	t.Run("resolved_then_back_is_a_new_open_with_fresh_first_seen", func(t *testing.T) {
		tr := NewTracker(TrackerConfig{})
		tr.Report(source("a"), []Finding{checkoutFinding("a")}, t0)
		tr.Due(t0)
		tr.Report(source("a"), nil, t0.Add(time.Minute))
		require.Equal(t, []string{"deployment/checkout:resolved"}, states(tr.Due(t0.Add(time.Minute))))

		back := t0.Add(time.Hour)
		tr.Report(source("b"), []Finding{checkoutFinding("b")}, back)
		due := tr.Due(back)
		assert.Equal(t, []string{"deployment/checkout:open"}, states(due))
		assert.Equal(t, back, due[0].FirstSeen)
		assert.Equal(t, int64(1), due[0].Occurrences)
		assert.Equal(t, []string{"b"}, due[0].Pods)
	})

	t.Run("back_before_resolved_was_emitted_stays_active", func(t *testing.T) {
		tr := NewTracker(TrackerConfig{})
		tr.Report(source("a"), []Finding{checkoutFinding("a")}, t0)
		tr.Due(t0)
		// A rollout: the old pod goes, the new one reports before the next flush.
		tr.Report(source("a"), nil, t0.Add(time.Second))
		tr.Report(source("b"), []Finding{checkoutFinding("b")}, t0.Add(2*time.Second))
		assert.Empty(t, tr.Due(t0.Add(3*time.Second)))

		tr.Report(source("b"), nil, t0.Add(4*time.Second))
		due := tr.Due(t0.Add(5 * time.Second))
		require.Equal(t, []string{"deployment/checkout:resolved"}, states(due))
		assert.Equal(t, t0, due[0].FirstSeen, "one lifecycle across the rollout")
		assert.Equal(t, "b", due[0].PodName)
	})

	t.Run("came_and_went_between_flushes_is_opened_then_resolved", func(t *testing.T) {
		tr := NewTracker(TrackerConfig{})
		tr.Report(source("a"), []Finding{checkoutFinding("a")}, t0)
		tr.Report(source("a"), nil, t0.Add(time.Second))
		assert.Equal(t, []string{"deployment/checkout:open", "deployment/checkout:resolved"}, states(tr.Due(t0.Add(time.Second))))
		assert.Zero(t, tr.Active())
	})

	t.Run("occurrences_sum_counts_of_every_report", func(t *testing.T) {
		tr := NewTracker(TrackerConfig{})
		many := checkoutFinding("a")
		many.Count = 5
		tr.Report(source("a"), []Finding{many}, t0)
		tr.Report(source("a"), []Finding{checkoutFinding("a")}, t0.Add(time.Second))
		tr.Report(source("b"), []Finding{checkoutFinding("b")}, t0.Add(time.Second))
		due := tr.Due(t0.Add(time.Second))
		require.Len(t, due, 1)
		assert.Equal(t, int64(7), due[0].Occurrences)
	})

	t.Run("pods_capped_at_fifty_with_the_true_pod_count", func(t *testing.T) {
		tr := NewTracker(TrackerConfig{})
		for i := range 60 {
			pod := fmt.Sprintf("checkout-%02d", i)
			tr.Report(source(pod), []Finding{checkoutFinding(pod)}, t0)
		}
		due := tr.Due(t0)
		require.Len(t, due, 1)
		assert.Len(t, due[0].Pods, 50)
		assert.True(t, slices.IsSorted(due[0].Pods))
		assert.Equal(t, "checkout-00", due[0].Pods[0])
		n, _ := podCountEvidence(due[0])
		assert.Equal(t, int64(60), n)
	})

	t.Run("pods_are_deduplicated", func(t *testing.T) {
		tr := NewTracker(TrackerConfig{})
		// Two sources about one pod (e.g. spec and metrics) name it once.
		tr.Report("spec/shop/checkout-a", []Finding{checkoutFinding("checkout-a")}, t0)
		tr.Report("metrics/shop/checkout-a", []Finding{checkoutFinding("checkout-a")}, t0)
		due := tr.Due(t0)
		require.Len(t, due, 1)
		assert.Equal(t, []string{"checkout-a"}, due[0].Pods)
		_, ok := podCountEvidence(due[0])
		assert.False(t, ok)
	})

	t.Run("cap_on_active_findings_counts_drops", func(t *testing.T) {
		tr := NewTracker(TrackerConfig{MaxActive: 2})
		var fs []Finding
		for _, name := range []string{"checkout", "cart", "payments"} {
			f := checkoutFinding("p")
			f.Subject.Name = name
			fs = append(fs, f)
		}
		assert.Equal(t, 1, tr.Report(source("p"), fs, t0))
		assert.Equal(t, 2, tr.Active())
		assert.Len(t, tr.Due(t0), 2)
		assert.Equal(t, 1, tr.Report(source("p"), fs, t0.Add(time.Second)), "still no room")

		// Room comes back only once the resolved records have gone out.
		tr.Report(source("p"), nil, t0.Add(2*time.Second))
		assert.Equal(t, 2, tr.Active(), "resolved records still due count against the cap")
		assert.Equal(t, 1, tr.Report(source("q"), fs[2:], t0.Add(2*time.Second)))
		assert.Equal(t, []string{"deployment/cart:resolved", "deployment/checkout:resolved"}, sortedStrings(states(tr.Due(t0.Add(2*time.Second)))))
		assert.Zero(t, tr.Active())
		assert.Zero(t, tr.Report(source("q"), fs[2:], t0.Add(3*time.Second)))
		assert.Equal(t, 1, tr.Active())
	})

	t.Run("cap_on_sources_per_finding_counts_drops", func(t *testing.T) {
		tr := NewTracker(TrackerConfig{MaxSourcesPerFinding: 2})
		assert.Zero(t, tr.Report(source("a"), []Finding{checkoutFinding("a")}, t0))
		assert.Zero(t, tr.Report(source("b"), []Finding{checkoutFinding("b")}, t0))
		assert.Equal(t, 1, tr.Report(source("c"), []Finding{checkoutFinding("c")}, t0))
		assert.Zero(t, tr.Report(source("a"), []Finding{checkoutFinding("a")}, t0), "a source already counted re-reports freely")
		due := tr.Due(t0)
		require.Len(t, due, 1)
		assert.Equal(t, []string{"a", "b"}, due[0].Pods)
		assert.Equal(t, int64(3), due[0].Occurrences, "dropped reports do not count")
	})

	t.Run("zero_bounds_take_defaults", func(t *testing.T) {
		tr := NewTracker(TrackerConfig{})
		assert.Equal(t, DefaultMaxActive, tr.cfg.MaxActive)
		assert.Equal(t, DefaultMaxSourcesPerFinding, tr.cfg.MaxSourcesPerFinding)
		assert.Equal(t, 10000, DefaultMaxActive)
		assert.Equal(t, 1000, DefaultMaxSourcesPerFinding)
	})

	t.Run("due_is_sorted_by_fingerprint", func(t *testing.T) {
		for range 5 { // map order differs run to run
			tr := NewTracker(TrackerConfig{})
			for i := range 20 {
				f := checkoutFinding("p")
				f.Subject.Name = fmt.Sprintf("app-%d", i)
				tr.Report(source(f.Subject.Name), []Finding{f}, t0)
			}
			due := tr.Due(t0)
			require.Len(t, due, 20)
			assert.True(t, slices.IsSortedFunc(due, func(a, b Finding) int {
				return cmp.Compare(a.Fingerprint(), b.Fingerprint())
			}))
		}
	})

	t.Run("does_not_modify_reported_findings", func(t *testing.T) {
		tr := NewTracker(TrackerConfig{})
		a := checkoutFinding("a")
		a.Evidence = make([]EvidenceValue, 1, 8) // spare capacity an append could scribble into
		a.Evidence[0] = IntEvidence("run_as_user", 1337)
		tr.Report(source("a"), []Finding{a}, t0)
		tr.Report(source("b"), []Finding{checkoutFinding("b")}, t0)
		due := tr.Due(t0)
		require.Len(t, due, 1)
		assert.Len(t, a.Evidence, 1)
		assert.Equal(t, IntEvidence("run_as_user", 1337), a.Evidence[:2][0])
		assert.Zero(t, a.Evidence[:2][1], "spare capacity untouched")
		assert.Nil(t, a.Pods)
		assert.Empty(t, a.State)
	})

	t.Run("due_output_encodes", func(t *testing.T) {
		tr := NewTracker(TrackerConfig{})
		for _, pod := range []string{"a", "b"} {
			tr.Report(source(pod), []Finding{checkoutFinding(pod)}, t0)
		}
		ld := Encode(tr.Due(t0), t0, encodeScope)
		require.Equal(t, 1, ld.LogRecordCount())
		attrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().AsRaw()
		assert.Equal(t, []any{"a", "b"}, attrs["insight.evidence.pods"])
		assert.Equal(t, int64(2), attrs["insight.evidence.pod_count"])
		assert.Equal(t, "open", attrs["insight.state"])
	})
}

func sortedStrings(s []string) []string {
	slices.Sort(s)
	return s
}
