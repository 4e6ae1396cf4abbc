package inventory

import (
	"net/netip"
	"strconv"
	"sync"
	"time"
	"unique"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// PodRef is what the cluster-wide IP index knows of a pod: enough to say whose traffic an IP
// carried, nothing that could hold a secret.
type PodRef struct {
	Namespace string
	Name      string
	UID       string
	NodeName  string
	// Controller is the pod's top-level controller, so findings about a pod on another
	// node name what has to change (and keep their fingerprint across rollouts).
	Controller Controller
	// Meshed: a sidecar proxy is present (FromPod's definition).
	Meshed bool
	// HostNetwork: the IP is its node's, shared with every host-network pod there.
	HostNetwork bool
	// Gateway: an Istio gateway (Pod.IsGateway), known for pods of every node so traffic
	// from a gateway elsewhere is never taken for a workload's.
	Gateway bool
}

// IPIndexOptions bounds an IPIndex. Zero values take the defaults.
type IPIndexOptions struct {
	// MaxPods caps the pods indexed at once (default 200000, above Kubernetes' supported
	// 150000 per cluster); pods beyond it are rejected and counted.
	MaxPods int
	// MaxEndedLifetimes caps how many ended IP lifetimes are kept for late lookups
	// (default 50000); the oldest go first, counted as evictions.
	MaxEndedLifetimes int
	// EndedTTL is how long an ended lifetime still answers lookups for times inside it
	// (default 5m): telemetry arrives late, pods and IPs churn fast. Expiry runs on each
	// write; a lookup never answers for a time after a lifetime ended anyway.
	EndedTTL time.Duration
	// MaxLifetimesPerIP caps one IP's history (default 4).
	MaxLifetimesPerIP int
	// Now is the clock (default time.Now); tests inject their own.
	Now func() time.Time
}

const (
	defaultIPIndexMaxPods        = 200000
	defaultIPIndexMaxEnded       = 50000
	defaultIPIndexEndedTTL       = 5 * time.Minute
	defaultIPIndexLifetimesPerIP = 4
	ipIndexMaxLifetimesPerIPCeil = 64
	ipIndexMaxIPsPerPod          = 4 // dual-stack pods have two; more is not a real pod
)

// IPIndexStats are an IPIndex's sizes and counters, for self-telemetry.
type IPIndexStats struct {
	// Pods and IPs are the current sizes; Lifetimes counts every kept lifetime, ended or not.
	Pods, IPs, Lifetimes int
	// Rejected: pods not indexed because MaxPods was reached.
	Rejected uint64
	// Evicted: lifetimes dropped before their TTL (MaxEndedLifetimes, MaxLifetimesPerIP).
	Evicted uint64
	// Expired: ended lifetimes dropped after EndedTTL, as designed.
	Expired uint64
}

// IPIndex maps pod IPs, cluster-wide, to the pods that held them and when, so traffic can
// be attributed to the pod that had an IP at the time it was seen, even after the IP was
// reused. It keeps a few dozen bytes per pod, never the pod object. Safe for concurrent
// use; fed by NewInformerSource (a reflector on all pods) or by Apply.
type IPIndex struct {
	opts IPIndexOptions

	mu    sync.RWMutex
	pods  map[indexKey]*indexedPod
	byIP  map[netip.Addr][]ipLifetime
	ended endedQueue
	// lifetimes is the number of ipLifetime values in byIP.
	lifetimes int
	synced    bool

	rejected, evicted, expired uint64
}

// indexKey names a pod: the namespace is interned, the name shared with indexedPod.
type indexKey struct {
	namespace unique.Handle[string]
	name      string
}

// indexedPod is a pod stripped for the index. It is also the object the index's reflector
// transform returns, so a watch-list stream holds only these, never whole pods.
type indexedPod struct {
	namespace, node unique.Handle[string]
	name, uid       string
	// controllerKind is interned: a handful of kinds across every pod.
	controllerKind unique.Handle[string]
	controllerName string
	// resourceVersion is 0 when it is not a number: such a version is taken as newer.
	resourceVersion uint64
	// ips are the IPs the pod holds now: none before it has one and after it ended.
	ips []netip.Addr
	// start is when the pod's lifetime began, in Unix nanoseconds.
	start                        int64
	meshed, hostNetwork, gateway bool
	// terminal: the pod has Succeeded or Failed; its IPs are free for reuse.
	terminal bool
}

// ipLifetime is one pod's hold on one IP; end is 0 while it lasts.
type ipLifetime struct {
	pod        *indexedPod
	start, end int64
}

// NewIPIndex returns an empty index bounded by opts.
func NewIPIndex(opts IPIndexOptions) *IPIndex {
	if opts.MaxPods <= 0 {
		opts.MaxPods = defaultIPIndexMaxPods
	}
	if opts.MaxEndedLifetimes <= 0 {
		opts.MaxEndedLifetimes = defaultIPIndexMaxEnded
	}
	if opts.EndedTTL <= 0 {
		opts.EndedTTL = defaultIPIndexEndedTTL
	}
	if opts.MaxLifetimesPerIP <= 0 {
		opts.MaxLifetimesPerIP = defaultIPIndexLifetimesPerIP
	}
	opts.MaxLifetimesPerIP = min(opts.MaxLifetimesPerIP, ipIndexMaxLifetimesPerIPCeil)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &IPIndex{
		opts: opts,
		pods: make(map[indexKey]*indexedPod),
		byIP: make(map[netip.Addr][]ipLifetime),
	}
}

// Lookup returns the pod that held ip at time at; a zero at asks for the current holder.
// Of several holders (lifetimes overlap by the watch's lag, and host-network pods share
// their node's IP) a pod-network pod beats a host-network one, then the latest started.
// A returned HostNetwork ref means the IP is a node's: do not attribute traffic to it.
func (x *IPIndex) Lookup(ip string, at time.Time) (PodRef, bool) {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return PodRef{}, false
	}
	addr = addr.Unmap().WithZone("")
	t := at.UnixNano()

	x.mu.RLock()
	defer x.mu.RUnlock()
	var best *ipLifetime
	hist := x.byIP[addr]
	for i := range hist {
		l := &hist[i]
		if at.IsZero() {
			if l.end != 0 {
				continue
			}
		} else if t < l.start || (l.end != 0 && t > l.end) {
			continue
		}
		if best == nil || better(l, best) {
			best = l
		}
	}
	if best == nil {
		return PodRef{}, false
	}
	p := best.pod
	return PodRef{
		Namespace:   p.namespace.Value(),
		Name:        p.name,
		UID:         p.uid,
		NodeName:    p.node.Value(),
		Controller:  Controller{Kind: p.controllerKind.Value(), Name: p.controllerName},
		Meshed:      p.meshed,
		HostNetwork: p.hostNetwork,
		Gateway:     p.gateway,
	}, true
}

func better(a, b *ipLifetime) bool {
	if a.pod.hostNetwork != b.pod.hostNetwork {
		return !a.pod.hostNetwork
	}
	return a.start > b.start
}

// Apply records one pod event the way Store.Apply does: snapshots, ADDED and MODIFIED
// upsert, DELETED ends the pod's lifetimes. Namespaces and pod templates are ignored.
func (x *IPIndex) Apply(ev ObjectEvent) {
	if ev.Pod == nil || ev.Template != nil {
		return
	}
	in := x.toIndexed(ev.Pod)
	x.mu.Lock()
	defer x.mu.Unlock()
	now := x.opts.Now().UnixNano()
	if ev.Type == EventDeleted {
		x.remove(in, now)
	} else {
		x.upsert(in, now)
	}
	x.expire(now)
}

// Stats returns the index's sizes and counters.
func (x *IPIndex) Stats() IPIndexStats {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return IPIndexStats{
		Pods: len(x.pods), IPs: len(x.byIP), Lifetimes: x.lifetimes,
		Rejected: x.rejected, Evicted: x.evicted, Expired: x.expired,
	}
}

// HasSynced reports whether the index has received its reflector's first full list.
func (x *IPIndex) HasSynced() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.synced
}

// toIndexed strips a pod. Meshed and Gateway come from FromPod so the index and the store agree.
func (x *IPIndex) toIndexed(p *corev1.Pod) *indexedPod {
	model := FromPod(p, DefaultProxyIdentity())
	out := &indexedPod{
		namespace:   unique.Make(p.Namespace),
		node:        unique.Make(p.Spec.NodeName),
		name:        p.Name,
		uid:         string(p.UID),
		hostNetwork: p.Spec.HostNetwork,
		meshed:      model.Meshed,
		gateway:     model.IsGateway(),
		terminal:    p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed,
	}
	ctrl := controllerOf(p)
	out.controllerKind, out.controllerName = unique.Make(ctrl.Kind), ctrl.Name
	if rv, err := strconv.ParseUint(p.ResourceVersion, 10, 64); err == nil {
		out.resourceVersion = rv
	}
	switch {
	case p.Status.StartTime != nil:
		out.start = p.Status.StartTime.UnixNano()
	case !p.CreationTimestamp.IsZero():
		out.start = p.CreationTimestamp.UnixNano()
	default:
		out.start = x.opts.Now().UnixNano()
	}
	for _, s := range podIPs(&p.Status) {
		addr, err := netip.ParseAddr(s)
		if err != nil || len(out.ips) == ipIndexMaxIPsPerPod {
			continue
		}
		addr = addr.Unmap().WithZone("")
		if !containsAddr(out.ips, addr) {
			out.ips = append(out.ips, addr)
		}
	}
	return out
}

// GetObjectMeta lets client-go key an indexedPod (the reflector's watch-list store does).
func (p *indexedPod) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{Namespace: p.namespace.Value(), Name: p.name, UID: types.UID(p.uid)}
}

func (p *indexedPod) key() indexKey { return indexKey{namespace: p.namespace, name: p.name} }

// heldIPs are the IPs an incoming version says the pod holds: none once it has ended.
func (p *indexedPod) heldIPs() []netip.Addr {
	if p.terminal {
		return nil
	}
	return p.ips
}

func (x *IPIndex) upsert(in *indexedPod, now int64) {
	key := in.key()
	old := x.pods[key]
	if old != nil && old.uid != in.uid && old.uid != "" && in.uid != "" {
		// Same name, another pod (a StatefulSet's replacement whose deletion we missed).
		x.endAll(old, now)
		delete(x.pods, key)
		old = nil
	}
	held := in.heldIPs()
	if old == nil {
		if len(x.pods) >= x.opts.MaxPods {
			x.rejected++
			return
		}
		in.ips = held
		if len(in.ips) == 0 {
			in.ips = nil
		}
		x.pods[key] = in
		for _, ip := range in.ips {
			x.startLifetime(ip, in, in.start)
		}
		return
	}
	if in.resourceVersion != 0 && old.resourceVersion != 0 && in.resourceVersion < old.resourceVersion {
		return
	}
	// Update in place: lifetimes point at old, so lookups see the new state.
	old.resourceVersion, old.node, old.meshed, old.hostNetwork, old.terminal =
		in.resourceVersion, in.node, in.meshed, in.hostNetwork, in.terminal
	if old.uid == "" {
		old.uid = in.uid
	}
	hadIPs := len(old.ips) > 0
	kept := old.ips[:0:0]
	for _, ip := range old.ips {
		if containsAddr(held, ip) {
			kept = append(kept, ip)
		} else {
			x.endLifetime(ip, old, now)
		}
	}
	for _, ip := range held {
		if containsAddr(kept, ip) {
			continue
		}
		// A pod's first IPs arrive with it; an IP gained later starts when it is seen.
		start := now
		if !hadIPs {
			start = old.start
		}
		x.startLifetime(ip, old, start)
		kept = append(kept, ip)
	}
	if len(kept) == 0 {
		kept = nil
	}
	old.ips = kept
}

func (x *IPIndex) remove(in *indexedPod, now int64) {
	key := in.key()
	old := x.pods[key]
	if old == nil {
		return
	}
	if old.uid != in.uid && old.uid != "" && in.uid != "" {
		// A late deletion of a pod this name no longer belongs to.
		return
	}
	x.endAll(old, now)
	delete(x.pods, key)
}

func (x *IPIndex) endAll(p *indexedPod, now int64) {
	for _, ip := range p.ips {
		x.endLifetime(ip, p, now)
	}
	p.ips = nil
}

func (x *IPIndex) startLifetime(ip netip.Addr, p *indexedPod, start int64) {
	hist := append(x.byIP[ip], ipLifetime{pod: p, start: start})
	x.lifetimes++
	if len(hist) > x.opts.MaxLifetimesPerIP {
		hist = x.dropOne(hist)
		x.evicted++
	}
	x.byIP[ip] = hist
}

// dropOne removes the lifetime of an over-full history that matters least: the ended one
// that ended first, else the earliest started (never the one just added, at the end).
func (x *IPIndex) dropOne(hist []ipLifetime) []ipLifetime {
	victim := -1
	for i := range hist[:len(hist)-1] {
		l := &hist[i]
		switch {
		case victim < 0:
			victim = i
		case (l.end != 0) != (hist[victim].end != 0):
			if l.end != 0 {
				victim = i
			}
		case l.end != 0 && l.end < hist[victim].end,
			l.end == 0 && l.start < hist[victim].start:
			victim = i
		}
	}
	x.lifetimes--
	return append(hist[:victim], hist[victim+1:]...)
}

// endLifetime closes p's open lifetime on ip and queues it for expiry.
func (x *IPIndex) endLifetime(ip netip.Addr, p *indexedPod, now int64) {
	hist := x.byIP[ip]
	for i := range hist {
		l := &hist[i]
		if l.pod != p || l.end != 0 {
			continue
		}
		l.end = max(now, l.start)
		x.ended.push(endedLifetime{ip: ip, pod: p, end: l.end})
		if x.ended.len() > x.opts.MaxEndedLifetimes {
			if x.dropEnded(x.ended.pop()) {
				x.evicted++
			}
		}
		return
	}
	// Not found: the history's cap already dropped it.
}

// expire drops ended lifetimes older than the TTL.
func (x *IPIndex) expire(now int64) {
	ttl := int64(x.opts.EndedTTL)
	for x.ended.len() > 0 && x.ended.front().end+ttl < now {
		if x.dropEnded(x.ended.pop()) {
			x.expired++
		}
	}
}

// dropEnded removes one ended lifetime from its IP's history; false when already gone.
func (x *IPIndex) dropEnded(e endedLifetime) bool {
	hist := x.byIP[e.ip]
	for i := range hist {
		if hist[i].pod == e.pod && hist[i].end == e.end {
			hist = append(hist[:i], hist[i+1:]...)
			x.lifetimes--
			if len(hist) == 0 {
				delete(x.byIP, e.ip)
			} else {
				x.byIP[e.ip] = hist
			}
			return true
		}
	}
	return false
}

// replace makes the index match a full list: pods missing from it have ended.
func (x *IPIndex) replace(list []*indexedPod, now int64) {
	seen := make(map[indexKey]struct{}, len(list))
	for _, in := range list {
		seen[in.key()] = struct{}{}
		x.upsert(in, now)
	}
	for key, p := range x.pods {
		if _, ok := seen[key]; !ok {
			x.endAll(p, now)
			delete(x.pods, key)
		}
	}
	x.synced = true
	x.expire(now)
}

func containsAddr(list []netip.Addr, a netip.Addr) bool {
	for _, b := range list {
		if a == b {
			return true
		}
	}
	return false
}

// endedLifetime names an ended lifetime in the expiry queue.
type endedLifetime struct {
	ip  netip.Addr
	pod *indexedPod
	end int64
}

// endedQueue is a FIFO of ended lifetimes, in the order they ended (the clock's order).
type endedQueue struct {
	items []endedLifetime
	head  int
}

func (q *endedQueue) len() int             { return len(q.items) - q.head }
func (q *endedQueue) front() endedLifetime { return q.items[q.head] }
func (q *endedQueue) push(e endedLifetime) { q.items = append(q.items, e) }
func (q *endedQueue) pop() (e endedLifetime) {
	e = q.items[q.head]
	q.items[q.head] = endedLifetime{}
	q.head++
	// Compact once the consumed half dominates, so the backing array stays bounded.
	if q.head > 1024 && q.head*2 > len(q.items) {
		q.items = append(q.items[:0:0], q.items[q.head:]...)
		q.head = 0
	}
	return e
}

// ipIndexStore feeds an IPIndex from a client-go Reflector: it is the reflector's store,
// so the index needs no informer cache of its own (no second copy of every pod).
type ipIndexStore struct{ x *IPIndex }

var _ cache.TransformingStore = ipIndexStore{}

// Transformer makes the reflector's watch-list stream keep stripped pods only.
func (s ipIndexStore) Transformer() cache.TransformFunc {
	return func(obj any) (any, error) {
		if p, ok := obj.(*corev1.Pod); ok {
			return s.x.toIndexed(p), nil
		}
		return obj, nil
	}
}

func (s ipIndexStore) indexed(obj any) *indexedPod {
	switch o := obj.(type) {
	case *indexedPod:
		return o
	case *corev1.Pod:
		return s.x.toIndexed(o)
	case cache.DeletedFinalStateUnknown:
		return s.indexed(o.Obj)
	}
	return nil
}

func (s ipIndexStore) Add(obj any) error    { return s.Update(obj) }
func (s ipIndexStore) Update(obj any) error { s.apply(obj, false); return nil }
func (s ipIndexStore) Delete(obj any) error { s.apply(obj, true); return nil }
func (s ipIndexStore) Resync() error        { return nil }

func (s ipIndexStore) apply(obj any, deleted bool) {
	in := s.indexed(obj)
	if in == nil {
		return
	}
	x := s.x
	x.mu.Lock()
	defer x.mu.Unlock()
	now := x.opts.Now().UnixNano()
	if deleted {
		x.remove(in, now)
	} else {
		x.upsert(in, now)
	}
	x.expire(now)
}

func (s ipIndexStore) Replace(list []any, _ string) error {
	pods := make([]*indexedPod, 0, len(list))
	for _, obj := range list {
		if in := s.indexed(obj); in != nil {
			pods = append(pods, in)
		}
	}
	x := s.x
	x.mu.Lock()
	defer x.mu.Unlock()
	x.replace(pods, x.opts.Now().UnixNano())
	return nil
}
