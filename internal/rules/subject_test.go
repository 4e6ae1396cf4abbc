package rules_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

func TestPodSubject(t *testing.T) {
	t.Run("controller_when_present", func(t *testing.T) {
		p := &inventory.Pod{Namespace: "shop", Name: "payments-6d8f9c7b5d-q2xlm", Controller: inventory.Controller{Kind: inventory.KindDeployment, Name: "payments"}}
		assert.Equal(t, findings.Subject{Kind: findings.KindDeployment, Name: "payments", Namespace: "shop"}, rules.PodSubject(p))
	})
	t.Run("the_pod_without_controller", func(t *testing.T) {
		p := &inventory.Pod{Namespace: "shop", Name: "debug"}
		assert.Equal(t, findings.Subject{Kind: findings.KindPod, Name: "debug", Namespace: "shop"}, rules.PodSubject(p))
	})
	t.Run("inventory_kinds_are_finding_kinds", func(t *testing.T) {
		for inv, f := range map[string]string{
			inventory.KindDeployment:  findings.KindDeployment,
			inventory.KindReplicaSet:  findings.KindReplicaSet,
			inventory.KindStatefulSet: findings.KindStatefulSet,
			inventory.KindDaemonSet:   findings.KindDaemonSet,
			inventory.KindJob:         findings.KindJob,
			inventory.KindCronJob:     findings.KindCronJob,
		} {
			assert.Equal(t, f, inv)
		}
	})
}

func TestPodFinding(t *testing.T) {
	rule := rules.AppUID1337{}.Rule()
	p := &inventory.Pod{
		Namespace: "ledger", Name: "ledger-0", UID: "9b2c", Controller: inventory.Controller{Kind: inventory.KindStatefulSet, Name: "ledger"},
	}
	f := rules.PodFinding(rule, p, rules.PodContext{Cluster: "prod-eu-1"})
	assert.Equal(t, findings.Finding{
		Rule:    rule,
		Cluster: "prod-eu-1",
		Subject: findings.Subject{Kind: findings.KindStatefulSet, Name: "ledger", Namespace: "ledger"},
		PodName: "ledger-0",
		PodUID:  "9b2c",
		Pods:    []string{"ledger-0"},
	}, f)
}

func TestPodRules(t *testing.T) {
	rs := rules.PodRules()
	assert.NotEmpty(t, rs)
	ids, codes := map[string]bool{}, map[string]bool{}
	for _, r := range rs {
		d := r.Rule()
		assert.NotEmpty(t, d.ID)
		assert.NotEmpty(t, d.Title)
		assert.NotEmpty(t, d.Remediation)
		assert.Equal(t, findings.RuleUUID(d.ID), d.UUID, d.ID)
		assert.False(t, ids[d.ID], "duplicate rule ID %s", d.ID)
		assert.False(t, codes[d.Code], "duplicate code %s", d.Code)
		ids[d.ID], codes[d.Code] = true, true
	}
	assert.True(t, ids["app_uid_1337"])
}
