package findings

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Rules as the catalogue would describe them; codes and texts are test values.
var (
	ruleAppUID1337 = &Rule{
		ID:          "app_uid_1337",
		Code:        "INS-0001",
		Title:       "Application container runs as the proxy UID",
		Category:    "capture_bypass",
		Severity:    SeverityCritical,
		Remediation: "Run the container with a UID other than the proxy's (1337); only the proxy and Istio's own init containers may use it.",
		UUID:        RuleUUID("app_uid_1337"),
		Reference:   "https://github.com/meshinsights/otelcol-insights/blob/main/docs/rules.md#app_uid_1337",
	}
	ruleSidecarBypass = &Rule{
		ID:          "sidecar_bypass",
		Code:        "INS-0009",
		Title:       "Meshed pod sends plaintext that bypasses its sidecar",
		Category:    "capture_bypass",
		Severity:    SeverityHigh,
		Remediation: "Find what in the client pod escapes capture (proxy UID, excluded ports, NET_ADMIN) and remove it.",
		UUID:        RuleUUID("sidecar_bypass"),
	}
	rulePlaintextInbound = &Rule{
		ID:          "plaintext_inbound",
		Code:        "INS-0010",
		Title:       "Workload accepts plaintext inbound traffic",
		Category:    "plaintext",
		Severity:    SeverityMedium,
		Remediation: "Apply a PeerAuthentication with mtls mode STRICT to the workload or its namespace.",
		UUID:        RuleUUID("plaintext_inbound"),
		Reference:   "https://istio.io/latest/docs/reference/config/security/peer_authentication/",
	}
)

// checkoutFinding is app_uid_1337 on the checkout Deployment as reported by one of its pods.
func checkoutFinding(pod string) Finding {
	return Finding{
		Rule:      ruleAppUID1337,
		Cluster:   "prod-eu-1",
		Subject:   Subject{Kind: KindDeployment, Name: "checkout", Namespace: "shop"},
		PodName:   pod,
		PodUID:    "uid-" + pod,
		Container: "app",
		Summary:   "Container app of deployment/checkout runs as UID 1337, the proxy's: its traffic skips the sidecar.",
		Evidence:  []EvidenceValue{IntEvidence("run_as_user", 1337)},
	}
}

func TestFingerprint(t *testing.T) {
	t.Run("stable_across_pod_rollout", func(t *testing.T) {
		before := checkoutFinding("checkout-7d9f8b6c5-x2x4k")
		after := checkoutFinding("checkout-5c4b7f9d8-q8w2m")
		after.Summary = "another sentence"
		after.Evidence = []EvidenceValue{IntEvidence("run_as_user", 1337), StrEvidence("source", "container_status")}
		after.Pods = []string{"checkout-5c4b7f9d8-q8w2m"}
		after.Count = 7
		after.State = StateOngoing
		after.FirstSeen = time.Unix(1000, 0)
		after.LastSeen = time.Unix(2000, 0)
		after.Occurrences = 12
		assert.Equal(t, before.Fingerprint(), after.Fingerprint())
		assert.Equal(t, before.SubjectFingerprint(), after.SubjectFingerprint())
	})

	t.Run("stable_across_restarts", func(t *testing.T) {
		// Pinned (computed outside Go from the recipe): a change re-opens every finding ever seen.
		f := checkoutFinding("checkout-7d9f8b6c5-x2x4k")
		assert.Equal(t, "50c8ee90f34c936136e8f023053502b6", f.Fingerprint())
		assert.Equal(t, "50c8ee90f34c936136e8f023053502b6", f.SubjectFingerprint())
	})

	t.Run("is_32_hex_digits", func(t *testing.T) {
		f := checkoutFinding("p")
		fp := f.Fingerprint()
		assert.Len(t, fp, 32)
		_, err := hex.DecodeString(fp)
		assert.NoError(t, err)
	})

	t.Run("every_identity_part_changes_it", func(t *testing.T) {
		base := checkoutFinding("p")
		otherRule := *ruleAppUID1337
		otherRule.ID = "app_gid_1337"
		changes := map[string]func(*Finding){
			"cluster":      func(f *Finding) { f.Cluster = "prod-us-1" },
			"rule":         func(f *Finding) { f.Rule = &otherRule },
			"namespace":    func(f *Finding) { f.Subject.Namespace = "shop-staging" },
			"kind":         func(f *Finding) { f.Subject.Kind = KindStatefulSet },
			"name":         func(f *Finding) { f.Subject.Name = "payments" },
			"container":    func(f *Finding) { f.Container = "worker" },
			"evidence_key": func(f *Finding) { f.EvidenceKey = "reviews.bookinfo:9080" },
		}
		for part, change := range changes {
			f := base
			change(&f)
			assert.NotEqual(t, base.Fingerprint(), f.Fingerprint(), part)
		}
	})

	t.Run("parts_do_not_run_into_each_other", func(t *testing.T) {
		a, b := checkoutFinding("p"), checkoutFinding("p")
		a.Container, a.EvidenceKey = "ab", "c"
		b.Container, b.EvidenceKey = "a", "bc"
		assert.NotEqual(t, a.Fingerprint(), b.Fingerprint())
	})

	t.Run("observing_node_changes_fingerprint_not_subject_fingerprint", func(t *testing.T) {
		local := checkoutFinding("p")
		remote := local
		remote.ObservingNode = "node-b"
		assert.NotEqual(t, local.Fingerprint(), remote.Fingerprint())
		assert.Equal(t, local.SubjectFingerprint(), remote.SubjectFingerprint())
	})
}

func TestSeverityMapping(t *testing.T) {
	tests := []struct {
		severity Severity
		word     string
		text     string
		number   plog.SeverityNumber
	}{
		{SeverityLow, "low", "LOW", plog.SeverityNumberInfo},
		{SeverityMedium, "medium", "MEDIUM", plog.SeverityNumberWarn},
		{SeverityHigh, "high", "HIGH", plog.SeverityNumberError},
		{SeverityCritical, "critical", "CRITICAL", plog.SeverityNumberFatal},
		{Severity(0), "unknown", "UNKNOWN", plog.SeverityNumberUnspecified},
	}
	for _, tc := range tests {
		t.Run(tc.word, func(t *testing.T) {
			assert.Equal(t, tc.word, tc.severity.String())
			assert.Equal(t, tc.text, tc.severity.Text())
			assert.Equal(t, tc.number, tc.severity.Number())
		})
	}
	// DESIGN.md gives the numbers themselves: 9, 13, 17, 21.
	require.Equal(t, plog.SeverityNumber(9), SeverityLow.Number())
	require.Equal(t, plog.SeverityNumber(13), SeverityMedium.Number())
	require.Equal(t, plog.SeverityNumber(17), SeverityHigh.Number())
	require.Equal(t, plog.SeverityNumber(21), SeverityCritical.Number())
}
