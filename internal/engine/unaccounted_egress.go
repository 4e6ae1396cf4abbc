package engine

import (
	"strings"
	"time"

	"github.com/meshinsights/otelcol-insights/internal/mesh"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

// unaccounted_egress compares, per meshed pod, the bytes the kubelet counted leaving the
// pod with those its proxy reports sending. The engine keeps the per-pod windows here
// (rules.EgressLedger): buckets of telemetry time in a small ring, the two sources'
// watermarks, and the pod's moving averages; the rule judges each closed window.

// DefaultMaxEgressPods bounds the pods unaccounted_egress keeps windows for.
const DefaultMaxEgressPods = 10000

// storeTrafficEgress names refusals in processor_insights_inventory_refused{store}.
const storeTrafficEgress = "traffic_egress"

const (
	// egressRing is how many buckets a pod keeps: a window, the bucket before and after
	// it, and room for one source running ahead of the other.
	egressRing = 2*rules.EgressBuckets + 4
	// egressProxyLag is how many buckets past a window's following bucket the kubelet may
	// run ahead of a proxy that reported nothing before the window is judged without it
	// (an idle proxy reports no growth, so its watermark stands still).
	egressProxyLag = 8
	// egressAverageWindows is roughly how many windows the moving averages span.
	egressAverageWindows = 24
)

// egressLedger implements rules.EgressLedger. Used under Engine.mu.
type egressLedger struct {
	h    *trafficHistory // the collector's clock and refusal counts
	pods map[egressKey]*egressPod
	max  int
	ttl  time.Duration
	// last is the pod looked up last: a scrape or a kubelet resource is one pod.
	last *egressPod
}

type egressKey struct{ namespace, name string }

// egressPod is one pod's windows. Buckets are numbered from the epoch (telemetry time /
// bucket length); a window is rules.EgressBuckets buckets starting at a multiple of that.
type egressPod struct {
	key      egressKey // a copy: the sample's strings may alias the inventory
	uid      string
	bucket   int64     // bucket length, ns
	since    time.Time // telemetry time of the first sample: learning starts there
	lastSeen time.Time // collector clock, for the TTL

	next       int64 // first bucket of the next window to judge
	skipBefore int64 // windows starting before this bucket miss data: not judged
	kubeWM     int64 // latest kubelet sample, ns
	proxyWM    int64 // latest proxy sample, ns
	buckets    [egressRing]egressBucket
	usual      rules.EgressBaseline
}

type egressBucket struct {
	n           int64 // which bucket the slot holds
	kube, proxy float64
	proxyIn     float64 // bytes the proxy received into the pod
}

func newEgressLedger(h *trafficHistory, maxPods int, ttl time.Duration) *egressLedger {
	if maxPods <= 0 {
		maxPods = DefaultMaxEgressPods
	}
	return &egressLedger{h: h, pods: make(map[egressKey]*egressPod), max: maxPods, ttl: ttl}
}

// initEgress sets the engine up for unaccounted_egress when an enabled rule reads pod
// network points: the ledger, and the byte histograms added to what the reader reads.
func (t *trafficState) initEgress(rs []rules.TrafficRule) {
	for _, r := range rs {
		if p, ok := r.(rules.PodNetworkRule); ok {
			t.podNetRules = append(t.podNetRules, p)
		}
	}
	if len(t.podNetRules) == 0 {
		return
	}
	t.egress = newEgressLedger(t.history, t.cfg.MaxEgressPods, t.cfg.BaselineTTL)
	kinds := t.reader.Kinds
	if kinds == 0 {
		kinds = mesh.DefaultMetricKinds
	}
	t.reader.Kinds = kinds | mesh.EgressMetricKinds | mesh.KindsOf(mesh.MetricPodNetworkIO)
}

// egressLedger is the ledger the rules see: nil (not a nil pointer) when the rule is off.
func (t *trafficState) egressLedger() rules.EgressLedger {
	if t.egress == nil {
		return nil
	}
	return t.egress
}

// ObservesPodNetwork reports whether an enabled rule reads kubeletstats pod network
// points: the adapter hands them to TrafficBatch.PodNetwork only then.
func (e *Engine) ObservesPodNetwork() bool { return len(e.traffic.podNetRules) > 0 }

// PodNetwork inspects one kubeletstats pod network point.
func (b *TrafficBatch) PodNetwork(o *mesh.PodNetworkObservation) {
	b.lock()
	o.Timestamp = b.validTime(o.Timestamp)
	for _, r := range b.e.traffic.podNetRules {
		r.CheckPodNetwork(o, &b.tctx)
	}
}

// EgressPods is the number of pods unaccounted_egress keeps windows for, for tests.
func (e *Engine) EgressPods() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.traffic.egress == nil {
		return 0
	}
	return len(e.traffic.egress.pods)
}

// pod returns the windows of a pod, creating them; nil when the store is full. A new UID
// under the same name starts over.
func (l *egressLedger) pod(ref rules.PodRef, at time.Time, window time.Duration) *egressPod {
	p := l.last
	if p == nil || p.key.name != ref.Name || p.key.namespace != ref.Namespace {
		p = l.pods[egressKey{ref.Namespace, ref.Name}]
	}
	if p != nil && (ref.UID == "" || p.uid == "" || ref.UID == p.uid) {
		p.lastSeen = l.h.now
		l.last = p
		return p
	}
	if p == nil && len(l.pods) >= l.max {
		l.h.refuse(storeTrafficEgress)
		return nil
	}
	key := egressKey{strings.Clone(ref.Namespace), strings.Clone(ref.Name)}
	if p != nil {
		key = p.key
	}
	bucket := int64(window / rules.EgressBuckets)
	if bucket <= 0 {
		bucket = int64(time.Second)
	}
	first := floorDiv(at.UnixNano(), bucket)
	// The window holding the first sample misses what came before it.
	next := (floorDiv(first, rules.EgressBuckets) + 1) * rules.EgressBuckets
	np := &egressPod{key: key, uid: strings.Clone(ref.UID), bucket: bucket, since: at, lastSeen: l.h.now,
		next: next, skipBefore: next}
	for i := range np.buckets {
		np.buckets[i].n = -1
	}
	l.pods[key] = np
	l.last = np
	return np
}

// AccountEgress adds a sample to its pod's buckets and judges the windows it closes.
func (l *egressLedger) AccountEgress(s rules.EgressSample, judge rules.EgressJudge, ctx *rules.TrafficContext) {
	p := l.pod(s.Pod, s.At, judge.Window())
	if p == nil {
		return
	}
	at := s.At.UnixNano()
	n := floorDiv(at, p.bucket)
	if s.Proxy {
		p.proxyWM = max(p.proxyWM, at)
	} else {
		p.kubeWM = max(p.kubeWM, at)
	}
	if s.Restart || (s.First && !s.Proxy) {
		// Counter restarts and kubelet series seen anew: what the counter says about
		// the window holding them is incomplete.
		p.skipBefore = max(p.skipBefore, n+1)
	}
	if s.Bytes > 0 {
		p.add(n, s.Bytes, s.Proxy, s.Received)
	}
	p.closeWindows(s.Pod, judge, ctx)
}

// add puts bytes into bucket n. Bytes for windows already judged are dropped; bytes too
// far ahead for the ring skip the windows in between (missing data).
func (p *egressPod) add(n int64, v float64, proxy, received bool) {
	if n < p.next-1 {
		return
	}
	for n >= p.next-1+egressRing {
		p.next += rules.EgressBuckets
		p.skipBefore = max(p.skipBefore, p.next)
	}
	slot := p.slot(n)
	if slot.n != n {
		*slot = egressBucket{n: n}
	}
	switch {
	case proxy && received:
		slot.proxyIn += v
	case proxy:
		slot.proxy += v
	default:
		slot.kube += v
	}
}

func (p *egressPod) slot(n int64) *egressBucket {
	i := n % egressRing
	if i < 0 {
		i += egressRing
	}
	return &p.buckets[i]
}

// closeWindows judges every window both sources reported past (the proxy may be idle: the
// kubelet running egressProxyLag buckets further ahead closes it too).
func (p *egressPod) closeWindows(ref rules.PodRef, judge rules.EgressJudge, ctx *rules.TrafficContext) {
	for {
		ws, we := p.next, p.next+rules.EgressBuckets
		after := (we + 1) * p.bucket // end of the bucket that follows the window
		if p.kubeWM < after {
			return
		}
		proxyReported := p.proxyWM >= after
		if !proxyReported && p.kubeWM < after+egressProxyLag*p.bucket {
			return
		}
		if ws >= p.skipBefore {
			w := rules.EgressWindow{
				Start: time.Unix(0, ws*p.bucket).UTC(), End: time.Unix(0, we*p.bucket).UTC(),
				ProxyReported: proxyReported, Since: p.since, Usual: p.usual,
			}
			for n := ws - 1; n <= we; n++ {
				slot := p.slot(n)
				if slot.n != n {
					continue
				}
				w.ProxyAround += slot.proxy
				w.ProxyReceivedAround += slot.proxyIn
				if n >= ws && n < we {
					w.Transmitted += slot.kube
					w.Proxy += slot.proxy
					w.ProxyReceived += slot.proxyIn
				}
			}
			if judge.JudgeEgress(ref, &w, ctx) {
				p.learn(&w)
			}
		}
		p.next = we
	}
}

// learn adds a window to the pod's moving averages.
func (p *egressPod) learn(w *rules.EgressWindow) {
	u := &p.usual
	unaccounted := max(w.Transmitted-w.Proxy, 0)
	if u.Windows == 0 {
		u.Transmitted, u.Proxy, u.Unaccounted = w.Transmitted, w.Proxy, unaccounted
	} else {
		const alpha = 2.0 / (egressAverageWindows + 1)
		u.Transmitted += alpha * (w.Transmitted - u.Transmitted)
		u.Proxy += alpha * (w.Proxy - u.Proxy)
		u.Unaccounted += alpha * (unaccounted - u.Unaccounted)
	}
	u.Windows++
}

// expire forgets pods not seen for the TTL (collector clock).
func (l *egressLedger) expire(now time.Time) {
	l.last = nil
	for k, p := range l.pods {
		if now.Sub(p.lastSeen) > l.ttl {
			delete(l.pods, k)
		}
	}
}

// floorDiv is a/b rounded towards minus infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
