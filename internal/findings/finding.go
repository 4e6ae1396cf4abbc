// Package findings holds what a detection produces: the Finding value, its stable
// fingerprint, its lifecycle (open, ongoing, resolved) and its encoding as an OTLP log record.
package findings

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
)

// Severity of a rule. The numbers follow the OpenTelemetry log severity ranges.
type Severity int

const (
	SeverityLow Severity = iota + 1
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

// String is the lower-case word used in insight.severity.
func (s Severity) String() string {
	switch s {
	case SeverityLow:
		return "low"
	case SeverityMedium:
		return "medium"
	case SeverityHigh:
		return "high"
	case SeverityCritical:
		return "critical"
	}
	return "unknown"
}

// Text is the upper-case word used as the record's SeverityText.
func (s Severity) Text() string { return strings.ToUpper(s.String()) }

// Number maps low/medium/high/critical to INFO/WARN/ERROR/FATAL.
func (s Severity) Number() plog.SeverityNumber {
	switch s {
	case SeverityLow:
		return plog.SeverityNumberInfo
	case SeverityMedium:
		return plog.SeverityNumberWarn
	case SeverityHigh:
		return plog.SeverityNumberError
	case SeverityCritical:
		return plog.SeverityNumberFatal
	}
	return plog.SeverityNumberUnspecified
}

// State is where a finding is in its lifecycle (insight.state).
type State string

const (
	StateOpen       State = "open"
	StateOngoing    State = "ongoing"
	StateResolved   State = "resolved"
	StateSuppressed State = "suppressed"
)

// Rule is the static description of a detection rule: what the catalogue says about it.
type Rule struct {
	ID          string // stable rule ID, e.g. "app_uid_1337" (insight.rule)
	Code        string // stable short code, e.g. "INS-0001" (insight.code)
	Title       string // human title (security_rule.name)
	Category    string // e.g. "capture_bypass" (insight.category, security_rule.category)
	Severity    Severity
	Remediation string // what to change (insight.remediation)
	UUID        string // stable UUID (security_rule.uuid)
	Reference   string // documentation URL (security_rule.reference)
}

// Ruleset is the security_rule.ruleset.name of every finding.
const Ruleset = "otelcol-insights"

// Subject kinds: what has to change.
const (
	KindDeployment  = "Deployment"
	KindStatefulSet = "StatefulSet"
	KindDaemonSet   = "DaemonSet"
	KindJob         = "Job"
	KindCronJob     = "CronJob"
	KindReplicaSet  = "ReplicaSet"
	KindPod         = "Pod"
	// KindWorkload is an Istio workload known only from metric labels.
	KindWorkload = "Workload"
)

// Subject is what has to change: a pod's controller, the pod itself, or an Istio workload.
type Subject struct {
	Kind      string
	Name      string
	Namespace string
}

// Workload is the insight.workload value: "<kind>/<name>" in kubectl's lower-case
// style, or the bare Istio workload name for metrics-only evidence.
func (s Subject) Workload() string {
	if s.Kind == KindWorkload || s.Kind == "" {
		return s.Name
	}
	return strings.ToLower(s.Kind) + "/" + s.Name
}

// EvidenceValue is one insight.evidence.<name> attribute: a string, an int or a string list.
type EvidenceValue struct {
	Name string
	Str  string
	Int  int64
	List []string
	kind evidenceKind
}

type evidenceKind uint8

const (
	evidenceStr evidenceKind = iota
	evidenceInt
	evidenceList
)

// StrEvidence, IntEvidence and ListEvidence build evidence values.
func StrEvidence(name, v string) EvidenceValue {
	return EvidenceValue{Name: name, Str: v, kind: evidenceStr}
}
func IntEvidence(name string, v int64) EvidenceValue {
	return EvidenceValue{Name: name, Int: v, kind: evidenceInt}
}
func ListEvidence(name string, v []string) EvidenceValue {
	return EvidenceValue{Name: name, List: v, kind: evidenceList}
}

// IsInt and IsList tell the value's type; otherwise it is a string.
func (e EvidenceValue) IsInt() bool  { return e.kind == evidenceInt }
func (e EvidenceValue) IsList() bool { return e.kind == evidenceList }

// Finding is one detection about one subject. Rules fill the identity and evidence;
// the Tracker fills the lifecycle fields.
type Finding struct {
	Rule    *Rule
	Cluster string
	Subject Subject
	// PodName and PodUID name the (latest) pod the evidence came from, when known.
	PodName string
	PodUID  string
	// Container is set when the finding is about one container.
	Container string
	// EvidenceKey is what makes this finding distinct from others of the same rule and
	// subject (e.g. a destination or a host). Part of the fingerprint.
	EvidenceKey string
	// ObservingNode is set when the subject lives on another node than the collector that
	// saw the evidence; it is then part of the fingerprint.
	ObservingNode string
	// Summary is the record body: one human sentence.
	Summary  string
	Evidence []EvidenceValue
	// Pods lists the affected pods of a controller subject (insight.evidence.pods).
	Pods []string
	// Count is how many observations this report stands for (0 counts as 1).
	Count int64

	// Lifecycle, set by the Tracker.
	State       State
	FirstSeen   time.Time
	LastSeen    time.Time
	Occurrences int64
}

// Fingerprint identifies the finding across restarts and rollouts: cluster, rule,
// namespace, subject kind and name, container, evidence key and observing node. Never
// timestamps, never pod UIDs of controlled pods.
func (f *Finding) Fingerprint() string { return f.fingerprint(true) }

// SubjectFingerprint is the fingerprint without the observing node, so backends can group
// what several nodes saw about one subject.
func (f *Finding) SubjectFingerprint() string { return f.fingerprint(false) }

func (f *Finding) fingerprint(withNode bool) string {
	h := sha256.New()
	ruleID := ""
	if f.Rule != nil {
		ruleID = f.Rule.ID
	}
	parts := []string{f.Cluster, ruleID, f.Subject.Namespace, f.Subject.Kind, f.Subject.Name, f.Container, f.EvidenceKey}
	// Only a cross-node finding adds the node, so its subject fingerprint equals the
	// fingerprint the subject's own node gives the same finding.
	if withNode && f.ObservingNode != "" {
		parts = append(parts, f.ObservingNode)
	}
	for _, p := range parts {
		// Length-prefix each part so ("ab","c") and ("a","bc") differ.
		h.Write([]byte{byte(len(p) >> 8), byte(len(p))})
		h.Write([]byte(p))
	}
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:16])
}
