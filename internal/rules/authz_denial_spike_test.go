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
