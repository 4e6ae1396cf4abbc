// authz_denial_spike (INS-0014).
//
// Threat: a burst of requests or connections denied by Istio AuthorizationPolicies is what
// lateral movement and credential probing look like from the destination: someone tries
// paths, ports or identities they are not allowed.
//
// Evidence: inbound access logs whose response code details (HTTP 403) or connection
// termination details (TCP) are rbac_access_denied_matched_policy[...], or, for pods whose
// access logs do not report denials, the growth of Envoy's rbac.denied stats (when the
// mesh exports them: proxyStatsMatcher inclusionSuffixes "rbac.denied"); counted per
// destination pod in fixed windows, against that pod's own moving average of denials per
// window. The rule fires when a window holds at least the minimum number of denials and
// more than spikeFactor times the usual.
//
// Not a false positive on: an application's own 403s (their details are via_upstream, not
// rbac_access_denied); a pod with a steady level of denials (that is its baseline); a pod
// first seen less than its learning window ago (a rescheduled pod learns quietly); shadow
// (dry-run) denials. Istio's standard metrics cannot tell RBAC 403s from the
// application's, so istio_requests_total is not read for this rule.

package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/mesh"
)

// Defaults for NewAuthzDenialSpike.
const (
	DefaultAuthzMinDenials     = 10
	DefaultAuthzLearningWindow = 10 * time.Minute
	// AuthzDenialWindow is the window denials are counted in.
	AuthzDenialWindow = time.Minute
	// authzSpikeFactor: a spike is more than this many times the usual denials per window.
	authzSpikeFactor = 5
)

// AuthzDenialSpike reports destinations whose RBAC denials jumped far above their baseline.
type AuthzDenialSpike struct {
	minDenials int64
	learning   time.Duration
}

// NewAuthzDenialSpike returns the rule; zero values take the defaults.
func NewAuthzDenialSpike(minDenials int64, learningWindow time.Duration) *AuthzDenialSpike {
	if minDenials <= 0 {
		minDenials = DefaultAuthzMinDenials
	}
	if learningWindow <= 0 {
		learningWindow = DefaultAuthzLearningWindow
	}
	return &AuthzDenialSpike{minDenials: minDenials, learning: learningWindow}
}

var authzDenialSpikeRule = findings.Rule{
	ID:        "authz_denial_spike",
	Code:      "INS-0014",
	Title:     "Spike of authorization policy denials",
	Category:  "access_control",
	Severity:  findings.SeverityHigh,
	UUID:      findings.RuleUUID("authz_denial_spike"),
	Reference: "https://github.com/meshinsights/otelcol-insights#authz_denial_spike",
	Remediation: "Look at the top sources in the evidence: a workload that keeps hitting a deny is either " +
		"misconfigured (a policy change it was not updated for) or probing. Check the denied paths and ports in the " +
		"destination's access logs; isolate a source that has no business calling the destination, and rotate " +
		"credentials it may hold.",
}

// Rule describes authz_denial_spike.
func (*AuthzDenialSpike) Rule() *findings.Rule { return &authzDenialSpikeRule }

// CheckAccessLog counts an inbound RBAC denial and reports a spike.
func (r *AuthzDenialSpike) CheckAccessLog(o *mesh.AccessLogObservation, ctx *TrafficContext) {
	if !o.RBACDenied || !o.Direction.Inbound() {
		return
	}
	dest, _, ok := recordPod(ctx, o.PodNamespace, o.PodName, o.LocalIP, o.Timestamp)
	if !ok {
		return
	}
	source := o.ClientIP
	if client, ok := ctx.Pods.PodByIP(o.ClientIP, o.Timestamp); ok && !client.HostNetwork {
		source = client.Namespace + "/" + client.Workload()
	}
	if source == "" {
		source = "unknown"
	}
	key := DestinationKey{Namespace: dest.Namespace, Pod: dest.Name}
	w := ctx.History.CountDenials(key, dest.UID, o.Timestamp, AuthzDenialWindow, 1, DenialsFromAccessLogs, source, o.RBACPolicy)
	r.report(ctx, dest, o.Timestamp, w)
}

// WantsMetric: Envoy rbac.denied stats.
func (*AuthzDenialSpike) WantsMetric(o *mesh.TrafficObservation) bool {
	return o.Metric == mesh.MetricRBACDenied
}

// CheckMetric counts the growth of a pod's Envoy rbac.denied stat (the reporting proxy is
// the destination) and reports a spike. A first sighting says nothing about when its
// denials happened, so only growth counts.
func (r *AuthzDenialSpike) CheckMetric(o *mesh.TrafficObservation, ctx *TrafficContext) {
	if !r.WantsMetric(o) || o.Sighting == mesh.DeltaBaseline || o.Value < 1 {
		return
	}
	instanceIP, _ := mesh.SplitHostPort(o.ServiceInstanceID)
	dest, _, ok := recordPod(ctx, o.PodNamespace, o.PodName, instanceIP, o.Timestamp)
	if !ok {
		return
	}
	n := int64(min(o.Value, 1e9))
	key := DestinationKey{Namespace: dest.Namespace, Pod: dest.Name}
	w := ctx.History.CountDenials(key, dest.UID, o.Timestamp, AuthzDenialWindow, n, DenialsFromStats, statsDenialSource, "")
	r.report(ctx, dest, o.Timestamp, w)
}

// statsDenialSource stands for the sources Envoy's counter does not record.
const statsDenialSource = "not recorded (Envoy rbac.denied stat)"

// report emits a finding when the window is a spike over a baseline learned long enough.
func (r *AuthzDenialSpike) report(ctx *TrafficContext, dest PodRef, at time.Time, w DenialWindow) {
	if at.Sub(w.Since) < r.learning || w.Count < r.minDenials || float64(w.Count) <= authzSpikeFactor*w.Baseline {
		return
	}
	f := podFinding(r.Rule(), ctx, dest)
	f.Summary = fmt.Sprintf("%s in namespace %s denied %d requests or connections by authorization policy within %s, "+
		"against its usual %.1f: someone is trying what they are not allowed to.",
		f.Subject.Workload(), f.Subject.Namespace, w.Count, AuthzDenialWindow, w.Baseline)
	f.Evidence = []findings.EvidenceValue{
		findings.IntEvidence("denials", w.Count),
		findings.StrEvidence("baseline_per_window", fmt.Sprintf("%.2f", w.Baseline)),
		findings.StrEvidence("window", AuthzDenialWindow.String()),
		findings.ListEvidence("top_sources", cloneAll(w.TopSources)),
	}
	if len(w.Policies) > 0 {
		f.Evidence = append(f.Evidence, findings.ListEvidence("policies", cloneAll(w.Policies)))
	}
	f.Count = 1
	ctx.Emit(TrafficFinding{Finding: f})
}

func cloneAll(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = strings.Clone(s)
	}
	return out
}
