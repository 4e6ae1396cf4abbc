package rules_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshinsights/otelcol-insights/internal/mesh"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

const mib = 1 << 20

// TestUnaccountedEgressJudge: one closed window of reviews against its own usual window
// (5 minutes, so the floor is 5 MiB beyond the usual).
func TestUnaccountedEgressJudge(t *testing.T) {
	end := t0.Add(2 * time.Hour)
	usual := rules.EgressBaseline{Windows: 20, Transmitted: 10 * mib, Proxy: 8 * mib, Unaccounted: 2 * mib}
	quiet := rules.EgressBaseline{Windows: 20, Transmitted: 10 * mib, Proxy: 10 * mib, Unaccounted: 0.1 * mib}
	const bypass = "unaccounted_egress bookinfo deployment/reviews-v1 pod=reviews-v1-545db77b95-kx7nm count=1 |"

	tests := []struct {
		name                string
		usual               rules.EgressBaseline
		tx, proxy, around   float64 // MiB
		received            float64 // MiB the proxy received, in the window and around it
		idleProxy, learning bool
		want                []string
		wantLearn           bool
	}{
		{name: "steady_traffic", usual: usual, tx: 10, proxy: 8, around: 9.6, wantLearn: true},
		{
			name: "transmits_far_more_than_the_proxy_accounts_for", usual: usual, tx: 60, proxy: 8, around: 9.6,
			want: []string{bypass + " transmitted_bytes=62914560 proxy_bytes=8388608 unaccounted_bytes=50331648" +
				" baseline_unaccounted_bytes=2097152 baseline_ratio=1.25 window=5m0s window_end=2026-11-23T12:00:00Z"},
		},
		{name: "a_burst_the_proxy_accounts_for", usual: usual, tx: 110, proxy: 100, around: 102, wantLearn: true},
		{name: "the_burst_reaching_the_proxy_one_bucket_late", usual: usual, tx: 110, proxy: 20, around: 102, wantLearn: true},
		{
			name: "above_the_floor_on_a_quiet_pod", usual: quiet, tx: 16, proxy: 10, around: 10,
			want: []string{bypass + " transmitted_bytes=16777216 proxy_bytes=10485760 unaccounted_bytes=6291456" +
				" baseline_unaccounted_bytes=104857 baseline_ratio=1.00 window=5m0s window_end=2026-11-23T12:00:00Z"},
		},
		{name: "below_the_floor_on_a_quiet_pod", usual: quiet, tx: 14, proxy: 10, around: 10, wantLearn: true},
		{
			name: "above_factor_times_the_usual", usual: usual, tx: 10 + 13, proxy: 8, around: 8,
			want: []string{bypass + " transmitted_bytes=24117248 proxy_bytes=8388608 unaccounted_bytes=13631488" +
				" baseline_unaccounted_bytes=2097152 baseline_ratio=1.25 window=5m0s window_end=2026-11-23T12:00:00Z"},
		},
		{name: "above_the_floor_within_factor_times_the_usual", usual: usual, tx: 17.5, proxy: 8, around: 8, wantLearn: true},
		{name: "quiet_while_the_pod_learns", usual: usual, tx: 60, proxy: 8, around: 9.6, learning: true, wantLearn: true},
		{name: "quiet_before_enough_windows", usual: rules.EgressBaseline{Windows: 2, Transmitted: 10 * mib, Proxy: 8 * mib, Unaccounted: 2 * mib},
			tx: 60, proxy: 8, around: 9.6, wantLearn: true},
		// A download through the sidecar: the pod transmits ~2.4% of it in ACKs (one per
		// two 1400-byte segments), which its proxy reports nowhere as sent.
		{name: "acks_for_a_download_the_proxy_accounts_for", usual: usual, tx: 10 + 0.024*600, proxy: 8, around: 9.6, received: 600, wantLearn: true},
		{
			name: "a_bypass_during_a_download", usual: usual, tx: 60 + 0.024*600, proxy: 8, around: 9.6, received: 600,
			want: []string{bypass + " transmitted_bytes=78014054 proxy_bytes=8388608 unaccounted_bytes=33973862" +
				" baseline_unaccounted_bytes=2097152 baseline_ratio=1.25 proxy_received_bytes=629145600 window=5m0s window_end=2026-11-23T12:00:00Z"},
		},
		{name: "a_busy_proxy_that_reported_nothing_is_late", usual: usual, tx: 60, idleProxy: true},
		{
			name: "an_idle_proxy_is_judged", usual: quiet0(), tx: 60, idleProxy: true,
			want: []string{bypass + " transmitted_bytes=62914560 proxy_bytes=0 unaccounted_bytes=62914560" +
				" baseline_unaccounted_bytes=1048576 baseline_ratio=4.00 window=5m0s window_end=2026-11-23T12:00:00Z"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := newTrafficRun(t, rules.NewUnaccountedEgress(rules.UnaccountedEgressOptions{}))
			r := run.rule.(*rules.UnaccountedEgress)
			w := &rules.EgressWindow{
				Start: end.Add(-5 * time.Minute), End: end,
				Transmitted: tt.tx * mib, Proxy: tt.proxy * mib, ProxyAround: tt.around * mib,
				ProxyReceived: tt.received * mib, ProxyReceivedAround: tt.received * mib,
				ProxyReported: !tt.idleProxy, Since: t0, Usual: tt.usual,
			}
			if tt.learning {
				w.Since = end.Add(-30 * time.Minute)
			}
			learn := r.JudgeEgress(reviewsPod, w, &run.ctx)
			assert.Equal(t, tt.want, run.golden())
			assert.Equal(t, tt.wantLearn, learn, "learns from the window")
		})
	}
}

// quiet0 is a pod whose proxy carries nearly nothing: 1 MiB per window of its own overhead.
func quiet0() rules.EgressBaseline {
	return rules.EgressBaseline{Windows: 20, Transmitted: 1 * mib, Proxy: 0.01 * mib, Unaccounted: 1 * mib}
}

// fakeLedger records what the rule accounts.
type fakeLedger struct{ samples []string }

func (l *fakeLedger) AccountEgress(s rules.EgressSample, _ rules.EgressJudge, _ *rules.TrafficContext) {
	src := "kubelet"
	switch {
	case s.Proxy && s.Received:
		src = "proxy-in"
	case s.Proxy:
		src = "proxy"
	}
	l.samples = append(l.samples, fmt.Sprintf("%s %s/%s %.0f first=%v restart=%v", src, s.Pod.Namespace, s.Pod.Name, s.Bytes, s.First, s.Restart))
}

func TestUnaccountedEgressAccounts(t *testing.T) {
	reviews := func(iface, dir string, v float64, sighting mesh.DeltaResult) *mesh.PodNetworkObservation {
		return &mesh.PodNetworkObservation{Value: v, Total: 1e9, Sighting: sighting, Timestamp: t0, Transmit: dir == "transmit",
			Direction: dir, Interface: iface, PodName: reviewsPod.Name, PodNamespace: reviewsPod.Namespace, PodUID: reviewsPod.UID}
	}
	onPod := func(pod rules.PodRef) *mesh.PodNetworkObservation {
		o := reviews("eth0", "transmit", 4096, mesh.DeltaContinued)
		o.PodName, o.PodNamespace, o.PodUID = pod.Name, pod.Namespace, pod.UID
		return o
	}
	proxy := func(reporter string, kind mesh.MetricKind, sighting mesh.DeltaResult) *mesh.TrafficObservation {
		o := point(t0, map[string]string{"reporter": reporter, "k8s.pod.name": reviewsPod.Name, "k8s.namespace.name": "bookinfo"})
		o.Metric, o.Value, o.Bytes, o.Total, o.Sighting = kind, 2, 5000, 777, sighting
		return o
	}
	const kubelet = "kubelet bookinfo/reviews-v1-545db77b95-kx7nm"
	const fromProxy = "proxy bookinfo/reviews-v1-545db77b95-kx7nm"

	tests := []struct {
		name string
		pod  *mesh.PodNetworkObservation
		m    *mesh.TrafficObservation
		want []string
	}{
		{name: "kubelet_transmit_on_eth0", pod: reviews("eth0", "transmit", 4096, mesh.DeltaContinued),
			want: []string{kubelet + " 4096 first=false restart=false"}},
		{name: "kubelet_receive_is_not_egress", pod: reviews("eth0", "receive", 4096, mesh.DeltaContinued)},
		{name: "a_secondary_interface_is_not_the_pods_own", pod: reviews("net1", "transmit", 4096, mesh.DeltaContinued)},
		{name: "kubelet_first_sighting_has_no_bytes", pod: reviews("eth0", "transmit", 0, mesh.DeltaBaseline),
			want: []string{kubelet + " 0 first=true restart=false"}},
		{name: "kubelet_counter_reset_counts_nothing", pod: reviews("eth0", "transmit", 4096, mesh.DeltaReset),
			want: []string{kubelet + " 0 first=false restart=true"}},
		{name: "a_pod_the_inventory_does_not_know", pod: onPod(rules.PodRef{Namespace: "bookinfo", Name: "ghost-1", UID: "uid-ghost"})},
		{name: "an_unmeshed_pod", pod: onPod(legacyPod)},
		{name: "a_gateway", pod: onPod(gatewayPod)},
		{name: "a_host_network_pod", pod: onPod(nodeExporterPod)},
		{name: "a_new_pod_under_an_old_name", pod: func() *mesh.PodNetworkObservation {
			o := reviews("eth0", "transmit", 4096, mesh.DeltaContinued)
			o.PodUID = "uid-reviews-replacement"
			return o
		}()},
		{name: "client_request_bytes", m: proxy("source", mesh.MetricRequestBytes, mesh.DeltaContinued),
			want: []string{fromProxy + " 5000 first=false restart=false"}},
		{name: "server_response_bytes", m: proxy("destination", mesh.MetricResponseBytes, mesh.DeltaContinued),
			want: []string{fromProxy + " 5000 first=false restart=false"}},
		{name: "client_tcp_request_bytes", m: proxy("source", mesh.MetricTCPReceivedBytes, mesh.DeltaContinued),
			want: []string{fromProxy + " 2 first=false restart=false"}},
		{name: "server_received_bytes_came_in", m: proxy("destination", mesh.MetricRequestBytes, mesh.DeltaContinued),
			want: []string{"proxy-in bookinfo/reviews-v1-545db77b95-kx7nm 5000 first=false restart=false"}},
		{name: "client_response_bytes_came_in", m: proxy("source", mesh.MetricResponseBytes, mesh.DeltaContinued),
			want: []string{"proxy-in bookinfo/reviews-v1-545db77b95-kx7nm 5000 first=false restart=false"}},
		{name: "client_tcp_response_bytes_came_in", m: proxy("source", mesh.MetricTCPSentBytes, mesh.DeltaContinued),
			want: []string{"proxy-in bookinfo/reviews-v1-545db77b95-kx7nm 2 first=false restart=false"}},
		{name: "a_new_series_counts_its_total", m: proxy("destination", mesh.MetricTCPSentBytes, mesh.DeltaBaseline),
			want: []string{fromProxy + " 777 first=false restart=false"}},
		{name: "a_new_histogram_counts_its_sum", m: proxy("source", mesh.MetricRequestBytes, mesh.DeltaBaseline),
			want: []string{fromProxy + " 5000 first=false restart=false"}},
		{name: "a_restarted_proxy", m: proxy("source", mesh.MetricRequestBytes, mesh.DeltaReset),
			want: []string{fromProxy + " 5000 first=false restart=true"}},
		{name: "requests_are_not_bytes", m: proxy("source", mesh.MetricRequests, mesh.DeltaContinued)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := newTrafficRun(t, rules.NewUnaccountedEgress(rules.UnaccountedEgressOptions{}))
			ledger := &fakeLedger{}
			run.ctx.Egress = ledger
			r := run.rule.(*rules.UnaccountedEgress)
			if tt.pod != nil {
				r.CheckPodNetwork(tt.pod, &run.ctx)
			}
			if tt.m != nil {
				r.CheckMetric(tt.m, &run.ctx)
			}
			assert.Equal(t, tt.want, ledger.samples)
		})
	}

	t.Run("off_without_a_ledger", func(t *testing.T) {
		run := newTrafficRun(t, rules.NewUnaccountedEgress(rules.UnaccountedEgressOptions{}))
		r := run.rule.(*rules.UnaccountedEgress)
		require.NotPanics(t, func() {
			r.CheckPodNetwork(reviews("eth0", "transmit", 4096, mesh.DeltaContinued), &run.ctx)
			r.CheckMetric(proxy("source", mesh.MetricRequestBytes, mesh.DeltaContinued), &run.ctx)
		})
	})
}

func TestUnaccountedEgressWantsOnlyItsProxysBytes(t *testing.T) {
	r := rules.NewUnaccountedEgress(rules.UnaccountedEgressOptions{})
	for _, tt := range []struct {
		reporter string
		kind     mesh.MetricKind
		want     bool
	}{
		{"source", mesh.MetricRequestBytes, true},
		{"destination", mesh.MetricTCPSentBytes, true},
		{"waypoint", mesh.MetricTCPSentBytes, false},
		{"destination", mesh.MetricRequests, false},
	} {
		o := &mesh.TrafficObservation{Reporter: tt.reporter, Metric: tt.kind}
		assert.Equal(t, tt.want, r.WantsMetric(o), "%s %s", tt.reporter, tt.kind)
	}
	assert.Equal(t, rules.DefaultUnaccountedEgressWindow, r.Window())
}
