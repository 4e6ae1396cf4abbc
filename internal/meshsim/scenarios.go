package meshsim

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// This file: the scenarios. Each one is the background mesh (DefaultTopology and
// BackgroundFlows: mTLS everywhere inside the mesh, an ingress gateway, egress through
// ServiceEntries, a few legitimate RBAC denials) plus one anomaly, with the ground truth a
// correct detector reports: the rule, the subject (what has to change), and from when.

// Timeline defaults: one tick is one Prometheus scrape interval. The baseline is longer than
// the learning windows in testdata/meshsim/collector.yaml (10m), so anomalies that start at
// BaselineTicks hit destinations whose baselines are complete. The anomaly phase is long
// enough for a pod created at BaselineTicks to finish unaccounted_egress' learning there
// (10m, three 150s windows) and then be judged.
const (
	DefaultTickInterval  = 30 * time.Second
	DefaultBaselineTicks = 24 // 12 minutes
	DefaultAnomalyTicks  = 24 // 12 minutes
)

// SimStart is the simulated time every plan starts at: fixed, so output is reproducible.
var SimStart = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// Truth is one ground-truth entry: a finding a correct detector opens.
type Truth struct {
	Rule      string `json:"rule"`
	Namespace string `json:"namespace"`
	// Kind is the subject's controller kind in lower case (deployment, job, ...), as
	// insight.workload spells it; Name its name. Traffic findings drawn from metrics alone
	// may name the Istio workload instead (same name, no kind): both match.
	Kind string `json:"kind"`
	Name string `json:"name"`
	// StartTick and Start: when the anomaly's telemetry starts (simulated time); it lasts
	// to the end of the run (End).
	StartTick int       `json:"start_tick"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Why       string    `json:"why"`
}

// Subject is the truth's subject as insight.workload writes it.
func (t Truth) Subject() string { return t.Kind + "/" + t.Name }

// Scenario is a named anomaly over the background mesh.
type Scenario struct {
	Name    string
	Summary string
	// Config is the collector configuration under testdata/meshsim/ the scenario is scored with.
	Config string
	build  func(b *planBuilder)
}

// Plan builds the scenario's run for a seed.
func (s Scenario) Plan(seed uint64) *Plan {
	t := DefaultTopology(seed, SimStart)
	b := &planBuilder{Plan: &Plan{
		Topology: t, Ticks: DefaultBaselineTicks + DefaultAnomalyTicks, TickInterval: DefaultTickInterval,
		Start: SimStart, AnomalyTick: DefaultBaselineTicks, Appear: map[*Workload]int{},
	}}
	b.Flows = BackgroundFlows(t)
	if s.build != nil {
		s.build(b)
	} else {
		b.AnomalyTick = b.Ticks
	}
	for i := range b.Truth {
		tr := &b.Truth[i]
		tr.Start = b.TickTime(tr.StartTick)
		tr.End = b.TickTime(b.Ticks)
	}
	return b.Plan
}

type planBuilder struct{ *Plan }

func (b *planBuilder) w(ns, name string) *Workload {
	w := b.Topology.Workload(ns, name)
	if w == nil {
		panic("meshsim: no workload " + ns + "/" + name)
	}
	return w
}

func (b *planBuilder) svc(ns, name string) *Service {
	s := b.Topology.Service(ns, name)
	if s == nil {
		panic("meshsim: no service " + ns + "/" + name)
	}
	return s
}

func (b *planBuilder) truth(rule string, w *Workload, startTick int, why string) {
	b.Truth = append(b.Truth, Truth{Rule: rule, Namespace: w.Namespace, Kind: strings.ToLower(w.Kind), Name: w.Name, StartTick: startTick, Why: why})
}

// BackgroundFlows is the clean traffic matrix over DefaultTopology.
func BackgroundFlows(t *Topology) []*Flow {
	w := func(ns, name string) *Workload { return t.Workload(ns, name) }
	s := func(ns, name string) *Service { return t.Service(ns, name) }
	mesh := func(from *Workload, to *Service, rate float64, path string) *Flow {
		return &Flow{Kind: FlowMesh, From: from, To: to, Rate: rate, Path: path}
	}
	browser := "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
	flows := []*Flow{
		{Kind: FlowMesh, From: w("istio-system", "istio-ingressgateway"), To: s("shop", "frontend"), Rate: 3, Path: "/product/OLJCESPC7Z", UserAgent: browser},
		mesh(w("shop", "frontend"), s("shop", "cart"), 1.5, "/hipstershop.CartService/GetCart"),
		mesh(w("shop", "frontend"), s("shop", "catalog"), 2, "/hipstershop.ProductCatalogService/ListProducts"),
		mesh(w("shop", "frontend"), s("shop", "recommendations"), 1, "/hipstershop.RecommendationService/ListRecommendations"),
		mesh(w("shop", "frontend"), s("shop", "currency"), 1, "/hipstershop.CurrencyService/Convert"),
		mesh(w("shop", "frontend"), s("shop", "checkout"), 0.5, "/hipstershop.CheckoutService/PlaceOrder"),
		mesh(w("shop", "frontend"), s("identity", "auth"), 1, "/identity.v1.Auth/Verify"),
		// An old client still calls an endpoint its policy no longer allows: a steady trickle
		// of RBAC denials, the users pods' normal baseline.
		{Kind: FlowMesh, From: w("shop", "frontend"), To: s("identity", "users"), Rate: 0.5, Path: "/v1/users/me",
			DenyRate: 0.15, Policy: "none"},
		mesh(w("shop", "cart"), s("shop", "redis-cart"), 1, ""),
		mesh(w("shop", "checkout"), s("shop", "cart"), 0.5, "/hipstershop.CartService/EmptyCart"),
		mesh(w("shop", "checkout"), s("shop", "currency"), 0.5, "/hipstershop.CurrencyService/Convert"),
		mesh(w("shop", "checkout"), s("shop", "shipping"), 0.5, "/hipstershop.ShippingService/ShipOrder"),
		mesh(w("shop", "checkout"), s("shop", "email"), 0.5, "/send/confirmation"),
		mesh(w("shop", "checkout"), s("payments", "payments-api"), 0.5, "/payments.v1.Payments/Charge"),
		mesh(w("shop", "recommendations"), s("shop", "catalog"), 1, "/hipstershop.ProductCatalogService/ListProducts"),
		mesh(w("payments", "payments-api"), s("payments", "ledger"), 1, "/v1/entries"),
		mesh(w("payments", "payments-api"), s("payments", "fraud-check"), 1, "/fraud.v1.Scorer/Score"),
		mesh(w("payments", "ledger"), s("payments", "postgres"), 1, ""),
		mesh(w("payments", "fraud-check"), s("ai-workloads", "inference"), 1, "/v2/models/fraud/infer"),
		mesh(w("ai-workloads", "inference"), s("ai-workloads", "model-registry"), 0.3, "/api/2.0/mlflow/registered-models/get"),
		mesh(w("ai-workloads", "inference"), s("ai-workloads", "feature-store"), 1, "/feast.serving.ServingService/GetOnlineFeatures"),
		mesh(w("identity", "auth"), s("identity", "users"), 1, "/v1/users/lookup"),
		// Egress through ServiceEntries: TLS the application opens itself, registered hosts.
		{Kind: FlowServiceEntry, From: w("payments", "payments-api"), Host: "api.stripe.com", HostIP: "52.7.105.40", Port: 443, Protocol: ProtoTCP, Rate: 0.6},
		{Kind: FlowServiceEntry, From: w("shop", "email"), Host: "smtp.sendgrid.net", HostIP: "167.89.123.58", Port: 587, Protocol: ProtoTCP, Rate: 0.4},
		// Outside the mesh: no proxy on either side, no mesh telemetry.
		{Kind: FlowInvisible, From: w("legacy", "report-generator"), Host: "ftp-bridge.legacy.svc.cluster.local", HostIP: s("legacy", "ftp-bridge").ClusterIP, Port: 2121, Protocol: ProtoTCP, Rate: 1},
	}
	return flows
}

// Scenarios lists every scenario, clean first.
func Scenarios() []Scenario {
	const cfg = "collector.yaml"
	return []Scenario{
		{Name: "clean", Config: cfg, Summary: "background traffic only: mTLS inside the mesh, an ingress gateway, ServiceEntry egress, a trickle of legitimate RBAC denials; no finding is correct"},
		{Name: "sapwned", Config: cfg, Summary: "a Job pod runs its trainer as UID/GID 1337 with shareProcessNamespace: plaintext around its sidecar to internal services, invisible egress to the internet, and a second container fetching a payload through PassthroughCluster", build: sapwned},
		{Name: "permissive_plaintext", Config: cfg, Summary: "a client outside the mesh (legacy namespace) calls payments/ledger in plaintext; PERMISSIVE mTLS accepts it", build: permissivePlaintext},
		{Name: "passthrough_exfil", Config: cfg, Summary: "shop/email starts uploading to an unregistered internet host through PassthroughCluster (ALLOW_ANY)", build: passthroughExfil},
		{Name: "blackhole_probe", Config: cfg, Summary: "payments/fraud-check tries unregistered hosts under REGISTRY_ONLY: 502s from BlackHoleCluster", build: blackholeProbe},
		{Name: "undeclared_port", Config: cfg, Summary: "a legacy client reaches ai-workloads/inference pods on port 6060, which no Service declares (InboundPassthroughCluster)", build: undeclaredPort},
		{Name: "authz_probe", Config: cfg, Summary: "shop/recommendations hammers payments/ledger, whose AuthorizationPolicy allows only payments-api: a burst of RBAC denials", build: authzProbe},
		{Name: "new_edge", Config: cfg, Summary: "shop/catalog starts calling identity/users, an edge never seen during the learning window (mTLS, 200s)", build: newEdge},
		{Name: "capture_excluded", Config: cfg, Summary: "shop/ads excludes the Service CIDR from capture (traffic.sidecar.istio.io/excludeOutboundIPRanges): its calls to catalog go around its sidecar", build: captureExcluded},
		{Name: "tls_disable", Config: cfg, Summary: "a DestinationRule switches checkout's calls to shop/shipping to tls.mode DISABLE: plaintext, but sent by checkout's own sidecar with its peer metadata (a configuration choice, not a bypass)", build: tlsDisable},
		{Name: "net_admin", Config: cfg, Summary: "a meshed Deployment shop/egress-tunnel adds NET_ADMIN and NET_RAW to its app container", build: netAdmin},
		{Name: "missing_sidecar", Config: cfg, Summary: "the injector webhook fails open while istiod restarts: a rollout of shop/loyalty comes up without sidecars in an injected namespace and calls currency in plaintext; beside it an opted-out pod (sidecar.istio.io/inject: \"false\", low severity), CoreDNS in a kube-system a blanket label marked for injection (the injector skips it), and a hostNetwork pod (never injected: host_network_in_mesh, not missing_sidecar)", build: missingSidecar},
		{Name: "host_network", Config: cfg, Summary: "a node agent DaemonSet with hostNetwork: true in the injected payments namespace: never injected, its traffic is the node's; kube-proxy, hostNetwork in kube-system, is not a finding", build: hostNetwork},
		{Name: "proxy_credentials", Config: cfg, Summary: "a meshed Deployment payments/settlement-export mounts its sidecar's istio-token and workload-socket volumes into its app container; payments/reconciler mounting the istio-ca-root-cert ConfigMap as a volume of its own is not a finding", build: proxyCredentials},
		{Name: "bulk_but_proxied", Config: cfg, Summary: "large legitimate transfers through the sidecars: the inference pods pull 40 MiB model artifacts from model-registry (mTLS), shop/email sends a newsletter with attachments through its smtp.sendgrid.net ServiceEntry; every byte is in the proxies' metrics, no finding is correct", build: bulkButProxied},
	}
}

// ScenarioByName returns a scenario.
func ScenarioByName(name string) (Scenario, error) {
	var names []string
	for _, s := range Scenarios() {
		if s.Name == name {
			return s, nil
		}
		names = append(names, s.Name)
	}
	return Scenario{}, fmt.Errorf("unknown scenario %q (have: %s)", name, strings.Join(names, ", "))
}

// sapwnedUploadAfter is how many ticks after the job pod appears its trainer starts
// uploading: past unaccounted_egress' learning of the pod (a pod is learned, never judged,
// in its first learning window, so a bypass from its first minute is its usual).
const sapwnedUploadAfter = 16

func sapwned(b *planBuilder) {
	at := b.AnomalyTick
	job := b.Topology.AddWorkload("ai-workloads", "train-model-run-42", WorkloadOpts{
		Kind: KindJob, App: "trainer", NoService: true, Image: "docker.io/library/python:3.12-slim",
		Start: b.TickTime(at).Add(-20 * time.Second),
		Spec:  &PodTweaks{RunAsUser: 1337, RunAsGroup: 1337, ShareProcessNamespace: true, ExtraContainer: "dataset-sync"},
	})
	b.Appear[job] = at
	ua := "python-requests/2.32.3"
	b.Flows = append(b.Flows,
		// The trainer (UID 1337) skips its sidecar: the destinations' sidecars see plaintext
		// from the job pod's IP with no peer metadata.
		&Flow{Kind: FlowBypass, From: job, To: b.svc("ai-workloads", "model-registry"), Rate: 2, Path: "/api/2.0/mlflow/artifacts/list", UserAgent: ua, FromTick: at},
		&Flow{Kind: FlowBypass, From: job, To: b.svc("ai-workloads", "feature-store"), Rate: 1, Path: "/feast.serving.ServingService/GetOnlineFeatures", FromTick: at},
		&Flow{Kind: FlowBypass, From: job, To: b.svc("identity", "users"), Rate: 1, Path: "/v1/users?limit=1000", UserAgent: ua, FromTick: at},
		// ... and reaches the internet directly: no proxy sees it (kubeletstats only). Small
		// beacons from the start; once training is done (8 minutes in) it uploads what it
		// pulled, ~8 MiB a minute per connection.
		&Flow{Kind: FlowInvisible, From: job, Host: "exfil.example.org", HostIP: "203.0.113.50", Port: 443, Protocol: ProtoTCP, Rate: 3, FromTick: at},
		&Flow{Kind: FlowInvisible, From: job, Host: "exfil.example.org", HostIP: "203.0.113.50", Port: 443, Protocol: ProtoTCP, Rate: 2,
			Upload: 4 << 20, FromTick: at + sapwnedUploadAfter},
		// The second container runs as an ordinary user: its download goes through the
		// sidecar, to a host the mesh does not know.
		&Flow{Kind: FlowPassthrough, From: job, Host: "payload.example.net", HostIP: "198.51.100.23", Port: 80, Protocol: ProtoHTTP,
			Rate: 0.8, Path: "/stage2.tar.gz", UserAgent: "curl/8.10.1", FromTick: at},
	)
	b.truth("app_uid_1337", job, at, "container trainer runs as UID 1337 (spec and kubelet)")
	b.truth("app_gid_1337", job, at, "container trainer runs as GID 1337")
	b.truth("shared_process_namespace", job, at, "shareProcessNamespace: true in a meshed pod")
	b.truth("sidecar_bypass", job, at, "plaintext, no peer metadata, from the job pod's IP at model-registry, feature-store and identity/users")
	b.truth("passthrough_egress", job, at, "dataset-sync fetches http://payload.example.net through PassthroughCluster")
	b.truth("new_edge", job, at, "the job pod is a new client of three destinations whose learning windows are over")
	b.truth("unaccounted_egress", job, at+sapwnedUploadAfter, "the trainer's uploads to exfil.example.org (~8 MiB a tick) reach the job pod's kubelet transmit counter but none of its sidecar's byte metrics")
	for _, d := range []*Workload{b.w("ai-workloads", "model-registry"), b.w("ai-workloads", "feature-store"), b.w("identity", "users")} {
		b.truth("plaintext_inbound", d, at, "accepts the trainer's plaintext (PERMISSIVE)")
	}
}

func permissivePlaintext(b *planBuilder) {
	client := b.w("legacy", "report-generator")
	b.Flows = append(b.Flows, &Flow{Kind: FlowPlaintextClient, From: client, To: b.svc("payments", "ledger"), Rate: 1,
		Path: "/v1/entries?since=yesterday", UserAgent: "Apache-HttpClient/4.5.14 (Java/11.0.22)"})
	b.AnomalyTick = 0
	b.truth("plaintext_inbound", b.w("payments", "ledger"), 0, "ledger accepts plaintext from legacy/report-generator (no sidecar) since the start")
}

func passthroughExfil(b *planBuilder) {
	at := b.AnomalyTick
	b.Flows = append(b.Flows, &Flow{Kind: FlowPassthrough, From: b.w("shop", "email"), Host: "upload.example.org", HostIP: "198.51.100.77",
		Port: 80, Protocol: ProtoHTTP, Rate: 1.5, Path: "/u/8f3a", UserAgent: "Go-http-client/1.1", FromTick: at})
	b.truth("passthrough_egress", b.w("shop", "email"), at, "HTTP uploads to upload.example.org through PassthroughCluster")
}

func blackholeProbe(b *planBuilder) {
	at := b.AnomalyTick
	from := b.w("payments", "fraud-check")
	for i, h := range []string{"pool.minexmr.example", "c2.example.com", "pastebin.example.net", "169.254.169.254"} {
		b.Flows = append(b.Flows, &Flow{Kind: FlowBlackhole, From: from, Host: h, HostIP: fmt.Sprintf("192.0.2.%d", 10+i), Port: 80,
			Protocol: ProtoHTTP, Rate: 0.7, Path: "/", UserAgent: "curl/8.10.1", FromTick: at + i})
	}
	b.truth("blackhole_egress", from, at, "HTTP to four unregistered hosts, 502 from BlackHoleCluster (REGISTRY_ONLY)")
}

func undeclaredPort(b *planBuilder) {
	at := b.AnomalyTick
	dest := b.w("ai-workloads", "inference")
	b.Flows = append(b.Flows, &Flow{Kind: FlowUndeclaredPort, From: b.w("legacy", "report-generator"), To: b.svc("ai-workloads", "inference"),
		Port: 6060, Protocol: ProtoHTTP, Rate: 1, Path: "/debug/pprof/heap", UserAgent: "curl/8.5.0", FromTick: at})
	b.truth("inbound_passthrough", dest, at, "requests to port 6060 of the inference pods, which no Service declares")
	b.truth("plaintext_inbound", dest, at, "the same requests arrive in plaintext from a client without a sidecar")
}

func authzProbe(b *planBuilder) {
	at := b.AnomalyTick
	client := b.w("shop", "recommendations")
	b.Flows = append(b.Flows, &Flow{Kind: FlowMesh, From: client, To: b.svc("payments", "ledger"), Rate: 6, DenyRate: 1, Policy: "none",
		Path: "/v1/entries/export", FromTick: at})
	b.truth("authz_denial_spike", b.w("payments", "ledger"), at, "ledger's AuthorizationPolicy denies every request from recommendations: ~24 denials a minute per pod, baseline 0")
	b.truth("new_edge", client, at, "recommendations never called ledger during the learning window")
}

func newEdge(b *planBuilder) {
	at := b.AnomalyTick
	client := b.w("shop", "catalog")
	b.Flows = append(b.Flows, &Flow{Kind: FlowMesh, From: client, To: b.svc("identity", "users"), Rate: 1, Path: "/v1/users/lookup", FromTick: at})
	b.truth("new_edge", client, at, "catalog calls identity/users for the first time, after users' learning window")
}

func captureExcluded(b *planBuilder) {
	ads := b.Topology.AddWorkload("shop", "ads", WorkloadOpts{Port: 9555, Protocol: ProtoGRPC, Spec: &PodTweaks{
		Annotations:             map[string]string{"traffic.sidecar.istio.io/excludeOutboundIPRanges": "10.96.0.0/12"},
		ExcludeOutboundIPRanges: "10.96.0.0/12",
	}})
	b.Flows = append(b.Flows, &Flow{Kind: FlowBypass, From: ads, To: b.svc("shop", "catalog"), Rate: 1, Path: "/hipstershop.ProductCatalogService/GetProduct"})
	b.AnomalyTick = 0
	b.truth("capture_weakened", ads, 0, "excludeOutboundIPRanges 10.96.0.0/12 (the Service CIDR) takes every ClusterIP call out of capture")
	b.truth("sidecar_bypass", ads, 0, "its calls to catalog arrive in plaintext with no peer metadata from its meshed pod's IP")
	b.truth("plaintext_inbound", b.w("shop", "catalog"), 0, "catalog accepts that plaintext (PERMISSIVE)")
}

func tlsDisable(b *planBuilder) {
	at := b.AnomalyTick
	client, to := b.w("shop", "checkout"), b.svc("shop", "shipping")
	for _, f := range b.Flows {
		if f.From == client && f.To == to {
			f.ToTick = at
		}
	}
	b.Flows = append(b.Flows, &Flow{Kind: FlowMeshPlaintext, From: client, To: to, Rate: 0.5, Path: "/hipstershop.ShippingService/ShipOrder", FromTick: at})
	b.truth("plaintext_inbound", to.Workload, at, "shipping accepts plaintext from checkout (its metrics name checkout: TLS DISABLE, so no sidecar_bypass)")
}

func netAdmin(b *planBuilder) {
	at := b.AnomalyTick
	w := b.Topology.AddWorkload("shop", "egress-tunnel", WorkloadOpts{NoService: true, Image: "docker.io/tailscale/tailscale:v1.76.1",
		Start: b.TickTime(at).Add(-15 * time.Second), Spec: &PodTweaks{AddCapabilities: []string{"NET_ADMIN", "NET_RAW"}}})
	b.Appear[w] = at
	b.truth("net_admin_in_mesh", w, at, "app container adds NET_ADMIN and NET_RAW: it can rewrite the pod's capture rules")
}

// injectOptOut is the pod label that keeps Istio's injector out of a pod.
var injectOptOut = map[string]string{"sidecar.istio.io/inject": "false"}

func missingSidecar(b *planBuilder) {
	at := b.AnomalyTick
	start := b.TickTime(at).Add(-20 * time.Second)
	// A new Deployment rolled out while istiod was restarting; this install's injector
	// webhook has failurePolicy Ignore, so the API server admitted the pods unmutated.
	loyalty := b.Topology.AddWorkload("shop", "loyalty", WorkloadOpts{Replicas: 2, Port: 8080, Start: start,
		Spec: &PodTweaks{NoSidecar: true}})
	// Near-misses, created at the same moment. A Deployment that opted out on purpose.
	indexer := b.Topology.AddWorkload("shop", "search-indexer", WorkloadOpts{NoService: true, Start: start,
		Spec: &PodTweaks{Labels: injectOptOut}})
	// CoreDNS in a kube-system a blanket `kubectl label namespace --all istio-injection=enabled`
	// marked for injection: Istio's injector skips kube-system and kube-public whatever their
	// labels, and missing_sidecar excludes them.
	b.Topology.AddNamespace("kube-system", true)
	coredns := b.Topology.AddWorkload("kube-system", "coredns", WorkloadOpts{Replicas: 2, Port: 53, Protocol: ProtoTCP, NoService: true,
		App: "kube-dns", Image: "registry.k8s.io/coredns/coredns:v1.12.0", Start: start})
	// A RADIUS proxy on the host network (it must see the NAS' source addresses) in the
	// revision-labelled identity namespace: never injected, so host_network_in_mesh's, not
	// missing_sidecar's.
	radius := b.Topology.AddWorkload("identity", "radius-proxy", WorkloadOpts{Port: 1812, Protocol: ProtoTCP, NoService: true,
		Image: "docker.io/freeradius/freeradius-server:3.2.6", Start: start, Spec: &PodTweaks{HostNetwork: true}})
	for _, w := range []*Workload{loyalty, indexer, coredns, radius} {
		b.Appear[w] = at
	}
	// loyalty converts points through currency: plaintext from pods without a sidecar,
	// which currency's PERMISSIVE mTLS accepts. The other new pods talk to nothing the mesh sees.
	currency := b.svc("shop", "currency")
	b.Flows = append(b.Flows, &Flow{Kind: FlowPlaintextClient, From: loyalty, To: currency, Rate: 1,
		Path: "/hipstershop.CurrencyService/Convert", FromTick: at})
	b.truth("missing_sidecar", loyalty, at, "both loyalty pods run without istio-proxy or sidecar.istio.io/status in shop (istio-injection=enabled)")
	b.truth("missing_sidecar", indexer, at, "search-indexer opted out (sidecar.istio.io/inject: \"false\"): reported at low severity")
	b.truth("plaintext_inbound", currency.Workload, at, "currency accepts loyalty's plaintext (PERMISSIVE)")
	b.truth("new_edge", loyalty, at, "loyalty is a new client of currency, whose learning window is over (its access logs name the loyalty pods by IP)")
	b.truth("host_network_in_mesh", radius, at, "hostNetwork: true in identity (istio.io/rev=default)")
}

func hostNetwork(b *planBuilder) {
	at := b.AnomalyTick
	start := b.TickTime(at).Add(-20 * time.Second)
	// The payments team runs its own monitoring agent, on the host network so applications
	// reach its APM and DogStatsD ports at the node's IP.
	agent := b.Topology.AddWorkload("payments", "node-agent", WorkloadOpts{Kind: KindDaemonSet, Replicas: 3, Port: 8126, Protocol: ProtoTCP,
		NoService: true, Image: "gcr.io/datadoghq/agent:7.58.0", Start: start, Spec: &PodTweaks{HostNetwork: true}})
	// Near-miss: kube-proxy, on the host network in kube-system, which is not labelled.
	b.Topology.AddNamespace("kube-system", false)
	kubeProxy := b.Topology.AddWorkload("kube-system", "kube-proxy", WorkloadOpts{Kind: KindDaemonSet, Replicas: 3, Port: 10249,
		NoService: true, Image: "registry.k8s.io/kube-proxy:v1.33.1", Start: start, Spec: &PodTweaks{HostNetwork: true}})
	b.Appear[agent], b.Appear[kubeProxy] = at, at
	// The agent ships what it collects to its vendor from the node's address: no proxy sees it.
	b.Flows = append(b.Flows, &Flow{Kind: FlowInvisible, From: agent, Host: "trace.agent.datadoghq.eu", HostIP: "198.51.100.140",
		Port: 443, Protocol: ProtoTCP, Rate: 2, FromTick: at})
	b.truth("host_network_in_mesh", agent, at, "a hostNetwork DaemonSet in payments (istio-injection=enabled): never injected")
}

func proxyCredentials(b *planBuilder) {
	at := b.AnomalyTick
	start := b.TickTime(at).Add(-20 * time.Second)
	// To call a partner over mTLS as the workload, the exporter reads the istio-ca token and
	// fetches the workload certificate from the proxy's SDS socket itself.
	export := b.Topology.AddWorkload("payments", "settlement-export", WorkloadOpts{NoService: true, Start: start, Spec: &PodTweaks{Mounts: []VolumeMount{
		{Volume: "istio-token", Path: "/var/run/secrets/tokens", ReadOnly: true},
		{Volume: "workload-socket", Path: "/var/run/secrets/workload-spiffe-uds"},
	}}})
	// Near-miss: the remediation, the mesh's root certificate from its ConfigMap as a volume
	// of the pod's own.
	reconciler := b.Topology.AddWorkload("payments", "reconciler", WorkloadOpts{NoService: true, Start: start, Spec: &PodTweaks{
		ConfigMapVolumes: []ConfigMapVolume{{Volume: "mesh-root-ca", ConfigMap: "istio-ca-root-cert"}},
		Mounts:           []VolumeMount{{Volume: "mesh-root-ca", Path: "/etc/mesh-ca", ReadOnly: true}},
	}})
	b.Appear[export], b.Appear[reconciler] = at, at
	b.truth("proxy_credentials_mounted", export, at, "app container settlement-export mounts istio-token and workload-socket, volumes sidecar.istio.io/status lists")
}

func bulkButProxied(b *planBuilder) {
	at := b.AnomalyTick
	b.Flows = append(b.Flows,
		&Flow{Kind: FlowMesh, From: b.w("ai-workloads", "inference"), To: b.svc("ai-workloads", "model-registry"), Rate: 0.5,
			Path: "/api/2.0/mlflow-artifacts/artifacts/fraud/v7/model.onnx", Download: 40 << 20, FromTick: at},
		&Flow{Kind: FlowServiceEntry, From: b.w("shop", "email"), Host: "smtp.sendgrid.net", HostIP: "167.89.123.58", Port: 587,
			Protocol: ProtoTCP, Rate: 3, Upload: 6 << 20, FromTick: at},
	)
}

// OffByDefaultRules are the experimental rules a collector runs only when its
// configuration enables them: a replay against a configuration that leaves one off does
// not expect its findings (Plan.DropRules).
var OffByDefaultRules = []string{"unaccounted_egress"}

// DropRules removes the truth entries of the given rules.
func (p *Plan) DropRules(rules ...string) {
	p.Truth = slices.DeleteFunc(p.Truth, func(t Truth) bool { return slices.Contains(rules, t.Rule) })
}

// Rules lists the distinct rules a plan's truth names, sorted.
func (p *Plan) Rules() []string {
	var out []string
	for _, t := range p.Truth {
		if !slices.Contains(out, t.Rule) {
			out = append(out, t.Rule)
		}
	}
	slices.Sort(out)
	return out
}
