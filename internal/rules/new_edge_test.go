package rules_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/meshinsights/otelcol-insights/internal/mesh"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

// callsReviews is reviews' own sidecar reporting a client's requests.
func callsReviews(at time.Time, client, pod string) *mesh.TrafficObservation {
	return point(at, map[string]string{
		"reporter": "destination", "source_workload": client, "source_workload_namespace": "bookinfo",
		"destination_workload": "reviews-v1", "destination_workload_namespace": "bookinfo",
		"destination_service_name": "reviews", "connection_security_policy": "mutual_tls", "request_protocol": "http",
		"k8s.pod.name": pod, "k8s.namespace.name": "bookinfo",
	})
}

func TestNewEdge(t *testing.T) {
	const learning = 24 * time.Hour
	inbound := func(at time.Time, remote string) *mesh.AccessLogObservation {
		l := inboundMTLS(at)
		l.remote = remote
		return l.parse(t)
	}
	type step struct {
		metric *mesh.TrafficObservation
		log    *mesh.AccessLogObservation
	}
	tests := []struct {
		name  string
		steps []step
		want  []string
	}{
		{
			name: "quiet_during_the_learning_window",
			steps: []step{
				{metric: callsReviews(t0, "productpage-v1", reviewsPod.Name)},
				{metric: callsReviews(t0.Add(time.Hour), "sleep", reviewsPod.Name)},
				{metric: callsReviews(t0.Add(learning-time.Second), "ratings-v1", reviewsPod.Name)},
			},
		},
		{
			name: "new_client_after_the_learning_window",
			steps: []step{
				{metric: callsReviews(t0, "productpage-v1", reviewsPod.Name)},
				{metric: callsReviews(t0.Add(learning), "sleep", reviewsPod.Name)},
			},
			want: []string{"new_edge bookinfo sleep key=bookinfo/reviews-v1 node=worker-1 count=1 |" +
				" destination=bookinfo/reviews-v1 destination_pod=reviews-v1-545db77b95-kx7nm"},
		},
		{
			name: "client_learnt_in_the_window_stays_quiet_and_a_new_one_fires_once",
			steps: []step{
				{metric: callsReviews(t0, "productpage-v1", reviewsPod.Name)},
				{metric: callsReviews(t0.Add(learning+time.Hour), "productpage-v1", reviewsPod.Name)},
				{metric: callsReviews(t0.Add(learning+time.Hour), "sleep", reviewsPod.Name)},
				{metric: callsReviews(t0.Add(learning+2*time.Hour), "sleep", reviewsPod.Name)},
			},
			want: []string{"new_edge bookinfo sleep key=bookinfo/reviews-v1 node=worker-1 count=1 |" +
				" destination=bookinfo/reviews-v1 destination_pod=reviews-v1-545db77b95-kx7nm"},
		},
		{
			name: "a_newly_seen_pod_starts_its_own_window",
			steps: []step{
				{metric: callsReviews(t0, "productpage-v1", reviewsPod.Name)},
				{metric: callsReviews(t0.Add(learning+time.Hour), "sleep", "reviews-v1-545db77b95-new01")},
			},
		},
		{
			name: "unknown_client_workload",
			steps: []step{
				{metric: callsReviews(t0, "productpage-v1", reviewsPod.Name)},
				{metric: callsReviews(t0.Add(learning), "unknown", reviewsPod.Name)},
			},
		},
		{
			name: "source_reported_series",
			steps: []step{
				{metric: callsReviews(t0, "productpage-v1", reviewsPod.Name)},
				{metric: func() *mesh.TrafficObservation {
					o := callsReviews(t0.Add(learning), "sleep", reviewsPod.Name)
					o.Reporter = "source"
					return o
				}()},
			},
		},
		{
			name: "metrics_without_pod_attributes_learn_per_workload",
			steps: []step{
				{metric: callsReviews(t0, "productpage-v1", "")},
				{metric: callsReviews(t0.Add(learning), "sleep", "")},
			},
			want: []string{"new_edge bookinfo sleep key=bookinfo/reviews-v1 node=worker-1 count=1 | destination=bookinfo/reviews-v1"},
		},
		{
			name: "access_log_new_client_pod",
			steps: []step{
				{log: inbound(t0, "10.244.0.25:40000")},
				{log: inbound(t0.Add(learning), "10.244.0.40:40000")},
			},
			want: []string{"new_edge bookinfo deployment/sleep key=bookinfo/reviews-v1 node=worker-1 pod=sleep-7b9f8c6d5d-x7k2p count=1 |" +
				" destination=bookinfo/reviews-v1 destination_pod=reviews-v1-545db77b95-kx7nm"},
		},
		{
			name: "access_log_and_metrics_name_the_client_alike",
			steps: []step{
				{metric: callsReviews(t0, "sleep", reviewsPod.Name)},
				{log: inbound(t0.Add(learning), "10.244.0.99:40000")}, // sleep, controller unknown
			},
		},
		{
			name: "access_log_client_on_this_node_has_no_observing_node",
			steps: []step{
				{log: inbound(t0, "10.244.0.40:40000")},
				{log: inbound(t0.Add(learning), "10.244.0.25:40000")},
			},
			want: []string{"new_edge bookinfo deployment/productpage-v1 key=bookinfo/reviews-v1 pod=productpage-v1-6b746f74dc-9stvs count=1 |" +
				" destination=bookinfo/reviews-v1 destination_pod=reviews-v1-545db77b95-kx7nm"},
		},
		{
			name: "access_log_proxy_own_address_and_unknown_ips",
			steps: []step{
				{log: inbound(t0, "10.244.0.25:40000")},
				{log: inbound(t0.Add(learning), "127.0.0.6:40000")},
				{log: inbound(t0.Add(learning), "10.244.9.9:40000")},
				{log: inbound(t0.Add(learning), "10.0.0.5:40000")},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := newTrafficRun(t, rules.NewNewEdge(learning))
			for _, s := range tt.steps {
				if s.metric != nil {
					run.metric(s.metric)
				}
				if s.log != nil {
					run.log(s.log)
				}
			}
			assert.Equal(t, tt.want, run.golden())
		})
	}
}

func TestGuessWorkload(t *testing.T) {
	for pod, want := range map[string]string{
		"reviews-v1-545db77b95-kx7nm": "reviews-v1",
		"node-exporter-x7k2p":         "node-exporter",
		"mongodb-0":                   "mongodb",
		"web-12":                      "web",
		"train-model-run-42-x7k2p":    "train-model-run-42",
		"standalone":                  "standalone",
		"my-service-alpha":            "my-service-alpha",
		"my-service-apple":            "my-service-apple",
		"-":                           "-",
	} {
		assert.Equal(t, want, rules.GuessWorkload(pod), pod)
	}
}
