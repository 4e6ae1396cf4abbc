// inbound_passthrough (INS-0013).
//
// Threat: traffic to a port of a meshed pod that no Service declares reaches the
// application through InboundPassthroughCluster: a debug or admin port, a metrics endpoint
// or a listener nobody meant to expose. Policies written for the Service's ports may not
// cover it.
//
// Evidence: destination-reported metrics with destination_service_name
// InboundPassthroughCluster (Istio >= 1.23) or InboundPassthroughClusterIpv4/Ipv6 (older),
// grown since the previous scrape, where destination_service is "<podIP>:<port>"; inbound
// access logs and spans through those clusters.
//
// Not a false positive on: the proxy's own ports (15020, 15090 and the like are served by
// the proxy, never through InboundPassthroughCluster); the proxy's own 127.0.0.6 as client.
// One finding per destination; the ports are aggregated in evidence.

package rules

import (
	"fmt"
	"strings"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/mesh"
)

// InboundPassthrough reports meshed pods reached on ports no Service declares.
type InboundPassthrough struct{}

var inboundPassthroughRule = findings.Rule{
	ID:        "inbound_passthrough",
	Code:      "INS-0013",
	Title:     "Traffic to a port no Service declares",
	Category:  "exposure",
	Severity:  findings.SeverityLow,
	UUID:      findings.RuleUUID("inbound_passthrough"),
	Reference: "https://github.com/meshinsights/otelcol-insights#inbound_passthrough",
	Remediation: "Declare the port in the workload's Service if it is meant to be served (so routing, telemetry and " +
		"port-level policies apply to it), or stop the application from listening on it. Restrict who may reach it " +
		"with an AuthorizationPolicy listing the allowed ports.",
}

// Rule describes inbound_passthrough.
func (InboundPassthrough) Rule() *findings.Rule { return &inboundPassthroughRule }

// CheckMetric reports destination-reported traffic through InboundPassthroughCluster.
// WantsMetric: destination-reported requests or connections through InboundPassthroughCluster.
func (InboundPassthrough) WantsMetric(o *mesh.TrafficObservation) bool {
	return o.DestinationClass == mesh.ClusterInboundPassthrough && o.Reporter == "destination" && flowMetric(o)
}

func (r InboundPassthrough) CheckMetric(o *mesh.TrafficObservation, ctx *TrafficContext) {
	if !r.WantsMetric(o) || !countsFlows(o) {
		return
	}
	if f, ok := reportingFinding(r.Rule(), ctx, o, o.DestinationNamespace, o.DestinationWorkload); ok {
		_, port := mesh.SplitHostPort(o.DestinationService)
		r.emit(f, ctx, port, int64(o.Value))
	}
}

// CheckAccessLog reports an inbound record through InboundPassthroughCluster.
func (r InboundPassthrough) CheckAccessLog(o *mesh.AccessLogObservation, ctx *TrafficContext) {
	if o.Direction != mesh.ClusterInboundPassthrough || o.ClientIsProxy {
		return
	}
	if f, ok := logPodFinding(r.Rule(), ctx, o, o.LocalIP); ok {
		_, port := mesh.SplitHostPort(o.DownstreamLocalAddress)
		r.emit(f, ctx, port, 1)
	}
}

// CheckSpan reports a sidecar's inbound span through InboundPassthroughCluster.
func (r InboundPassthrough) CheckSpan(o *mesh.SpanObservation, ctx *TrafficContext) {
	if o.Direction != mesh.ClusterInboundPassthrough {
		return
	}
	if f, ok := spanPodFinding(r.Rule(), ctx, o, ""); ok {
		_, port := mesh.SplitHostPort(o.UpstreamAddress)
		r.emit(f, ctx, port, 1)
	}
}

func (r InboundPassthrough) emit(f findings.Finding, ctx *TrafficContext, port string, n int64) {
	if port == "" {
		port = "unknown"
	}
	port = strings.Clone(port)
	f.Summary = fmt.Sprintf("%s in namespace %s received traffic on port %s, which no Service declares "+
		"(InboundPassthroughCluster): an undeclared listener may escape port-level policies.",
		f.Subject.Workload(), f.Subject.Namespace, port)
	f.Evidence = []findings.EvidenceValue{findings.ListEvidence("ports", []string{port})}
	f.Count = max(n, 1)
	ctx.Emit(TrafficFinding{Finding: f})
}
