// sidecar_bypass (INS-0009).
//
// Threat: a process in a meshed pod that sends its traffic around its own sidecar (running
// as the proxy's UID or GID, excluded ports or CIDRs, rewritten iptables) reaches other
// meshed workloads without mTLS: no identity for authorization policies keyed on
// principals, no encryption, no client-side telemetry. It is the network half of the
// SAP AI Core ("SAPwned") attack.
//
// Evidence: an inbound access log written by a meshed destination's sidecar whose SNI is
// not the `outbound_.` one Istio's client sidecars set (so the client did not speak Istio
// mTLS), from a client IP that, at the record's time, belonged to another meshed pod; and
// no Istio peer metadata for that client: the destination's own metrics did not attribute
// plaintext to the client's workload.
//
// Not a false positive on: the proxy's own inbound address 127.0.0.6, loopback, host-network
// pods (their IP is the node's), the destination itself, gateways, unmeshed clients
// (plaintext_inbound reports those), and a client whose own sidecar sent plaintext on
// purpose (a DestinationRule with TLS DISABLE): its metrics name the client's workload, so
// the finding is held back until that had a chance to arrive (HoldFor) and dropped if it
// did. Spans carry no TLS facts and cannot prove a bypass: this rule never reads them.

package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/mesh"
)

// DefaultSidecarBypassConfirmAfter is how long a new sidecar_bypass finding waits for the
// destination's metrics (one or two scrape intervals).
const DefaultSidecarBypassConfirmAfter = time.Minute

// SidecarBypass reports meshed pods whose traffic reached another meshed pod in plaintext
// around their own sidecar.
type SidecarBypass struct {
	confirmAfter time.Duration
}

// NewSidecarBypass returns the rule; a zero confirmAfter takes
// DefaultSidecarBypassConfirmAfter, a negative one reports at once.
func NewSidecarBypass(confirmAfter time.Duration) *SidecarBypass {
	if confirmAfter == 0 {
		confirmAfter = DefaultSidecarBypassConfirmAfter
	}
	return &SidecarBypass{confirmAfter: max(confirmAfter, 0)}
}

var sidecarBypassRule = findings.Rule{
	ID:        "sidecar_bypass",
	Code:      "INS-0009",
	Title:     "Meshed pod sent plaintext around its sidecar",
	Category:  "capture_bypass",
	Severity:  findings.SeverityCritical,
	UUID:      findings.RuleUUID("sidecar_bypass"),
	Reference: "https://github.com/meshinsights/otelcol-insights#sidecar_bypass",
	Remediation: "Find what in the client pod sends traffic around its sidecar and remove it: containers running as " +
		"the proxy's UID or GID (see app_uid_1337 and app_gid_1337), traffic.sidecar.istio.io exclusion annotations " +
		"(capture_weakened), NET_ADMIN or privileged containers that can rewrite the capture rules (net_admin_in_mesh). " +
		"Require mTLS at the destination with a STRICT PeerAuthentication so plaintext is refused, and key " +
		"AuthorizationPolicies on principals so traffic without a mesh identity is denied.",
}

// Rule describes sidecar_bypass.
func (*SidecarBypass) Rule() *findings.Rule { return &sidecarBypassRule }

// CheckMetric remembers which clients' plaintext a destination's own sidecar attributes to
// their workload (Istio peer metadata): their sidecar sent it, so it is no bypass.
// WantsMetric: destination-reported plaintext between named workloads (any metric).
func (*SidecarBypass) WantsMetric(o *mesh.TrafficObservation) bool {
	return o.Reporter == "destination" && o.ConnectionSecurityPolicy == "none" &&
		knownWorkload(o.SourceWorkload) && knownWorkload(o.DestinationWorkload)
}

func (r *SidecarBypass) CheckMetric(o *mesh.TrafficObservation, ctx *TrafficContext) {
	if !r.WantsMetric(o) {
		return
	}
	ctx.History.NotePlaintextPeer(
		WorkloadKey{Namespace: o.DestinationNamespace, Name: o.DestinationWorkload},
		WorkloadKey{Namespace: o.SourceNamespace, Name: o.SourceWorkload}, o.Timestamp)
}

// CheckAccessLog reports an inbound record without Istio mTLS from another meshed pod.
func (r *SidecarBypass) CheckAccessLog(o *mesh.AccessLogObservation, ctx *TrafficContext) {
	if (o.Direction != mesh.ClusterInbound && o.Direction != mesh.ClusterInboundPassthrough) || o.IstioMTLS {
		return
	}
	if o.ClientIP == "" || o.ClientIsProxy || o.ClientIP == o.LocalIP || isLoopback(o.ClientIP) {
		return
	}
	client, ok := ctx.Pods.PodByIP(o.ClientIP, o.Timestamp)
	if !ok || !client.Meshed || client.HostNetwork || client.Gateway {
		return
	}
	dest, _, ok := recordPod(ctx, o.PodNamespace, o.PodName, o.LocalIP, o.Timestamp)
	if !ok || dest.HostNetwork || (dest.Namespace == client.Namespace && dest.Name == client.Name) {
		return
	}
	// The engine may keep the check until it confirms the finding: copy its strings.
	check := &PeerCheck{
		DestinationNamespace: strings.Clone(dest.Namespace), DestinationNames: cloneAll(WorkloadNames(dest, nil)),
		ClientNamespace: strings.Clone(client.Namespace), ClientNames: cloneAll(WorkloadNames(client, nil)),
	}
	if ctx.History.PlaintextPeer(check) {
		return // the client's own sidecar sent it (TLS DISABLE): plaintext_inbound, not a bypass
	}

	f := podFinding(r.Rule(), ctx, client)
	destination := strings.Clone(dest.Namespace + "/" + dest.Workload())
	f.EvidenceKey = destination
	f.ObservingNode = observingNode(ctx, client.NodeName)
	protocol := flowProtocol(o)
	_, port := mesh.SplitHostPort(o.DownstreamLocalAddress)
	f.Summary = fmt.Sprintf("Meshed pod %s of %s in namespace %s sent %s traffic to meshed %s without Istio mTLS: "+
		"it went around its own sidecar, skipping mTLS, authorization policy and telemetry.",
		client.Name, f.Subject.Workload(), client.Namespace, protocol, destination)
	f.Evidence = []findings.EvidenceValue{
		findings.StrEvidence("destination", destination),
		findings.StrEvidence("destination_pod", strings.Clone(dest.Name)),
		findings.StrEvidence("client_ip", strings.Clone(o.ClientIP)),
		findings.StrEvidence("protocol", protocol),
	}
	if port != "" {
		f.Evidence = append(f.Evidence, findings.StrEvidence("port", strings.Clone(port)))
	}
	if o.RequestedServerName != "" {
		f.Evidence = append(f.Evidence, findings.StrEvidence("requested_server_name", strings.Clone(o.RequestedServerName)))
	}
	f.Count = 1
	ctx.Emit(TrafficFinding{Finding: f, HoldFor: r.confirmAfter, Recheck: check})
}
