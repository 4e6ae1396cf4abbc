package inventory

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// ProxyIdentity is the UID/GID the mesh exempts from capture as its proxy's. The configured
// one (mesh.proxy_uid / proxy_gid) is the fallback for pods that do not reveal their own.
type ProxyIdentity struct{ UID, GID int64 }

// Istio's default proxy UID and GID (istio-iptables' DefaultProxyUID).
const (
	DefaultProxyUID int64 = 1337
	DefaultProxyGID int64 = 1337
)

// DefaultProxyIdentity is Istio's default, 1337/1337.
func DefaultProxyIdentity() ProxyIdentity {
	return ProxyIdentity{UID: DefaultProxyUID, GID: DefaultProxyGID}
}

// What Istio's injector writes into a pod.
const (
	annotationSidecarStatus = "sidecar.istio.io/status"
	containerIstioProxy     = "istio-proxy"
	containerIstioInit      = "istio-init"
	containerIstioValidate  = "istio-validation"
	labelPodTemplateHash    = "pod-template-hash"
)

// FromPod strips a pod down to what the rules need. It keeps no env, no args, and of the
// annotations and labels only Istio's capture and injection switches (meshAnnotationKeys):
// findings built from the model can never carry a secret. A nil pod gives nil.
//
// Proxy containers are the ones the pod's sidecar.istio.io/status annotation names (in the
// list matching where they are declared) that also run a proxy image; a container merely
// named istio-proxy or istio-init is not trusted. The pod is meshed when one of them is a
// regular container or a native sidecar: istio-init and istio-validation proxy nothing.
//
// The proxy identity is what Istio's capture rules exempt, learnt the way Istio itself
// decides it:
//  1. a trusted istio-init's -u/-g arguments: it installs the rules (istio-iptables defaults
//     -g to -u);
//  2. else (CNI) the trusted istio-proxy's effective UID/GID unless 0, as Istio's CNI plugin
//     does: in TPROXY mode istio-proxy runs as UID 0 (GID 1337) and UID 1337 stays exempt;
//  3. else a trusted istio-validation's -u/-g (the values the injector computed for CNI);
//  4. else the fallback, as Istio's CNI plugin falls back to 1337.
func FromPod(p *corev1.Pod, fallback ProxyIdentity) *Pod {
	if p == nil {
		return nil
	}
	named := parseSidecarStatus(p.Annotations[annotationSidecarStatus])
	out := &Pod{
		Namespace:             p.Namespace,
		Name:                  p.Name,
		UID:                   string(p.UID),
		ResourceVersion:       p.ResourceVersion,
		NodeName:              p.Spec.NodeName,
		IPs:                   podIPs(&p.Status),
		HostNetwork:           p.Spec.HostNetwork,
		ShareProcessNamespace: p.Spec.ShareProcessNamespace != nil && *p.Spec.ShareProcessNamespace,
		Controller:            controllerOf(p),
		MeshAnnotations:       keep(p.Annotations, meshAnnotationKeys),
		MeshLabels:            keep(p.Labels, meshLabelKeys),
		ProxyVolumes:          named.proxyVolumes(),
	}
	proxyVolumes := named.proxyVolumeSet()

	podSC := p.Spec.SecurityContext
	out.Containers = make([]Container, 0, len(p.Spec.InitContainers)+len(p.Spec.Containers)+len(p.Spec.EphemeralContainers))
	// istio-iptables arguments of the trusted init containers, by container name.
	var initIDs, validationIDs iptablesIDs

	for i := range p.Spec.InitContainers {
		c := &p.Spec.InitContainers[i]
		mc := Container{
			Name:          c.Name,
			Kind:          ContainerInit,
			Image:         c.Image,
			NativeSidecar: c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways,
			Proxy:         named.trusts(c.Name, c.Image, true),
		}
		setIdentity(&mc, podSC, c.SecurityContext, kubeletUser(p.Status.InitContainerStatuses, c.Name))
		setPrivileges(&mc, c.SecurityContext, c.VolumeMounts, proxyVolumes)
		if mc.Proxy {
			switch c.Name {
			case containerIstioInit:
				initIDs = parseIptablesIDs(c.Command, c.Args)
			case containerIstioValidate:
				validationIDs = parseIptablesIDs(c.Command, c.Args)
			}
		}
		out.Containers = append(out.Containers, mc)
	}
	for i := range p.Spec.Containers {
		c := &p.Spec.Containers[i]
		mc := Container{
			Name:  c.Name,
			Kind:  ContainerRegular,
			Image: c.Image,
			Proxy: named.trusts(c.Name, c.Image, false),
		}
		setIdentity(&mc, podSC, c.SecurityContext, kubeletUser(p.Status.ContainerStatuses, c.Name))
		setPrivileges(&mc, c.SecurityContext, c.VolumeMounts, proxyVolumes)
		out.Containers = append(out.Containers, mc)
	}
	for i := range p.Spec.EphemeralContainers {
		ec := &p.Spec.EphemeralContainers[i]
		c := &ec.EphemeralContainerCommon
		// The injector never adds ephemeral containers: a debug container is never the proxy.
		mc := Container{Name: c.Name, Kind: ContainerEphemeral, Image: c.Image, TargetContainer: ec.TargetContainerName}
		setIdentity(&mc, podSC, c.SecurityContext, kubeletUser(p.Status.EphemeralContainerStatuses, c.Name))
		setPrivileges(&mc, c.SecurityContext, c.VolumeMounts, proxyVolumes)
		out.Containers = append(out.Containers, mc)
	}

	var proxy *Container
	for i := range out.Containers {
		c := &out.Containers[i]
		if !c.Proxy || (c.Kind != ContainerRegular && !c.NativeSidecar) {
			continue
		}
		out.Meshed = true
		if c.Name == containerIstioProxy {
			proxy = c
		}
	}
	setProxyIdentity(out, proxy, initIDs, validationIDs, fallback)
	return out
}

// FromTemplate strips a controller's pod template, lifted into a pod by DecodeObject, down
// like FromPod and marks it as a template: no name, UID, node or IPs (no pod exists), the
// origin's object as Template and its controller as Controller.
func FromTemplate(p *corev1.Pod, origin TemplateOrigin, fallback ProxyIdentity) *Pod {
	out := FromPod(p, fallback)
	if out == nil {
		return nil
	}
	object := origin.Object
	out.Template = &object
	out.Controller = origin.Controller
	out.Name, out.UID, out.NodeName, out.IPs = "", "", "", nil
	return out
}

// sidecarStatus is the part of sidecar.istio.io/status the model needs: which containers the
// injector added, by where it declared them, and which volumes.
type sidecarStatus struct {
	containers map[string]bool
	init       map[string]bool
	volumes    []string
}

// maxProxyVolumes bounds what is kept of the annotation's volume list (Istio adds nine).
const maxProxyVolumes = 32

// trusts reports whether a container is Istio's own: named in the annotation, in the list
// matching where it is declared, and running a proxy image.
func (st sidecarStatus) trusts(name, image string, init bool) bool {
	if init {
		return st.init[name] && IsProxyImage(image)
	}
	return st.containers[name] && IsProxyImage(image)
}

// proxyVolumes is the annotation's volumes, or Istio's default list when it names none.
func (st sidecarStatus) proxyVolumes() []string {
	if len(st.volumes) == 0 {
		return defaultProxyVolumes
	}
	return st.volumes
}

// proxyVolumeSet is proxyVolumes as a set.
func (st sidecarStatus) proxyVolumeSet() map[string]bool {
	vs := st.proxyVolumes()
	set := make(map[string]bool, len(vs))
	for _, v := range vs {
		set[v] = true
	}
	return set
}

func parseSidecarStatus(annotation string) sidecarStatus {
	if annotation == "" {
		return sidecarStatus{}
	}
	var raw struct {
		Containers     []string `json:"containers"`
		InitContainers []string `json:"initContainers"`
		Volumes        []string `json:"volumes"`
	}
	// Malformed means we cannot tell which containers are Istio's: trust none.
	if json.Unmarshal([]byte(annotation), &raw) != nil {
		return sidecarStatus{}
	}
	st := sidecarStatus{containers: make(map[string]bool, len(raw.Containers)), init: make(map[string]bool, len(raw.InitContainers))}
	for _, n := range raw.Containers {
		st.containers[n] = true
	}
	for _, n := range raw.InitContainers {
		st.init[n] = true
	}
	for _, v := range raw.Volumes {
		if v != "" && len(v) <= maxNameLen && len(st.volumes) < maxProxyVolumes && !slices.Contains(st.volumes, v) {
			st.volumes = append(st.volumes, v)
		}
	}
	return st
}

// defaultProxyVolumes are the volumes Istio's injector adds for the proxy (Istio 1.20 to
// 1.28), used when a pod's sidecar.istio.io/status does not list them: the istio-ca audience
// token, the SDS and credential sockets, the workload certificates, Envoy's config and data
// directories, the pod info, the mesh root certificate and its CRL.
var defaultProxyVolumes = []string{
	"workload-socket", "credential-socket", "workload-certs", "istio-envoy", "istio-data",
	"istio-podinfo", "istio-token", "istiod-ca-cert", "istio-ca-crl",
}

// maxMeshAnnotationLen bounds a kept annotation value (Kubernetes allows 256 KiB of
// annotations in all); a longer list is cut after its last whole entry.
const maxMeshAnnotationLen = 4096

// keep copies the listed keys of a label or annotation map; nil when none is present.
func keep(m map[string]string, keys []string) map[string]string {
	var out map[string]string
	for _, k := range keys {
		v, ok := m[k]
		if !ok {
			continue
		}
		if len(v) > maxMeshAnnotationLen {
			v = v[:maxMeshAnnotationLen]
			if i := strings.LastIndexByte(v, ','); i >= 0 {
				v = v[:i]
			}
		}
		if out == nil {
			out = make(map[string]string, 2)
		}
		out[k] = v
	}
	return out
}

// setPrivileges fills what a container may do beyond running as some UID: its added
// capabilities, privileged mode, and the proxy volumes it mounts.
func setPrivileges(c *Container, sc *corev1.SecurityContext, mounts []corev1.VolumeMount, proxyVolumes map[string]bool) {
	if sc != nil {
		c.Privileged = sc.Privileged != nil && *sc.Privileged
		if sc.Capabilities != nil {
			c.CapabilitiesAdded = normaliseCapabilities(sc.Capabilities.Add)
		}
	}
	if c.Proxy {
		return // Istio's own containers mount the proxy's volumes by design
	}
	for i := range mounts {
		if name := mounts[i].Name; proxyVolumes[name] && !slices.Contains(c.ProxyVolumeMounts, name) {
			c.ProxyVolumeMounts = append(c.ProxyVolumeMounts, name)
		}
	}
}

// maxCapabilities bounds what is kept of one container's added capabilities (Linux has 41).
const maxCapabilities = 64

// NormaliseCapability spells a capability the way the rules compare it: upper case,
// without the CAP_ prefix the runtime accepts too ("cap_net_admin" is NET_ADMIN).
func NormaliseCapability(c corev1.Capability) string {
	s := strings.ToUpper(strings.TrimSpace(string(c)))
	return strings.TrimPrefix(s, "CAP_")
}

func normaliseCapabilities(caps []corev1.Capability) []string {
	var out []string
	for _, c := range caps {
		n := NormaliseCapability(c)
		if n == "" || len(n) > 64 || slices.Contains(out, n) {
			continue
		}
		out = append(out, n)
		if len(out) == maxCapabilities {
			break
		}
	}
	slices.Sort(out)
	return out
}

// redHatProxyRepo matches OpenShift Service Mesh's builds of Istio's proxy image
// (registry.redhat.io/openshift-service-mesh/proxyv2-rhel8, .../istio-proxyv2-rhel9).
var redHatProxyRepo = regexp.MustCompile(`^(istio-)?proxyv2-rhel[0-9]+$`)

// IsProxyImage reports whether an image reference names Istio's proxy image: the last path
// element of its repository, without tag or digest, is proxyv2 (Istio's, including its
// -distroless and -debug tags) or proxy (older releases), or Red Hat's proxyv2 builds.
func IsProxyImage(image string) bool {
	repo := image
	if i := strings.IndexByte(repo, '@'); i >= 0 {
		repo = repo[:i]
	}
	if i := strings.LastIndexByte(repo, '/'); i >= 0 {
		repo = repo[i+1:]
	}
	// After the last '/', a ':' can only start the tag (a registry port has a '/' after it).
	if i := strings.IndexByte(repo, ':'); i >= 0 {
		repo = repo[:i]
	}
	return repo == "proxyv2" || repo == "proxy" || redHatProxyRepo.MatchString(repo)
}

// setIdentity fills the effective UID/GID: the container's securityContext over the pod's,
// and the kubelet's report over both (it also knows the image's USER).
func setIdentity(c *Container, pod *corev1.PodSecurityContext, ctr *corev1.SecurityContext, kubelet *corev1.LinuxContainerUser) {
	if kubelet != nil {
		c.UID, c.UIDSource = ptr(kubelet.UID), IdentityKubelet
		c.GID, c.GIDSource = ptr(kubelet.GID), IdentityKubelet
		return
	}
	var podUID, podGID, ctrUID, ctrGID *int64
	if pod != nil {
		podUID, podGID = pod.RunAsUser, pod.RunAsGroup
	}
	if ctr != nil {
		ctrUID, ctrGID = ctr.RunAsUser, ctr.RunAsGroup
	}
	c.UID, c.UIDSource = pick(ctrUID, podUID)
	c.GID, c.GIDSource = pick(ctrGID, podGID)
}

func pick(container, pod *int64) (*int64, IdentitySource) {
	switch {
	case container != nil:
		return ptr(*container), IdentitySpec
	case pod != nil:
		return ptr(*pod), IdentityPodSpec
	}
	return nil, IdentityNone
}

// ptr copies: the model must not keep pointers into the decoded pod.
func ptr(v int64) *int64 { return &v }

func kubeletUser(statuses []corev1.ContainerStatus, name string) *corev1.LinuxContainerUser {
	for i := range statuses {
		if statuses[i].Name == name {
			if u := statuses[i].User; u != nil {
				return u.Linux
			}
			return nil
		}
	}
	return nil
}

// iptablesIDs are the -u / -g values given to istio-iptables; nil when absent.
type iptablesIDs struct{ uid, gid *int64 }

// parseIptablesIDs reads istio-iptables' -u/--proxy-uid and -g/--proxy-gid from a
// container's command line. Both take comma-separated lists; the first entry is the proxy's.
// istio-iptables defaults the GID to the UID, and so does this.
func parseIptablesIDs(command, args []string) iptablesIDs {
	argv := make([]string, 0, len(command)+len(args))
	argv = append(append(argv, command...), args...)
	uid := flagID(argv, "u", "proxy-uid")
	gid := flagID(argv, "g", "proxy-gid")
	if gid == nil {
		gid = uid
	}
	return iptablesIDs{uid: uid, gid: gid}
}

// flagID finds the last (pflag: last wins) value of -short / --long in the forms
// "-u 1337", "-u=1337", "-u1337", "--proxy-uid 1337" and "--proxy-uid=1337".
func flagID(argv []string, short, long string) *int64 {
	var val string
	found := false
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		switch {
		case a == "-"+short || a == "--"+long:
			if i+1 < len(argv) {
				val, found = argv[i+1], true
				i++
			}
		case strings.HasPrefix(a, "--"+long+"="):
			val, found = a[len(long)+3:], true
		case strings.HasPrefix(a, "-"+short) && !strings.HasPrefix(a, "--"):
			val, found = strings.TrimPrefix(a[1+len(short):], "="), true
		}
	}
	if !found {
		return nil
	}
	first, _, _ := strings.Cut(val, ",")
	id, err := strconv.ParseInt(strings.TrimSpace(first), 10, 64)
	if err != nil || id < 0 {
		return nil
	}
	return &id
}

func setProxyIdentity(p *Pod, proxy *Container, initIDs, validationIDs iptablesIDs, fallback ProxyIdentity) {
	p.ProxyUID, p.ProxyUIDSource = fallback.UID, IdentityFallback
	p.ProxyGID, p.ProxyGIDSource = fallback.GID, IdentityFallback
	uidSet, gidSet := false, false
	setUID := func(v *int64, src IdentitySource) {
		if !uidSet && v != nil {
			p.ProxyUID, p.ProxyUIDSource, uidSet = *v, src, true
		}
	}
	setGID := func(v *int64, src IdentitySource) {
		if !gidSet && v != nil {
			p.ProxyGID, p.ProxyGIDSource, gidSet = *v, src, true
		}
	}

	setUID(initIDs.uid, IdentityIstioInit)
	setGID(initIDs.gid, IdentityIstioInit)
	if proxy != nil {
		// A root proxy (TPROXY) is exempted by its GID; UID 0 is not what the rules exempt.
		if proxy.UID != nil && *proxy.UID != 0 {
			setUID(proxy.UID, proxy.UIDSource)
		}
		if proxy.GID != nil && *proxy.GID != 0 {
			setGID(proxy.GID, proxy.GIDSource)
		}
	}
	setUID(validationIDs.uid, IdentityIstioInit)
	setGID(validationIDs.gid, IdentityIstioInit)
}

func podIPs(st *corev1.PodStatus) []string {
	var ips []string
	for _, ip := range st.PodIPs {
		if ip.IP != "" {
			ips = append(ips, ip.IP)
		}
	}
	if len(ips) == 0 && st.PodIP != "" {
		ips = append(ips, st.PodIP)
	}
	return ips
}

// cronJobSuffix: the CronJob controller names its Jobs <cronjob>-<scheduled time in minutes
// since the epoch>, eight digits or more since 1989.
var cronJobSuffix = regexp.MustCompile(`^(.+)-[0-9]{8,}$`)

// controllerOf names the pod's top-level controller from its controlling ownerReference.
// Only the pod is at hand, so the step above the direct owner is inferred from names:
//   - a ReplicaSet <deploy>-<hash> whose pods carry pod-template-hash=<hash> belongs to
//     Deployment <deploy> (the Deployment controller names and labels it so); otherwise the
//     ReplicaSet itself is the controller;
//   - a Job named <cronjob>-<8+ digits> belongs to CronJob <cronjob>. A hand-made Job named
//     like that would be attributed to a CronJob that does not exist; the subject then
//     names the Job's prefix, which still points at what has to change.
//
// A static pod's mirror (owned by its Node) and a pod without a controller have none.
func controllerOf(p *corev1.Pod) Controller {
	for i := range p.OwnerReferences {
		ref := &p.OwnerReferences[i]
		if ref.Controller == nil || !*ref.Controller || ref.Name == "" {
			continue
		}
		switch ref.Kind {
		case KindReplicaSet:
			if hash := p.Labels[labelPodTemplateHash]; hash != "" && len(ref.Name) > len(hash)+1 && strings.HasSuffix(ref.Name, "-"+hash) {
				return Controller{Kind: KindDeployment, Name: ref.Name[:len(ref.Name)-len(hash)-1]}
			}
			return Controller{Kind: KindReplicaSet, Name: ref.Name}
		case KindJob:
			if m := cronJobSuffix.FindStringSubmatch(ref.Name); m != nil {
				return Controller{Kind: KindCronJob, Name: m[1]}
			}
			return Controller{Kind: KindJob, Name: ref.Name}
		case "Node":
			return Controller{}
		case "":
			continue
		}
		return Controller{Kind: ref.Kind, Name: ref.Name}
	}
	return Controller{}
}
