package rules_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshinsights/otelcol-insights/internal/mesh"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

// plaintextAtReviews is reviews' own sidecar reporting plaintext from a client without a
// sidecar (no peer metadata: source "unknown").
var plaintextAtReviews = map[string]string{
	"reporter": "destination", "connection_security_policy": "none",
	"source_workload": "unknown", "source_workload_namespace": "unknown",
	"destination_workload": "reviews-v1", "destination_workload_namespace": "bookinfo",
	"destination_service_name": "reviews", "request_protocol": "http",
}

func TestPlaintextInbound(t *testing.T) {
	plaintext := func(remote string) *mesh.AccessLogObservation {
		l := inboundMTLS(t0)
		l.remote, l.sni = remote, "-"
		return l.parse(t)
	}
	baseline := point(t0, plaintextAtReviews)
	baseline.Sighting, baseline.Value = mesh.DeltaBaseline, 0
	bytes := point(t0, plaintextAtReviews)
	bytes.Metric = mesh.MetricTCPSentBytes

	tests := []struct {
		name   string
		allow  []string
		metric *mesh.TrafficObservation
		log    *mesh.AccessLogObservation
		want   []string
	}{
		{
			name:   "destination_reports_plaintext_from_unknown_workload",
			metric: point(t0, plaintextAtReviews),
			want:   []string{"plaintext_inbound bookinfo reviews-v1 count=3 | sources=unknown protocol=http"},
		},
		{
			name:   "with_pod_attributes_the_subject_is_the_pods_controller",
			metric: point(t0, with(plaintextAtReviews, "k8s.pod.name", reviewsPod.Name, "k8s.namespace.name", "bookinfo")),
			want:   []string{"plaintext_inbound bookinfo deployment/reviews-v1 pod=reviews-v1-545db77b95-kx7nm count=3 | sources=unknown protocol=http"},
		},
		{
			name:   "pod_the_inventory_does_not_know_keeps_the_istio_workload_as_subject",
			metric: point(t0, with(plaintextAtReviews, "k8s.pod.name", "reviews-v1-545db77b95-zzzzz", "k8s.namespace.name", "bookinfo")),
			want:   []string{"plaintext_inbound bookinfo reviews-v1 pod=reviews-v1-545db77b95-zzzzz count=3 | sources=unknown protocol=http"},
		},
		{
			name:   "tls_disable_client_named_by_peer_metadata",
			metric: point(t0, tlsDisabledPeer),
			want:   []string{"plaintext_inbound bookinfo reviews-v1 count=3 | sources=bookinfo/sleep protocol=http"},
		},
		{
			name:   "first_sighting_is_history_of_unknown_age",
			metric: baseline,
		},
		{
			name:   "bytes_count_the_same_flows_again",
			metric: bytes,
		},
		{
			name:   "mutual_tls",
			metric: point(t0, with(plaintextAtReviews, "connection_security_policy", "mutual_tls")),
		},
		{
			name:   "source_side_always_says_unknown",
			metric: point(t0, with(plaintextAtReviews, "reporter", "source", "connection_security_policy", "unknown")),
		},
		{
			name:   "allowed_workload_in_any_namespace",
			allow:  []string{"sleep"},
			metric: point(t0, tlsDisabledPeer),
		},
		{
			name:   "allowed_workload_in_its_namespace",
			allow:  []string{"bookinfo/sleep"},
			metric: point(t0, tlsDisabledPeer),
		},
		{
			name:   "allowed_workload_in_another_namespace_still_reports",
			allow:  []string{"other/sleep"},
			metric: point(t0, tlsDisabledPeer),
			want:   []string{"plaintext_inbound bookinfo reviews-v1 count=3 | sources=bookinfo/sleep protocol=http"},
		},
		{
			name: "access_log_plaintext_from_unmeshed_client",
			log:  plaintext("10.244.0.41:53312"),
			want: []string{"plaintext_inbound bookinfo deployment/reviews-v1 pod=reviews-v1-545db77b95-kx7nm count=1 | sources=bookinfo/legacy protocol=HTTP/1.1"},
		},
		{
			name: "access_log_plaintext_from_outside_the_cluster",
			log:  plaintext("192.168.7.7:53312"),
			want: []string{"plaintext_inbound bookinfo deployment/reviews-v1 pod=reviews-v1-545db77b95-kx7nm count=1 | sources=192.168.7.7 protocol=HTTP/1.1"},
		},
		{
			name: "access_log_plaintext_tcp",
			log: func() *mesh.AccessLogObservation {
				l := inboundMTLS(t0)
				l.request, l.code, l.details, l.authority, l.remote, l.sni, l.route = "- - -", 0, "-", "-", "10.244.0.41:53312", "-", "-"
				return l.parse(t)
			}(),
			want: []string{"plaintext_inbound bookinfo deployment/reviews-v1 pod=reviews-v1-545db77b95-kx7nm count=1 | sources=bookinfo/legacy protocol=tcp"},
		},
		{
			name:  "access_log_client_in_allowed_cidr",
			allow: []string{"10.244.0.0/24"},
			log:   plaintext("10.244.0.41:53312"),
		},
		{
			name:  "access_log_client_is_allowed_ip",
			allow: []string{"192.168.7.7"},
			log:   plaintext("192.168.7.7:53312"),
		},
		{
			name:  "access_log_client_is_allowed_workload",
			allow: []string{"bookinfo/legacy"},
			log:   plaintext("10.244.0.41:53312"),
		},
		{
			name: "access_log_mtls",
			log:  fixtureLog(t, "inbound_mtls"),
		},
		{
			name: "access_log_proxy_own_address",
			log:  fixtureLog(t, "proxy_own_address"),
		},
		{
			name: "access_log_outbound",
			log:  fixtureLog(t, "outbound_mtls"),
		},
		{
			name: "access_log_destination_unknown",
			log: func() *mesh.AccessLogObservation {
				l := inboundMTLS(t0)
				l.local, l.remote, l.sni = "10.244.9.9:9080", "10.244.0.41:53312", "-"
				return l.parse(t)
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rule, err := rules.NewPlaintextInbound(tt.allow)
			require.NoError(t, err)
			run := newTrafficRun(t, rule)
			if tt.metric != nil {
				run.metric(tt.metric)
			}
			if tt.log != nil {
				run.log(tt.log)
			}
			assert.Equal(t, tt.want, run.golden())
		})
	}
}

func TestPlaintextInbound_allow_sources_validation(t *testing.T) {
	for _, ok := range [][]string{nil, {"10.0.0.0/8", "fd00::/8", "10.1.2.3", "::1", "sleep", "bookinfo/sleep", "web.v2"}} {
		_, err := rules.NewPlaintextInbound(ok)
		assert.NoError(t, err, ok)
	}
	for _, bad := range []struct{ entry, msg string }{
		{"10.0.0.0/33", `[0] "10.0.0.0/33": not a valid CIDR or IP address`},
		{"fd00::/129", `[0] "fd00::/129": not a valid CIDR or IP address`},
		{"Sleep", `[0] "Sleep": neither a CIDR`},
		{"a/b/c", `[0] "a/b/c": neither a CIDR`},
		{"ns.with.dots/sleep", `neither a CIDR`},
		{"", `[0] "": neither a CIDR`},
	} {
		_, err := rules.NewPlaintextInbound([]string{bad.entry})
		assert.ErrorContains(t, err, bad.msg, bad.entry)
	}
}
