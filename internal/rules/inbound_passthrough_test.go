package rules_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/meshinsights/otelcol-insights/internal/mesh"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

// undeclaredPort is reviews' sidecar reporting a request to a port no Service declares
// (Istio before 1.23 names the cluster InboundPassthroughClusterIpv4).
var undeclaredPort = map[string]string{
	"reporter": "destination", "source_workload": "sleep", "source_workload_namespace": "bookinfo",
	"destination_workload": "reviews-v1", "destination_workload_namespace": "bookinfo",
	"destination_service": "10.244.0.23:8081", "destination_service_name": "InboundPassthroughClusterIpv4",
	"connection_security_policy": "mutual_tls", "request_protocol": "http",
}

func TestInboundPassthrough(t *testing.T) {
	inboundSpan := func(cluster string) *mesh.SpanObservation {
		node, _ := mesh.ParseNodeID("sidecar~10.244.0.23~reviews-v1-545db77b95-kx7nm.bookinfo~bookinfo.svc.cluster.local")
		return &mesh.SpanObservation{Kind: mesh.SpanKindServer, Start: t0, Direction: mesh.ClassifyCluster(cluster),
			UpstreamCluster: cluster, UpstreamAddress: "10.244.0.23:8081", PeerAddress: "10.244.0.40", Node: node, NodeOK: true}
	}
	tests := []struct {
		name   string
		metric *mesh.TrafficObservation
		log    *mesh.AccessLogObservation
		span   *mesh.SpanObservation
		want   []string
	}{
		{
			name:   "destination_reports_inbound_passthrough_ipv4",
			metric: point(t0, undeclaredPort),
			want:   []string{"inbound_passthrough bookinfo reviews-v1 count=3 | ports=8081"},
		},
		{
			name:   "istio_1_23_cluster_name",
			metric: point(t0, with(undeclaredPort, "destination_service_name", "InboundPassthroughCluster")),
			want:   []string{"inbound_passthrough bookinfo reviews-v1 count=3 | ports=8081"},
		},
		{
			name:   "ipv6",
			metric: point(t0, with(undeclaredPort, "destination_service_name", "InboundPassthroughClusterIpv6", "destination_service", "[fd00:10:244::17]:8081")),
			want:   []string{"inbound_passthrough bookinfo reviews-v1 count=3 | ports=8081"},
		},
		{
			name:   "declared_port",
			metric: point(t0, with(undeclaredPort, "destination_service_name", "reviews", "destination_service", "reviews.bookinfo.svc.cluster.local")),
		},
		{
			name:   "source_side",
			metric: point(t0, with(undeclaredPort, "reporter", "source")),
		},
		{
			name: "access_log",
			log:  fixtureLog(t, "inbound_passthrough"),
			want: []string{"inbound_passthrough bookinfo deployment/reviews-v1 pod=reviews-v1-545db77b95-kx7nm count=1 | ports=8081"},
		},
		{
			name: "access_log_declared_port",
			log:  fixtureLog(t, "inbound_mtls"),
		},
		{
			name: "span",
			span: inboundSpan("InboundPassthroughCluster"),
			want: []string{"inbound_passthrough bookinfo deployment/reviews-v1 pod=reviews-v1-545db77b95-kx7nm count=1 | ports=8081"},
		},
		{
			name: "span_declared_port",
			span: inboundSpan("inbound|9080||"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := newTrafficRun(t, rules.InboundPassthrough{})
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
