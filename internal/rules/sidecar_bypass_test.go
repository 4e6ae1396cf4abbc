package rules_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshinsights/otelcol-insights/internal/mesh"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

// tlsDisabledPeer is what reviews' own sidecar reports when sleep's sidecar sends it
// plaintext on purpose (DestinationRule TLS DISABLE): Istio peer metadata names sleep.
var tlsDisabledPeer = map[string]string{
	"reporter": "destination", "connection_security_policy": "none",
	"source_workload": "sleep", "source_workload_namespace": "bookinfo",
	"destination_workload": "reviews-v1", "destination_workload_namespace": "bookinfo",
	"destination_service_name": "reviews", "request_protocol": "http",
}

func TestSidecarBypass(t *testing.T) {
	plaintext := func(remote string) accessLine {
		l := inboundMTLS(t0)
		l.remote, l.sni = remote, "-"
		return l
	}
	const bypassBySleep = "sidecar_bypass bookinfo deployment/sleep key=bookinfo/reviews-v1 node=worker-1 pod=sleep-7b9f8c6d5d-x7k2p count=1 |" +
		" destination=bookinfo/reviews-v1 destination_pod=reviews-v1-545db77b95-kx7nm client_ip=10.244.0.40 protocol=HTTP/1.1 port=9080"

	tests := []struct {
		name    string
		metrics []map[string]string // destination metrics seen before the record
		log     *mesh.AccessLogObservation
		want    []string
	}{
		{
			name: "mtls_from_meshed_client",
			log:  fixtureLog(t, "inbound_mtls"),
		},
		{
			name: "plaintext_from_meshed_pod_on_another_node",
			log:  fixtureLog(t, "inbound_plaintext_from_pod"),
			want: []string{"sidecar_bypass bookinfo deployment/sleep key=bookinfo/reviews-v1 node=worker-1 pod=sleep-7b9f8c6d5d-x7k2p count=1 |" +
				" destination=bookinfo/reviews-v1 destination_pod=reviews-v1-545db77b95-kx7nm client_ip=10.244.0.40 protocol=HTTP/1.1 port=9080"},
		},
		{
			name: "plaintext_from_meshed_pod_built",
			log:  plaintext("10.244.0.40:53312").parse(t),
			want: []string{bypassBySleep},
		},
		{
			name: "plaintext_from_meshed_pod_on_this_node_has_no_observing_node",
			log:  plaintext("10.244.0.25:40000").parse(t),
			want: []string{"sidecar_bypass bookinfo deployment/productpage-v1 key=bookinfo/reviews-v1 pod=productpage-v1-6b746f74dc-9stvs count=1 |" +
				" destination=bookinfo/reviews-v1 destination_pod=reviews-v1-545db77b95-kx7nm client_ip=10.244.0.25 protocol=HTTP/1.1 port=9080"},
		},
		{
			name: "plaintext_over_ipv6",
			log:  fixtureLog(t, "inbound_plaintext_ipv6"),
			want: []string{"sidecar_bypass bookinfo deployment/sleep key=bookinfo/reviews-v1 node=worker-1 pod=sleep-7b9f8c6d5d-x7k2p count=1 |" +
				" destination=bookinfo/reviews-v1 destination_pod=reviews-v1-545db77b95-kx7nm client_ip=fd00:10:244::28 protocol=HTTP/1.1 port=9080"},
		},
		{
			name: "tls_the_app_opened_itself_is_not_istio_mtls",
			log: func() *mesh.AccessLogObservation {
				l := plaintext("10.244.0.40:53312")
				l.sni = "reviews.internal.example"
				return l.parse(t)
			}(),
			want: []string{bypassBySleep + " requested_server_name=reviews.internal.example"},
		},
		{
			name: "plaintext_to_an_undeclared_port_from_meshed_pod",
			log:  fixtureLog(t, "inbound_passthrough"),
			want: []string{"sidecar_bypass bookinfo deployment/sleep key=bookinfo/reviews-v1 node=worker-1 pod=sleep-7b9f8c6d5d-x7k2p count=1 |" +
				" destination=bookinfo/reviews-v1 destination_pod=reviews-v1-545db77b95-kx7nm client_ip=10.244.0.40 protocol=HTTP/1.1 port=8081"},
		},
		{
			name: "client_known_only_to_the_ip_index_is_its_pod",
			log:  plaintext("10.244.0.99:53312").parse(t),
			want: []string{"sidecar_bypass bookinfo pod/sleep-7b9f8c6d5d-x7k2p key=bookinfo/reviews-v1 node=worker-1 pod=sleep-7b9f8c6d5d-x7k2p count=1 |" +
				" destination=bookinfo/reviews-v1 destination_pod=reviews-v1-545db77b95-kx7nm client_ip=10.244.0.99 protocol=HTTP/1.1 port=9080"},
		},
		{
			name: "plaintext_from_unmeshed_client_is_plaintext_inbound_not_bypass",
			log:  plaintext("10.244.0.41:53312").parse(t),
		},
		{
			name: "proxy_own_inbound_address",
			log:  fixtureLog(t, "proxy_own_address"),
		},
		{
			name: "gateway_client",
			log:  plaintext("10.244.0.14:53312").parse(t),
		},
		{
			name: "host_network_client",
			log:  plaintext("10.0.0.5:53312").parse(t),
		},
		{
			name: "meshed_host_network_client_shares_its_nodes_ip",
			log:  plaintext("10.0.0.6:53312").parse(t),
		},
		{
			name: "client_ip_no_pod_held",
			log:  plaintext("10.244.9.9:53312").parse(t),
		},
		{
			name: "the_destination_itself",
			log:  plaintext("10.244.0.23:53312").parse(t),
		},
		{
			name: "loopback_client",
			log:  plaintext("127.0.0.1:53312").parse(t),
		},
		{
			name: "outbound_record",
			log:  fixtureLog(t, "outbound_mtls"),
		},
		{
			name:    "tls_disable_metrics_name_the_client_workload",
			metrics: []map[string]string{tlsDisabledPeer},
			log:     plaintext("10.244.0.40:53312").parse(t),
		},
		{
			name:    "tls_disable_matched_by_pod_name_when_the_controller_is_unknown",
			metrics: []map[string]string{tlsDisabledPeer},
			log:     plaintext("10.244.0.99:53312").parse(t),
		},
		{
			name: "tls_disable_of_another_client_does_not_clear_this_one",
			metrics: []map[string]string{with(tlsDisabledPeer,
				"source_workload", "productpage-v1")},
			log:  plaintext("10.244.0.40:53312").parse(t),
			want: []string{bypassBySleep},
		},
		{
			name: "plaintext_attributed_to_unknown_is_no_peer_metadata",
			metrics: []map[string]string{with(tlsDisabledPeer,
				"source_workload", "unknown", "source_workload_namespace", "unknown")},
			log:  plaintext("10.244.0.40:53312").parse(t),
			want: []string{bypassBySleep},
		},
		{
			name:    "mutual_tls_metrics_are_no_plaintext_peer",
			metrics: []map[string]string{with(tlsDisabledPeer, "connection_security_policy", "mutual_tls")},
			log:     plaintext("10.244.0.40:53312").parse(t),
			want:    []string{bypassBySleep},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := newTrafficRun(t, rules.NewSidecarBypass(0))
			for _, m := range tt.metrics {
				run.metric(point(t0, m))
			}
			run.log(tt.log)
			assert.Equal(t, tt.want, run.golden())
			for _, f := range run.found {
				assert.Equal(t, rules.DefaultSidecarBypassConfirmAfter, f.HoldFor, "a new bypass waits for the destination's metrics")
				require.NotNil(t, f.Recheck, "the engine asks again when the hold ends")
				assert.Equal(t, "bookinfo", f.Recheck.DestinationNamespace)
				assert.Contains(t, f.Recheck.DestinationNames, "reviews-v1")
				assert.Contains(t, f.Recheck.ClientNames, f.PodName)
			}
		})
	}
}

func TestSidecarBypass_spans_cannot_prove_a_bypass(t *testing.T) {
	_, readsSpans := any(rules.NewSidecarBypass(0)).(rules.SpanRule)
	assert.False(t, readsSpans)
}

func TestSidecarBypass_negative_confirm_after_reports_at_once(t *testing.T) {
	run := newTrafficRun(t, rules.NewSidecarBypass(-time.Second))
	run.log(fixtureLog(t, "inbound_plaintext_from_pod"))
	require.Len(t, run.found, 1)
	assert.Zero(t, run.found[0].HoldFor)
}
