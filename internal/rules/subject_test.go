package rules_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

func TestPodFindingOfTemplate(t *testing.T) {
	rule := rules.AppUID1337{}.Rule()
	p := &inventory.Pod{
		Namespace: "shop", Template: &inventory.Controller{Kind: inventory.KindDeployment, Name: "payments"},
		Controller: inventory.Controller{Kind: inventory.KindDeployment, Name: "payments"},
	}
	assert.Equal(t, findings.Finding{
		Rule:    rule,
		Cluster: "prod-eu-1",
		Subject: findings.Subject{Kind: findings.KindDeployment, Name: "payments", Namespace: "shop"},
	}, rules.PodFinding(rule, p, rules.PodContext{Cluster: "prod-eu-1"}), "no pod exists: no pod name, UID or pods")
}

func TestPodRules(t *testing.T) {
	rs := rules.PodRules(rules.RuleOptions{})
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
	var order []string
	for _, r := range rs {
		order = append(order, r.Rule().Code+" "+r.Rule().ID)
	}
	assert.Equal(t, []string{
		"INS-0001 app_uid_1337", "INS-0002 app_gid_1337", "INS-0003 shared_process_namespace",
		"INS-0004 proxy_credentials_mounted", "INS-0005 capture_weakened", "INS-0006 net_admin_in_mesh",
		"INS-0007 host_network_in_mesh", "INS-0008 missing_sidecar",
	}, order, "catalogue order")
}

func TestRuleCatalogue(t *testing.T) {
	categories := map[string]bool{"capture_bypass": true, "credential_exposure": true, "capture_config": true, "privilege": true, "coverage": true}
	for _, tc := range []struct {
		id       string
		code     string
		severity findings.Severity
		category string
	}{
		{"app_gid_1337", "INS-0002", findings.SeverityHigh, "capture_bypass"},
		{"shared_process_namespace", "INS-0003", findings.SeverityHigh, "credential_exposure"},
		{"proxy_credentials_mounted", "INS-0004", findings.SeverityHigh, "credential_exposure"},
		{"capture_weakened", "INS-0005", findings.SeverityMedium, "capture_config"},
		{"net_admin_in_mesh", "INS-0006", findings.SeverityHigh, "privilege"},
		{"host_network_in_mesh", "INS-0007", findings.SeverityMedium, "coverage"},
		{"missing_sidecar", "INS-0008", findings.SeverityMedium, "coverage"},
	} {
		t.Run(tc.id, func(t *testing.T) {
			var r *findings.Rule
			for _, pr := range rules.PodRules(rules.RuleOptions{}) {
				if pr.Rule().ID == tc.id {
					r = pr.Rule()
				}
			}
			require.NotNil(t, r)
			assert.Equal(t, tc.code, r.Code)
			assert.Equal(t, tc.severity, r.Severity)
			assert.Equal(t, tc.category, r.Category)
			assert.True(t, categories[r.Category])
			assert.Equal(t, findings.RuleUUID(tc.id), r.UUID)
			assert.Equal(t, "https://github.com/meshinsights/otelcol-insights#"+tc.id, r.Reference)
			assert.NotEmpty(t, r.Title)
			assert.Contains(t, r.Remediation, "ValidatingAdmissionPolicy", "every remediation says how to block it at admission")
		})
	}
}
