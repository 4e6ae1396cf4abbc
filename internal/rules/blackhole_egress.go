// blackhole_egress (INS-0012).
//
// Threat: with outboundTrafficPolicy REGISTRY_ONLY, a sidecar drops traffic for hosts the
// mesh does not know into BlackHoleCluster. The block worked, but a workload trying to
// reach unregistered hosts is worth a look: a misconfiguration, or something probing for
// a way out.
//
// Evidence: source-reported metrics with destination_service_name="BlackHoleCluster"
// (grown since the previous scrape), access logs through BlackHoleCluster or on Istio's
// block_all route (REGISTRY_ONLY's direct 502 for HTTP), or spans through BlackHoleCluster.
//
// Not a false positive on: traffic to registered services or through PassthroughCluster
// (passthrough_egress reports that); gateways' and waypoints' spans. One finding per source;
// the hosts are aggregated in evidence.

package rules

import (
	"fmt"
	"strings"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/mesh"
)

// BlackholeEgress reports workloads whose egress the mesh blocked.
type BlackholeEgress struct{}

var blackholeEgressRule = findings.Rule{
	ID:        "blackhole_egress",
	Code:      "INS-0012",
	Title:     "Blocked egress attempts",
	Category:  "egress",
	Severity:  findings.SeverityLow,
	UUID:      findings.RuleUUID("blackhole_egress"),
	Reference: "https://github.com/meshinsights/otelcol-insights#blackhole_egress",
	Remediation: "Check why the workload tries to reach the hosts in the evidence. If it needs them, register them " +
		"with a ServiceEntry (through an egress gateway if egress must be controlled); if not, fix or remove what " +
		"calls them, and treat repeated attempts to many hosts as a possible compromise.",
}

// Rule describes blackhole_egress.
func (BlackholeEgress) Rule() *findings.Rule { return &blackholeEgressRule }

// CheckMetric reports source-reported traffic to BlackHoleCluster.
// WantsMetric: source-reported requests or connections into BlackHoleCluster.
func (BlackholeEgress) WantsMetric(o *mesh.TrafficObservation) bool {
	return o.DestinationClass == mesh.ClusterBlackHole && o.Reporter == "source" && flowMetric(o)
}

func (r BlackholeEgress) CheckMetric(o *mesh.TrafficObservation, ctx *TrafficContext) {
	if !r.WantsMetric(o) || !countsFlows(o) {
		return
	}
	if f, ok := reportingFinding(r.Rule(), ctx, o, o.SourceNamespace, o.SourceWorkload); ok {
		r.emit(f, ctx, egressHostOfMetric(o), int64(o.Value))
	}
}

// CheckAccessLog reports an egress record the mesh blocked.
func (r BlackholeEgress) CheckAccessLog(o *mesh.AccessLogObservation, ctx *TrafficContext) {
	if o.Direction != mesh.ClusterBlackHole {
		return
	}
	if f, ok := logPodFinding(r.Rule(), ctx, o, o.ClientIP); ok {
		r.emit(f, ctx, egressHostOfLog(o), 1)
	}
}

// CheckSpan reports a sidecar's span through BlackHoleCluster.
func (r BlackholeEgress) CheckSpan(o *mesh.SpanObservation, ctx *TrafficContext) {
	if o.Direction != mesh.ClusterBlackHole {
		return
	}
	if f, ok := spanPodFinding(r.Rule(), ctx, o, o.PeerAddress); ok {
		r.emit(f, ctx, egressHostOfSpan(o), 1)
	}
}

func (r BlackholeEgress) emit(f findings.Finding, ctx *TrafficContext, host string, n int64) {
	host = strings.Clone(host)
	f.Summary = fmt.Sprintf("%s in namespace %s tried to reach %s, which the mesh blocked (BlackHoleCluster): "+
		"the host is not registered and outbound traffic is REGISTRY_ONLY.",
		f.Subject.Workload(), f.Subject.Namespace, host)
	f.Evidence = []findings.EvidenceValue{findings.ListEvidence("hosts", []string{host})}
	f.Count = max(n, 1)
	ctx.Emit(TrafficFinding{Finding: f})
}
