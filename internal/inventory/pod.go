// Package inventory keeps what the rules need to know about pods and namespaces: a
// stripped-down model of each pod (is it meshed, who is its proxy, what UID/GID each
// container effectively runs as), fed by pod objects arriving as log records (k8sobjects
// receiver format) and, later, by a client-go informer.
package inventory

// ContainerKind says where in the pod spec a container is declared.
type ContainerKind string

const (
	ContainerRegular   ContainerKind = "container"
	ContainerInit      ContainerKind = "init_container"
	ContainerEphemeral ContainerKind = "ephemeral_container"
)

// IdentitySource says where an effective UID/GID came from.
type IdentitySource string

const (
	IdentityNone      IdentitySource = ""
	IdentityPodSpec   IdentitySource = "pod_security_context"
	IdentitySpec      IdentitySource = "container_security_context"
	IdentityKubelet   IdentitySource = "container_status" // status.*ContainerStatuses[].user.linux
	IdentityFallback  IdentitySource = "config"           // mesh.proxy_uid / proxy_gid
	IdentityIstioInit IdentitySource = "istio_init_args"  // -u / -g of istio-init / istio-validation
)

// Container is what the rules need of one container, nothing more (no env, no args).
type Container struct {
	Name  string
	Kind  ContainerKind
	Image string
	// NativeSidecar is an init container with restartPolicy: Always.
	NativeSidecar bool
	// Proxy is true for the mesh's own containers: named in the pod's
	// sidecar.istio.io/status annotation and running a proxy image.
	Proxy bool

	// Effective identity: container securityContext over the pod's; the kubelet's
	// report wins where present. Nil means unknown (the image's USER decides).
	UID       *int64
	UIDSource IdentitySource
	GID       *int64
	GIDSource IdentitySource
}

// Controller is the top-level owner of a pod (Deployment via its ReplicaSet, ...).
type Controller struct {
	Kind string // KindDeployment, ... (equal to findings.Kind*); empty when the pod has none
	Name string
}

// Controller kinds: the Kubernetes kind names, equal to the findings.Kind* constants.
// An owner of any other kind (an operator's custom resource) keeps its own kind name.
const (
	KindDeployment  = "Deployment"
	KindReplicaSet  = "ReplicaSet"
	KindStatefulSet = "StatefulSet"
	KindDaemonSet   = "DaemonSet"
	KindJob         = "Job"
	KindCronJob     = "CronJob"
)

// Pod is the stripped-down pod the inventory keeps.
type Pod struct {
	Namespace       string
	Name            string
	UID             string
	ResourceVersion string
	NodeName        string
	IPs             []string
	HostNetwork     bool
	Controller      Controller

	// Meshed is true when a sidecar proxy is present (not merely injection enabled).
	Meshed bool
	// ProxyUID / ProxyGID are the proxy's identity as the capture rules know it: the UID and
	// GID whose traffic Istio's iptables exempt (--uid-owner / --gid-owner), and where that
	// was learnt. Usually what istio-proxy runs as; in TPROXY mode istio-proxy runs as UID 0
	// while the rules still exempt UID 1337, so ProxyUID is 1337 there (see FromPod).
	ProxyUID       int64
	ProxyUIDSource IdentitySource
	ProxyGID       int64
	ProxyGIDSource IdentitySource

	Containers []Container
}

// Key is the pod's inventory key: namespace/name.
func (p *Pod) Key() string { return p.Namespace + "/" + p.Name }
