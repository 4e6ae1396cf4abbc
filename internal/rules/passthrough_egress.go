// passthrough_egress (INS-0011).
//
// Threat: with outboundTrafficPolicy ALLOW_ANY (Istio's default), a sidecar forwards
// traffic for hosts the mesh does not know through PassthroughCluster: no ServiceEntry, no
// egress gateway, no egress policy. Unexpected egress is how data leaves and how implants
// fetch their next stage.
//
// Evidence: the source sidecar's metrics (reporter="source",
// destination_service_name="PassthroughCluster", requests or connections grown since the
// previous scrape), its access logs (upstream cluster PassthroughCluster or route
// allow_any) or its spans. The host is destination_service, the SNI or the HTTP authority:
// all chosen by the client, so an allow-listed name is not proof of where the bytes went
// (access logs add the address actually connected to).
//
// Not a false positive on: hosts matching rules.passthrough_egress.allow_hosts (globs such
// as "*.amazonaws.com"); registered services (their cluster is outbound|..., not
// PassthroughCluster); gateways' and waypoints' spans. One finding per source and host.

package rules

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/mesh"
)

// PassthroughEgress reports workloads that reached hosts outside the mesh registry.
type PassthroughEgress struct {
	allowHosts []string
}

// NewPassthroughEgress returns the rule with its host allowlist (path.Match globs, matched
// against the lower-cased host without port). A malformed glob is an error naming it.
func NewPassthroughEgress(allowHosts []string) (*PassthroughEgress, error) {
	r := &PassthroughEgress{}
	var errs []error
	for i, g := range allowHosts {
		g = strings.ToLower(strings.TrimSpace(g))
		if _, err := path.Match(g, ""); err != nil || g == "" {
			errs = append(errs, fmt.Errorf("[%d] %q: not a valid host glob", i, g))
			continue
		}
		r.allowHosts = append(r.allowHosts, g)
	}
	return r, errors.Join(errs...)
}

var passthroughEgressRule = findings.Rule{
	ID:        "passthrough_egress",
	Code:      "INS-0011",
	Title:     "Egress to a host outside the mesh registry",
	Category:  "egress",
	Severity:  findings.SeverityMedium,
	UUID:      findings.RuleUUID("passthrough_egress"),
	Reference: "https://github.com/meshinsights/otelcol-insights#passthrough_egress",
	Remediation: "If the host is expected, register it with a ServiceEntry (and route it through an egress gateway " +
		"with an AuthorizationPolicy if it must be controlled), or add it to rules.passthrough_egress.allow_hosts. " +
		"Otherwise find out why the workload contacts it. To stop unregistered egress altogether, set the mesh's " +
		"outboundTrafficPolicy to REGISTRY_ONLY (per namespace with a Sidecar resource), after registering what " +
		"workloads legitimately need.",
}

// Rule describes passthrough_egress.
func (*PassthroughEgress) Rule() *findings.Rule { return &passthroughEgressRule }

// CheckMetric reports source-reported traffic to PassthroughCluster.
// WantsMetric: source-reported requests or connections through PassthroughCluster.
func (*PassthroughEgress) WantsMetric(o *mesh.TrafficObservation) bool {
	return o.DestinationClass == mesh.ClusterPassthrough && o.Reporter == "source" && flowMetric(o)
}

func (r *PassthroughEgress) CheckMetric(o *mesh.TrafficObservation, ctx *TrafficContext) {
	if !r.WantsMetric(o) || !countsFlows(o) {
		return
	}
	host := egressHostOfMetric(o)
	if r.allowed(host) {
		return
	}
	f, ok := reportingFinding(r.Rule(), ctx, o, o.SourceNamespace, o.SourceWorkload)
	if !ok {
		return
	}
	r.emit(f, ctx, host, strings.Clone(o.RequestProtocol), "", int64(o.Value))
}

// CheckAccessLog reports an egress record through PassthroughCluster.
func (r *PassthroughEgress) CheckAccessLog(o *mesh.AccessLogObservation, ctx *TrafficContext) {
	if o.Direction != mesh.ClusterPassthrough {
		return
	}
	host := egressHostOfLog(o)
	if r.allowed(host) {
		return
	}
	f, ok := logPodFinding(r.Rule(), ctx, o, o.ClientIP)
	if !ok {
		return
	}
	address := o.UpstreamHost
	if address == "" {
		address = o.DownstreamLocalAddress
	}
	r.emit(f, ctx, host, flowProtocol(o), strings.Clone(address), 1)
}

// CheckSpan reports a sidecar's span through PassthroughCluster.
func (r *PassthroughEgress) CheckSpan(o *mesh.SpanObservation, ctx *TrafficContext) {
	if o.Direction != mesh.ClusterPassthrough {
		return
	}
	host := egressHostOfSpan(o)
	if r.allowed(host) {
		return
	}
	f, ok := spanPodFinding(r.Rule(), ctx, o, o.PeerAddress)
	if !ok {
		return
	}
	r.emit(f, ctx, host, strings.Clone(o.Protocol), strings.Clone(o.UpstreamAddress), 1)
}

func (r *PassthroughEgress) emit(f findings.Finding, ctx *TrafficContext, host, protocol, address string, n int64) {
	host = strings.Clone(host)
	f.EvidenceKey = host
	f.Summary = fmt.Sprintf("%s in namespace %s sent traffic to %s through Istio's PassthroughCluster: "+
		"the host is not in the mesh registry, so no egress policy, egress gateway or ServiceEntry governs it.",
		f.Subject.Workload(), f.Subject.Namespace, host)
	f.Evidence = []findings.EvidenceValue{findings.ListEvidence("hosts", []string{host})}
	if protocol != "" {
		f.Evidence = append(f.Evidence, findings.StrEvidence("protocol", protocol))
	}
	if address != "" {
		f.Evidence = append(f.Evidence, findings.StrEvidence("upstream_address", address))
	}
	f.Count = max(n, 1)
	ctx.Emit(TrafficFinding{Finding: f})
}

func (r *PassthroughEgress) allowed(host string) bool {
	for _, g := range r.allowHosts {
		if ok, _ := path.Match(g, host); ok {
			return true
		}
	}
	return false
}
