package rules_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/meshinsights/otelcol-insights/internal/mesh"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

func TestAuthzDenialSpike(t *testing.T) {
	rbacDenied := fixtureLog(t, "rbac_denied_http")
	tcpDenied := fixtureLog(t, "rbac_denied_tcp")
	app403 := fixtureLog(t, "app_403_not_rbac")
	learned := rbacDenied.Timestamp.Add(-time.Hour)
	const spike = "authz_denial_spike bookinfo deployment/reviews-v1 pod=reviews-v1-545db77b95-kx7nm count=1 |"

	tests := []struct {
		name     string
		log      *mesh.AccessLogObservation
		n        int
		since    time.Time // the destination's first sighting; zero: this burst
		baseline float64
		want     []string // the last report, if any
	}{
		{
			name: "burst_of_rbac_denials_after_learning",
			log:  rbacDenied, n: 12, since: learned,
			want: []string{spike + " denials=12 baseline_per_window=0.00 window=1m0s top_sources=bookinfo/productpage-v1 (12) policies=ns[foo]-policy[bar]-rule[0]"},
		},
		{
			name: "tcp_rbac_terminations_count_too",
			log:  tcpDenied, n: 10, since: learned,
			want: []string{"authz_denial_spike bookinfo statefulset/mongodb pod=mongodb-0 count=1 |" +
				" denials=10 baseline_per_window=0.00 window=1m0s top_sources=bookinfo/productpage-v1 (10) policies=ns[foo]-policy[bar]-rule[0]"},
		},
		{
			name: "an_apps_own_403s_are_not_rbac_denials",
			log:  app403, n: 50, since: learned,
		},
		{
			name: "below_the_minimum",
			log:  rbacDenied, n: 9, since: learned,
		},
		{
			name: "quiet_while_the_destination_learns",
			log:  rbacDenied, n: 50,
		},
		{
			name: "within_the_destinations_own_baseline",
			log:  rbacDenied, n: 100, since: learned, baseline: 20,
		},
		{
			name: "far_above_the_destinations_own_baseline",
			log:  rbacDenied, n: 101, since: learned, baseline: 20,
			want: []string{spike + " denials=101 baseline_per_window=20.00 window=1m0s top_sources=bookinfo/productpage-v1 (101) policies=ns[foo]-policy[bar]-rule[0]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := newTrafficRun(t, rules.NewAuthzDenialSpike(0, 0))
			run.hist.learnedSince, run.hist.baseline = tt.since, tt.baseline
			for range tt.n {
				run.log(tt.log)
			}
			got := run.golden()
			if len(got) > 0 {
				got = got[len(got)-1:]
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// rbacDeniedStat is the growth of reviews' Envoy rbac.denied counter between two scrapes,
// as MetricsReader emits it: the reporting pod from the scrape's resource, no Istio labels.
func rbacDeniedStat(at time.Time, grew float64, sighting mesh.DeltaResult) *mesh.TrafficObservation {
	o := point(at, map[string]string{"k8s.pod.name": "reviews-v1-545db77b95-kx7nm", "k8s.namespace.name": "bookinfo"})
	o.Metric, o.Value, o.Total, o.Sighting = mesh.MetricRBACDenied, grew, 100+grew, sighting
	return o
}

func TestAuthzDenialSpikeFromEnvoyStats(t *testing.T) {
	at := time.Date(2025, 11, 20, 10, 0, 30, 0, time.UTC)
	learned := at.Add(-time.Hour)
	tests := []struct {
		name     string
		stat     *mesh.TrafficObservation
		since    time.Time
		baseline float64
		want     []string
	}{
		{
			name: "rbac_denied_counter_jumps_after_learning",
			stat: rbacDeniedStat(at, 40, mesh.DeltaContinued), since: learned,
			want: []string{"authz_denial_spike bookinfo deployment/reviews-v1 pod=reviews-v1-545db77b95-kx7nm count=1 |" +
				" denials=40 baseline_per_window=0.00 window=1m0s top_sources=not recorded (Envoy rbac.denied stat) (40)"},
		},
		{
			name: "first_sighting_of_the_counter_is_history_not_a_burst",
			stat: rbacDeniedStat(at, 0, mesh.DeltaBaseline), since: learned,
		},
		{
			name: "growth_below_the_minimum",
			stat: rbacDeniedStat(at, 9, mesh.DeltaContinued), since: learned,
		},
		{
			name: "growth_within_the_pods_own_baseline",
			stat: rbacDeniedStat(at, 40, mesh.DeltaContinued), since: learned, baseline: 10,
		},
		{
			name: "quiet_while_the_destination_learns",
			stat: rbacDeniedStat(at, 400, mesh.DeltaContinued),
		},
		{
			name: "other_metrics_are_not_denials",
			stat: func() *mesh.TrafficObservation {
				o := rbacDeniedStat(at, 400, mesh.DeltaContinued)
				o.Metric = mesh.MetricRequests
				return o
			}(),
			since: learned,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := newTrafficRun(t, rules.NewAuthzDenialSpike(0, 0))
			run.hist.learnedSince, run.hist.baseline = tt.since, tt.baseline
			assert.Equal(t, tt.want, run.metric(tt.stat).golden())
		})
	}
}
