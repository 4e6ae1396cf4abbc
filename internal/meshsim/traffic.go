package meshsim

import (
	"fmt"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// This file: the traffic matrix and the generator that turns it, tick by tick, into what a
// collector receives. Which telemetry exists for a flow follows from which proxies see it:
//
//   - sidecar to sidecar (Istio mTLS): the client's sidecar reports it (reporter=source
//     metrics, an outbound access log, a CLIENT span) and so does the server's
//     (reporter=destination with connection_security_policy=mutual_tls and the client's
//     peer metadata, an inbound access log with the outbound_.<port>_._.<host> SNI, a SERVER
//     span whose parent is the client's span).
//   - traffic that skips the client's sidecar (a process running as the proxy's UID/GID, an
//     excluded CIDR) or comes from a pod without one: only the destination's sidecar sees
//     it, as plaintext without peer metadata (source_workload="unknown",
//     connection_security_policy="none", SNI "-", a SERVER span with no parent).
//   - egress: the client's sidecar alone (outbound|443||host for ServiceEntries,
//     PassthroughCluster for unregistered hosts under ALLOW_ANY, BlackHoleCluster with a 502
//     under REGISTRY_ONLY). Egress that skips the sidecar appears in no mesh telemetry at
//     all, only in the pod's kubeletstats network counters.

// FlowKind says which proxies see a flow.
type FlowKind int

const (
	// FlowMesh: meshed client to meshed Service over Istio mTLS (gateways included).
	FlowMesh FlowKind = iota
	// FlowServiceEntry: meshed client to an external host registered with a ServiceEntry.
	FlowServiceEntry
	// FlowPassthrough: meshed client to an unregistered host (ALLOW_ANY): PassthroughCluster.
	FlowPassthrough
	// FlowBlackhole: meshed client to an unregistered host under REGISTRY_ONLY: BlackHoleCluster.
	FlowBlackhole
	// FlowBypass: a meshed pod's traffic that skips its own sidecar, to a meshed Service.
	FlowBypass
	// FlowPlaintextClient: a pod without a sidecar calling a meshed Service.
	FlowPlaintextClient
	// FlowUndeclaredPort: a client calling a meshed pod's IP on a port no Service declares.
	FlowUndeclaredPort
	// FlowMeshPlaintext: meshed client to meshed Service, both sidecars in the path, but
	// plaintext (a DestinationRule with tls.mode DISABLE): the server still gets the
	// client's peer metadata, so its metrics name the client's workload.
	FlowMeshPlaintext
	// FlowInvisible: traffic no proxy sees (sidecar bypass to the internet, unmeshed pods
	// among themselves): only kubeletstats counts its bytes.
	FlowInvisible
)

var flowKindNames = [...]string{"mesh", "service_entry", "passthrough", "blackhole", "bypass", "plaintext_client", "undeclared_port", "mesh_plaintext", "invisible"}

func (k FlowKind) String() string { return flowKindNames[k] }

// Flow is one edge of the traffic matrix.
type Flow struct {
	Kind FlowKind
	From *Workload
	// To is the destination Service (FlowMesh, FlowBypass, FlowPlaintextClient,
	// FlowUndeclaredPort: the pods behind it).
	To *Service
	// Host, HostIP and Port name an external destination; Port is also the undeclared port.
	Host   string
	HostIP string
	Port   int
	// Protocol overrides the destination Service's (external flows: http or tcp).
	Protocol string
	Path     string
	// Rate is the mean requests (connections for TCP) per client pod and destination pod
	// per tick. Mesh flows send at least one per pair and tick, so every edge of the
	// background is seen from the first tick on.
	Rate float64
	// DenyRate is the fraction of requests an AuthorizationPolicy denies at the destination
	// (403 rbac_access_denied_matched_policy[Policy]).
	DenyRate float64
	Policy   string
	// FromTick and ToTick bound the ticks the flow is active in: [FromTick, ToTick); ToTick
	// 0 means until the end.
	FromTick, ToTick int
	// UserAgent the client sends.
	UserAgent string
	// Upload and Download override the payload sizes of a request (the client sends
	// Upload, the server answers Download; for TCP, per connection): the mean in bytes,
	// +-50%. Zero: the background's small requests.
	Upload, Download int64
}

func (f *Flow) active(tick int) bool {
	return tick >= f.FromTick && (f.ToTick == 0 || tick < f.ToTick)
}

func (f *Flow) protocol() string {
	if f.Protocol != "" {
		return f.Protocol
	}
	if f.To != nil {
		return f.To.Protocol
	}
	return ProtoHTTP
}

// Plan is a scenario's whole run: the cluster, its traffic, the simulated timeline and the
// ground truth.
type Plan struct {
	Topology *Topology
	Flows    []*Flow
	// Ticks of TickInterval each (one Prometheus scrape per tick), from Start.
	Ticks        int
	TickInterval time.Duration
	Start        time.Time
	// AnomalyTick is the first tick with anomalous telemetry (Ticks when there is none).
	AnomalyTick int
	// Appear says at which tick a workload's pods are created (default 0).
	Appear map[*Workload]int
	Truth  []Truth
}

// TickTime is the simulated time of a tick.
func (p *Plan) TickTime(tick int) time.Time { return p.Start.Add(time.Duration(tick) * p.TickInterval) }

// Batch is what the collector receives for one tick: pod and namespace objects
// (k8sobjects watch records), Envoy access logs, Istio metrics as the prometheus receiver
// scraped them plus kubeletstats pod network counters, and Envoy spans.
type Batch struct {
	Tick    int
	Time    time.Time
	Objects plog.Logs
	Logs    plog.Logs
	Metrics pmetric.Metrics
	Traces  ptrace.Traces
	// Anomalous: the tick is at or after the plan's AnomalyTick.
	Anomalous bool
}

// Items counts the batch's records, data points and spans.
func (b *Batch) Items() int {
	return b.Objects.LogRecordCount() + b.Logs.LogRecordCount() + b.Metrics.DataPointCount() + b.Traces.SpanCount()
}

// Generator produces a plan's batches in order, deterministically for a seed.
type Generator struct {
	// Endless keeps generating background ticks after the plan's last (load tests).
	Endless bool
	// NoPodAttributes leaves the k8s.* resource attributes off access logs and spans: what
	// arrives when the pipeline has no k8sattributes processor (Envoy sets none itself).
	NoPodAttributes bool

	plan *Plan
	seed uint64
	rng  *rand.Rand
	// netRng draws the kubelet's byte counts (netbytes.go): its own source, so they do
	// not change the requests.
	netRng *rand.Rand
	tick   int
	rv     int64

	series  map[seriesKey]*series
	order   map[*Pod][]*series // per scraping pod, in creation order
	netIO   map[*Pod]*podNet
	wire    map[*Pod]*wireProfile
	scraped map[*Pod]time.Time // first scrape per pod
}

// NewGenerator starts a plan's generator.
func NewGenerator(plan *Plan, seed uint64) *Generator {
	return &Generator{
		plan:    plan,
		seed:    seed,
		rng:     rand.New(rand.NewPCG(seed^0x5bd1e995, seed+1)),
		netRng:  rand.New(rand.NewPCG(seed^0x27d4eb2f, seed+2)),
		wire:    map[*Pod]*wireProfile{},
		rv:      51877000,
		series:  map[seriesKey]*series{},
		order:   map[*Pod][]*series{},
		netIO:   map[*Pod]*podNet{},
		scraped: map[*Pod]time.Time{},
	}
}

// Plan returns the generator's plan.
func (g *Generator) Plan() *Plan { return g.plan }

// Next returns the next tick's batch, or false after the last one.
func (g *Generator) Next() (*Batch, bool) {
	if g.tick >= g.plan.Ticks && !g.Endless {
		return nil, false
	}
	t := g.tick
	g.tick++
	at := g.plan.TickTime(t)
	b := &Batch{
		Tick: t, Time: at, Anomalous: t >= g.plan.AnomalyTick,
		Objects: plog.NewLogs(), Logs: plog.NewLogs(), Metrics: pmetric.NewMetrics(), Traces: ptrace.NewTraces(),
	}
	g.objects(b, t)
	e := newEmitter(g, b)
	for _, f := range g.plan.Flows {
		if f.active(t) {
			g.flow(e, f, t, at)
		}
	}
	e.finish()
	g.scrape(b, t, at.Add(g.plan.TickInterval-time.Second))
	return b, true
}

// appearTick is when a workload's pods exist from.
func (g *Generator) appearTick(w *Workload) int { return g.plan.Appear[w] }

func (g *Generator) objects(b *Batch, t int) {
	at := g.plan.TickTime(t)
	if t == 0 {
		for _, ns := range g.plan.Topology.Namespaces {
			g.rv++
			_ = AppendWatchRecord(b.Objects, WatchAdded, NamespaceObject(ns, g.plan.Topology.Start.Add(-30*24*time.Hour)), at)
		}
	}
	for _, w := range g.plan.Topology.Workloads {
		if g.appearTick(w) != t {
			continue
		}
		for _, p := range w.Pods {
			g.rv++
			_ = AppendWatchRecord(b.Objects, WatchAdded, PodObject(p, g.rv), at)
		}
	}
}

// flow emits one tick of a flow.
func (g *Generator) flow(e *emitter, f *Flow, t int, at time.Time) {
	var clients []*Pod
	for _, p := range f.From.Pods {
		if g.appearTick(f.From) <= t {
			clients = append(clients, p)
		}
	}
	switch f.Kind {
	case FlowServiceEntry, FlowPassthrough, FlowBlackhole, FlowInvisible:
		for _, c := range clients {
			for range g.count(f.Rate, false) {
				g.egress(e, f, c, at)
			}
		}
		return
	}
	for _, c := range clients {
		for _, d := range f.To.Workload.Pods {
			for range g.count(f.Rate, f.Kind == FlowMesh || f.Kind == FlowMeshPlaintext) {
				g.call(e, f, c, d, at)
			}
		}
	}
}

// count draws how many requests a pair sends in one tick.
func (g *Generator) count(rate float64, atLeastOne bool) int {
	n := int(rate)
	if g.rng.Float64() < rate-float64(n) {
		n++
	}
	if n > 1 {
		n += g.rng.IntN(n) - n/2 // +-50%
	}
	if atLeastOne && n < 1 {
		n = 1
	}
	return n
}

// offset is a random moment inside the tick.
func (g *Generator) offset(at time.Time) time.Time {
	return at.Add(time.Duration(g.rng.Int64N(int64(g.plan.TickInterval - 2*time.Second))))
}

func (g *Generator) ephemeralPort() int { return 32768 + g.rng.IntN(28000) }

func (g *Generator) requestID() string {
	a, b := g.rng.Uint64(), g.rng.Uint64()
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", uint32(a>>32), uint16(a>>16), uint16(a), uint16(b>>48), b&0xffffffffffff)
}
