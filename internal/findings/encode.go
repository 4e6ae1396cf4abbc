package findings

import (
	"crypto/sha1" // RFC 4122 version 5 is defined on SHA-1; this names, it does not protect.
	"encoding/hex"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// EventName is the EventName of every finding record.
const EventName = "insights.finding"

// resolvedPrefix starts the body of a resolved record.
const resolvedPrefix = "Resolved, no longer observed: "

// Attribute keys of a finding record (DESIGN.md, "A finding, as a log record").
const (
	attrRule               = "insight.rule"
	attrCode               = "insight.code"
	attrSeverity           = "insight.severity"
	attrCategory           = "insight.category"
	attrState              = "insight.state"
	attrFingerprint        = "insight.fingerprint"
	attrSubjectFingerprint = "insight.subject_fingerprint"
	attrFirstSeen          = "insight.first_seen"
	attrLastSeen           = "insight.last_seen"
	attrOccurrences        = "insight.occurrences"
	attrRemediation        = "insight.remediation"
	attrWorkload           = "insight.workload"
	attrEvidencePrefix     = "insight.evidence."
	attrEvidencePods       = attrEvidencePrefix + "pods"

	attrSecurityRuleName      = "security_rule.name"
	attrSecurityRuleCategory  = "security_rule.category"
	attrSecurityRuleUUID      = "security_rule.uuid"
	attrSecurityRuleReference = "security_rule.reference"
	attrSecurityRuleRuleset   = "security_rule.ruleset.name"
)

// Resource attribute keys (OpenTelemetry semantic conventions).
const (
	attrK8sCluster     = "k8s.cluster.name"
	attrK8sNamespace   = "k8s.namespace.name"
	attrK8sDeployment  = "k8s.deployment.name"
	attrK8sStatefulSet = "k8s.statefulset.name"
	attrK8sDaemonSet   = "k8s.daemonset.name"
	attrK8sJob         = "k8s.job.name"
	attrK8sCronJob     = "k8s.cronjob.name"
	attrK8sReplicaSet  = "k8s.replicaset.name"
	attrK8sPodName     = "k8s.pod.name"
	attrK8sPodUID      = "k8s.pod.uid"
	attrK8sContainer   = "k8s.container.name"
)

// fixedRecordAttrs counts the record attributes every finding carries, to pre-size the map.
const fixedRecordAttrs = 18

// ScopeInfo names the instrumentation scope the findings are emitted under.
type ScopeInfo struct {
	Name    string
	Version string
}

// Encode builds a fresh plog.Logs holding one record per finding. Findings with the same
// resource attributes share one ResourceLogs, in order of first appearance, so the output
// is deterministic for a given input order.
//
// Encode also accepts findings that never went through a Tracker: a zero LastSeen is now,
// a zero FirstSeen is LastSeen, zero Occurrences is the report's own count, an empty State
// is open.
func Encode(fs []Finding, now time.Time, scope ScopeInfo) plog.Logs {
	// First pass: group findings by resource so every slice can be sized exactly.
	groups := make([]resourceGroup, 0, 4)
	groupOf := make(map[string]int, 4)
	var buf []resourceAttr
	for i := range fs {
		buf = resourceAttrsOf(&fs[i], buf[:0])
		key := resourceKey(buf)
		g, ok := groupOf[key]
		if !ok {
			g = len(groups)
			groupOf[key] = g
			groups = append(groups, resourceGroup{attrs: append([]resourceAttr(nil), buf...)})
		}
		groups[g].members = append(groups[g].members, i)
	}

	logs := plog.NewLogs()
	rls := logs.ResourceLogs()
	rls.EnsureCapacity(len(groups))
	for _, g := range groups {
		rl := rls.AppendEmpty()
		res := rl.Resource().Attributes()
		res.EnsureCapacity(len(g.attrs))
		for _, a := range g.attrs {
			res.PutStr(a.key, a.value)
		}
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName(scope.Name)
		sl.Scope().SetVersion(scope.Version)
		records := sl.LogRecords()
		records.EnsureCapacity(len(g.members))
		for _, i := range g.members {
			encodeRecord(&fs[i], now, records.AppendEmpty())
		}
	}
	return logs
}

type resourceAttr struct{ key, value string }

type resourceGroup struct {
	attrs   []resourceAttr
	members []int // indexes into the input, in input order
}

// resourceAttrsOf appends the finding's resource attributes to dst, empty values left out.
func resourceAttrsOf(f *Finding, dst []resourceAttr) []resourceAttr {
	add := func(key, value string) {
		if value != "" {
			dst = append(dst, resourceAttr{key, value})
		}
	}
	add(attrK8sCluster, f.Cluster)
	add(attrK8sNamespace, f.Subject.Namespace)
	if key := controllerAttr(f.Subject.Kind); key != "" {
		add(key, f.Subject.Name)
	}
	podName := f.PodName
	if podName == "" && f.Subject.Kind == KindPod {
		// A pod subject is the pod the evidence came from.
		podName = f.Subject.Name
	}
	add(attrK8sPodName, podName)
	add(attrK8sPodUID, f.PodUID)
	add(attrK8sContainer, f.Container)
	return dst
}

// controllerAttr is the semconv resource attribute naming a controller subject, or "".
func controllerAttr(kind string) string {
	switch kind {
	case KindDeployment:
		return attrK8sDeployment
	case KindStatefulSet:
		return attrK8sStatefulSet
	case KindDaemonSet:
		return attrK8sDaemonSet
	case KindJob:
		return attrK8sJob
	case KindCronJob:
		return attrK8sCronJob
	case KindReplicaSet:
		return attrK8sReplicaSet
	}
	return ""
}

// resourceKey identifies a resource attribute set; length prefixes keep it unambiguous.
func resourceKey(attrs []resourceAttr) string {
	n := 0
	for _, a := range attrs {
		n += len(a.key) + len(a.value) + 4
	}
	b := make([]byte, 0, n)
	for _, a := range attrs {
		b = append(b, byte(len(a.key)>>8), byte(len(a.key)))
		b = append(b, a.key...)
		b = append(b, byte(len(a.value)>>8), byte(len(a.value)))
		b = append(b, a.value...)
	}
	return string(b)
}

// noRule stands in for a missing rule so a malformed finding is still emitted, not a crash.
var noRule = &Rule{}

func encodeRecord(f *Finding, now time.Time, lr plog.LogRecord) {
	rule := f.Rule
	if rule == nil {
		rule = noRule
	}
	lastSeen := f.LastSeen
	if lastSeen.IsZero() {
		lastSeen = now
	}
	firstSeen := f.FirstSeen
	if firstSeen.IsZero() {
		firstSeen = lastSeen
	}
	occurrences := f.Occurrences
	if occurrences == 0 {
		occurrences = max(f.Count, 1)
	}
	state := f.State
	if state == "" {
		state = StateOpen
	}

	lr.SetEventName(EventName)
	lr.SetSeverityNumber(rule.Severity.Number())
	lr.SetSeverityText(rule.Severity.Text())
	lr.SetTimestamp(pcommon.NewTimestampFromTime(lastSeen))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(now))
	if state == StateResolved {
		// The same sentence would read as a live alarm; say it is over.
		lr.Body().SetStr(resolvedPrefix + f.Summary)
	} else {
		lr.Body().SetStr(f.Summary)
	}

	attrs := lr.Attributes()
	attrs.EnsureCapacity(fixedRecordAttrs + len(f.Evidence))
	attrs.PutStr(attrRule, rule.ID)
	attrs.PutStr(attrCode, rule.Code)
	attrs.PutStr(attrSeverity, rule.Severity.String())
	attrs.PutStr(attrCategory, rule.Category)
	attrs.PutStr(attrState, string(state))
	attrs.PutStr(attrFingerprint, f.Fingerprint())
	if f.ObservingNode != "" {
		attrs.PutStr(attrSubjectFingerprint, f.SubjectFingerprint())
	}
	attrs.PutStr(attrFirstSeen, formatTime(firstSeen))
	attrs.PutStr(attrLastSeen, formatTime(lastSeen))
	attrs.PutInt(attrOccurrences, occurrences)
	attrs.PutStr(attrRemediation, rule.Remediation)
	attrs.PutStr(attrWorkload, f.Subject.Workload())
	for _, e := range f.Evidence {
		if e.Name == "" {
			continue
		}
		key := attrEvidencePrefix + e.Name
		switch {
		case e.IsInt():
			attrs.PutInt(key, e.Int)
		case e.IsList():
			putStrSlice(attrs, key, e.List)
		default:
			attrs.PutStr(key, e.Str)
		}
	}
	if len(f.Pods) > 0 {
		putStrSlice(attrs, attrEvidencePods, f.Pods)
	}
	attrs.PutStr(attrSecurityRuleName, rule.Title)
	attrs.PutStr(attrSecurityRuleCategory, rule.Category)
	attrs.PutStr(attrSecurityRuleUUID, rule.UUID)
	if rule.Reference != "" {
		attrs.PutStr(attrSecurityRuleReference, rule.Reference)
	}
	attrs.PutStr(attrSecurityRuleRuleset, Ruleset)
}

func putStrSlice(attrs pcommon.Map, key string, values []string) {
	s := attrs.PutEmptySlice(key)
	s.EnsureCapacity(len(values))
	for _, v := range values {
		s.AppendEmpty().SetStr(v)
	}
}

// formatTime renders insight.first_seen / last_seen: RFC 3339 in UTC with second
// precision, which is what backends parse everywhere and all a lifecycle needs.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// ruleUUIDNamespace is the version-5 UUID of the URL
// "https://github.com/meshinsights/otelcol-insights/rules" in RFC 4122's URL namespace:
// f3566bb5-b5b9-55e3-b378-b9dc01f5dd03. Changing it would change every security_rule.uuid.
var ruleUUIDNamespace = [16]byte{
	0xf3, 0x56, 0x6b, 0xb5, 0xb5, 0xb9, 0x55, 0xe3,
	0xb3, 0x78, 0xb9, 0xdc, 0x01, 0xf5, 0xdd, 0x03,
}

// RuleUUID is the rule's security_rule.uuid: an RFC 4122 version-5 UUID of the rule ID in
// this project's namespace, so it never changes and needs no registry.
func RuleUUID(ruleID string) string { return uuidV5(ruleUUIDNamespace, ruleID) }

// uuidV5 is RFC 4122's name-based UUID: SHA-1 of namespace and name, version and variant set.
func uuidV5(namespace [16]byte, name string) string {
	h := sha1.New()
	h.Write(namespace[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant

	var out [36]byte
	hex.Encode(out[0:8], u[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], u[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], u[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], u[8:10])
	out[23] = '-'
	hex.Encode(out[24:], u[10:])
	return string(out[:])
}
