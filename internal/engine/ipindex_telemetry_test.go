package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/meshinsights/otelcol-insights/internal/engine"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

func TestIPIndexRefusalsAreCounted(t *testing.T) {
	tel := &refusals{byStore: map[string]int{}}
	ips := inventory.NewIPIndex(inventory.IPIndexOptions{MaxPods: 1})
	now := time.Date(2025, 11, 20, 10, 0, 0, 0, time.UTC)
	e := engine.New(engine.Config{
		FlushInterval: time.Second, MaxRetryBackoff: time.Second, MaxPods: 100,
		PodRules: rules.PodRules(rules.RuleOptions{}),
		Traffic:  engine.TrafficConfig{PodIPs: ips},
	}, engine.Settings{Telemetry: tel, Now: func() time.Time { return now }})
	for _, f := range []string{"sapwned-job-uid-1337.yaml", "clean-deployment-pod.yaml", "unmeshed-deployment-pod.yaml"} {
		ev := load(t, "pods", f)
		e.ApplyObject(context.Background(), ev)
		e.IndexObject(ev)
	}
	e.Flush(context.Background())
	assert.Equal(t, 2, tel.byStore["ip_index_pods"], "two pods did not fit an index of one")
	e.Flush(context.Background())
	assert.Equal(t, 2, tel.byStore["ip_index_pods"], "counted once")
}
