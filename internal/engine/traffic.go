package engine

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/mesh"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

// Traffic findings have no object whose deletion withdraws them: each is its own tracker
// source ("traffic/<fingerprint>"), supported while evidence keeps arriving and withdrawn
// (resolved) once none arrived for ResolveAfter on the collector's clock. What the rules
// remember between observations (clients per destination, denial baselines, plaintext
// peers) is kept here, bounded and expiring, and read through rules.TrafficHistory.

// Defaults for TrafficConfig and Config.ResolveAfter.
const (
	DefaultResolveAfter             = 15 * time.Minute
	DefaultMaxDestinations          = 20000
	DefaultMaxClientsPerDestination = 1000
	DefaultMaxPlaintextPeers        = 10000
	DefaultMaxHeldFindings          = 1000
	DefaultBaselineTTL              = 48 * time.Hour
	// sweepInterval paces the expiry of baselines and metric series; traffic sources are
	// checked on every Flush.
	sweepInterval = time.Minute
)

// Store names in processor_insights_inventory_refused{store} for the traffic state.
const (
	storeTrafficFindings     = "traffic_findings"
	storeTrafficHeld         = "traffic_held"
	storeTrafficDestinations = "traffic_baselines"
	storeTrafficEdges        = "traffic_edges"
	storeTrafficPeers        = "traffic_peers"
	storeMetricSeries        = "metric_series"
)

// Bounds of what one destination keeps for authz_denial_spike, and of merged evidence lists.
const (
	maxDenialSources    = 16
	maxDenialPolicies   = 8
	topDenialSources    = 5
	maxEvidenceList     = 20
	maxPodsPerFinding   = 50
	denialAverageWindow = 30 // windows the moving average of denials spans, roughly
	// statsIgnoredAfterLogDenials: windows after an access-logged denial during which the
	// destination's rbac.denied stats are not counted (they count the same denials).
	statsIgnoredAfterLogDenials = 10
)

// PodIPIndex maps IPs to the pods that held them. inventory.IPIndex implements it; the
// engine builds one when TrafficConfig.PodIPs is nil and feeds it with IndexObject.
type PodIPIndex interface {
	Lookup(ip string, at time.Time) (inventory.PodRef, bool)
	Apply(ev inventory.ObjectEvent)
}

// TrafficConfig configures traffic inspection. Zero values take the defaults above.
type TrafficConfig struct {
	// Rules are the enabled traffic rules; none disables traffic inspection.
	Rules []rules.TrafficRule
	// Node is this collector's node name: findings about pods elsewhere carry it.
	Node string
	// PodIPs is the IP index the rules look pods up in.
	PodIPs PodIPIndex
	// MaxDestinations bounds the destinations with baselines; MaxClientsPerDestination the
	// clients each remembers; MaxPlaintextPeers the (destination, client) plaintext notes.
	MaxDestinations          int
	MaxClientsPerDestination int
	MaxPlaintextPeers        int
	// BaselineTTL forgets a destination or note not seen for that long (collector clock);
	// a destination forgotten learns again.
	BaselineTTL time.Duration
	// MaxHeldFindings bounds the findings held back for confirmation (sidecar_bypass).
	MaxHeldFindings int
	// MaxEgressPods bounds the pods unaccounted_egress keeps windows for.
	MaxEgressPods int
	// MaxMetricSeries and MetricSeriesTTL bound the metrics delta tracker.
	MaxMetricSeries int
	MetricSeriesTTL time.Duration
}

// trafficState is the engine's traffic side; guarded by Engine.mu except for the reader
// and the IP index, which are safe for concurrent use.
type trafficState struct {
	cfg          TrafficConfig
	resolveAfter time.Duration
	maxSources   int

	metricRules []rules.MetricRule
	logRules    []rules.AccessLogRule
	spanRules   []rules.SpanRule
	podNetRules []rules.PodNetworkRule
	egress      *egressLedger // unaccounted_egress's per-pod windows; nil when it is off
	reader      *mesh.MetricsReader
	ips         PodIPIndex

	sources   map[string]*trafficSource // active traffic findings by fingerprint
	held      map[string]*heldFinding   // findings waiting for confirmation by fingerprint
	history   *trafficHistory
	lastSweep time.Time
	evicted   uint64 // delta tracker evictions already counted
}

type trafficSource struct {
	lastSeen time.Time
	finding  findings.Finding
}

type heldFinding struct {
	since   time.Time
	holdFor time.Duration
	recheck *rules.PeerCheck
	finding findings.Finding
}

func newTrafficState(cfg Config, set Settings) *trafficState {
	tc := cfg.Traffic
	if tc.MaxDestinations <= 0 {
		tc.MaxDestinations = DefaultMaxDestinations
	}
	if tc.MaxClientsPerDestination <= 0 {
		tc.MaxClientsPerDestination = DefaultMaxClientsPerDestination
	}
	if tc.MaxPlaintextPeers <= 0 {
		tc.MaxPlaintextPeers = DefaultMaxPlaintextPeers
	}
	if tc.BaselineTTL <= 0 {
		tc.BaselineTTL = DefaultBaselineTTL
	}
	if tc.MaxHeldFindings <= 0 {
		tc.MaxHeldFindings = DefaultMaxHeldFindings
	}
	if tc.PodIPs == nil {
		tc.PodIPs = inventory.NewIPIndex(inventory.IPIndexOptions{MaxPods: cfg.MaxPods, Now: set.Now})
	}
	t := &trafficState{
		cfg:          tc,
		resolveAfter: cfg.ResolveAfter,
		maxSources:   cfg.MaxActive,
		reader:       &mesh.MetricsReader{Deltas: mesh.NewDeltaTracker(tc.MaxMetricSeries, tc.MetricSeriesTTL), Now: set.Now},
		ips:          tc.PodIPs,
		sources:      make(map[string]*trafficSource),
		held:         make(map[string]*heldFinding),
		history: &trafficHistory{
			dests:      make(map[rules.DestinationKey]*destination),
			peers:      make(map[peerKey]time.Time),
			maxDests:   tc.MaxDestinations,
			maxClients: tc.MaxClientsPerDestination,
			maxPeers:   tc.MaxPlaintextPeers,
			ttl:        tc.BaselineTTL,
			refused:    make(map[string]int),
		},
	}
	if t.resolveAfter <= 0 {
		t.resolveAfter = DefaultResolveAfter
	}
	if t.maxSources <= 0 {
		t.maxSources = findings.DefaultMaxActive
	}
	for _, r := range tc.Rules {
		if m, ok := r.(rules.MetricRule); ok {
			t.metricRules = append(t.metricRules, m)
		}
		if l, ok := r.(rules.AccessLogRule); ok {
			t.logRules = append(t.logRules, l)
		}
		if s, ok := r.(rules.SpanRule); ok {
			t.spanRules = append(t.spanRules, s)
		}
	}
	t.reader.Wants = metricInterest(t.metricRules)
	t.initEgress(tc.Rules)
	return t
}

// ObservesMetrics, ObservesAccessLogs and ObservesSpans report whether some enabled rule
// reads that kind of observation: the adapter skips reading what nobody inspects.
func (e *Engine) ObservesMetrics() bool    { return len(e.traffic.metricRules) > 0 }
func (e *Engine) ObservesAccessLogs() bool { return len(e.traffic.logRules) > 0 }
func (e *Engine) ObservesSpans() bool      { return len(e.traffic.spanRules) > 0 }

// MetricsReader is the engine's reader of Istio metrics, with its bounded delta tracker:
// one per engine, so every metrics pipeline's points share their series' baselines.
func (e *Engine) MetricsReader() *mesh.MetricsReader { return e.traffic.reader }

// metricInterest is the union of the metric rules' interests, so points no rule wants are
// neither hashed nor tracked; nil (every point) when some rule does not say.
func metricInterest(metricRules []rules.MetricRule) func(*mesh.TrafficObservation) bool {
	interests := make([]rules.MetricInterest, 0, len(metricRules))
	for _, r := range metricRules {
		mi, ok := r.(rules.MetricInterest)
		if !ok {
			return nil
		}
		interests = append(interests, mi)
	}
	return func(o *mesh.TrafficObservation) bool {
		for _, mi := range interests {
			if mi.WantsMetric(o) {
				return true
			}
		}
		return false
	}
}

// IndexObject records a pod's IPs for traffic attribution (the adapter calls it for every
// object it applies). It does not take the engine's lock.
func (e *Engine) IndexObject(ev inventory.ObjectEvent) {
	if ev.Pod != nil && ev.Template == nil {
		e.traffic.ips.Apply(ev)
	}
}

// ObserveTraffic runs read, which hands one batch's observations to the TrafficBatch it is
// given (e.g. with internal/mesh's readers). The engine's lock is taken once, at the
// batch's first observation, and released after the batch's findings are reported: one
// lock per batch, not per item. read must not call back into the engine.
func (e *Engine) ObserveTraffic(ctx context.Context, read func(*TrafficBatch)) {
	b := &TrafficBatch{e: e}
	read(b)
	if !b.locked {
		return
	}
	dropped := b.finishLocked()
	refused := e.traffic.history.takeRefused(b.refused)
	e.mu.Unlock()

	for store, n := range refused {
		e.set.Telemetry.Refused(ctx, store, n)
	}
	if dropped > 0 {
		e.set.Telemetry.Dropped(ctx, DropActiveFull, dropped)
	}
}

// TrafficBatch takes one batch's observations. Observations are the readers' reused
// structs: the batch copies what it keeps (the rules clone their strings).
type TrafficBatch struct {
	e      *Engine
	locked bool
	now    time.Time
	tctx   rules.TrafficContext
	pods   enginePods

	found   []rules.TrafficFinding
	index   map[findingKey]int
	refused map[string]int
}

// findingKey is what makes a finding distinct within a batch (its fingerprint's parts).
type findingKey struct {
	rule                                *findings.Rule
	namespace, kind, name, container    string
	evidenceKey, observingNode, cluster string
}

func (b *TrafficBatch) lock() {
	if b.locked {
		return
	}
	b.e.mu.Lock()
	b.locked = true
	b.now = b.e.set.Now()
	b.pods = enginePods{e: b.e}
	b.e.traffic.history.now = b.now
	b.tctx = rules.TrafficContext{
		Cluster: b.e.cfg.Cluster,
		Node:    b.e.traffic.cfg.Node,
		Pods:    &b.pods,
		History: b.e.traffic.history,
		Egress:  b.e.traffic.egressLedger(),
		Emit:    b.emit,
	}
}

// validTime replaces a missing telemetry timestamp with the collector's clock: a learning
// window must not start in 1970.
func (b *TrafficBatch) validTime(t time.Time) time.Time {
	if t.UnixNano() <= 0 {
		return b.now
	}
	return t
}

// Metric inspects one Istio metric point.
func (b *TrafficBatch) Metric(o *mesh.TrafficObservation) {
	b.lock()
	o.Timestamp = b.validTime(o.Timestamp)
	for _, r := range b.e.traffic.metricRules {
		r.CheckMetric(o, &b.tctx)
	}
}

// AccessLog inspects one Envoy access log record.
func (b *TrafficBatch) AccessLog(o *mesh.AccessLogObservation) {
	b.lock()
	o.Timestamp = b.validTime(o.Timestamp)
	for _, r := range b.e.traffic.logRules {
		r.CheckAccessLog(o, &b.tctx)
	}
}

// Span inspects one Envoy span.
func (b *TrafficBatch) Span(o *mesh.SpanObservation) {
	b.lock()
	o.Start = b.validTime(o.Start)
	for _, r := range b.e.traffic.spanRules {
		r.CheckSpan(o, &b.tctx)
	}
}

// emit aggregates the batch's findings: one per distinct finding, counts summed, evidence
// lists merged.
func (b *TrafficBatch) emit(tf rules.TrafficFinding) {
	f := &tf.Finding
	k := findingKey{f.Rule, f.Subject.Namespace, f.Subject.Kind, f.Subject.Name, f.Container, f.EvidenceKey, f.ObservingNode, f.Cluster}
	if i, ok := b.index[k]; ok {
		prev := &b.found[i]
		tf.Finding = mergeFindings(prev.Finding, tf.Finding)
		*prev = tf
		return
	}
	if b.index == nil {
		b.index = make(map[findingKey]int)
	}
	b.index[k] = len(b.found)
	tf.Count = max(tf.Count, 1)
	b.found = append(b.found, tf)
}

// finishLocked reports the batch's findings to the tracker and returns how many were
// dropped because a bound was reached.
func (b *TrafficBatch) finishLocked() (dropped int) {
	t := b.e.traffic
	for i := range b.found {
		tf := &b.found[i]
		fp := tf.Fingerprint()
		if src, ok := t.sources[fp]; ok {
			// The tracker adds each report's Count to the occurrences: report this batch's.
			src.finding = mergeFindings(src.finding, tf.Finding)
			src.finding.Count = tf.Count
			src.lastSeen = b.now
			dropped += b.e.tracker.Report(trafficSourceKey(fp), []findings.Finding{src.finding}, b.now)
			continue
		}
		if tf.HoldFor > 0 {
			if h, ok := t.held[fp]; ok {
				h.finding = mergeFindings(h.finding, tf.Finding)
				h.recheck = tf.Recheck
				continue
			}
			if len(t.held) >= t.cfg.MaxHeldFindings {
				b.refuse(storeTrafficHeld)
				continue
			}
			t.held[fp] = &heldFinding{since: b.now, holdFor: tf.HoldFor, recheck: tf.Recheck, finding: tf.Finding}
			continue
		}
		dropped += t.open(b.e, fp, tf.Finding, b.now)
	}
	return dropped
}

// open starts a traffic source for a finding and reports it.
func (t *trafficState) open(e *Engine, fp string, f findings.Finding, now time.Time) int {
	if len(t.sources) >= t.maxSources {
		return 1
	}
	if f.PodName != "" {
		f.Pods = appendBounded(f.Pods, f.PodName, maxPodsPerFinding)
	}
	t.sources[fp] = &trafficSource{lastSeen: now, finding: f}
	return e.tracker.Report(trafficSourceKey(fp), []findings.Finding{f}, now)
}

func (b *TrafficBatch) refuse(store string) {
	if b.refused == nil {
		b.refused = make(map[string]int)
	}
	b.refused[store]++
}

func trafficSourceKey(fingerprint string) string { return "traffic/" + fingerprint }

// expireTrafficLocked is called by Flush under the engine's lock: held findings whose time
// has come are confirmed (or dropped when a plaintext peer now explains them); traffic
// findings without evidence for ResolveAfter are withdrawn, which resolves them; baselines
// and metric series past their TTL are forgotten once a minute.
func (e *Engine) expireTrafficLocked(ctx context.Context, now time.Time) {
	t := e.traffic
	dropped := 0
	for fp, h := range t.held {
		if now.Sub(h.since) < h.holdFor {
			continue
		}
		delete(t.held, fp)
		if h.recheck != nil && t.history.PlaintextPeer(h.recheck) {
			continue
		}
		dropped += t.open(e, fp, h.finding, now)
	}
	for fp, src := range t.sources {
		if now.Sub(src.lastSeen) >= t.resolveAfter {
			e.tracker.Report(trafficSourceKey(fp), nil, now)
			delete(t.sources, fp)
		}
	}
	if dropped > 0 {
		e.set.Telemetry.Dropped(ctx, DropActiveFull, dropped)
	}
	if now.Sub(t.lastSweep) < sweepInterval {
		return
	}
	t.lastSweep = now
	t.history.expire(now)
	if t.egress != nil {
		t.egress.expire(now)
	}
	t.reader.Deltas.ExpireStale(now)
	if ev := t.reader.Deltas.Evictions(); ev > t.evicted {
		e.set.Telemetry.Refused(ctx, storeMetricSeries, int(ev-t.evicted))
		t.evicted = ev
	}
}

// TrafficSources is the number of active traffic findings, for tests and telemetry.
func (e *Engine) TrafficSources() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.traffic.sources)
}

// mergeFindings is next with prev's accumulating evidence lists (rules.EvidenceAccumulates)
// and pods merged in and the counts of both: next's other evidence and summary are the latest.
func mergeFindings(prev, next findings.Finding) findings.Finding {
	out := next
	out.Count = max(prev.Count, 1) + max(next.Count, 1)
	if len(prev.Evidence) > 0 {
		out.Evidence = make([]findings.EvidenceValue, 0, len(next.Evidence))
		for _, e := range next.Evidence {
			if e.IsList() && rules.EvidenceAccumulates(e.Name) {
				for _, p := range prev.Evidence {
					if p.IsList() && p.Name == e.Name {
						e = findings.ListEvidence(e.Name, mergeLists(p.List, e.List))
						break
					}
				}
			}
			out.Evidence = append(out.Evidence, e)
		}
	}
	out.Pods = slices.Clone(prev.Pods)
	if prev.PodName != "" {
		out.Pods = appendBounded(out.Pods, prev.PodName, maxPodsPerFinding)
	}
	if next.PodName != "" {
		out.Pods = appendBounded(out.Pods, next.PodName, maxPodsPerFinding)
	}
	return out
}

// mergeLists is the sorted union of two lists, at most maxEvidenceList long (the newest
// entries are kept when it overflows).
func mergeLists(prev, next []string) []string {
	out := make([]string, 0, len(prev)+len(next))
	out = append(out, next...)
	for _, s := range prev {
		if len(out) >= maxEvidenceList {
			break
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func appendBounded(list []string, s string, limit int) []string {
	if slices.Contains(list, s) || len(list) >= limit {
		return list
	}
	return append(list, s)
}

// enginePods implements rules.PodLookup over the IP index and the inventory store, with a
// per-batch cache (a batch's records mostly name the same few pods). Used under Engine.mu.
type enginePods struct {
	e      *Engine
	byIP   map[string]cachedPod
	byName struct {
		namespace, name string
		pod             cachedPod
		set             bool
	}
}

type cachedPod struct {
	ref rules.PodRef
	ok  bool
}

func (p *enginePods) PodByIP(ip string, at time.Time) (rules.PodRef, bool) {
	if c, ok := p.byIP[ip]; ok {
		return c.ref, c.ok
	}
	var c cachedPod
	if ref, ok := p.e.traffic.ips.Lookup(ip, at); ok {
		c = cachedPod{ref: rules.PodRef{
			Namespace: ref.Namespace, Name: ref.Name, UID: ref.UID, NodeName: ref.NodeName,
			Controller: ref.Controller, Meshed: ref.Meshed, HostNetwork: ref.HostNetwork,
			Gateway: ref.Gateway,
		}, ok: true}
		// The inventory knows this node's pods fully: controller, gateway or not.
		if pod, ok := p.e.store.Get(ref.Namespace + "/" + ref.Name); ok && (ref.UID == "" || pod.UID == ref.UID) {
			c.ref = rules.PodRefOf(pod)
		}
	}
	if p.byIP == nil {
		p.byIP = make(map[string]cachedPod)
	}
	p.byIP[ip] = c
	return c.ref, c.ok
}

func (p *enginePods) PodByName(namespace, name string) (rules.PodRef, bool) {
	if n := &p.byName; n.set && n.namespace == namespace && n.name == name {
		return n.pod.ref, n.pod.ok
	}
	var c cachedPod
	if pod, ok := p.e.store.Get(namespace + "/" + name); ok && pod.Template == nil {
		c = cachedPod{ref: rules.PodRefOf(pod), ok: true}
	}
	p.byName.namespace, p.byName.name, p.byName.pod, p.byName.set = namespace, name, c, true
	return c.ref, c.ok
}

// trafficHistory implements rules.TrafficHistory with bounded, expiring maps. Used under
// Engine.mu; now is the collector's clock at the current batch.
type trafficHistory struct {
	now        time.Time
	dests      map[rules.DestinationKey]*destination
	peers      map[peerKey]time.Time
	maxDests   int
	maxClients int
	maxPeers   int
	ttl        time.Duration
	refused    map[string]int
	// last is the destination looked up last: a batch mostly repeats one.
	lastKey rules.DestinationKey
	last    *destination
}

type peerKey struct {
	destNamespace, dest, clientNamespace, client string
}

// destination is one destination's baselines.
type destination struct {
	key      rules.DestinationKey // a copy: the caller's key may alias telemetry
	uid      string
	since    time.Time // telemetry time of its first sighting: its learning window starts there
	lastSeen time.Time // collector clock, for the TTL
	clients  map[rules.WorkloadKey]struct{}

	windowStart time.Time
	windowCount int64
	// logDenialsAt is the latest denial an access log reported (telemetry time).
	logDenialsAt time.Time
	average      float64 // moving average of denials per window, before the current one
	sources      []denialSource
	policies     []string
}

type denialSource struct {
	name  string
	count int64
}

func (h *trafficHistory) refuse(store string) { h.refused[store]++ }

// takeRefused returns the refusals counted since the last call, with the batch's own.
func (h *trafficHistory) takeRefused(batch map[string]int) map[string]int {
	if len(h.refused) == 0 {
		return batch
	}
	out := make(map[string]int, len(h.refused)+len(batch))
	for k, v := range batch {
		out[k] += v
	}
	for k, v := range h.refused {
		out[k] += v
		delete(h.refused, k)
	}
	return out
}

// destination returns the baselines of key, creating them; nil when the store is full. A
// new UID under the same name (a StatefulSet's replacement pod) starts over.
func (h *trafficHistory) destination(key rules.DestinationKey, uid string, at time.Time) *destination {
	d, ok := h.last, h.last != nil && key == h.lastKey
	if !ok {
		d, ok = h.dests[key]
	}
	if ok {
		h.last, h.lastKey = d, d.key
		if uid != "" && d.uid != "" && uid != d.uid {
			*d = destination{key: d.key, uid: strings.Clone(uid), since: at}
		}
		if at.Before(d.since) {
			d.since = at
		}
		d.lastSeen = h.now
		return d
	}
	if len(h.dests) >= h.maxDests {
		h.refuse(storeTrafficDestinations)
		return nil
	}
	key = rules.DestinationKey{Namespace: strings.Clone(key.Namespace), Pod: strings.Clone(key.Pod), Workload: strings.Clone(key.Workload)}
	d = &destination{key: key, uid: strings.Clone(uid), since: at, lastSeen: h.now}
	h.dests[key] = d
	h.last, h.lastKey = d, key
	return d
}

func (h *trafficHistory) SeeClient(key rules.DestinationKey, uid string, client rules.WorkloadKey, at time.Time) rules.EdgeSighting {
	d := h.destination(key, uid, at)
	if d == nil {
		return rules.EdgeSighting{Known: true, Since: at}
	}
	if _, ok := d.clients[client]; ok {
		return rules.EdgeSighting{Known: true, Since: d.since}
	}
	if len(d.clients) >= h.maxClients {
		h.refuse(storeTrafficEdges)
		return rules.EdgeSighting{Known: true, Since: d.since}
	}
	if d.clients == nil {
		d.clients = make(map[rules.WorkloadKey]struct{})
	}
	d.clients[rules.WorkloadKey{Namespace: strings.Clone(client.Namespace), Name: strings.Clone(client.Name)}] = struct{}{}
	return rules.EdgeSighting{Since: d.since}
}

func (h *trafficHistory) CountDenials(key rules.DestinationKey, uid string, at time.Time, window time.Duration,
	n int64, signal rules.DenialSignal, source, policy string) rules.DenialWindow {
	d := h.destination(key, uid, at)
	if d == nil {
		return rules.DenialWindow{Since: at}
	}
	switch {
	case signal == rules.DenialsFromAccessLogs:
		d.logDenialsAt = at
	case !d.logDenialsAt.IsZero() && at.Sub(d.logDenialsAt) < statsIgnoredAfterLogDenials*window:
		// The access logs count these denials already, with their sources.
		return rules.DenialWindow{Since: at}
	}
	start := at.Truncate(window)
	switch {
	case d.windowStart.IsZero():
		d.windowStart = start
	case start.After(d.windowStart):
		// Close the current window and the empty ones since into the moving average.
		const alpha = 2.0 / (denialAverageWindow + 1)
		d.average = d.average*(1-alpha) + alpha*float64(d.windowCount)
		if empty := int64(start.Sub(d.windowStart)/window) - 1; empty > 0 {
			d.average *= math.Pow(1-alpha, float64(min(empty, 10*denialAverageWindow)))
		}
		d.windowStart, d.windowCount, d.sources, d.policies = start, 0, d.sources[:0], d.policies[:0]
	}
	d.windowCount += n
	found := false
	for i := range d.sources {
		if d.sources[i].name == source {
			d.sources[i].count += n
			found = true
			break
		}
	}
	if !found && len(d.sources) < maxDenialSources {
		d.sources = append(d.sources, denialSource{name: strings.Clone(source), count: n})
	}
	if policy != "" && len(d.policies) < maxDenialPolicies && !slices.Contains(d.policies, policy) {
		d.policies = append(d.policies, strings.Clone(policy))
	}
	return rules.DenialWindow{
		Count:      d.windowCount,
		Baseline:   d.average,
		Since:      d.since,
		TopSources: topSources(d.sources),
		Policies:   slices.Clone(d.policies),
	}
}

func topSources(sources []denialSource) []string {
	sorted := slices.Clone(sources)
	slices.SortStableFunc(sorted, func(a, b denialSource) int {
		if a.count != b.count {
			if a.count > b.count {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	out := make([]string, 0, min(len(sorted), topDenialSources))
	for _, s := range sorted[:min(len(sorted), topDenialSources)] {
		out = append(out, s.name+" ("+strconv.FormatInt(s.count, 10)+")")
	}
	return out
}

func (h *trafficHistory) NotePlaintextPeer(dest, client rules.WorkloadKey, _ time.Time) {
	k := peerKey{dest.Namespace, dest.Name, client.Namespace, client.Name}
	if _, ok := h.peers[k]; ok {
		h.peers[k] = h.now
		return
	}
	if len(h.peers) >= h.maxPeers {
		h.refuse(storeTrafficPeers)
		return
	}
	k = peerKey{strings.Clone(k.destNamespace), strings.Clone(k.dest), strings.Clone(k.clientNamespace), strings.Clone(k.client)}
	h.peers[k] = h.now
}

func (h *trafficHistory) PlaintextPeer(c *rules.PeerCheck) bool {
	if len(h.peers) == 0 {
		return false
	}
	for _, d := range c.DestinationNames {
		for _, cl := range c.ClientNames {
			if _, ok := h.peers[peerKey{c.DestinationNamespace, d, c.ClientNamespace, cl}]; ok {
				return true
			}
		}
	}
	return false
}

// expire forgets destinations and plaintext notes not seen for the TTL.
func (h *trafficHistory) expire(now time.Time) {
	h.last, h.lastKey = nil, rules.DestinationKey{}
	for k, d := range h.dests {
		if now.Sub(d.lastSeen) > h.ttl {
			delete(h.dests, k)
		}
	}
	for k, seen := range h.peers {
		if now.Sub(seen) > h.ttl {
			delete(h.peers, k)
		}
	}
}
