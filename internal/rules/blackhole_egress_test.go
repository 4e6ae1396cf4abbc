package rules_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/meshinsights/otelcol-insights/internal/mesh"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

func TestBlackholeEgress(t *testing.T) {
	blocked := with(mongodbEgress, "destination_service", "example.com", "destination_service_name", "BlackHoleCluster")
	blockedSpan := func() *mesh.SpanObservation {
		s := egressSpan("sidecar")
		s.Direction, s.UpstreamCluster, s.URL, s.UpstreamAddress = mesh.ClusterBlackHole, "BlackHoleCluster", "http://example.com/", ""
		return s
	}
	tests := []struct {
		name   string
		metric *mesh.TrafficObservation
		log    *mesh.AccessLogObservation
		span   *mesh.SpanObservation
		want   []string
	}{
		{
			name:   "source_reports_blackhole",
			metric: point(t0, blocked),
			want:   []string{"blackhole_egress default mongodb-v1 count=3 | hosts=example.com"},
		},
		{
			name:   "passthrough_is_not_blocked",
			metric: point(t0, mongodbEgress),
		},
		{
			name:   "destination_side",
			metric: point(t0, with(blocked, "reporter", "destination")),
		},
		{
			name: "access_log_http_block_all_route",
			log:  fixtureLog(t, "blackhole_http"),
			want: []string{"blackhole_egress default deployment/mongodb-v1 pod=mongodb-v1-6f4b8c9d7c-fz2qp count=1 | hosts=example.com"},
		},
		{
			name: "access_log_tcp_blackhole_cluster",
			log:  fixtureLog(t, "blackhole_tcp"),
			want: []string{"blackhole_egress default deployment/mongodb-v1 pod=mongodb-v1-6f4b8c9d7c-fz2qp count=1 | hosts=example.com"},
		},
		{
			name: "access_log_passthrough",
			log:  fixtureLog(t, "passthrough_egress_http"),
		},
		{
			name: "span_through_blackhole",
			span: blockedSpan(),
			want: []string{"blackhole_egress default deployment/mongodb-v1 pod=mongodb-v1-6f4b8c9d7c-fz2qp count=1 | hosts=example.com"},
		},
		{
			name: "span_through_passthrough",
			span: egressSpan("sidecar"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := newTrafficRun(t, rules.BlackholeEgress{})
			if tt.metric != nil {
				run.metric(tt.metric)
			}
			if tt.log != nil {
				run.log(tt.log)
			}
			if tt.span != nil {
				run.span(tt.span)
			}
			assert.Equal(t, tt.want, run.golden())
		})
	}
}
