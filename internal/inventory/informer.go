package inventory

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// How the collector authenticates to the Kubernetes API (k8sattributes' auth_type values).
const (
	AuthTypeServiceAccount = "serviceAccount"
	AuthTypeKubeConfig     = "kubeConfig"
)

// NewClientset builds a Kubernetes client. serviceAccount uses the pod's own token
// (rest.InClusterConfig); kubeConfig reads kubeconfigPath, else $KUBECONFIG, else
// ~/.kube/config, using its current context.
func NewClientset(authType, kubeconfigPath string) (kubernetes.Interface, error) {
	var cfg *rest.Config
	switch authType {
	case AuthTypeServiceAccount:
		c, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("kubernetes auth_type %s: %w", authType, err)
		}
		// The API is inside the cluster: an HTTPS_PROXY meant for exporters must not apply.
		c.Proxy = func(*http.Request) (*url.URL, error) { return nil, nil }
		cfg = c
	case AuthTypeKubeConfig:
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		rules.ExplicitPath = kubeconfigPath
		raw, err := rules.Load()
		if err != nil {
			return nil, fmt.Errorf("kubernetes auth_type %s: %w", authType, err)
		}
		// An empty config would make clientcmd fall back to in-cluster: say so instead.
		if len(raw.Contexts) == 0 {
			return nil, fmt.Errorf("kubernetes auth_type %s: no kubeconfig found (path %q, $KUBECONFIG, ~/.kube/config)", authType, kubeconfigPath)
		}
		c, err := clientcmd.NewDefaultClientConfig(*raw, &clientcmd.ConfigOverrides{}).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("kubernetes auth_type %s: %w", authType, err)
		}
		cfg = c
	default:
		return nil, fmt.Errorf("kubernetes auth_type %q: want %s or %s", authType, AuthTypeServiceAccount, AuthTypeKubeConfig)
	}
	cfg.UserAgent = "otelcol-insights"
	// Protobuf: pods are the apiserver's biggest list; it halves the bytes and decode time.
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	return kubernetes.NewForConfig(cfg)
}

// InformerOptions configures an InformerSource.
type InformerOptions struct {
	// NodeName limits the pod events to pods scheduled on this node (the collector runs as
	// a DaemonSet); empty means every pod in the cluster. The IP index is always
	// cluster-wide.
	NodeName string
	// ResyncPeriod re-delivers every cached pod and namespace as MODIFIED this often;
	// 0 never does.
	ResyncPeriod time.Duration
	// Logger receives list/watch errors and sync progress; nil discards them.
	Logger *zap.Logger
}

// informerSyncWarnAfter is when a source still not synced says so (RBAC, connectivity).
const informerSyncWarnAfter = 30 * time.Second

// podsAfterNamespacesTimeout bounds how long the pod informer waits for namespaces to
// sync first (so rules judging a pod already know its namespace), like k8sattributes.
const podsAfterNamespacesTimeout = 5 * time.Second

// InformerSource watches the Kubernetes API and delivers pods and namespaces as
// ObjectEvents: the pods of one node (full events: ADDED, MODIFIED, DELETED, including
// deletions seen only as a relist's tombstone) and every namespace. It also feeds a
// cluster-wide IPIndex. Cached objects are stripped (see StripPod, StripNamespace) before
// they are stored, so secrets in env values or annotations are never kept.
type InformerSource struct {
	opts    InformerOptions
	logger  *zap.Logger
	handler func(ObjectEvent)
	// handlerMu: the pod and namespace informers deliver from their own goroutines; the
	// handler sees one event at a time.
	handlerMu sync.Mutex

	pods, namespaces cache.SharedIndexInformer
	podsReg, nsReg   cache.ResourceEventHandlerRegistration
	index            *IPIndex
	indexReflector   *cache.Reflector

	mu       sync.Mutex
	started  bool
	shutdown bool
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// NewInformerSource prepares the informers; Start runs them. handler receives every event,
// one at a time, from the informers' goroutines: it must be quick (hand off, do not block:
// client-go queues events for a slow handler without bound), must not call Shutdown, and
// must not modify the objects, which are the cache's own. index, when not nil, is fed from
// a separate reflector on all pods that keeps only what IPIndex needs.
func NewInformerSource(client kubernetes.Interface, opts InformerOptions, handler func(ObjectEvent), index *IPIndex) (*InformerSource, error) {
	if client == nil {
		return nil, errors.New("inventory: informer source without a Kubernetes client")
	}
	if handler == nil {
		return nil, errors.New("inventory: informer source without an event handler")
	}
	s := &InformerSource{opts: opts, logger: opts.Logger, handler: handler, index: index}
	if s.logger == nil {
		s.logger = zap.NewNop()
	}

	podSelector := fields.Everything()
	if opts.NodeName != "" {
		podSelector = fields.OneTermEqualSelector("spec.nodeName", opts.NodeName)
	}
	s.pods = cache.NewSharedIndexInformerWithOptions(
		s.podListWatch(client, podSelector, "pods"), &corev1.Pod{},
		cache.SharedIndexInformerOptions{ResyncPeriod: opts.ResyncPeriod, ObjectDescription: "node pods"})
	s.namespaces = cache.NewSharedIndexInformerWithOptions(
		s.namespaceListWatch(client), &corev1.Namespace{},
		cache.SharedIndexInformerOptions{ResyncPeriod: opts.ResyncPeriod, ObjectDescription: "namespaces"})

	if err := s.pods.SetTransform(transformPod); err != nil {
		return nil, err
	}
	if err := s.namespaces.SetTransform(transformNamespace); err != nil {
		return nil, err
	}
	var err error
	if s.podsReg, err = s.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.deliverPod(EventAdded, obj) },
		UpdateFunc: func(_, obj any) { s.deliverPod(EventModified, obj) },
		DeleteFunc: func(obj any) { s.deliverPod(EventDeleted, obj) },
	}); err != nil {
		return nil, err
	}
	if s.nsReg, err = s.namespaces.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.deliverNamespace(EventAdded, obj) },
		UpdateFunc: func(_, obj any) { s.deliverNamespace(EventModified, obj) },
		DeleteFunc: func(obj any) { s.deliverNamespace(EventDeleted, obj) },
	}); err != nil {
		return nil, err
	}

	if index != nil {
		s.indexReflector = cache.NewReflectorWithOptions(
			s.podListWatch(client, fields.Everything(), "pod IP index"), &corev1.Pod{},
			ipIndexStore{x: index}, cache.ReflectorOptions{Name: "insights pod IP index"})
	}
	return s, nil
}

// Start runs the informers in the background and returns at once: it does not wait for
// the caches to sync (a collector must start fast, and an unreachable API must not stop
// it). Events flow as soon as the first lists arrive; HasSynced and WaitForSync tell when
// the initial state is complete, and a warning is logged if that takes over 30s.
// The namespaces are listed first so the first pod events find their namespace known.
func (s *InformerSource) Start(_ context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.shutdown:
		return errors.New("inventory: informer source already shut down")
	case s.started:
		return errors.New("inventory: informer source already started")
	}
	s.started = true
	// Background work outlives Start's context; Shutdown ends it.
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel

	s.goRun(func() { s.namespaces.RunWithContext(ctx) })
	s.goRun(func() {
		waitCtx, done := context.WithTimeout(ctx, podsAfterNamespacesTimeout)
		cache.WaitForCacheSync(waitCtx.Done(), s.nsReg.HasSynced)
		done()
		if ctx.Err() == nil {
			s.pods.RunWithContext(ctx)
		}
	})
	if s.indexReflector != nil {
		s.goRun(func() { s.indexReflector.RunWithContext(ctx) })
	}
	s.goRun(func() { s.reportSync(ctx) })
	return nil
}

func (s *InformerSource) goRun(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// reportSync logs when the initial state is complete, or warns once if it is slow.
func (s *InformerSource) reportSync(ctx context.Context) {
	begin := time.Now()
	warnCtx, cancel := context.WithTimeout(ctx, informerSyncWarnAfter)
	synced := cache.WaitForCacheSync(warnCtx.Done(), s.HasSynced)
	cancel()
	if !synced && ctx.Err() == nil {
		s.logger.Warn("Kubernetes pods and namespaces not synced yet; check the API server and RBAC (list/watch pods and namespaces)",
			zap.Duration("waited", informerSyncWarnAfter))
		synced = cache.WaitForCacheSync(ctx.Done(), s.HasSynced)
	}
	if synced {
		s.logger.Info("Kubernetes pods and namespaces synced",
			zap.Int("pods", len(s.pods.GetStore().ListKeys())),
			zap.Int("namespaces", len(s.namespaces.GetStore().ListKeys())),
			zap.Duration("took", time.Since(begin)))
	}
}

// HasSynced reports whether every informer has delivered its initial list to the handler
// (and the IP index has its first full list).
func (s *InformerSource) HasSynced() bool {
	if !s.podsReg.HasSynced() || !s.nsReg.HasSynced() {
		return false
	}
	return s.index == nil || s.index.HasSynced()
}

// WaitForSync blocks until HasSynced or ctx ends, and reports which.
func (s *InformerSource) WaitForSync(ctx context.Context) bool {
	return cache.WaitForCacheSync(ctx.Done(), s.HasSynced)
}

// Shutdown stops the informers and returns once no handler call is running or will run.
// It is safe to call more than once, and without Start.
func (s *InformerSource) Shutdown() {
	s.mu.Lock()
	s.shutdown = true
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
}

// CachedPod returns the informer's cached (stripped) copy of a pod of this node. Callers
// must not modify it.
func (s *InformerSource) CachedPod(namespace, name string) (*corev1.Pod, bool) {
	obj, ok, err := s.pods.GetStore().GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil, false
	}
	p, ok := obj.(*corev1.Pod)
	return p, ok
}

// CachedNamespace returns the informer's cached (stripped) copy of a namespace.
func (s *InformerSource) CachedNamespace(name string) (*corev1.Namespace, bool) {
	obj, ok, err := s.namespaces.GetStore().GetByKey(name)
	if err != nil || !ok {
		return nil, false
	}
	ns, ok := obj.(*corev1.Namespace)
	return ns, ok
}

func (s *InformerSource) deliver(ev ObjectEvent) {
	s.handlerMu.Lock()
	defer s.handlerMu.Unlock()
	s.handler(ev)
}

func (s *InformerSource) deliverPod(t EventType, obj any) {
	var pod *corev1.Pod
	switch o := obj.(type) {
	case *corev1.Pod:
		pod = o
	case cache.DeletedFinalStateUnknown:
		// A deletion the watch missed, found by a relist: Obj is the last cached state,
		// or, if even that is gone, only the key is left.
		if p, ok := o.Obj.(*corev1.Pod); ok {
			pod = p
		} else if ns, name, err := cache.SplitMetaNamespaceKey(o.Key); err == nil && ns != "" && name != "" {
			pod = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		}
	}
	if pod != nil {
		s.deliver(ObjectEvent{Type: t, Pod: pod})
	}
}

func (s *InformerSource) deliverNamespace(t EventType, obj any) {
	var ns *corev1.Namespace
	switch o := obj.(type) {
	case *corev1.Namespace:
		ns = o
	case cache.DeletedFinalStateUnknown:
		if n, ok := o.Obj.(*corev1.Namespace); ok {
			ns = n
		} else if o.Key != "" && !strings.Contains(o.Key, "/") {
			ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.Key}}
		}
	}
	if ns != nil {
		s.deliver(ObjectEvent{Type: t, Namespace: ns})
	}
}

// podListWatch lists and watches pods matching a field selector, logging failures (an
// informer retries them with backoff; RBAC and connectivity problems show up here).
func (s *InformerSource) podListWatch(client kubernetes.Interface, selector fields.Selector, what string) cache.ListerWatcher {
	sel := selector.String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = sel
			list, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, opts)
			s.logListWatchError(what, "list", err)
			return list, err
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector = sel
			w, err := client.CoreV1().Pods(metav1.NamespaceAll).Watch(ctx, opts)
			s.logListWatchError(what, "watch", err)
			return w, err
		},
	}
	// Lets the reflector know whether the client can stream its initial list (fakes cannot).
	return cache.ToListWatcherWithWatchListSemantics(lw, client)
}

func (s *InformerSource) namespaceListWatch(client kubernetes.Interface) cache.ListerWatcher {
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			list, err := client.CoreV1().Namespaces().List(ctx, opts)
			s.logListWatchError("namespaces", "list", err)
			return list, err
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			w, err := client.CoreV1().Namespaces().Watch(ctx, opts)
			s.logListWatchError("namespaces", "watch", err)
			return w, err
		},
	}
	return cache.ToListWatcherWithWatchListSemantics(lw, client)
}

func (s *InformerSource) logListWatchError(what, verb string, err error) {
	if err == nil || errors.Is(err, context.Canceled) {
		return
	}
	// The reflector backs off (up to 30s) between attempts, which bounds this log's rate.
	s.logger.Warn("Kubernetes "+verb+" failed; retrying", zap.String("resource", what), zap.Error(err))
}

func transformPod(obj any) (any, error) {
	if p, ok := obj.(*corev1.Pod); ok {
		return StripPod(p), nil
	}
	// A DeletedFinalStateUnknown carries an already stripped pod.
	return obj, nil
}

func transformNamespace(obj any) (any, error) {
	if ns, ok := obj.(*corev1.Namespace); ok {
		return StripNamespace(ns), nil
	}
	return obj, nil
}

// Containers whose arguments are kept: FromPod reads the proxy UID/GID from their -u/-g.
var argsKeptFor = map[string]bool{containerIstioInit: true, containerIstioValidate: true}

// StripPod returns the part of a pod the inventory reads (FromPod, the rules, the IP
// index): names, UID, resourceVersion, owners, Istio's labels and sidecar annotations,
// the spec's node, host namespaces and security contexts, each container's name, image,
// restart policy, security context and volume mounts (name, path, read-only), and the
// status's phase, IPs and the users the kubelet reports. Everything else goes:
// managedFields, every env value, args and command (except istio-init's and
// istio-validation's), probes, resources, lifecycle, all other annotations (kubectl's
// last-applied-configuration can hold a whole spec, env included), conditions, and
// spec.volumes: the mounts name the volumes, the proxy's come from the sidecar status
// annotation, and each corev1.Volume costs 256 bytes even with only its name kept.
// The result shares unmodified parts with p; p is not modified. Idempotent.
func StripPod(p *corev1.Pod) *corev1.Pod {
	st := parseSidecarStatus(p.Annotations[annotationSidecarStatus])
	mounts := mountFilter{status: st, proxyVolumes: st.proxyVolumeSet()}
	out := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:              p.Name,
			Namespace:         p.Namespace,
			UID:               p.UID,
			ResourceVersion:   p.ResourceVersion,
			CreationTimestamp: p.CreationTimestamp,
			DeletionTimestamp: p.DeletionTimestamp,
			Labels:            keepKeys(p.Labels, isKeptPodLabel),
			Annotations:       keepKeys(p.Annotations, isKeptPodAnnotation),
			OwnerReferences:   p.OwnerReferences,
		},
		Spec: corev1.PodSpec{
			NodeName:              p.Spec.NodeName,
			ServiceAccountName:    p.Spec.ServiceAccountName,
			HostNetwork:           p.Spec.HostNetwork,
			HostPID:               p.Spec.HostPID,
			HostIPC:               p.Spec.HostIPC,
			ShareProcessNamespace: p.Spec.ShareProcessNamespace,
			SecurityContext:       p.Spec.SecurityContext,
			InitContainers:        stripContainers(p.Spec.InitContainers, true, mounts),
			Containers:            stripContainers(p.Spec.Containers, false, mounts),
		},
		Status: corev1.PodStatus{
			Phase:                      p.Status.Phase,
			PodIP:                      p.Status.PodIP,
			PodIPs:                     p.Status.PodIPs,
			StartTime:                  p.Status.StartTime,
			InitContainerStatuses:      stripStatuses(p.Status.InitContainerStatuses),
			ContainerStatuses:          stripStatuses(p.Status.ContainerStatuses),
			EphemeralContainerStatuses: stripStatuses(p.Status.EphemeralContainerStatuses),
		},
	}
	if n := len(p.Spec.EphemeralContainers); n > 0 {
		out.Spec.EphemeralContainers = make([]corev1.EphemeralContainer, n)
		for i := range p.Spec.EphemeralContainers {
			ec := &p.Spec.EphemeralContainers[i]
			out.Spec.EphemeralContainers[i] = corev1.EphemeralContainer{
				EphemeralContainerCommon: corev1.EphemeralContainerCommon(stripContainer((*corev1.Container)(&ec.EphemeralContainerCommon), false, mounts.proxyVolumes)),
				TargetContainerName:      ec.TargetContainerName,
			}
		}
	}
	return out
}

func stripContainers(cs []corev1.Container, initContainers bool, mounts mountFilter) []corev1.Container {
	if len(cs) == 0 {
		return nil
	}
	out := make([]corev1.Container, len(cs))
	for i := range cs {
		c := &cs[i]
		out[i] = stripContainer(c, initContainers && argsKeptFor[c.Name], mounts.keep(initContainers, c.Name, c.Image))
	}
	return out
}

// mountFilter keeps of a container's volumeMounts what FromPod reads: the names of the
// proxy's volumes an application container mounts. Istio's own containers mount them all
// by design (about nine mounts a pod, a fifth of what a stripped pod would hold otherwise).
type mountFilter struct {
	status       sidecarStatus
	proxyVolumes map[string]bool
}

// keep returns the set of volume names whose mounts a regular or init container keeps; nil
// keeps none. Ephemeral containers are never Istio's (FromPod): they keep proxyVolumes.
func (f mountFilter) keep(initContainer bool, name, image string) map[string]bool {
	if f.status.trusts(name, image, initContainer) {
		return nil
	}
	return f.proxyVolumes
}

func stripContainer(c *corev1.Container, keepArgs bool, keepMounts map[string]bool) corev1.Container {
	out := corev1.Container{
		Name:            c.Name,
		Image:           c.Image,
		RestartPolicy:   c.RestartPolicy,
		SecurityContext: c.SecurityContext,
	}
	if keepArgs {
		out.Command, out.Args = c.Command, c.Args
	}
	for i := range c.VolumeMounts {
		if name := c.VolumeMounts[i].Name; keepMounts[name] {
			out.VolumeMounts = append(out.VolumeMounts, corev1.VolumeMount{Name: name}) // the rules read only which volume
		}
	}
	return out
}

// stripStatuses keeps the statuses that report the user a container runs as (the
// kubelet does where SupplementalGroupsPolicy is on): nothing else of them is read.
func stripStatuses(ss []corev1.ContainerStatus) []corev1.ContainerStatus {
	var out []corev1.ContainerStatus
	for i := range ss {
		if ss[i].User != nil {
			out = append(out, corev1.ContainerStatus{Name: ss[i].Name, User: ss[i].User})
		}
	}
	return out
}

// StripNamespace returns the part of a namespace the inventory reads: name, UID,
// resourceVersion, Istio's labels and the phase. No annotation is kept. Idempotent.
func StripNamespace(ns *corev1.Namespace) *corev1.Namespace {
	return &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{
			Name:              ns.Name,
			UID:               ns.UID,
			ResourceVersion:   ns.ResourceVersion,
			DeletionTimestamp: ns.DeletionTimestamp,
			Labels:            keepKeys(ns.Labels, isKeptNamespaceLabel),
		},
		Status: corev1.NamespaceStatus{Phase: ns.Status.Phase},
	}
}

// isIstioKey: a label or annotation key in one of Istio's domains (istio.io,
// sidecar.istio.io, security.istio.io, ...).
func isIstioKey(k string) bool {
	domain, _, ok := strings.Cut(k, "/")
	return ok && (domain == "istio.io" || strings.HasSuffix(domain, ".istio.io"))
}

func isKeptPodLabel(k string) bool { return k == labelPodTemplateHash || isIstioKey(k) }

func isKeptNamespaceLabel(k string) bool { return k == LabelIstioInjection || isIstioKey(k) }

// isKeptPodAnnotation: the injector's and the capture annotations (sidecar.istio.io/*,
// traffic.sidecar.istio.io/*, status.sidecar.istio.io/*). Not proxy.istio.io/config: its
// proxyMetadata is environment for the proxy, and nothing reads it.
func isKeptPodAnnotation(k string) bool {
	domain, _, ok := strings.Cut(k, "/")
	return ok && (domain == "sidecar.istio.io" || strings.HasSuffix(domain, ".sidecar.istio.io"))
}

func keepKeys(m map[string]string, keep func(string) bool) map[string]string {
	var out map[string]string
	for k, v := range m {
		if !keep(k) {
			continue
		}
		if out == nil {
			out = make(map[string]string)
		}
		out[k] = v
	}
	return out
}
