package meshsim

import (
	"slices"
	"time"
)

// This file: scoring findings against ground truth.

// Observed is a finding record as the scorer needs it.
type Observed struct {
	Rule      string
	State     string
	Severity  string
	Namespace string
	// Workload is insight.workload: "<kind>/<name>" or an Istio workload name.
	Workload string
	Pod      string
	Body     string
	// Evidence is a one-line summary of the record's insight.evidence.* attributes.
	Evidence string
	// Arrived is when the finding was first read from the collector's output (wall clock);
	// Tick the newest simulated tick sent by then.
	Arrived time.Time
	Tick    int
}

// Matches reports whether a finding is about a truth entry: same rule, namespace and
// subject (the controller, or the Istio workload of the same name), and it arrived once the
// anomaly's telemetry had started: a finding about the right subject that fired during the
// background, before the anomaly, is a false positive (entries last to the end of the run).
func (t Truth) Matches(o *Observed) bool {
	if o.Rule != t.Rule || o.Namespace != t.Namespace || o.Tick < t.StartTick {
		return false
	}
	return o.Workload == t.Subject() || o.Workload == t.Name
}

// RuleScore is one rule's counts in a scenario or over the suite.
type RuleScore struct {
	Rule string
	// Emitted: open findings of the rule; Matched: those that match a truth entry.
	Emitted, Matched int
	// Truth: truth entries of the rule; Found: those matched by at least one open finding.
	Truth, Found int
	// Detect are the detection delays of the found truth entries: wall time from the
	// anomaly's first telemetry being sent to the finding's arrival, and how many simulated
	// ticks had been sent from the anomaly's start by then.
	Detect []Detection
}

// Detection is how long one truth entry took to be found.
type Detection struct {
	Wall      time.Duration
	SimTicks  int
	SimPeriod time.Duration
}

// Precision is Matched/Emitted (1 when nothing was emitted).
func (r *RuleScore) Precision() float64 {
	if r.Emitted == 0 {
		return 1
	}
	return float64(r.Matched) / float64(r.Emitted)
}

// Recall is Found/Truth (1 when there is no truth).
func (r *RuleScore) Recall() float64 {
	if r.Truth == 0 {
		return 1
	}
	return float64(r.Found) / float64(r.Truth)
}

// MaxDetect is the slowest detection.
func (r *RuleScore) MaxDetect() (Detection, bool) {
	if len(r.Detect) == 0 {
		return Detection{}, false
	}
	m := r.Detect[0]
	for _, d := range r.Detect[1:] {
		if d.Wall > m.Wall {
			m = d
		}
	}
	return m, true
}

// Score is a scenario's result.
type Score struct {
	Scenario string
	Seed     uint64
	Rules    []*RuleScore
	// FalsePositives are open findings matching no truth entry; Missed the truth entries
	// no open finding matched.
	FalsePositives []Observed
	Missed         []Truth
	// Other are findings in other states (ongoing, resolved): not scored.
	Other int
}

// ScoreFindings scores observed findings against a plan's truth. tickSent gives the wall
// time each tick was sent (index: tick).
func ScoreFindings(plan *Plan, obs []Observed, tickSent []time.Time) *Score {
	s := &Score{}
	byRule := map[string]*RuleScore{}
	rule := func(id string) *RuleScore {
		r := byRule[id]
		if r == nil {
			r = &RuleScore{Rule: id}
			byRule[id] = r
		}
		return r
	}
	for _, t := range plan.Truth {
		rule(t.Rule).Truth++
	}
	found := make([]bool, len(plan.Truth))
	for i := range obs {
		o := &obs[i]
		if o.State != "open" {
			s.Other++
			continue
		}
		r := rule(o.Rule)
		r.Emitted++
		matched := false
		for j, t := range plan.Truth {
			if !t.Matches(o) {
				continue
			}
			matched = true
			if found[j] {
				continue
			}
			found[j] = true
			r.Found++
			d := Detection{SimTicks: o.Tick - t.StartTick + 1}
			if t.StartTick < len(tickSent) {
				d.Wall = o.Arrived.Sub(tickSent[t.StartTick])
			}
			d.SimPeriod = time.Duration(d.SimTicks) * plan.TickInterval
			r.Detect = append(r.Detect, d)
		}
		if matched {
			r.Matched++
		} else {
			s.FalsePositives = append(s.FalsePositives, *o)
		}
	}
	for j, t := range plan.Truth {
		if !found[j] {
			s.Missed = append(s.Missed, t)
		}
	}
	for _, id := range sortedKeys(byRule) {
		s.Rules = append(s.Rules, byRule[id])
	}
	return s
}

// Merge adds other's per-rule counts into a suite total.
func MergeScores(scores []*Score) []*RuleScore {
	byRule := map[string]*RuleScore{}
	for _, s := range scores {
		for _, r := range s.Rules {
			m := byRule[r.Rule]
			if m == nil {
				m = &RuleScore{Rule: r.Rule}
				byRule[r.Rule] = m
			}
			m.Emitted += r.Emitted
			m.Matched += r.Matched
			m.Truth += r.Truth
			m.Found += r.Found
			m.Detect = append(m.Detect, r.Detect...)
		}
	}
	var out []*RuleScore
	for _, id := range sortedKeys(byRule) {
		out = append(out, byRule[id])
	}
	return out
}

// AllTruthFound reports whether every truth entry has a matching open finding in obs.
func AllTruthFound(plan *Plan, obs []Observed) bool {
	for _, t := range plan.Truth {
		if !slices.ContainsFunc(obs, func(o Observed) bool { return o.State == "open" && t.Matches(&o) }) {
			return false
		}
	}
	return true
}
