// Package inventory keeps what the rules need to know about pods and namespaces: a
// stripped-down model of each pod (is it meshed, who is its proxy, what UID/GID each
// container effectively runs as, what it may do to the proxy) and of each namespace (is
// sidecar injection enabled, is it ambient), fed by objects arriving as log records
// (k8sobjects receiver format) and, later, by a client-go informer. Controllers' pod
// templates (Deployment, StatefulSet, DaemonSet, Job, CronJob) are lifted into pods, so a
// bad spec is judged before any pod of it exists.
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

	// CapabilitiesAdded is securityContext.capabilities.add, normalised (upper case, no
	// CAP_ prefix), deduplicated and sorted. The runtime's default set is not in it.
	CapabilitiesAdded []string
	// Privileged is securityContext.privileged: true.
	Privileged bool
	// ProxyVolumeMounts names the proxy's volumes this container mounts (see
	// Pod.ProxyVolumes), in mount order; its other mounts are not kept. Nil for Istio's own
	// containers (Proxy), which mount them by design.
	ProxyVolumeMounts []string
	// TargetContainer is an ephemeral container's targetContainerName: the container whose
	// process namespace it joins.
	TargetContainer string
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

// Pod is the stripped-down pod the inventory keeps: a pod, or a controller's pod template.
type Pod struct {
	Namespace string
	// Name and UID are empty for a template.
	Name            string
	UID             string
	ResourceVersion string
	NodeName        string
	IPs             []string
	HostNetwork     bool
	// ShareProcessNamespace: every container sees every other container's processes.
	ShareProcessNamespace bool
	Controller            Controller
	// Template is set when this is not a pod but the pod template of a controller object:
	// that object's kind and name (Controller is the subject its pods will name, which for
	// a CronJob's Job is the CronJob). Nil for a pod.
	Template *Controller

	// MeshAnnotations holds only the pod's capture and injection annotations (see
	// meshAnnotationKeys); MeshLabels only sidecar.istio.io/inject and
	// istio.io/dataplane-mode. No other annotation or label is kept: they may hold secrets.
	MeshAnnotations map[string]string
	MeshLabels      map[string]string
	// ProxyVolumes are the volumes Istio's injector added for the proxy (tokens, SDS
	// sockets, certificates, Envoy's config): the sidecar.istio.io/status annotation's list,
	// or Istio's default list when the annotation has none.
	ProxyVolumes []string

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

// Key is the pod's inventory key: namespace/name for a pod, template/<kind>/<namespace>/<name>
// of the controller object for a template (names never contain '/', so the two never meet).
func (p *Pod) Key() string {
	if p.Template != nil {
		return templateKey(p.Template.Kind, p.Namespace, p.Template.Name)
	}
	return podKey(p.Namespace, p.Name)
}

// Annotation returns one of the kept mesh annotations.
func (p *Pod) Annotation(key string) (string, bool) {
	v, ok := p.MeshAnnotations[key]
	return v, ok
}

// Label returns one of the kept mesh labels.
func (p *Pod) Label(key string) (string, bool) {
	v, ok := p.MeshLabels[key]
	return v, ok
}

// Istio's annotations and labels that decide injection and capture.
const (
	// AnnotationInject / LabelInject: "false" opts a pod out of sidecar injection ("true"
	// as a label opts it in where the namespace says nothing).
	AnnotationInject = "sidecar.istio.io/inject"
	LabelInject      = "sidecar.istio.io/inject"
	// AnnotationInterceptionMode: REDIRECT, TPROXY or NONE (no capture at all).
	AnnotationInterceptionMode = "sidecar.istio.io/interceptionMode"
	// AnnotationStatusPort moves the proxy's status port (default 15020), which the
	// injector itself excludes from inbound capture.
	AnnotationStatusPort = "status.sidecar.istio.io/port"
	// The traffic.sidecar.istio.io annotations that narrow what iptables captures.
	AnnotationExcludeInboundPorts     = "traffic.sidecar.istio.io/excludeInboundPorts"
	AnnotationExcludeOutboundPorts    = "traffic.sidecar.istio.io/excludeOutboundPorts"
	AnnotationExcludeOutboundIPRanges = "traffic.sidecar.istio.io/excludeOutboundIPRanges"
	AnnotationExcludeInterfaces       = "traffic.sidecar.istio.io/excludeInterfaces"
	AnnotationIncludeInboundPorts     = "traffic.sidecar.istio.io/includeInboundPorts"
	AnnotationIncludeOutboundIPRanges = "traffic.sidecar.istio.io/includeOutboundIPRanges"
	// LabelDataplaneMode on a pod or namespace: ambient (ztunnel captures it, no sidecar),
	// or none on a pod to leave an ambient namespace.
	LabelDataplaneMode   = "istio.io/dataplane-mode"
	DataplaneModeAmbient = "ambient"
	DataplaneModeNone    = "none"
)

// meshAnnotationKeys are the only annotations the model keeps. Istio ignores other
// traffic.sidecar.istio.io keys; includeOutboundPorts and kubevirtInterfaces only widen
// capture, so no rule needs them.
var meshAnnotationKeys = []string{
	AnnotationInject,
	AnnotationInterceptionMode,
	AnnotationStatusPort,
	AnnotationExcludeInboundPorts,
	AnnotationExcludeOutboundPorts,
	AnnotationExcludeOutboundIPRanges,
	AnnotationExcludeInterfaces,
	AnnotationIncludeInboundPorts,
	AnnotationIncludeOutboundIPRanges,
}

// meshLabelKeys are the only labels the model keeps.
var meshLabelKeys = []string{LabelInject, LabelDataplaneMode}

// IsGateway reports whether a meshed pod is an Istio gateway: every regular container is
// the proxy (istio-ingressgateway, istio-egressgateway, and gateways injected with the
// gateway template). A sidecar always sits next to an application container.
func (p *Pod) IsGateway() bool {
	if !p.Meshed {
		return false
	}
	regular := 0
	for i := range p.Containers {
		c := &p.Containers[i]
		if c.Kind != ContainerRegular {
			continue
		}
		if !c.Proxy {
			return false
		}
		regular++
	}
	return regular > 0
}
