package rules_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshinsights/otelcol-insights/internal/mesh"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

// mongodbEgress is a series of testdata/real/datadog/istio-proxy.txt: mongodb-v1's sidecar
// reporting its own requests to a host the mesh does not know.
var mongodbEgress = map[string]string{
	"reporter": "source", "source_workload": "mongodb-v1", "source_workload_namespace": "default",
	"destination_workload": "unknown", "destination_workload_namespace": "unknown",
	"destination_service": "security.ubuntu.com", "destination_service_name": "PassthroughCluster",
	"connection_security_policy": "unknown", "request_protocol": "http",
}

// egressSpan is mongodb's sidecar's CLIENT span through PassthroughCluster.
func egressSpan(proxyType string) *mesh.SpanObservation {
	node, ok := mesh.ParseNodeID(proxyType + "~10.244.0.30~mongodb-v1-6f4b8c9d7c-fz2qp.default~default.svc.cluster.local")
	if !ok {
		panic("node id")
	}
	return &mesh.SpanObservation{
		Kind: mesh.SpanKindClient, Start: t0, Direction: mesh.ClusterPassthrough, UpstreamCluster: "PassthroughCluster",
		UpstreamAddress: "91.189.91.39:80", PeerAddress: "10.244.0.30", Node: node, NodeOK: true,
		URL: "http://archive.ubuntu.com/ubuntu/dists/focal/InRelease", Protocol: "HTTP/1.1",
	}
}

func TestPassthroughEgress(t *testing.T) {
	baseline := point(t0, mongodbEgress)
	baseline.Sighting, baseline.Value = mesh.DeltaBaseline, 0

	tests := []struct {
		name   string
		allow  []string
		metric *mesh.TrafficObservation
		log    *mesh.AccessLogObservation
		span   *mesh.SpanObservation
		want   []string
	}{
		{
			name:   "source_reports_passthrough_to_unknown_host",
			metric: point(t0, mongodbEgress),
			want:   []string{"passthrough_egress default mongodb-v1 key=security.ubuntu.com count=3 | hosts=security.ubuntu.com protocol=http"},
		},
		{
			name:   "with_pod_attributes_the_subject_is_the_pods_controller",
			metric: point(t0, with(mongodbEgress, "k8s.pod.name", mongodbPod.Name, "k8s.namespace.name", "default")),
			want: []string{"passthrough_egress default deployment/mongodb-v1 key=security.ubuntu.com pod=mongodb-v1-6f4b8c9d7c-fz2qp count=3 |" +
				" hosts=security.ubuntu.com protocol=http"},
		},
		{
			name:   "host_with_port_and_upper_case",
			metric: point(t0, with(mongodbEgress, "destination_service", "Repo.MongoDB.org:443")),
			want:   []string{"passthrough_egress default mongodb-v1 key=repo.mongodb.org count=3 | hosts=repo.mongodb.org protocol=http"},
		},
		{
			name:   "allow_listed_host",
			allow:  []string{"*.ubuntu.com"},
			metric: point(t0, mongodbEgress),
		},
		{
			name:   "allow_list_does_not_cover_other_hosts",
			allow:  []string{"*.ubuntu.com"},
			metric: point(t0, with(mongodbEgress, "destination_service", "repo.mongodb.org")),
			want:   []string{"passthrough_egress default mongodb-v1 key=repo.mongodb.org count=3 | hosts=repo.mongodb.org protocol=http"},
		},
		{
			name:   "first_sighting_is_history_of_unknown_age",
			metric: baseline,
		},
		{
			name:   "registered_service",
			metric: point(t0, with(mongodbEgress, "destination_service", "reviews.bookinfo.svc.cluster.local", "destination_service_name", "reviews")),
		},
		{
			name:   "destination_side_is_not_egress",
			metric: point(t0, with(mongodbEgress, "reporter", "destination")),
		},
		{
			name: "access_log_http",
			log:  fixtureLog(t, "passthrough_egress_http"),
			want: []string{"passthrough_egress default deployment/mongodb-v1 key=archive.ubuntu.com pod=mongodb-v1-6f4b8c9d7c-fz2qp count=1 |" +
				" hosts=archive.ubuntu.com protocol=HTTP/1.1 upstream_address=91.189.91.39:80"},
		},
		{
			name: "access_log_tls_names_the_sni",
			log:  fixtureLog(t, "passthrough_egress_tls"),
			want: []string{"passthrough_egress default deployment/mongodb-v1 key=security.ubuntu.com pod=mongodb-v1-6f4b8c9d7c-fz2qp count=1 |" +
				" hosts=security.ubuntu.com protocol=tcp upstream_address=185.125.190.36:443"},
		},
		{
			name:  "access_log_allow_listed",
			allow: []string{"archive.ubuntu.com"},
			log:   fixtureLog(t, "passthrough_egress_http"),
		},
		{
			name: "access_log_registered_service",
			log:  fixtureLog(t, "outbound_mtls"),
		},
		{
			name: "access_log_blocked_is_blackhole_not_passthrough",
			log:  fixtureLog(t, "blackhole_http"),
		},
		{
			name: "span_through_passthrough",
			span: egressSpan("sidecar"),
			want: []string{"passthrough_egress default deployment/mongodb-v1 key=archive.ubuntu.com pod=mongodb-v1-6f4b8c9d7c-fz2qp count=1 |" +
				" hosts=archive.ubuntu.com protocol=HTTP/1.1 upstream_address=91.189.91.39:80"},
		},
		{
			name: "span_of_a_gateway",
			span: egressSpan("router"),
		},
		{
			name: "span_to_registered_service",
			span: func() *mesh.SpanObservation {
				s := egressSpan("sidecar")
				s.Direction, s.UpstreamCluster = mesh.ClusterOutbound, "outbound|9080||reviews.bookinfo.svc.cluster.local"
				return s
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rule, err := rules.NewPassthroughEgress(tt.allow)
			require.NoError(t, err)
			run := newTrafficRun(t, rule)
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

func TestPassthroughEgress_one_finding_per_source_and_host(t *testing.T) {
	rule, err := rules.NewPassthroughEgress(nil)
	require.NoError(t, err)
	run := newTrafficRun(t, rule)
	for _, host := range []string{"security.ubuntu.com", "archive.ubuntu.com", "security.ubuntu.com"} {
		run.metric(point(t0, with(mongodbEgress, "destination_service", host)))
	}
	require.Len(t, run.found, 3)
	assert.Equal(t, run.found[0].Fingerprint(), run.found[2].Fingerprint())
	assert.NotEqual(t, run.found[0].Fingerprint(), run.found[1].Fingerprint())
}

func TestPassthroughEgress_allow_hosts_validation(t *testing.T) {
	_, err := rules.NewPassthroughEgress([]string{"*.amazonaws.com", "api.example.com", "10.0.*"})
	assert.NoError(t, err)
	_, err = rules.NewPassthroughEgress([]string{"ok.example.com", "[a-"})
	assert.ErrorContains(t, err, `[1] "[a-": not a valid host glob`)
	_, err = rules.NewPassthroughEgress([]string{" "})
	assert.ErrorContains(t, err, `[0] "": not a valid host glob`)
}
