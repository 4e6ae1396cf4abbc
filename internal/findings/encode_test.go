package findings

import (
	"flag"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/plogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// update rewrites the golden files; golden.WriteLogs then fails the run on purpose, so run
// again without it and review the diff.
var update = flag.Bool("update", false, "rewrite testdata/*.yaml from Encode's output")

var (
	encodeNow   = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	encodeScope = ScopeInfo{Name: "github.com/meshinsights/otelcol-insights/processor/insightsprocessor", Version: "0.1.0"}
)

var ruleAppGID1337 = &Rule{
	ID:          "app_gid_1337",
	Code:        "INS-0002",
	Title:       "Application container runs as the proxy GID",
	Category:    "capture_bypass",
	Severity:    SeverityCritical,
	Remediation: "Run the container with a primary GID other than the proxy's (1337).",
	UUID:        RuleUUID("app_gid_1337"),
}

// containerFindingOnDeployment is the richest record: cluster, controller, pod, container,
// every kind of evidence and the pods of the Deployment.
func containerFindingOnDeployment() Finding {
	f := checkoutFinding("checkout-7d9f8b6c5-x2x4k")
	f.PodUID = "6f1c2a4e-8b3d-4f57-9a10-2c7e5b9d0a11"
	f.Evidence = []EvidenceValue{
		StrEvidence("identity_source", "container_status"),
		IntEvidence("run_as_user", 1337),
		ListEvidence("proxy_containers", []string{"istio-proxy"}),
		IntEvidence("pod_count", 3),
	}
	f.Pods = []string{"checkout-7d9f8b6c5-7hq2n", "checkout-7d9f8b6c5-b9mzt", "checkout-7d9f8b6c5-x2x4k"}
	f.State = StateOpen
	f.FirstSeen = encodeNow.Add(-10 * time.Minute)
	f.LastSeen = encodeNow.Add(-5 * time.Second)
	f.Occurrences = 3
	return f
}

func podFindingWithoutController() Finding {
	return Finding{
		Rule:        ruleAppUID1337,
		Subject:     Subject{Kind: KindPod, Name: "debug-shell", Namespace: "default"},
		PodName:     "debug-shell",
		PodUID:      "0b8e7d3c-5a2f-4c19-8e64-7f3d2a1b9c05",
		Container:   "shell",
		Summary:     "Container shell of pod/debug-shell runs as UID 1337, the proxy's: its traffic skips the sidecar.",
		Evidence:    []EvidenceValue{IntEvidence("run_as_user", 1337), StrEvidence("identity_source", "container_security_context")},
		State:       StateOngoing,
		FirstSeen:   encodeNow.Add(-2 * time.Hour),
		LastSeen:    encodeNow.Add(-30 * time.Second),
		Occurrences: 120,
	}
}

func resolvedFinding() Finding {
	return Finding{
		Rule:        ruleAppUID1337,
		Cluster:     "prod-eu-1",
		Subject:     Subject{Kind: KindStatefulSet, Name: "ledger", Namespace: "payments"},
		PodName:     "ledger-0",
		PodUID:      "d2a9c1f0-3e4b-4a6d-b8c7-1e5f0a9b2c33",
		Container:   "ledger",
		Summary:     "Container ledger of statefulset/ledger runs as UID 1337, the proxy UID.",
		Evidence:    []EvidenceValue{IntEvidence("run_as_user", 1337)},
		Pods:        []string{"ledger-0"},
		State:       StateResolved,
		FirstSeen:   encodeNow.Add(-48 * time.Hour),
		LastSeen:    encodeNow.Add(-90 * time.Second),
		Occurrences: 2880,
	}
}

func istioWorkloadWithoutPod() Finding {
	return Finding{
		Rule:    rulePlaintextInbound,
		Cluster: "prod-eu-1",
		Subject: Subject{Kind: KindWorkload, Name: "reviews-v2", Namespace: "bookinfo"},
		Summary: "Workload reviews-v2 accepted plaintext requests: peers are not authenticated and traffic is readable on the wire.",
		Evidence: []EvidenceValue{
			StrEvidence("connection_security_policy", "none"),
			IntEvidence("requests", 42),
			ListEvidence("source_workloads", []string{"productpage-v1", "unknown"}),
		},
		State:       StateOpen,
		FirstSeen:   encodeNow.Add(-15 * time.Second),
		LastSeen:    encodeNow.Add(-15 * time.Second),
		Occurrences: 42,
		Count:       42,
	}
}

func crossNodeBypass() Finding {
	return Finding{
		Rule:          ruleSidecarBypass,
		Cluster:       "prod-eu-1",
		Subject:       Subject{Kind: KindDeployment, Name: "ratings-v1", Namespace: "bookinfo"},
		PodName:       "ratings-v1-6c9dbf6b45-m5k7p",
		PodUID:        "9c4d1e2f-7a3b-4c5d-8e9f-0a1b2c3d4e5f",
		EvidenceKey:   "reviews-v1.bookinfo:9080",
		ObservingNode: "node-b",
		Summary:       "Pod ratings-v1-6c9dbf6b45-m5k7p of deployment/ratings-v1 sent plaintext to meshed reviews-v1 without its sidecar.",
		Evidence: []EvidenceValue{
			StrEvidence("client_ip", "10.244.1.17"),
			StrEvidence("destination", "reviews-v1.bookinfo:9080"),
		},
		State:       StateOpen,
		FirstSeen:   encodeNow.Add(-1 * time.Second),
		LastSeen:    encodeNow.Add(-1 * time.Second),
		Occurrences: 1,
	}
}

// findingsSharingResources interleaves two resources: two findings on one container, two
// Istio workloads of one namespace (no pod, so only cluster and namespace).
func findingsSharingResources() []Finding {
	uid := containerFindingOnDeployment()
	gid := containerFindingOnDeployment()
	gid.Rule = ruleAppGID1337
	gid.Summary = "Container app of deployment/checkout runs as GID 1337, the proxy's: its traffic skips the sidecar."
	gid.Evidence = []EvidenceValue{IntEvidence("run_as_group", 1337)}
	gid.Pods = nil
	reviews := istioWorkloadWithoutPod()
	ratings := istioWorkloadWithoutPod()
	ratings.Subject.Name = "ratings-v1"
	ratings.Summary = "Workload ratings-v1 accepted plaintext requests: peers are not authenticated and traffic is readable on the wire."
	return []Finding{uid, reviews, gid, ratings}
}

var encodeCases = []struct {
	name     string
	findings func() []Finding
}{
	{"container_finding_on_deployment", func() []Finding { return []Finding{containerFindingOnDeployment()} }},
	{"pod_subject_without_controller", func() []Finding { return []Finding{podFindingWithoutController()} }},
	{"resolved_finding", func() []Finding { return []Finding{resolvedFinding()} }},
	{"istio_workload_without_pod", func() []Finding { return []Finding{istioWorkloadWithoutPod()} }},
	{"cross_node_finding", func() []Finding { return []Finding{crossNodeBypass()} }},
	{"findings_sharing_resources", findingsSharingResources},
}

func TestEncodeGolden(t *testing.T) {
	for _, tc := range encodeCases {
		t.Run(tc.name, func(t *testing.T) {
			got := Encode(tc.findings(), encodeNow, encodeScope)
			path := filepath.Join("testdata", tc.name+".yaml")
			if *update {
				require.NoError(t, golden.WriteLogs(t, path, got))
			}
			want, err := golden.ReadLogs(path)
			require.NoError(t, err)
			require.NoError(t, plogtest.CompareLogs(want, got))
			// CompareLogs does not look at EventName.
			assert.Equal(t, eventNames(want), eventNames(got))
		})
	}
}

func eventNames(ld plog.Logs) []string {
	var names []string
	forEachRecord(ld, func(_ pcommon.Map, lr plog.LogRecord) { names = append(names, lr.EventName()) })
	return names
}

func forEachRecord(ld plog.Logs, fn func(resource pcommon.Map, lr plog.LogRecord)) {
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				fn(rl.Resource().Attributes(), lr)
			}
		}
	}
}

func TestEncode(t *testing.T) {
	t.Run("container_finding_on_deployment_matches_design", func(t *testing.T) {
		f := containerFindingOnDeployment()
		ld := Encode([]Finding{f}, encodeNow, encodeScope)
		require.Equal(t, 1, ld.ResourceLogs().Len())
		rl := ld.ResourceLogs().At(0)
		assert.Equal(t, map[string]any{
			"k8s.cluster.name":    "prod-eu-1",
			"k8s.namespace.name":  "shop",
			"k8s.deployment.name": "checkout",
			"k8s.pod.name":        "checkout-7d9f8b6c5-x2x4k",
			"k8s.pod.uid":         "6f1c2a4e-8b3d-4f57-9a10-2c7e5b9d0a11",
			"k8s.container.name":  "app",
		}, rl.Resource().Attributes().AsRaw())
		require.Equal(t, 1, rl.ScopeLogs().Len())
		sl := rl.ScopeLogs().At(0)
		assert.Equal(t, encodeScope.Name, sl.Scope().Name())
		assert.Equal(t, encodeScope.Version, sl.Scope().Version())
		require.Equal(t, 1, sl.LogRecords().Len())
		lr := sl.LogRecords().At(0)
		assert.Equal(t, "insights.finding", lr.EventName())
		assert.Equal(t, plog.SeverityNumber(21), lr.SeverityNumber())
		assert.Equal(t, "CRITICAL", lr.SeverityText())
		assert.Equal(t, f.LastSeen, lr.Timestamp().AsTime())
		assert.Equal(t, encodeNow, lr.ObservedTimestamp().AsTime())
		assert.Equal(t, pcommon.ValueTypeStr, lr.Body().Type())
		assert.Equal(t, f.Summary, lr.Body().Str())
		assert.Equal(t, map[string]any{
			"insight.rule":                      "app_uid_1337",
			"insight.code":                      "INS-0001",
			"insight.severity":                  "critical",
			"insight.category":                  "capture_bypass",
			"insight.state":                     "open",
			"insight.fingerprint":               "50c8ee90f34c936136e8f023053502b6",
			"insight.first_seen":                "2026-03-14T09:16:53Z",
			"insight.last_seen":                 "2026-03-14T09:26:48Z",
			"insight.occurrences":               int64(3),
			"insight.remediation":               ruleAppUID1337.Remediation,
			"insight.workload":                  "deployment/checkout",
			"insight.evidence.identity_source":  "container_status",
			"insight.evidence.run_as_user":      int64(1337),
			"insight.evidence.proxy_containers": []any{"istio-proxy"},
			"insight.evidence.pod_count":        int64(3),
			"insight.evidence.pods":             []any{"checkout-7d9f8b6c5-7hq2n", "checkout-7d9f8b6c5-b9mzt", "checkout-7d9f8b6c5-x2x4k"},
			"security_rule.name":                "Application container runs as the proxy UID",
			"security_rule.category":            "capture_bypass",
			"security_rule.uuid":                "1ef54235-1542-50f4-b423-ee2b097f1cb0",
			"security_rule.reference":           ruleAppUID1337.Reference,
			"security_rule.ruleset.name":        "otelcol-insights",
		}, lr.Attributes().AsRaw())
	})

	t.Run("subject_fingerprint_only_with_observing_node", func(t *testing.T) {
		remote := crossNodeBypass()
		local := crossNodeBypass()
		local.ObservingNode = ""
		ld := Encode([]Finding{remote, local}, encodeNow, encodeScope)
		var withSubject []bool
		var subjectFingerprints []string
		forEachRecord(ld, func(_ pcommon.Map, lr plog.LogRecord) {
			v, ok := lr.Attributes().Get("insight.subject_fingerprint")
			withSubject = append(withSubject, ok)
			if ok {
				subjectFingerprints = append(subjectFingerprints, v.Str())
			}
		})
		assert.Equal(t, []bool{true, false}, withSubject)
		assert.Equal(t, []string{remote.SubjectFingerprint()}, subjectFingerprints)
		assert.Equal(t, local.SubjectFingerprint(), remote.SubjectFingerprint(), "groups what both nodes saw")
	})

	t.Run("reference_left_out_when_rule_has_none", func(t *testing.T) {
		ld := Encode([]Finding{crossNodeBypass()}, encodeNow, encodeScope)
		_, ok := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().Get("security_rule.reference")
		assert.False(t, ok)
	})

	t.Run("identical_resources_share_one_resource_logs_in_order_of_first_appearance", func(t *testing.T) {
		ld := Encode(findingsSharingResources(), encodeNow, encodeScope)
		require.Equal(t, 2, ld.ResourceLogs().Len())
		var perResource [][]string
		for _, rl := range ld.ResourceLogs().All() {
			require.Equal(t, 1, rl.ScopeLogs().Len())
			var rules []string
			for _, lr := range rl.ScopeLogs().At(0).LogRecords().All() {
				v, _ := lr.Attributes().Get("insight.workload")
				rules = append(rules, v.Str())
			}
			perResource = append(perResource, rules)
		}
		assert.Equal(t, [][]string{
			{"deployment/checkout", "deployment/checkout"},
			{"reviews-v2", "ratings-v1"},
		}, perResource)
	})

	t.Run("pod_subject_names_its_pod_without_a_pod_name", func(t *testing.T) {
		f := podFindingWithoutController()
		f.PodName = ""
		ld := Encode([]Finding{f}, encodeNow, encodeScope)
		v, ok := ld.ResourceLogs().At(0).Resource().Attributes().Get("k8s.pod.name")
		require.True(t, ok)
		assert.Equal(t, "debug-shell", v.Str())
	})

	t.Run("findings_outside_a_tracker_get_sane_lifecycle_fields", func(t *testing.T) {
		f := checkoutFinding("p")
		f.Count = 4
		ld := Encode([]Finding{f}, encodeNow, encodeScope)
		lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
		attrs := lr.Attributes().AsRaw()
		assert.Equal(t, "open", attrs["insight.state"])
		assert.Equal(t, "2026-03-14T09:26:53Z", attrs["insight.first_seen"])
		assert.Equal(t, "2026-03-14T09:26:53Z", attrs["insight.last_seen"])
		assert.Equal(t, int64(4), attrs["insight.occurrences"])
		assert.Equal(t, encodeNow, lr.Timestamp().AsTime())
	})

	t.Run("times_are_utc_seconds", func(t *testing.T) {
		f := checkoutFinding("p")
		f.FirstSeen = time.Date(2026, 3, 14, 10, 0, 0, 999_000_000, time.FixedZone("CET", 3600))
		f.LastSeen = f.FirstSeen
		ld := Encode([]Finding{f}, encodeNow, encodeScope)
		attrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().AsRaw()
		assert.Equal(t, "2026-03-14T09:00:00Z", attrs["insight.first_seen"])
	})

	t.Run("missing_rule_is_encoded_not_a_crash", func(t *testing.T) {
		f := checkoutFinding("p")
		f.Rule = nil
		ld := Encode([]Finding{f}, encodeNow, encodeScope)
		assert.Equal(t, 1, ld.LogRecordCount())
	})

	t.Run("no_findings_no_resource_logs", func(t *testing.T) {
		assert.Equal(t, 0, Encode(nil, encodeNow, encodeScope).ResourceLogs().Len())
	})

	t.Run("never_emits_attributes_outside_the_contract", func(t *testing.T) {
		var all []Finding
		for _, tc := range encodeCases {
			all = append(all, tc.findings()...)
		}
		ld := Encode(all, encodeNow, encodeScope)
		require.Equal(t, len(all), ld.LogRecordCount())
		recordKeys := map[string]bool{
			"insight.rule": true, "insight.code": true, "insight.severity": true, "insight.category": true,
			"insight.state": true, "insight.fingerprint": true, "insight.subject_fingerprint": true,
			"insight.first_seen": true, "insight.last_seen": true, "insight.occurrences": true,
			"insight.remediation": true, "insight.workload": true,
			"security_rule.name": true, "security_rule.category": true, "security_rule.uuid": true,
			"security_rule.reference": true, "security_rule.ruleset.name": true,
		}
		resourceKeys := map[string]bool{
			"k8s.cluster.name": true, "k8s.namespace.name": true, "k8s.deployment.name": true,
			"k8s.statefulset.name": true, "k8s.daemonset.name": true, "k8s.job.name": true,
			"k8s.cronjob.name": true, "k8s.replicaset.name": true, "k8s.pod.name": true,
			"k8s.pod.uid": true, "k8s.container.name": true,
		}
		forEachRecord(ld, func(resource pcommon.Map, lr plog.LogRecord) {
			for k := range resource.All() {
				assert.True(t, strings.HasPrefix(k, "k8s."), k)
				assert.True(t, resourceKeys[k], "resource attribute %s", k)
			}
			for k := range lr.Attributes().All() {
				assert.True(t, strings.HasPrefix(k, "insight.") || strings.HasPrefix(k, "security_rule."), k)
				assert.True(t, recordKeys[k] || strings.HasPrefix(k, "insight.evidence."), "record attribute %s", k)
			}
		})
	})
}

func TestEncodeKindsNameTheirController(t *testing.T) {
	kinds := map[string]string{
		KindDeployment:  "k8s.deployment.name",
		KindStatefulSet: "k8s.statefulset.name",
		KindDaemonSet:   "k8s.daemonset.name",
		KindJob:         "k8s.job.name",
		KindCronJob:     "k8s.cronjob.name",
		KindReplicaSet:  "k8s.replicaset.name",
		KindPod:         "",
		KindWorkload:    "",
	}
	for kind, key := range kinds {
		t.Run(kind, func(t *testing.T) {
			f := Finding{Rule: ruleAppUID1337, Subject: Subject{Kind: kind, Name: "web", Namespace: "shop"}}
			attrs := Encode([]Finding{f}, encodeNow, encodeScope).ResourceLogs().At(0).Resource().Attributes().AsRaw()
			want := map[string]any{"k8s.namespace.name": "shop"}
			switch {
			case key != "":
				want[key] = "web"
			case kind == KindPod:
				want["k8s.pod.name"] = "web"
			}
			assert.Equal(t, want, attrs)
		})
	}
}

func TestRuleUUID(t *testing.T) {
	wellFormed := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

	t.Run("stable_forever", func(t *testing.T) {
		// Pinned from Python's uuid.uuid5, an independent implementation.
		assert.Equal(t, "1ef54235-1542-50f4-b423-ee2b097f1cb0", RuleUUID("app_uid_1337"))
		assert.Equal(t, "428c1e61-18ee-53f4-9a37-fa0e8a51f98c", RuleUUID("sidecar_bypass"))
	})

	t.Run("namespace_is_the_project_url_in_the_url_namespace", func(t *testing.T) {
		urlNamespace := [16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
		assert.Equal(t, "f3566bb5-b5b9-55e3-b378-b9dc01f5dd03",
			uuidV5(urlNamespace, "https://github.com/meshinsights/otelcol-insights/rules"))
		assert.Equal(t, "f3566bb5-b5b9-55e3-b378-b9dc01f5dd03", formatNamespace(), "the bytes of ruleUUIDNamespace")
	})

	t.Run("well_formed_version_5", func(t *testing.T) {
		for _, id := range []string{"app_uid_1337", "app_gid_1337", "new_edge", "", "ü"} {
			assert.Regexp(t, wellFormed, RuleUUID(id), id)
		}
	})

	t.Run("distinct_per_rule", func(t *testing.T) {
		assert.NotEqual(t, RuleUUID("app_uid_1337"), RuleUUID("app_gid_1337"))
	})
}

// formatNamespace renders ruleUUIDNamespace in the 8-4-4-4-12 form.
func formatNamespace() string {
	const hexDigits = "0123456789abcdef"
	var b strings.Builder
	for i, c := range ruleUUIDNamespace {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b.WriteByte('-')
		}
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0x0f])
	}
	return b.String()
}
