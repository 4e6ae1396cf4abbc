// plaintext_inbound (INS-0010).
//
// Threat: a meshed workload that accepts plaintext (PeerAuthentication PERMISSIVE, the
// default) can be reached by anything on the pod network without a mesh identity: the
// traffic is unencrypted, and authorization policies keyed on principals cannot see who
// sent it. It is also what makes sidecar_bypass work.
//
// Evidence: the destination's own sidecar reporting connection_security_policy="none"
// (reporter="destination", the only side that knows), for requests or connections that
// grew since the previous scrape; or an inbound access log without Istio's mTLS SNI.
//
// Not a false positive on: the proxy's own inbound address 127.0.0.6 and loopback;
// sources in rules.plaintext_inbound.allow_sources (CIDRs and IPs match access logs, which
// carry the client's IP; workload names match both, metrics name the client's workload only
// when its own sidecar sent the traffic). Source-reported series always say "unknown" and
// are ignored.

package rules

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/mesh"
)

// PlaintextInbound reports meshed workloads that accepted plaintext.
type PlaintextInbound struct {
	allowPrefixes  []netip.Prefix
	allowWorkloads []WorkloadKey // an empty Namespace matches any namespace
}

// NewPlaintextInbound returns the rule with its allowlist: CIDRs ("10.0.0.0/8"), IPs, and
// workloads ("name" in any namespace, or "namespace/name"). An invalid entry is an error
// naming it.
func NewPlaintextInbound(allowSources []string) (*PlaintextInbound, error) {
	r := &PlaintextInbound{}
	var errs []error
	for i, s := range allowSources {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			r.allowPrefixes = append(r.allowPrefixes, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(s); err == nil {
			r.allowPrefixes = append(r.allowPrefixes, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		wl, err := parseWorkloadEntry(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("[%d] %q: %w", i, s, err))
			continue
		}
		r.allowWorkloads = append(r.allowWorkloads, wl)
	}
	return r, errors.Join(errs...)
}

// parseWorkloadEntry parses "name" or "namespace/name"; anything that looks like an address
// but did not parse as one is reported as such.
func parseWorkloadEntry(s string) (WorkloadKey, error) {
	ns, name, namespaced := strings.Cut(s, "/")
	if !namespaced {
		ns, name = "", s
	}
	looksLikeAddress := strings.ContainsAny(s, ":") || (namespaced && strings.Count(ns, ".") == 3)
	switch {
	case looksLikeAddress:
		return WorkloadKey{}, errors.New("not a valid CIDR or IP address")
	case !validName(name, 253, true) || (namespaced && !validName(ns, 63, false)):
		return WorkloadKey{}, errors.New("neither a CIDR, an IP address, nor a workload as name or namespace/name")
	}
	return WorkloadKey{Namespace: ns, Name: name}, nil
}

// validName accepts a lower-case DNS-1123 label (dots allowed when subdomain) of at most max bytes.
func validName(s string, max int, subdomain bool) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(s)-1:
		case c == '.' && subdomain && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}

var plaintextInboundRule = findings.Rule{
	ID:        "plaintext_inbound",
	Code:      "INS-0010",
	Title:     "Meshed workload accepts plaintext",
	Category:  "transport_security",
	Severity:  findings.SeverityMedium,
	UUID:      findings.RuleUUID("plaintext_inbound"),
	Reference: "https://github.com/meshinsights/otelcol-insights#plaintext_inbound",
	Remediation: "Require mutual TLS for the workload with a PeerAuthentication in mode STRICT (namespace- or " +
		"workload-wide), after moving the plaintext clients listed in the evidence into the mesh. If a client must " +
		"stay outside (a node-level scraper, a legacy system), use a port-level PERMISSIVE exception for that port " +
		"only, and list the client in rules.plaintext_inbound.allow_sources.",
}

// Rule describes plaintext_inbound.
func (*PlaintextInbound) Rule() *findings.Rule { return &plaintextInboundRule }

// CheckMetric reports destination-reported plaintext requests or connections.
func (r *PlaintextInbound) CheckMetric(o *mesh.TrafficObservation, ctx *TrafficContext) {
	if !r.WantsMetric(o) || !countsFlows(o) {
		return
	}
	source := "unknown"
	if knownWorkload(o.SourceWorkload) {
		if r.allowedWorkload(o.SourceNamespace, o.SourceWorkload) {
			return
		}
		source = o.SourceNamespace + "/" + o.SourceWorkload
	}
	f, ok := reportingFinding(r.Rule(), ctx, o, o.DestinationNamespace, o.DestinationWorkload)
	if !ok {
		return
	}
	protocol := strings.Clone(o.RequestProtocol)
	r.emit(f, ctx, strings.Clone(source), protocol, int64(o.Value))
}

// CheckAccessLog reports an inbound record without Istio mTLS.
func (r *PlaintextInbound) CheckAccessLog(o *mesh.AccessLogObservation, ctx *TrafficContext) {
	if (o.Direction != mesh.ClusterInbound && o.Direction != mesh.ClusterInboundPassthrough) || o.IstioMTLS {
		return
	}
	if o.ClientIP == "" || o.ClientIsProxy || isLoopback(o.ClientIP) {
		return
	}
	if r.allowedIP(o.ClientIP) {
		return
	}
	source := o.ClientIP
	if client, ok := ctx.Pods.PodByIP(o.ClientIP, o.Timestamp); ok && !client.HostNetwork {
		if r.allowedPod(client) {
			return
		}
		source = client.Namespace + "/" + client.Workload()
	}
	dest, _, ok := recordPod(ctx, o.PodNamespace, o.PodName, o.LocalIP, o.Timestamp)
	if !ok {
		return
	}
	r.emit(podFinding(r.Rule(), ctx, dest), ctx, strings.Clone(source), flowProtocol(o), 1)
}

func (r *PlaintextInbound) emit(f findings.Finding, ctx *TrafficContext, source, protocol string, n int64) {
	f.Summary = fmt.Sprintf("%s in namespace %s accepted plaintext (no mutual TLS) from %s: "+
		"the traffic is unencrypted and carries no mesh identity for authorization policies.",
		f.Subject.Workload(), f.Subject.Namespace, source)
	f.Evidence = []findings.EvidenceValue{findings.ListEvidence("sources", []string{source})}
	if protocol != "" {
		f.Evidence = append(f.Evidence, findings.StrEvidence("protocol", protocol))
	}
	f.Count = max(n, 1)
	ctx.Emit(TrafficFinding{Finding: f})
}

func (r *PlaintextInbound) allowedIP(ip string) bool {
	if len(r.allowPrefixes) == 0 {
		return false
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range r.allowPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (r *PlaintextInbound) allowedWorkload(namespace, name string) bool {
	for _, w := range r.allowWorkloads {
		if w.Name == name && (w.Namespace == "" || w.Namespace == namespace) {
			return true
		}
	}
	return false
}

// allowedPod matches a client pod by its controller's name, or, when that is unknown, by
// the names its workload may have.
func (r *PlaintextInbound) allowedPod(p PodRef) bool {
	if len(r.allowWorkloads) == 0 {
		return false
	}
	if p.Controller.Name != "" {
		return r.allowedWorkload(p.Namespace, p.Controller.Name)
	}
	for _, name := range WorkloadNames(p, nil) {
		if r.allowedWorkload(p.Namespace, name) {
			return true
		}
	}
	return false
}

// countsFlows: requests and opened connections count flows; bytes and messages would count
// the same flows again.
// WantsMetric: destination-reported plaintext requests or connections.
func (*PlaintextInbound) WantsMetric(o *mesh.TrafficObservation) bool {
	return o.Reporter == "destination" && o.ConnectionSecurityPolicy == "none" && flowMetric(o)
}

func countsFlows(o *mesh.TrafficObservation) bool {
	return flowMetric(o) && o.Sighting != mesh.DeltaBaseline && o.Value > 0
}

// flowMetric: the point counts requests or connections (not bytes or messages).
func flowMetric(o *mesh.TrafficObservation) bool {
	return o.Metric == mesh.MetricRequests || o.Metric == mesh.MetricTCPConnectionsOpened
}
