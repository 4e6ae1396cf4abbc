package meshsim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// This file: the simulated cluster. Namespaces (injected or not), workloads with their
// controllers and replicas, pods with IPs on a few nodes, Services, and the Istio ingress
// gateway. Everything is derived from the seed: the same seed gives the same names, UIDs,
// IPs and ports.

// Controller kinds a workload can have.
const (
	KindDeployment  = "Deployment"
	KindStatefulSet = "StatefulSet"
	KindJob         = "Job"
	KindDaemonSet   = "DaemonSet"
)

// Protocols a service speaks, as Istio's request_protocol names them.
const (
	ProtoHTTP = "http"
	ProtoGRPC = "grpc"
	ProtoTCP  = "tcp"
)

// TrustDomain is the mesh's SPIFFE trust domain.
const TrustDomain = "cluster.local"

// ProxyImage is the injected proxy's image.
const ProxyImage = "docker.io/istio/proxyv2:1.28.0"

// Namespace is a Kubernetes namespace of the simulated cluster.
type Namespace struct {
	Name string
	// Injection: the namespace is labelled for sidecar injection (istio-injection=enabled,
	// or istio.io/rev when Revision is set).
	Injection bool
	Revision  string
	UID       string
}

// Workload is a controller and its pods.
type Workload struct {
	Namespace string
	Name      string
	Kind      string // KindDeployment, ...
	App       string // the app label (and canonical service)
	Version   string
	// ServiceAccount names the pods' service account, hence their SPIFFE principal.
	ServiceAccount string
	// Meshed: the pods have a sidecar (injected namespace and no opt-out).
	Meshed bool
	// Gateway: the pods run only the proxy (Istio's ingress gateway).
	Gateway bool
	// Port is the container port the application serves on (0: none); Protocol what it speaks.
	Port     int
	Protocol string
	Image    string
	Replicas int
	// Spec tweaks the pod spec (UID 1337, capabilities, annotations); nil for an ordinary pod.
	Spec *PodTweaks
	UID  string
	Hash string // a Deployment's pod-template-hash
	Pods []*Pod
}

// PodTweaks are the deviations from an ordinary injected pod that scenarios need.
type PodTweaks struct {
	// RunAsUser/RunAsGroup for the first app container (0: not set).
	RunAsUser, RunAsGroup int64
	ShareProcessNamespace bool
	// AddCapabilities are added to the first app container's securityContext.
	AddCapabilities []string
	// ExtraContainer adds a second app container running as an ordinary user.
	ExtraContainer string
	// Annotations are added to the pod (capture annotations); InitArgs replaces the
	// istio-init arguments that follow from them, as the injector would.
	Annotations map[string]string
	// ExcludeOutboundIPRanges is what istio-init's -x gets (the injector copies the annotation).
	ExcludeOutboundIPRanges string
	// Labels are added to the pod. sidecar.istio.io/inject: "false" opts it out of
	// injection: it has no sidecar whatever its namespace says.
	Labels map[string]string
	// NoSidecar: the injector never mutated the pod although its namespace enables
	// injection (the webhook failed open while istiod was unavailable, or the pod predates
	// the namespace's label): no sidecar, no sidecar.istio.io/status.
	NoSidecar bool
	// HostNetwork: spec.hostNetwork. Istio never injects such a pod, and its IP is its node's.
	HostNetwork bool
	// Mounts are extra volumeMounts of the first app container, in order: a proxy volume
	// the injector added, or one of ConfigMapVolumes.
	Mounts []VolumeMount
	// ConfigMapVolumes are volumes of the pod's own, each a ConfigMap.
	ConfigMapVolumes []ConfigMapVolume
}

// VolumeMount mounts a pod volume into a container.
type VolumeMount struct {
	Volume, Path string
	ReadOnly     bool
}

// ConfigMapVolume is a pod volume backed by a ConfigMap.
type ConfigMapVolume struct{ Volume, ConfigMap string }

// injected reports whether Istio's injector adds a sidecar to a pod of a workload in
// namespace ns: the namespace enables injection, the injector skips kube-system and
// kube-public whatever their labels, hostNetwork pods and pods that opt out.
func (t *PodTweaks) injected(ns *Namespace) bool {
	if !ns.Injection || ns.Name == "kube-system" || ns.Name == "kube-public" {
		return false
	}
	return t == nil || !(t.NoSidecar || t.HostNetwork || t.Labels["sidecar.istio.io/inject"] == "false")
}

// Pod is one replica of a workload.
type Pod struct {
	Workload *Workload
	Name     string
	UID      string
	IP       string
	Node     string
	NodeIP   string
	Start    time.Time
}

// Namespace and Meshed are shorthands.
func (p *Pod) Namespace() string { return p.Workload.Namespace }
func (p *Pod) Meshed() bool      { return p.Workload.Meshed }

// Principal is the pod's SPIFFE identity.
func (w *Workload) Principal() string {
	return fmt.Sprintf("spiffe://%s/ns/%s/sa/%s", TrustDomain, w.Namespace, w.ServiceAccount)
}

// Service is what clients call: a Kubernetes Service in front of a workload's pods.
type Service struct {
	Name      string
	Namespace string
	Port      int
	Protocol  string
	ClusterIP string
	Workload  *Workload
}

// FQDN is the Service's cluster-local name.
func (s *Service) FQDN() string { return s.Name + "." + s.Namespace + ".svc.cluster.local" }

// Topology is the simulated cluster.
type Topology struct {
	Namespaces []*Namespace
	Workloads  []*Workload
	Services   []*Service
	Nodes      []string
	// Start is when every pod of the base topology started (simulated time).
	Start time.Time

	rng      *rand.Rand
	nodeNext []int
	svcNext  int
	uids     map[string]bool
}

// NewTopology starts an empty cluster with three worker nodes.
func NewTopology(seed uint64, start time.Time) *Topology {
	return &Topology{
		Nodes:    []string{"worker-1", "worker-2", "worker-3"},
		nodeNext: []int{10, 10, 10},
		svcNext:  10,
		Start:    start,
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		uids:     map[string]bool{},
	}
}

// Rand is the topology's deterministic random source (traffic uses its own).
func (t *Topology) Rand() *rand.Rand { return t.rng }

// AddNamespace adds a namespace.
func (t *Topology) AddNamespace(name string, injection bool) *Namespace {
	ns := &Namespace{Name: name, Injection: injection, UID: t.uid()}
	t.Namespaces = append(t.Namespaces, ns)
	return ns
}

// NamespaceByName returns a namespace or nil.
func (t *Topology) NamespaceByName(name string) *Namespace {
	for _, ns := range t.Namespaces {
		if ns.Name == name {
			return ns
		}
	}
	return nil
}

// WorkloadOpts describe a workload to add.
type WorkloadOpts struct {
	Kind     string // default KindDeployment
	Replicas int    // default 1
	Port     int
	Protocol string // default http
	Image    string
	Version  string // default v1
	// App is the app label, canonical service and app container name (default: the name).
	App string
	// NoService: no Service fronts the workload (jobs, clients only).
	NoService bool
	Gateway   bool
	Spec      *PodTweaks
	// Start overrides the pods' start time (default: the topology's start).
	Start time.Time
}

// AddWorkload adds a workload, its pods and (unless NoService) its Service. Pods are meshed
// when Istio's injector adds their sidecar (PodTweaks.injected; gateways always are). A
// hostNetwork pod's IP is its node's.
func (t *Topology) AddWorkload(namespace, name string, o WorkloadOpts) *Workload {
	ns := t.NamespaceByName(namespace)
	if ns == nil {
		panic("meshsim: unknown namespace " + namespace)
	}
	if o.Kind == "" {
		o.Kind = KindDeployment
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.Protocol == "" {
		o.Protocol = ProtoHTTP
	}
	if o.Version == "" {
		o.Version = "v1"
	}
	if o.Image == "" {
		o.Image = fmt.Sprintf("registry.example.com/%s/%s:1.%d.%d", namespace, name, t.rng.IntN(9)+1, t.rng.IntN(20))
	}
	if o.Start.IsZero() {
		o.Start = t.Start
	}
	if o.App == "" {
		o.App = name
	}
	w := &Workload{
		Namespace: namespace, Name: name, Kind: o.Kind, App: o.App, Version: o.Version,
		ServiceAccount: name, Meshed: o.Spec.injected(ns) || o.Gateway, Gateway: o.Gateway,
		Port: o.Port, Protocol: o.Protocol, Image: o.Image, Replicas: o.Replicas, Spec: o.Spec,
		UID: t.uid(),
	}
	if o.Kind == KindDeployment {
		w.Hash = t.randString(10)
	}
	for i := range o.Replicas {
		var podName string
		switch o.Kind {
		case KindDeployment:
			podName = name + "-" + w.Hash + "-" + t.randString(5)
		case KindStatefulSet:
			podName = fmt.Sprintf("%s-%d", name, i)
		default:
			podName = name + "-" + t.randString(5)
		}
		node := t.rng.IntN(len(t.Nodes))
		if o.Kind == KindDaemonSet {
			node = i % len(t.Nodes)
		}
		p := &Pod{
			Workload: w, Name: podName, UID: t.uid(),
			IP:     fmt.Sprintf("10.244.%d.%d", node+1, t.nodeNext[node]),
			Node:   t.Nodes[node],
			NodeIP: fmt.Sprintf("10.0.1.%d", 11+node),
			Start:  o.Start.Add(-time.Duration(t.rng.IntN(3600)) * time.Second),
		}
		if o.Start != t.Start {
			p.Start = o.Start
		}
		if o.Spec != nil && o.Spec.HostNetwork {
			p.IP = p.NodeIP
			w.Pods = append(w.Pods, p)
			continue
		}
		t.nodeNext[node]++
		w.Pods = append(w.Pods, p)
	}
	t.Workloads = append(t.Workloads, w)
	if !o.NoService && o.Port != 0 {
		t.Services = append(t.Services, &Service{
			Name: name, Namespace: namespace, Port: o.Port, Protocol: o.Protocol,
			ClusterIP: fmt.Sprintf("10.96.%d.%d", t.svcNext/250, t.svcNext%250+1), Workload: w,
		})
		t.svcNext++
	}
	return w
}

// Workload returns a workload by namespace and name, or nil.
func (t *Topology) Workload(namespace, name string) *Workload {
	for _, w := range t.Workloads {
		if w.Namespace == namespace && w.Name == name {
			return w
		}
	}
	return nil
}

// Service returns the Service of a workload, or nil.
func (t *Topology) Service(namespace, name string) *Service {
	for _, s := range t.Services {
		if s.Namespace == namespace && s.Name == name {
			return s
		}
	}
	return nil
}

// Pods lists every pod, in workload order.
func (t *Topology) Pods() []*Pod {
	var out []*Pod
	for _, w := range t.Workloads {
		out = append(out, w.Pods...)
	}
	return out
}

// PodByIP finds a pod by IP.
func (t *Topology) PodByIP(ip string) *Pod {
	for _, p := range t.Pods() {
		if p.IP == ip {
			return p
		}
	}
	return nil
}

// safeAlphabet is Kubernetes' alphabet for generated name suffixes (no vowels).
const safeAlphabet = "bcdfghjklmnpqrstvwxz2456789"

func (t *Topology) randString(n int) string {
	var b strings.Builder
	for range n {
		b.WriteByte(safeAlphabet[t.rng.IntN(len(safeAlphabet))])
	}
	return b.String()
}

// uid returns a fresh, deterministic RFC 4122-shaped UID.
func (t *Topology) uid() string {
	for {
		a, b := t.rng.Uint64(), t.rng.Uint64()
		s := fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", uint32(a>>32), uint16(a>>16), uint16(a)&0xfff,
			uint16(b>>48)&0x3fff|0x8000, b&0xffffffffffff)
		if !t.uids[s] {
			t.uids[s] = true
			return s
		}
	}
}

// DefaultTopology is the background cluster every scenario runs in: an online shop,
// payments, AI workloads and identity services in injected namespaces, legacy and
// monitoring workloads outside the mesh, and Istio's ingress gateway.
func DefaultTopology(seed uint64, start time.Time) *Topology {
	t := NewTopology(seed, start)
	t.AddNamespace("istio-system", false)
	for _, ns := range []string{"shop", "payments", "ai-workloads"} {
		t.AddNamespace(ns, true)
	}
	t.AddNamespace("identity", true).Revision = "default"
	t.AddNamespace("legacy", false)
	t.AddNamespace("monitoring", false)

	t.AddWorkload("istio-system", "istio-ingressgateway", WorkloadOpts{Replicas: 2, Port: 8080, Gateway: true, Image: ProxyImage})
	t.AddWorkload("istio-system", "istiod", WorkloadOpts{Port: 15012, Protocol: ProtoGRPC, Image: "docker.io/istio/pilot:1.28.0", NoService: true})

	t.AddWorkload("shop", "frontend", WorkloadOpts{Replicas: 3, Port: 8080})
	t.AddWorkload("shop", "cart", WorkloadOpts{Replicas: 2, Port: 7070, Protocol: ProtoGRPC})
	t.AddWorkload("shop", "catalog", WorkloadOpts{Replicas: 2, Port: 3550, Protocol: ProtoGRPC})
	t.AddWorkload("shop", "checkout", WorkloadOpts{Replicas: 2, Port: 5050, Protocol: ProtoGRPC})
	t.AddWorkload("shop", "recommendations", WorkloadOpts{Replicas: 2, Port: 8080, Protocol: ProtoGRPC})
	t.AddWorkload("shop", "currency", WorkloadOpts{Port: 7000, Protocol: ProtoGRPC})
	t.AddWorkload("shop", "shipping", WorkloadOpts{Port: 50051, Protocol: ProtoGRPC})
	t.AddWorkload("shop", "email", WorkloadOpts{Port: 8080})
	t.AddWorkload("shop", "redis-cart", WorkloadOpts{Kind: KindStatefulSet, Port: 6379, Protocol: ProtoTCP, Image: "docker.io/library/redis:7.2-alpine"})

	t.AddWorkload("payments", "payments-api", WorkloadOpts{Replicas: 2, Port: 8443, Protocol: ProtoGRPC})
	t.AddWorkload("payments", "ledger", WorkloadOpts{Replicas: 2, Port: 8080})
	t.AddWorkload("payments", "fraud-check", WorkloadOpts{Replicas: 2, Port: 9000, Protocol: ProtoGRPC})
	t.AddWorkload("payments", "postgres", WorkloadOpts{Kind: KindStatefulSet, Port: 5432, Protocol: ProtoTCP, Image: "docker.io/library/postgres:16.4"})

	t.AddWorkload("ai-workloads", "inference", WorkloadOpts{Replicas: 2, Port: 8080})
	t.AddWorkload("ai-workloads", "model-registry", WorkloadOpts{Port: 5000})
	t.AddWorkload("ai-workloads", "feature-store", WorkloadOpts{Replicas: 2, Port: 6566, Protocol: ProtoGRPC})

	t.AddWorkload("identity", "auth", WorkloadOpts{Replicas: 2, Port: 9090, Protocol: ProtoGRPC})
	t.AddWorkload("identity", "users", WorkloadOpts{Replicas: 2, Port: 8080})

	t.AddWorkload("legacy", "report-generator", WorkloadOpts{Port: 8080})
	t.AddWorkload("legacy", "ftp-bridge", WorkloadOpts{Port: 2121, Protocol: ProtoTCP})
	t.AddWorkload("monitoring", "prometheus", WorkloadOpts{Kind: KindStatefulSet, Port: 9090, Image: "quay.io/prometheus/prometheus:v3.5.0"})
	t.AddWorkload("monitoring", "node-exporter", WorkloadOpts{Kind: KindDaemonSet, Replicas: 3, Port: 9100, Image: "quay.io/prometheus/node-exporter:v1.9.1"})
	return t
}

// sortedKeys returns a map's keys in order (deterministic output).
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
