package rules

import (
	"net/netip"
	"strings"
	"time"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/mesh"
)

// Traffic rules read mesh observations (internal/mesh: Istio metrics, Envoy access logs and
// spans) one at a time, with what the inventory knows of the pods on either side. They
// have no clock and no state of their own: time is the telemetry's timestamp, and what
// must be remembered between observations (clients a destination has seen, denial
// baselines, which plaintext came from a client's own sidecar) lives behind
// TrafficHistory, which the engine implements with bounded maps.
//
// Observations are reused by their readers and their strings alias pdata: anything a
// rule puts into a finding is copied (strings.Clone).

// PodRef is what a traffic rule knows of a pod met on the wire: the pod that held an IP at
// the time, or the pod a record names.
type PodRef struct {
	Namespace string
	Name      string
	UID       string
	NodeName  string
	// Controller is the pod's top-level controller; zero when it has none.
	Controller inventory.Controller
	// Meshed: a sidecar proxy is present.
	Meshed bool
	// HostNetwork: the pod shares its node's IP; traffic from that IP is not the pod's.
	HostNetwork bool
	// Gateway: an Istio gateway, whose only regular container is the proxy itself.
	Gateway bool
}

// PodRefOf strips an inventory pod down to a PodRef.
func PodRefOf(p *inventory.Pod) PodRef {
	return PodRef{
		Namespace:   p.Namespace,
		Name:        p.Name,
		UID:         p.UID,
		NodeName:    p.NodeName,
		Controller:  p.Controller,
		Meshed:      p.Meshed,
		HostNetwork: p.HostNetwork,
		Gateway:     p.IsGateway(),
	}
}

// Subject is what has to change for a finding about this pod: its controller when known,
// else the pod.
func (p PodRef) Subject() findings.Subject {
	if p.Controller.Kind != "" && p.Controller.Name != "" {
		return findings.Subject{Kind: p.Controller.Kind, Name: p.Controller.Name, Namespace: p.Namespace}
	}
	return findings.Subject{Kind: findings.KindPod, Name: p.Name, Namespace: p.Namespace}
}

// Workload is the name Istio's metrics most likely give the pod's workload: its
// controller's name (a Deployment's, not its ReplicaSet's); when that is unknown, the pod
// name without the suffixes Kubernetes controllers add (see GuessWorkload).
func (p PodRef) Workload() string {
	if p.Controller.Name != "" {
		return p.Controller.Name
	}
	return GuessWorkload(p.Name)
}

// GuessWorkload strips the suffixes Kubernetes controllers add to pod names: a
// StatefulSet's ordinal (-0), the five random characters of a ReplicaSet's, DaemonSet's or
// Job's pod, and then a Deployment's pod-template hash. Both random parts use Kubernetes'
// vowel-free alphabet, so ordinary words are left alone. It does not allocate.
func GuessWorkload(pod string) string {
	base, last, ok := cutLast(pod)
	if !ok {
		return pod
	}
	if allDigits(last) {
		return base // StatefulSet ordinal
	}
	if len(last) != 5 || !safeAlphabet(last) {
		return pod
	}
	if base2, hash, ok := cutLast(base); ok && len(hash) >= 6 && len(hash) <= 10 && safeAlphabet(hash) {
		return base2 // <deployment>-<pod-template-hash>-<random>
	}
	return base
}

func cutLast(s string) (base, last string, ok bool) {
	i := strings.LastIndexByte(s, '-')
	if i <= 0 || i == len(s)-1 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// safeAlphabet: k8s.io/apimachinery's rand.String alphabet, "bcdfghjklmnpqrstvwxz2456789".
func safeAlphabet(s string) bool {
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune("bcdfghjklmnpqrstvwxz2456789", rune(s[i])) {
			return false
		}
	}
	return true
}

// PodLookup is the inventory as traffic rules see it. The engine implements it; it may be
// backed by this node's inventory store and by the cluster-wide IP index
// (inventory.IPIndex.Lookup has the same meaning as PodByIP).
type PodLookup interface {
	// PodByIP returns the pod that held ip at time at (a zero at: the current holder).
	PodByIP(ip string, at time.Time) (PodRef, bool)
	// PodByName returns a pod by namespace and name.
	PodByName(namespace, name string) (PodRef, bool)
}

// WorkloadKey names an Istio workload: namespace and workload name.
type WorkloadKey struct {
	Namespace, Name string
}

// DestinationKey names the destination whose baselines a rule consults: a pod when the
// telemetry says which one, else the Istio workload (metrics without pod attributes).
type DestinationKey struct {
	Namespace string
	Pod       string // pod name; empty when only the workload is known
	Workload  string // set when Pod is empty
}

// EdgeSighting is what the history knew about a client when a destination saw it.
type EdgeSighting struct {
	// Known: the destination had seen this client before (or cannot remember more clients).
	Known bool
	// Since is when the destination was first seen: its learning window started then.
	Since time.Time
}

// DenialSignal is the telemetry RBAC denials were counted from.
type DenialSignal uint8

const (
	// DenialsFromAccessLogs: inbound access logs, one record per denial, with its source.
	DenialsFromAccessLogs DenialSignal = iota
	// DenialsFromStats: the growth of Envoy's rbac.denied counter, without sources.
	DenialsFromStats
)

// DenialWindow is a destination's RBAC denial count in the current window, with its own
// baseline.
type DenialWindow struct {
	// Count is the denials in the current window, this observation included.
	Count int64
	// Baseline is the destination's usual denials per window before this one (a moving
	// average; 0 when it has none).
	Baseline float64
	// Since is when the destination was first seen: its learning window started then.
	Since time.Time
	// TopSources are the current window's most frequent denied sources, most first, as
	// "<source> (<count>)".
	TopSources []string
	// Policies are the policies named by the current window's denials.
	Policies []string
}

// PeerCheck asks whether a destination's own metrics attributed plaintext to the client's
// workload (the client's sidecar sent it, e.g. a DestinationRule with TLS DISABLE). Both
// sides are given as the names their workload may have (see WorkloadNames).
type PeerCheck struct {
	DestinationNamespace string
	DestinationNames     []string
	ClientNamespace      string
	ClientNames          []string
}

// TrafficHistory is what traffic rules remember between observations. The engine keeps it
// bounded; what it cannot hold any more it reports as known (quiet) and counts. Strings
// passed in may alias telemetry: an implementation copies what it keeps.
type TrafficHistory interface {
	// SeeClient records that dest saw client at time at (telemetry time).
	SeeClient(dest DestinationKey, destUID string, client WorkloadKey, at time.Time) EdgeSighting
	// CountDenials adds n RBAC denials at dest at time at, in windows of the given length,
	// counted from signal, from source (a workload or an IP) naming policy. A destination
	// whose access logs report denials has its Envoy stats ignored (the same denials twice).
	CountDenials(dest DestinationKey, destUID string, at time.Time, window time.Duration, n int64, signal DenialSignal, source, policy string) DenialWindow
	// NotePlaintextPeer records that dest's own metrics attributed plaintext to client.
	NotePlaintextPeer(dest, client WorkloadKey, at time.Time)
	// PlaintextPeer reports whether such a note exists for the check.
	PlaintextPeer(c *PeerCheck) bool
}

// TrafficFinding is what a traffic rule reports for one observation.
type TrafficFinding struct {
	findings.Finding
	// HoldFor, when set, holds a finding that is not active yet back for that long (on the
	// collector's clock) and reports it only if Recheck still finds no plaintext peer then:
	// the destination metrics that would clear it arrive a scrape later than the access log.
	HoldFor time.Duration
	Recheck *PeerCheck
}

// EvidenceAccumulates reports whether a traffic finding's list evidence of that name is a
// set that grows with every report (the hosts, ports and sources seen so far), rather than
// a snapshot the latest report replaces (top sources of the current window).
func EvidenceAccumulates(name string) bool {
	switch name {
	case "hosts", "ports", "sources":
		return true
	}
	return false
}

// TrafficContext is what a traffic rule may know besides the observation.
type TrafficContext struct {
	Cluster string
	// Node is this collector's node (kubernetes.node_name); empty when not configured.
	Node    string
	Pods    PodLookup
	History TrafficHistory
	// Egress keeps the per-pod byte windows of unaccounted_egress; nil when it is off.
	Egress EgressLedger
	// Emit takes each finding the rule reports; it must copy nothing, the rule already did.
	Emit func(TrafficFinding)
}

// TrafficRule is a rule over mesh traffic. It implements one or more of MetricRule,
// AccessLogRule and SpanRule.
type TrafficRule interface {
	Rule() *findings.Rule
}

// MetricRule inspects Istio standard metric points (only those that say something new).
type MetricRule interface {
	TrafficRule
	CheckMetric(o *mesh.TrafficObservation, ctx *TrafficContext)
}

// MetricInterest is implemented by metric rules that read only some points. The engine
// asks before a point's series is hashed and tracked, with its labels, kind, destination
// class and pod set (not its value or sighting): points no enabled rule wants cost only the
// label read. A MetricRule without it wants every point.
type MetricInterest interface {
	WantsMetric(o *mesh.TrafficObservation) bool
}

// AccessLogRule inspects Envoy access log records.
type AccessLogRule interface {
	TrafficRule
	CheckAccessLog(o *mesh.AccessLogObservation, ctx *TrafficContext)
}

// SpanRule inspects Envoy spans.
type SpanRule interface {
	TrafficRule
	CheckSpan(o *mesh.SpanObservation, ctx *TrafficContext)
}

// TrafficOptions configures the traffic rules. The zero value is the default.
type TrafficOptions struct {
	// PassthroughAllowHosts are host globs passthrough_egress never reports.
	PassthroughAllowHosts []string
	// PlaintextAllowSources are CIDRs, IPs and workloads ("name" or "namespace/name")
	// plaintext_inbound never reports.
	PlaintextAllowSources []string
	// SidecarBypassConfirmAfter: see NewSidecarBypass.
	SidecarBypassConfirmAfter time.Duration
	// NewEdgeLearningWindow: see NewNewEdge.
	NewEdgeLearningWindow time.Duration
	// AuthzMinDenials and AuthzLearningWindow: see NewAuthzDenialSpike.
	AuthzMinDenials     int64
	AuthzLearningWindow time.Duration
	// UnaccountedEgress: see NewUnaccountedEgress.
	UnaccountedEgress UnaccountedEgressOptions
}

// TrafficRules returns a fresh instance of every traffic rule, in catalogue order. Invalid
// allowlist entries are skipped: the processor's config validation rejects them first.
func TrafficRules(opts TrafficOptions) []TrafficRule {
	passthrough, _ := NewPassthroughEgress(opts.PassthroughAllowHosts)
	plaintext, _ := NewPlaintextInbound(opts.PlaintextAllowSources)
	return []TrafficRule{
		NewSidecarBypass(opts.SidecarBypassConfirmAfter),
		plaintext,
		passthrough,
		BlackholeEgress{},
		InboundPassthrough{},
		NewAuthzDenialSpike(opts.AuthzMinDenials, opts.AuthzLearningWindow),
		NewNewEdge(opts.NewEdgeLearningWindow),
		NewUnaccountedEgress(opts.UnaccountedEgress),
	}
}

// WorkloadNames appends the names Istio may give the workload of a pod: its controller's
// name, the pod's name and the pod name's dash-separated prefixes (a Deployment's pod is
// <deployment>-<hash>-<suffix>, a StatefulSet's <name>-<ordinal>), longest first. Used to
// match a pod whose controller is unknown against workload labels.
func WorkloadNames(p PodRef, dst []string) []string {
	if p.Controller.Name != "" {
		dst = append(dst, p.Controller.Name)
	}
	for name := p.Name; name != ""; {
		if name != p.Controller.Name {
			dst = append(dst, name)
		}
		i := strings.LastIndexByte(name, '-')
		if i <= 0 {
			break
		}
		name = name[:i]
	}
	return dst
}

// knownWorkload reports whether an Istio workload label names a workload ("unknown" and
// empty do not).
func knownWorkload(s string) bool { return s != "" && s != "unknown" }

// workloadSubject is the subject of metrics-only evidence: the Istio workload.
func workloadSubject(namespace, workload string) findings.Subject {
	return findings.Subject{Kind: findings.KindWorkload, Name: strings.Clone(workload), Namespace: strings.Clone(namespace)}
}

// trafficFinding starts a finding about a subject.
func trafficFinding(rule *findings.Rule, ctx *TrafficContext, subject findings.Subject) findings.Finding {
	return findings.Finding{Rule: rule, Cluster: ctx.Cluster, Subject: subject}
}

// podFinding starts a finding about a pod: its controller (or itself) as the subject, the
// pod as the one the evidence came from.
func podFinding(rule *findings.Rule, ctx *TrafficContext, p PodRef) findings.Finding {
	f := trafficFinding(rule, ctx, cloneSubject(p.Subject()))
	f.PodName, f.PodUID = strings.Clone(p.Name), strings.Clone(p.UID)
	return f
}

func cloneSubject(s findings.Subject) findings.Subject {
	return findings.Subject{Kind: s.Kind, Name: strings.Clone(s.Name), Namespace: strings.Clone(s.Namespace)}
}

// observingNode is the finding's ObservingNode: this node when the subject pod lives on
// another node or its node is unknown (the subject's own node may report the same finding
// from other evidence), else empty.
func observingNode(ctx *TrafficContext, subjectNode string) string {
	if ctx.Node == "" || subjectNode == ctx.Node {
		return ""
	}
	return ctx.Node
}

// recordPod resolves the pod a record or point came from by the pod attributes of its
// resource (k8sattributes, prometheus service discovery), else by the IP the proxy
// listens on. known is false for a pod the inventory does not hold, known by name only
// (the telemetry came from its proxy, so it is taken as meshed).
func recordPod(ctx *TrafficContext, namespace, name, ip string, at time.Time) (p PodRef, known, ok bool) {
	if name != "" && namespace != "" {
		if p, ok := ctx.Pods.PodByName(namespace, name); ok {
			return p, true, true
		}
		return PodRef{Namespace: namespace, Name: name, Meshed: true}, false, true
	}
	if ip != "" {
		if p, ok := ctx.Pods.PodByIP(ip, at); ok {
			return p, true, true
		}
	}
	return PodRef{}, false, false
}

// reportingFinding starts a finding about the pod whose proxy reported a metric point: the
// pod (its controller) when the inventory knows it; else the Istio workload the labels name
// (stable across rollouts, unlike a pod name), with the pod as where the evidence came
// from; else the pod by name.
func reportingFinding(rule *findings.Rule, ctx *TrafficContext, o *mesh.TrafficObservation, wlNamespace, wl string) (findings.Finding, bool) {
	instanceIP, _ := mesh.SplitHostPort(o.ServiceInstanceID)
	p, known, ok := recordPod(ctx, o.PodNamespace, o.PodName, instanceIP, o.Timestamp)
	switch {
	case known:
		return podFinding(rule, ctx, p), true
	case knownWorkload(wl) && wlNamespace != "":
		f := trafficFinding(rule, ctx, workloadSubject(wlNamespace, wl))
		f.PodName, f.PodUID = strings.Clone(o.PodName), strings.Clone(o.PodUID)
		return f, true
	case ok:
		return podFinding(rule, ctx, p), true
	}
	return findings.Finding{}, false
}

// hostOnly strips a port from host:port, [v6]:port; it leaves a bare host alone.
func hostOnly(s string) string {
	h, _ := mesh.SplitHostPort(s)
	return h
}

// isLoopback reports whether ip (without port) is a loopback address.
func isLoopback(ip string) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && a.IsLoopback()
}

// flowProtocol names the protocol of an access log record for evidence.
func flowProtocol(o *mesh.AccessLogObservation) string {
	if o.Protocol != "" {
		return strings.Clone(o.Protocol)
	}
	return "tcp"
}

// logPodFinding starts a finding about the pod whose proxy wrote an access log record:
// by the record's resource attributes, else by ip (the local address on inbound records,
// the application's own address on outbound ones).
func logPodFinding(rule *findings.Rule, ctx *TrafficContext, o *mesh.AccessLogObservation, ip string) (findings.Finding, bool) {
	p, _, ok := recordPod(ctx, o.PodNamespace, o.PodName, ip, o.Timestamp)
	if !ok {
		return findings.Finding{}, false
	}
	return podFinding(rule, ctx, p), true
}

// spanPodFinding starts a finding about the pod whose proxy recorded a span: by its node_id
// (sidecar~<ip>~<pod>.<namespace>~...), else the span's resource attributes, else ip.
func spanPodFinding(rule *findings.Rule, ctx *TrafficContext, o *mesh.SpanObservation, ip string) (findings.Finding, bool) {
	namespace, name := o.PodNamespace, o.PodName
	if o.NodeOK && o.Node.PodName != "" && o.Node.Namespace != "" {
		namespace, name = o.Node.Namespace, o.Node.PodName
		if ip == "" {
			ip = o.Node.IP
		}
	}
	if o.NodeOK && o.Node.ProxyType != "sidecar" {
		return findings.Finding{}, false // gateways and waypoints are no workload's own egress
	}
	p, _, ok := recordPod(ctx, namespace, name, ip, o.Start)
	if !ok {
		return findings.Finding{}, false
	}
	return podFinding(rule, ctx, p), true
}

// normalHost lower-cases a host name and strips its port and a trailing dot. It does not
// allocate for a host that is already normal.
func normalHost(s string) string {
	s = hostOnly(s)
	s = strings.TrimSuffix(s, ".")
	return strings.ToLower(s)
}

// urlHost is the host of an absolute URL (scheme://[userinfo@]host[:port]/...), or "".
func urlHost(u string) string {
	i := strings.Index(u, "://")
	if i < 0 {
		return ""
	}
	rest := u[i+3:]
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		rest = rest[:j]
	}
	if j := strings.LastIndexByte(rest, '@'); j >= 0 {
		rest = rest[j+1:]
	}
	return rest
}

// egressHostOfLog names where an egress record went: the TLS SNI, else the HTTP authority
// (both set by the client), else the original destination address.
func egressHostOfLog(o *mesh.AccessLogObservation) string {
	for _, h := range [...]string{o.RequestedServerName, o.Authority, o.DownstreamLocalAddress, o.UpstreamHost} {
		if h = normalHost(h); h != "" {
			return h
		}
	}
	return "unknown"
}

// egressHostOfSpan names where an egress span went: the URL's host, else the upstream address.
func egressHostOfSpan(o *mesh.SpanObservation) string {
	for _, h := range [...]string{urlHost(o.URL), o.UpstreamAddress} {
		if h = normalHost(h); h != "" {
			return h
		}
	}
	return "unknown"
}

// egressHostOfMetric names where a source-reported egress point went: destination_service
// (the Host header or SNI for PassthroughCluster and BlackHoleCluster).
func egressHostOfMetric(o *mesh.TrafficObservation) string {
	if h := normalHost(o.DestinationService); knownWorkload(h) {
		return h
	}
	return "unknown"
}
