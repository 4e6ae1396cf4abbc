package meshsim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func scorePlan() *Plan {
	return &Plan{
		TickInterval: 30 * time.Second,
		Truth: []Truth{
			{Rule: "sidecar_bypass", Namespace: "ai", Kind: "job", Name: "train", StartTick: 2},
			{Rule: "plaintext_inbound", Namespace: "ai", Kind: "deployment", Name: "registry", StartTick: 2},
		},
	}
}

func TestScore_FindingMatchesByRuleNamespaceAndSubject(t *testing.T) {
	sent := []time.Time{time.Unix(0, 0), time.Unix(1, 0), time.Unix(2, 0), time.Unix(3, 0)}
	obs := []Observed{
		{Rule: "sidecar_bypass", State: "open", Namespace: "ai", Workload: "job/train", Arrived: time.Unix(3, 0), Tick: 3},
		{Rule: "sidecar_bypass", State: "open", Namespace: "ai", Workload: "job/train", Arrived: time.Unix(4, 0), Tick: 3},   // another destination
		{Rule: "plaintext_inbound", State: "open", Namespace: "ai", Workload: "registry", Arrived: time.Unix(3, 0), Tick: 3}, // Istio workload name
		{Rule: "plaintext_inbound", State: "ongoing", Namespace: "ai", Workload: "registry"},                                 // not scored
		{Rule: "new_edge", State: "open", Namespace: "shop", Workload: "deployment/cart"},                                    // not in the truth
	}
	s := ScoreFindings(scorePlan(), obs, sent)
	require.Len(t, s.FalsePositives, 1)
	assert.Equal(t, "new_edge", s.FalsePositives[0].Rule)
	assert.Empty(t, s.Missed)
	assert.Equal(t, 1, s.Other)
	byRule := map[string]*RuleScore{}
	for _, r := range s.Rules {
		byRule[r.Rule] = r
	}
	sb := byRule["sidecar_bypass"]
	assert.Equal(t, 2, sb.Emitted)
	assert.Equal(t, 2, sb.Matched)
	assert.Equal(t, 1.0, sb.Recall())
	require.Len(t, sb.Detect, 1)
	assert.Equal(t, time.Second, sb.Detect[0].Wall)
	assert.Equal(t, 2, sb.Detect[0].SimTicks)
	assert.Equal(t, 0.0, byRule["new_edge"].Precision())
	assert.Equal(t, 1.0, byRule["new_edge"].Recall(), "no truth: nothing to miss")
}

func TestScore_WrongNamespaceOrSubjectIsAFalsePositiveAndAMiss(t *testing.T) {
	obs := []Observed{
		{Rule: "sidecar_bypass", State: "open", Namespace: "other", Workload: "job/train"},
		{Rule: "plaintext_inbound", State: "open", Namespace: "ai", Workload: "deployment/registry-v2"},
	}
	s := ScoreFindings(scorePlan(), obs, nil)
	assert.Len(t, s.FalsePositives, 2)
	assert.Len(t, s.Missed, 2)
	suite := MergeScores([]*Score{s, s})
	for _, r := range suite {
		assert.Equal(t, 0.0, r.Recall(), r.Rule)
		assert.Equal(t, 2, r.Truth, r.Rule)
	}
	assert.False(t, AllTruthFound(scorePlan(), obs))
}

func TestScore_FindingBeforeTheAnomalyStartedIsAFalsePositive(t *testing.T) {
	sent := []time.Time{time.Unix(0, 0), time.Unix(1, 0), time.Unix(2, 0), time.Unix(3, 0)}
	early := Observed{Rule: "sidecar_bypass", State: "open", Namespace: "ai", Workload: "job/train", Arrived: time.Unix(1, 500), Tick: 1}
	s := ScoreFindings(scorePlan(), []Observed{early}, sent)
	require.Len(t, s.FalsePositives, 1, "the anomaly starts at tick 2: this fired on background traffic")
	assert.Len(t, s.Missed, 2)

	onTime := early
	onTime.Arrived, onTime.Tick = time.Unix(2, 300), 2
	s = ScoreFindings(scorePlan(), []Observed{early, onTime}, sent)
	assert.Len(t, s.FalsePositives, 1)
	assert.Len(t, s.Missed, 1, "plaintext_inbound was never found")
}
