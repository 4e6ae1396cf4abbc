package rules_test

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/inventory/inventorytest"
	"github.com/meshinsights/otelcol-insights/internal/mesh"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

// The mesh of the traffic rule tests: bookinfo on two nodes, this collector on worker-1.
// The addresses are those of testdata/mesh/accesslogs.
const thisNode = "worker-1"

var (
	reviewsPod = rules.PodRef{Namespace: "bookinfo", Name: "reviews-v1-545db77b95-kx7nm", UID: "uid-reviews", NodeName: "worker-1",
		Controller: inventory.Controller{Kind: inventory.KindDeployment, Name: "reviews-v1"}, Meshed: true}
	productpagePod = rules.PodRef{Namespace: "bookinfo", Name: "productpage-v1-6b746f74dc-9stvs", UID: "uid-productpage", NodeName: "worker-1",
		Controller: inventory.Controller{Kind: inventory.KindDeployment, Name: "productpage-v1"}, Meshed: true}
	// sleepPod is meshed and lives on the other node: it is the one that bypasses its sidecar.
	sleepPod = rules.PodRef{Namespace: "bookinfo", Name: "sleep-7b9f8c6d5d-x7k2p", UID: "uid-sleep", NodeName: "worker-2",
		Controller: inventory.Controller{Kind: inventory.KindDeployment, Name: "sleep"}, Meshed: true}
	// legacyPod is not meshed.
	legacyPod = rules.PodRef{Namespace: "bookinfo", Name: "legacy-5d8f9c7b6d-q2xlm", UID: "uid-legacy", NodeName: "worker-2",
		Controller: inventory.Controller{Kind: inventory.KindDeployment, Name: "legacy"}}
	gatewayPod = rules.PodRef{Namespace: "istio-system", Name: "istio-ingressgateway-79788cd94-wgmsp", UID: "uid-gw", NodeName: "worker-1",
		Controller: inventory.Controller{Kind: inventory.KindDeployment, Name: "istio-ingressgateway"}, Meshed: true, Gateway: true}
	nodeExporterPod = rules.PodRef{Namespace: "monitoring", Name: "node-exporter-x7k2p", NodeName: "worker-2",
		Controller: inventory.Controller{Kind: inventory.KindDaemonSet, Name: "node-exporter"}, HostNetwork: true}
	mongodbPod = rules.PodRef{Namespace: "default", Name: "mongodb-v1-6f4b8c9d7c-fz2qp", UID: "uid-mongodb", NodeName: "worker-1",
		Controller: inventory.Controller{Kind: inventory.KindDeployment, Name: "mongodb-v1"}, Meshed: true}
	// sleepRemote is sleep as the cluster-wide IP index knows it: no controller.
	sleepRemote = rules.PodRef{Namespace: "bookinfo", Name: "sleep-7b9f8c6d5d-x7k2p", UID: "uid-sleep", NodeName: "worker-2", Meshed: true}
)

// fakePods is the inventory of the tests.
type fakePods struct {
	byIP map[string]rules.PodRef
}

func newFakePods() *fakePods {
	return &fakePods{byIP: map[string]rules.PodRef{
		"10.244.0.23":     reviewsPod,
		"fd00:10:244::17": reviewsPod,
		"10.244.0.25":     productpagePod,
		"10.244.0.40":     sleepPod,
		"fd00:10:244::28": sleepPod,
		"10.244.0.41":     legacyPod,
		"10.244.0.14":     gatewayPod,
		"10.0.0.5":        nodeExporterPod,
		// A host-network pod that claims a proxy (Istio never injects one): its IP is its node's.
		"10.0.0.6": {Namespace: "bookinfo", Name: "agent-x7k2p", NodeName: "worker-2", Meshed: true, HostNetwork: true,
			Controller: inventory.Controller{Kind: inventory.KindDaemonSet, Name: "agent"}},
		"10.244.0.30": mongodbPod,
		"10.244.0.31": {Namespace: "bookinfo", Name: "mongodb-0", NodeName: "worker-1", Meshed: true, Controller: inventory.Controller{Kind: inventory.KindStatefulSet, Name: "mongodb"}},
		"10.244.0.22": productpagePod,
		"10.244.0.99": sleepRemote,
		"10.244.0.98": {Namespace: "shop", Name: "payments-6d8f9c7b5d-q2xlm", NodeName: "worker-1", Meshed: true, Controller: inventory.Controller{Kind: inventory.KindDeployment, Name: "payments"}},
		"10.244.0.97": {Namespace: "shop", Name: "cart-5f6d7c8b9d-a1b2c", NodeName: "worker-2", Meshed: true, Controller: inventory.Controller{Kind: inventory.KindDeployment, Name: "cart"}},
	}}
}

func (p *fakePods) PodByIP(ip string, _ time.Time) (rules.PodRef, bool) {
	ref, ok := p.byIP[ip]
	return ref, ok && ref.Name != ""
}

func (p *fakePods) PodByName(namespace, name string) (rules.PodRef, bool) {
	for _, ref := range p.byIP {
		if ref.Namespace == namespace && ref.Name == name {
			return ref, true
		}
	}
	return rules.PodRef{}, false
}

// fakeHistory remembers like the engine does, without bounds. Denial baselines and
// learning starts are set by the test.
type fakeHistory struct {
	since    map[rules.DestinationKey]time.Time
	clients  map[rules.DestinationKey][]rules.WorkloadKey
	peers    map[[4]string]bool
	denials  map[rules.DestinationKey]map[time.Time]int64
	baseline float64
	// learnedSince, when set, is every destination's first sighting for denials.
	learnedSince time.Time
}

func newFakeHistory() *fakeHistory {
	return &fakeHistory{
		since:   map[rules.DestinationKey]time.Time{},
		clients: map[rules.DestinationKey][]rules.WorkloadKey{},
		peers:   map[[4]string]bool{},
		denials: map[rules.DestinationKey]map[time.Time]int64{},
	}
}

func (h *fakeHistory) first(dest rules.DestinationKey, at time.Time) time.Time {
	if s, ok := h.since[dest]; ok {
		return s
	}
	h.since[dest] = at
	return at
}

func (h *fakeHistory) SeeClient(dest rules.DestinationKey, _ string, client rules.WorkloadKey, at time.Time) rules.EdgeSighting {
	since := h.first(dest, at)
	if slices.Contains(h.clients[dest], client) {
		return rules.EdgeSighting{Known: true, Since: since}
	}
	h.clients[dest] = append(h.clients[dest], client)
	return rules.EdgeSighting{Since: since}
}

func (h *fakeHistory) CountDenials(dest rules.DestinationKey, _ string, at time.Time, window time.Duration, n int64, _ rules.DenialSignal, source, policy string) rules.DenialWindow {
	since := h.first(dest, at)
	if !h.learnedSince.IsZero() {
		since = h.learnedSince
	}
	if h.denials[dest] == nil {
		h.denials[dest] = map[time.Time]int64{}
	}
	start := at.Truncate(window)
	h.denials[dest][start] += n
	w := rules.DenialWindow{Count: h.denials[dest][start], Baseline: h.baseline, Since: since,
		TopSources: []string{fmt.Sprintf("%s (%d)", source, h.denials[dest][start])}}
	if policy != "" {
		w.Policies = []string{policy}
	}
	return w
}

func (h *fakeHistory) NotePlaintextPeer(dest, client rules.WorkloadKey, _ time.Time) {
	h.peers[[4]string{dest.Namespace, dest.Name, client.Namespace, client.Name}] = true
}

func (h *fakeHistory) PlaintextPeer(c *rules.PeerCheck) bool {
	for _, d := range c.DestinationNames {
		for _, cl := range c.ClientNames {
			if h.peers[[4]string{c.DestinationNamespace, d, c.ClientNamespace, cl}] {
				return true
			}
		}
	}
	return false
}

// trafficRun feeds observations to one rule and collects what it reports.
type trafficRun struct {
	t     testing.TB
	rule  rules.TrafficRule
	ctx   rules.TrafficContext
	pods  *fakePods
	hist  *fakeHistory
	found []rules.TrafficFinding
}

func newTrafficRun(t testing.TB, rule rules.TrafficRule) *trafficRun {
	r := &trafficRun{t: t, rule: rule, pods: newFakePods(), hist: newFakeHistory()}
	r.ctx = rules.TrafficContext{Cluster: "prod-eu-1", Node: thisNode, Pods: r.pods, History: r.hist,
		Emit: func(f rules.TrafficFinding) { r.found = append(r.found, f) }}
	return r
}

func (r *trafficRun) log(o *mesh.AccessLogObservation) *trafficRun {
	r.t.Helper()
	lr, ok := r.rule.(rules.AccessLogRule)
	require.True(r.t, ok, "%s reads no access logs", r.rule.Rule().ID)
	lr.CheckAccessLog(o, &r.ctx)
	return r
}

func (r *trafficRun) metric(o *mesh.TrafficObservation) *trafficRun {
	r.t.Helper()
	mr, ok := r.rule.(rules.MetricRule)
	require.True(r.t, ok, "%s reads no metrics", r.rule.Rule().ID)
	mr.CheckMetric(o, &r.ctx)
	return r
}

func (r *trafficRun) span(o *mesh.SpanObservation) *trafficRun {
	r.t.Helper()
	sr, ok := r.rule.(rules.SpanRule)
	require.True(r.t, ok, "%s reads no spans", r.rule.Rule().ID)
	sr.CheckSpan(o, &r.ctx)
	return r
}

// golden renders what a rule reported, one line per finding: the parts of the fingerprint,
// then the evidence in order. Tests compare these lines like golden files.
func (r *trafficRun) golden() []string {
	var out []string
	for _, f := range r.found {
		out = append(out, renderFinding(f.Finding))
	}
	return out
}

func renderFinding(f findings.Finding) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", f.Rule.ID, f.Subject.Namespace, f.Subject.Workload())
	if f.EvidenceKey != "" {
		fmt.Fprintf(&b, " key=%s", f.EvidenceKey)
	}
	if f.ObservingNode != "" {
		fmt.Fprintf(&b, " node=%s", f.ObservingNode)
	}
	if f.PodName != "" {
		fmt.Fprintf(&b, " pod=%s", f.PodName)
	}
	fmt.Fprintf(&b, " count=%d |", f.Count)
	for _, e := range f.Evidence {
		switch {
		case e.IsInt():
			fmt.Fprintf(&b, " %s=%d", e.Name, e.Int)
		case e.IsList():
			fmt.Fprintf(&b, " %s=%s", e.Name, strings.Join(e.List, ","))
		default:
			fmt.Fprintf(&b, " %s=%s", e.Name, e.Str)
		}
	}
	return b.String()
}

// accessLogCases are the hand-written records of testdata/mesh/accesslogs/text.txt by name.
func accessLogCases(t testing.TB) map[string]string {
	t.Helper()
	f, err := os.Open(inventorytest.Testdata("mesh", "accesslogs", "text.txt"))
	require.NoError(t, err)
	defer f.Close()
	cases := map[string]string{}
	name := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# case: "):
			name = strings.TrimPrefix(line, "# case: ")
		case line == "" || strings.HasPrefix(line, "#"):
		case name != "":
			cases[name] = line
			name = ""
		}
	}
	require.NoError(t, sc.Err())
	return cases
}

// fixtureLog parses a named record of testdata/mesh/accesslogs/text.txt.
func fixtureLog(t testing.TB, name string) *mesh.AccessLogObservation {
	t.Helper()
	line, ok := accessLogCases(t)[name]
	require.True(t, ok, "no access log case %q", name)
	return parseLog(t, line)
}

func parseLog(t testing.TB, line string) *mesh.AccessLogObservation {
	t.Helper()
	o := new(mesh.AccessLogObservation)
	require.True(t, mesh.ParseAccessLogText(line, o), "does not parse: %s", line)
	o.Timestamp = o.StartTime
	return o
}

// accessLine is Istio's default text format with the fields the rules read.
type accessLine struct {
	time                        time.Time
	request                     string
	code                        int
	details, termination        string
	authority, upstreamHost     string
	cluster, local, remote, sni string
	upstreamLocal, route        string
}

// inboundMTLS is productpage calling reviews over Istio mTLS, the clean case every other
// line varies.
func inboundMTLS(at time.Time) accessLine {
	return accessLine{
		time: at, request: "GET /reviews/0 HTTP/1.1", code: 200, details: "via_upstream", termination: "-",
		authority: "reviews:9080", upstreamHost: "10.244.0.23:9080", cluster: "inbound|9080||",
		upstreamLocal: "127.0.0.6:51423", local: "10.244.0.23:9080", remote: "10.244.0.25:43210",
		sni: "outbound_.9080_._.reviews.bookinfo.svc.cluster.local", route: "default",
	}
}

func (l accessLine) String() string {
	return fmt.Sprintf(`[%s] "%s" %d - %s %s "-" 0 358 12 11 "-" "curl/8.5.0" "req-1" "%s" "%s" %s %s %s %s %s %s`,
		l.time.UTC().Format("2006-01-02T15:04:05.000Z"), l.request, l.code, l.details, l.termination,
		l.authority, l.upstreamHost, l.cluster, l.upstreamLocal, l.local, l.remote, l.sni, l.route)
}

func (l accessLine) parse(t testing.TB) *mesh.AccessLogObservation {
	t.Helper()
	return parseLog(t, l.String())
}

// point is a TrafficObservation as MetricsReader emits it for a grown series.
func point(at time.Time, labels map[string]string) *mesh.TrafficObservation {
	o := &mesh.TrafficObservation{Metric: mesh.MetricRequests, Value: 3, Total: 10, Sighting: mesh.DeltaContinued, Timestamp: at}
	for k, v := range labels {
		switch k {
		case "reporter":
			o.Reporter = v
		case "source_workload":
			o.SourceWorkload = v
		case "source_workload_namespace":
			o.SourceNamespace = v
		case "destination_workload":
			o.DestinationWorkload = v
		case "destination_workload_namespace":
			o.DestinationNamespace = v
		case "destination_service":
			o.DestinationService = v
		case "destination_service_name":
			o.DestinationServiceName = v
		case "connection_security_policy":
			o.ConnectionSecurityPolicy = v
		case "request_protocol":
			o.RequestProtocol = v
		case "k8s.pod.name":
			o.PodName = v
		case "k8s.namespace.name":
			o.PodNamespace = v
		case "k8s.pod.uid":
			o.PodUID = v
		default:
			panic("unknown label " + k)
		}
	}
	o.DestinationClass = mesh.ClassifyCluster(o.DestinationServiceName)
	return o
}

// with returns a copy of labels with changes applied ("" deletes).
func with(labels map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(labels))
	for k, v := range labels {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
		} else {
			out[kv[i]] = kv[i+1]
		}
	}
	return out
}

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
