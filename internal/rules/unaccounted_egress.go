// unaccounted_egress (INS-0016), experimental, off by default.
//
// Threat: a process that runs as the proxy's UID 1337 (or holds NET_ADMIN and rewrote the
// capture rules) sends traffic that never passes its sidecar: no policy, no mTLS, no
// telemetry. The kubelet still counts those bytes on the pod's interface; the proxy does
// not.
//
// Evidence: per meshed pod, in fixed windows of telemetry time, the bytes the kubelet
// counted transmitted on eth0 (kubeletstats k8s.pod.network.io, direction=transmit) next
// to the bytes the pod's own sidecar reports sending (request bytes and TCP request bytes
// as the client, response bytes and TCP response bytes as the server). The rule fires when
// a window's transmitted bytes exceed what the proxy accounts for, at the pod's own learned
// ratio, by more than the pod's usual unaccounted bytes plus a floor, and by more than
// factor times its usual unaccounted bytes. What the proxy accounts for includes the TCP
// ACKs the pod sends for the bytes its sidecar received (responses as the client, requests
// as the server), up to AckShare of them.
//
// Not a false positive on: Istio's own overhead (HTTP headers, TLS, xDS, DNS, metrics
// scrapes and spans are never counted by the proxy: every pod carries its own usual share,
// learned, never a fixed ratio); bursts the proxy accounts for (the accounted part grows
// with them, at the pod's historic ratio); large downloads through the sidecar (the pod
// transmits ACKs for them, which no proxy counts as sent); proxy metrics a scrape late (the proxy's bytes
// one bucket either side of the window count; a window is judged only once both sources
// reported past it); counter resets and gaps (those windows are not judged); a pod first
// seen less than its learning window ago; gateways (no application beside the proxy) and
// hostNetwork pods (their interface is the node's).

package rules

import (
	"fmt"
	"math"
	"time"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/mesh"
)

// Defaults for NewUnaccountedEgress.
const (
	DefaultUnaccountedEgressLearningWindow    = time.Hour
	DefaultUnaccountedEgressWindow            = 5 * time.Minute
	DefaultUnaccountedEgressMinBytesPerMinute = 1 << 20
	DefaultUnaccountedEgressFactor            = 4.0
	// EgressBuckets is how many buckets a window has: the proxy's bytes one bucket before
	// and after a window are credited to it (timestamps of the two sources differ by up
	// to a collection interval, and a missed scrape lands its bytes in the next one), so a
	// bucket (30s by default) must be at least the slower collection interval.
	EgressBuckets = 10
	// maxAccountedRatio caps the learned transmitted/proxy ratio: a pod whose proxy sees
	// almost nothing of its traffic is judged by its unaccounted level instead.
	maxAccountedRatio = 4.0
	// minLearnedWindows: a pod is judged once it has at least this many windows learned.
	minLearnedWindows = 3
	// lateProxyShare: a proxy that usually accounts for at least this share of the floor
	// per window and reported nothing past a window is taken as late, not idle.
	lateProxyShare = 0.25
	// AckShare is the most a pod transmits in pure TCP ACKs per byte it receives: one
	// 66-byte ACK per segment of an overlay network's ~1350-byte MSS (delayed ACKs send
	// half that). A pod downloading 1 GiB through its sidecar transmits up to ~50 MiB that
	// its proxy reports nowhere as sent.
	AckShare = 0.05
)

// UnaccountedEgressOptions configures unaccounted_egress; zero values take the defaults.
type UnaccountedEgressOptions struct {
	// LearningWindow keeps a newly seen pod quiet while its own ratio forms.
	LearningWindow time.Duration
	// Window is the length of the windows compared; at least EgressBuckets times the slower
	// of the kubeletstats collection interval and the proxies' scrape interval.
	Window time.Duration
	// MinBytesPerMinute is the fewest unaccounted bytes per minute, beyond the pod's usual,
	// that can be reported.
	MinBytesPerMinute int64
	// Factor: the unaccounted bytes must also exceed Factor times the pod's usual.
	Factor float64
}

func (o UnaccountedEgressOptions) withDefaults() UnaccountedEgressOptions {
	if o.LearningWindow <= 0 {
		o.LearningWindow = DefaultUnaccountedEgressLearningWindow
	}
	if o.Window <= 0 {
		o.Window = DefaultUnaccountedEgressWindow
	}
	if o.MinBytesPerMinute <= 0 {
		o.MinBytesPerMinute = DefaultUnaccountedEgressMinBytesPerMinute
	}
	if o.Factor <= 1 {
		o.Factor = DefaultUnaccountedEgressFactor
	}
	return o
}

// UnaccountedEgress reports meshed pods that transmit far more than their proxy accounts for.
type UnaccountedEgress struct {
	opts UnaccountedEgressOptions
}

// NewUnaccountedEgress returns the rule.
func NewUnaccountedEgress(opts UnaccountedEgressOptions) *UnaccountedEgress {
	return &UnaccountedEgress{opts: opts.withDefaults()}
}

var unaccountedEgressRule = findings.Rule{
	ID:        "unaccounted_egress",
	Code:      "INS-0016",
	Title:     "Pod transmits far more than its sidecar accounts for",
	Category:  "capture_bypass",
	Severity:  findings.SeverityHigh,
	UUID:      findings.RuleUUID("unaccounted_egress"),
	Reference: "https://github.com/meshinsights/otelcol-insights#unaccounted_egress",
	Remediation: "Something in the pod sends traffic that does not pass its sidecar. Look for a container running as " +
		"the proxy's UID or GID (app_uid_1337, app_gid_1337), NET_ADMIN or privileged containers (net_admin_in_mesh) " +
		"and capture exclusions (capture_weakened) on this workload; check the pod's connections (ss -tnp in a debug " +
		"container) for peers the mesh does not know. Experimental: confirm before acting.",
}

// Rule describes unaccounted_egress.
func (*UnaccountedEgress) Rule() *findings.Rule { return &unaccountedEgressRule }

// Window is the length of the windows the rule compares.
func (r *UnaccountedEgress) Window() time.Duration { return r.opts.Window }

// WantsMetric: the byte counters of a sidecar's own traffic.
func (*UnaccountedEgress) WantsMetric(o *mesh.TrafficObservation) bool {
	return mesh.EgressMetricKinds.Has(o.Metric) && (o.Reporter == "source" || o.Reporter == "destination")
}

// CheckMetric accounts the bytes the reporting proxy sent out of its pod.
func (r *UnaccountedEgress) CheckMetric(o *mesh.TrafficObservation, ctx *TrafficContext) {
	if ctx.Egress == nil {
		return
	}
	if o.Sighting == mesh.DeltaStale {
		return
	}
	received := false
	bytes, ok := mesh.ProxyEgressBytes(o)
	if !ok {
		bytes, ok = proxyIngressBytes(o)
		received = true
	}
	if !ok {
		return
	}
	instanceIP, _ := mesh.SplitHostPort(o.ServiceInstanceID)
	pod, ok := egressPod(ctx, o.PodNamespace, o.PodName, instanceIP, o.Timestamp)
	if !ok {
		return
	}
	if o.Sighting == mesh.DeltaBaseline {
		// A series first seen (a new peer) counts what it has: more proxy bytes than this
		// window's, never fewer, so it can only keep the rule quiet.
		bytes = o.Total
		if o.Metric == mesh.MetricRequestBytes || o.Metric == mesh.MetricResponseBytes {
			bytes = o.Bytes
		}
	}
	ctx.Egress.AccountEgress(EgressSample{Pod: pod, At: o.Timestamp, Bytes: max(bytes, 0), Proxy: true,
		Received: received, Restart: o.Sighting == mesh.DeltaReset}, r, ctx)
}

// proxyIngressBytes is the counterpart of mesh.ProxyEgressBytes: the bytes a point says the
// reporting proxy received into its own pod, the responses as the client (response bytes,
// tcp sent bytes) and the requests as the server (request bytes, tcp received bytes).
func proxyIngressBytes(o *mesh.TrafficObservation) (float64, bool) {
	switch o.Reporter {
	case "source":
		switch o.Metric {
		case mesh.MetricResponseBytes:
			return o.Bytes, true
		case mesh.MetricTCPSentBytes:
			return o.Value, true
		}
	case "destination":
		switch o.Metric {
		case mesh.MetricRequestBytes:
			return o.Bytes, true
		case mesh.MetricTCPReceivedBytes:
			return o.Value, true
		}
	}
	return 0, false
}

// CheckPodNetwork accounts the bytes the kubelet counted transmitted on the pod's eth0.
func (r *UnaccountedEgress) CheckPodNetwork(o *mesh.PodNetworkObservation, ctx *TrafficContext) {
	if ctx.Egress == nil || !o.Transmit || !mesh.PodPrimaryInterface(o.Interface) || o.Sighting == mesh.DeltaStale {
		return
	}
	pod, ok := egressPod(ctx, o.PodNamespace, o.PodName, "", o.Timestamp)
	if !ok || (o.PodUID != "" && pod.UID != "" && o.PodUID != pod.UID) {
		return
	}
	s := EgressSample{Pod: pod, At: o.Timestamp, Bytes: max(o.Value, 0)}
	switch o.Sighting {
	case mesh.DeltaBaseline:
		s.Bytes, s.First = 0, true
	case mesh.DeltaReset:
		s.Bytes, s.Restart = 0, true
	}
	ctx.Egress.AccountEgress(s, r, ctx)
}

// egressPod is the meshed application pod the inventory knows by name (else by IP):
// unknown pods, gateways and hostNetwork pods are skipped.
func egressPod(ctx *TrafficContext, namespace, name, ip string, at time.Time) (PodRef, bool) {
	var p PodRef
	var ok bool
	switch {
	case name != "" && namespace != "":
		p, ok = ctx.Pods.PodByName(namespace, name)
	case ip != "":
		p, ok = ctx.Pods.PodByIP(ip, at)
	}
	return p, ok && p.Meshed && !p.Gateway && !p.HostNetwork
}

// JudgeEgress judges one closed window of a pod and reports whether it is normal enough to
// learn from: missing data is neither judged nor learned, a reported window is not learned
// (a bypass that goes on must not become the pod's usual).
func (r *UnaccountedEgress) JudgeEgress(pod PodRef, w *EgressWindow, ctx *TrafficContext) bool {
	floor := float64(r.opts.MinBytesPerMinute) * w.End.Sub(w.Start).Minutes()
	if !w.ProxyReported && w.Usual.Proxy >= lateProxyShare*floor {
		return false // the proxy is late rather than idle: its bytes are not all here
	}
	if w.End.Sub(w.Since) < r.opts.LearningWindow || w.Usual.Windows < minLearnedWindows {
		return true
	}
	ratio := 1.0
	if w.Usual.Proxy > 0 {
		ratio = min(max(w.Usual.Transmitted/w.Usual.Proxy, 1), maxAccountedRatio)
	}
	unaccounted := w.Transmitted - ratio*w.ProxyAround - AckShare*w.ProxyReceivedAround
	if unaccounted-w.Usual.Unaccounted < floor || unaccounted <= r.opts.Factor*w.Usual.Unaccounted {
		return true
	}
	f := podFinding(r.Rule(), ctx, pod)
	f.ObservingNode = observingNode(ctx, pod.NodeName)
	window := w.End.Sub(w.Start)
	f.Summary = fmt.Sprintf("%s in namespace %s (pod %s) transmitted %s in %s, %s more than its sidecar accounts for "+
		"(usually %s): traffic is leaving the pod around its proxy.",
		f.Subject.Workload(), f.Subject.Namespace, f.PodName, humanBytes(w.Transmitted), window,
		humanBytes(unaccounted), humanBytes(w.Usual.Unaccounted))
	f.Evidence = []findings.EvidenceValue{
		findings.IntEvidence("transmitted_bytes", int64(w.Transmitted)),
		findings.IntEvidence("proxy_bytes", int64(w.Proxy)),
		findings.IntEvidence("unaccounted_bytes", int64(unaccounted)),
		findings.IntEvidence("baseline_unaccounted_bytes", int64(w.Usual.Unaccounted)),
		findings.StrEvidence("baseline_ratio", fmt.Sprintf("%.2f", ratio)),
	}
	if w.ProxyReceived > 0 {
		f.Evidence = append(f.Evidence, findings.IntEvidence("proxy_received_bytes", int64(w.ProxyReceived)))
	}
	f.Evidence = append(f.Evidence,
		findings.StrEvidence("window", window.String()),
		findings.StrEvidence("window_end", w.End.UTC().Format(time.RFC3339)),
	)
	f.Count = 1
	ctx.Emit(TrafficFinding{Finding: f})
	return false
}

// humanBytes writes a byte count in binary units, e.g. "50.0 MiB".
func humanBytes(b float64) string {
	const unit = 1024.0
	if math.Abs(b) < unit {
		return fmt.Sprintf("%.0f B", b)
	}
	exp, v := 0, b/unit
	for math.Abs(v) >= unit && exp < 4 {
		v /= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[exp])
}

// PodNetworkRule inspects kubeletstats pod network points.
type PodNetworkRule interface {
	TrafficRule
	CheckPodNetwork(o *mesh.PodNetworkObservation, ctx *TrafficContext)
}

// EgressSample is one measurement of the bytes a pod sent: by the kubelet or by its proxy,
// in the collection interval ending at At (telemetry time).
type EgressSample struct {
	Pod   PodRef
	At    time.Time
	Bytes float64
	// Proxy: the pod's sidecar reported the bytes; else the kubelet counted them.
	Proxy bool
	// Received: the sidecar reported bytes it received into the pod (only their ACKs
	// leave it); else bytes it sent out of the pod.
	Received bool
	// First: the series was first seen at At (its interval is unknown, Bytes is 0).
	First bool
	// Restart: the counter restarted; the windows around At are not judged.
	Restart bool
}

// EgressWindow is one closed window of a pod, with the pod's own usual windows.
type EgressWindow struct {
	Start, End time.Time
	// Transmitted: the kubelet's count; Proxy: what the proxy reported in the window;
	// ProxyAround: the proxy's bytes from one bucket before to one bucket after it.
	Transmitted, Proxy, ProxyAround float64
	// ProxyReceived and ProxyReceivedAround: the bytes the proxy received into the pod, in
	// the window and from one bucket before to one bucket after it.
	ProxyReceived, ProxyReceivedAround float64
	// ProxyReported: the proxy reported points past the window, so its bytes for it are
	// in; false when it reported nothing since (idle, or late).
	ProxyReported bool
	// Since is the pod's first sighting: its learning started then.
	Since time.Time
	Usual EgressBaseline
}

// EgressBaseline is a pod's moving averages per window, over the windows it learned from.
type EgressBaseline struct {
	Windows     int
	Transmitted float64
	Proxy       float64
	// Unaccounted averages max(Transmitted - Proxy, 0): the pod's own overhead (headers,
	// TLS, xDS, DNS, telemetry) at its usual volume.
	Unaccounted float64
}

// EgressJudge judges a pod's closed window (UnaccountedEgress implements it).
type EgressJudge interface {
	// Window is the length of the windows, a multiple of EgressBuckets buckets.
	Window() time.Duration
	JudgeEgress(pod PodRef, w *EgressWindow, ctx *TrafficContext) (learn bool)
}

// EgressLedger keeps, per pod, the bytes the kubelet and the proxy counted in windows of
// telemetry time. The engine implements it, bounded. AccountEgress adds a sample and hands
// every window the sample closes to the judge, learning from those it calls normal.
type EgressLedger interface {
	AccountEgress(s EgressSample, judge EgressJudge, ctx *TrafficContext)
}

// ObservesPodNetwork reports whether one of the rules reads pod network points.
func ObservesPodNetwork(trafficRules []TrafficRule) bool {
	for _, r := range trafficRules {
		if _, ok := r.(PodNetworkRule); ok {
			return true
		}
	}
	return false
}
