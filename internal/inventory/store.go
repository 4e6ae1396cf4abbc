package inventory

import (
	"errors"
	"slices"
	"strconv"
)

// ApplyOutcome says what Store.Apply did with an event (about a pod, a template or a namespace).
type ApplyOutcome int

const (
	// ApplyAdded: an object new to the store was stored.
	ApplyAdded ApplyOutcome = iota + 1
	// ApplyUpdated: a stored object was replaced by a newer (or not comparable) version.
	ApplyUpdated
	// ApplyUnchanged: the stored object already has this resourceVersion; nothing changed.
	ApplyUnchanged
	// ApplyDeleted: a stored object was removed; its findings should be withdrawn (a
	// namespace's pods re-evaluated).
	ApplyDeleted
	// ApplyStale: the event is older than the stored object and was ignored.
	ApplyStale
	// ApplyRejected: a new object was not stored because the store is full. Count it.
	ApplyRejected
	// ApplyNotFound: a deletion of an object the store does not hold.
	ApplyNotFound
)

// String is the outcome's name, usable as a telemetry attribute value.
func (o ApplyOutcome) String() string {
	switch o {
	case ApplyAdded:
		return "added"
	case ApplyUpdated:
		return "updated"
	case ApplyUnchanged:
		return "unchanged"
	case ApplyDeleted:
		return "deleted"
	case ApplyStale:
		return "stale"
	case ApplyRejected:
		return "rejected"
	case ApplyNotFound:
		return "not_found"
	}
	return "unknown"
}

// ApplyResult is what Store.Apply did.
type ApplyResult struct {
	Outcome ApplyOutcome
	// Key is always set: the pod's namespace/name, a template's
	// template/<kind>/<namespace>/<name>, or a namespace's name.
	Key string
	// Pod is the stored pod or template after an add, update or unchanged; the removed one
	// after a delete; nil otherwise and for namespace events. Callers must not modify it.
	Pod *Pod
	// Namespace is the same for a namespace event; nil for pod and template events.
	Namespace *NamespaceInfo
}

// Stored reports whether the store now holds Pod (or Namespace) as the object's current state.
func (r ApplyResult) Stored() bool {
	return r.Outcome == ApplyAdded || r.Outcome == ApplyUpdated || r.Outcome == ApplyUnchanged
}

// Store keeps the latest stripped-down state of each pod (keyed by namespace/name), of each
// controller's pod template (keyed template/<kind>/<namespace>/<name>) and of each namespace,
// from whatever source delivers them (log records, an informer): the newest resourceVersion
// wins. It is not safe for concurrent use; the engine serialises access.
type Store struct {
	maxPods int
	// pods holds pods and templates; byNamespace indexes them by namespace.
	pods        map[string]*Pod
	byNamespace map[string]map[string]*Pod
	namespaces  map[string]*NamespaceInfo
}

// NewStore returns an empty store holding at most maxPods pods and templates together, and
// at most as many namespaces (0 or less: no limit).
func NewStore(maxPods int) *Store {
	return &Store{
		maxPods:     maxPods,
		pods:        make(map[string]*Pod),
		byNamespace: make(map[string]map[string]*Pod),
		namespaces:  make(map[string]*NamespaceInfo),
	}
}

// Apply records one event. Pull snapshots, ADDED and MODIFIED upsert; DELETED removes.
// An event whose resourceVersion is older than the stored one is ignored (both parsed as
// unsigned integers; when either does not parse, the event is taken as newer). An object
// new to a full store is rejected. The fallback is the configured proxy identity (see
// FromPod); namespaces do not use it.
func (s *Store) Apply(ev ObjectEvent, fallback ProxyIdentity) (ApplyResult, error) {
	switch {
	case ev.Namespace != nil && ev.Pod != nil:
		return ApplyResult{}, errors.New("inventory: event with both a pod and a namespace")
	case ev.Namespace != nil:
		return s.applyNamespace(ev), nil
	case ev.Pod == nil:
		return ApplyResult{}, errors.New("inventory: event without a pod or namespace")
	}

	key := podKey(ev.Pod.Namespace, ev.Pod.Name)
	if ev.Template != nil {
		key = templateKey(ev.Template.Object.Kind, ev.Pod.Namespace, ev.Template.Object.Name)
	}
	stored, has := s.pods[key]
	if has {
		switch compareResourceVersions(ev.Pod.ResourceVersion, stored.ResourceVersion) {
		case -1:
			return ApplyResult{Outcome: ApplyStale, Key: key}, nil
		case 0:
			if ev.Type != EventDeleted {
				return ApplyResult{Outcome: ApplyUnchanged, Key: key, Pod: stored}, nil
			}
		}
	}

	if ev.Type == EventDeleted {
		if !has {
			return ApplyResult{Outcome: ApplyNotFound, Key: key}, nil
		}
		s.removePod(key, stored)
		return ApplyResult{Outcome: ApplyDeleted, Key: key, Pod: stored}, nil
	}

	if !has && s.maxPods > 0 && len(s.pods) >= s.maxPods {
		return ApplyResult{Outcome: ApplyRejected, Key: key}, nil
	}
	var pod *Pod
	if ev.Template != nil {
		pod = FromTemplate(ev.Pod, *ev.Template, fallback)
	} else {
		pod = FromPod(ev.Pod, fallback)
	}
	s.pods[key] = pod
	inNS := s.byNamespace[pod.Namespace]
	if inNS == nil {
		inNS = make(map[string]*Pod)
		s.byNamespace[pod.Namespace] = inNS
	}
	inNS[key] = pod
	if has {
		return ApplyResult{Outcome: ApplyUpdated, Key: key, Pod: pod}, nil
	}
	return ApplyResult{Outcome: ApplyAdded, Key: key, Pod: pod}, nil
}

func (s *Store) removePod(key string, p *Pod) {
	delete(s.pods, key)
	if inNS := s.byNamespace[p.Namespace]; inNS != nil {
		delete(inNS, key)
		if len(inNS) == 0 {
			delete(s.byNamespace, p.Namespace)
		}
	}
}

func (s *Store) applyNamespace(ev ObjectEvent) ApplyResult {
	key := ev.Namespace.Name
	stored, has := s.namespaces[key]
	if has {
		switch compareResourceVersions(ev.Namespace.ResourceVersion, stored.ResourceVersion) {
		case -1:
			return ApplyResult{Outcome: ApplyStale, Key: key}
		case 0:
			if ev.Type != EventDeleted {
				return ApplyResult{Outcome: ApplyUnchanged, Key: key, Namespace: stored}
			}
		}
	}
	if ev.Type == EventDeleted {
		if !has {
			return ApplyResult{Outcome: ApplyNotFound, Key: key}
		}
		delete(s.namespaces, key)
		return ApplyResult{Outcome: ApplyDeleted, Key: key, Namespace: stored}
	}
	if !has && s.maxPods > 0 && len(s.namespaces) >= s.maxPods {
		return ApplyResult{Outcome: ApplyRejected, Key: key}
	}
	ns := FromNamespace(ev.Namespace)
	s.namespaces[key] = ns
	if has {
		return ApplyResult{Outcome: ApplyUpdated, Key: key, Namespace: ns}
	}
	return ApplyResult{Outcome: ApplyAdded, Key: key, Namespace: ns}
}

// Get returns the stored pod or template for its key (see Pod.Key). Callers must not modify it.
func (s *Store) Get(key string) (*Pod, bool) {
	p, ok := s.pods[key]
	return p, ok
}

// Namespace returns the stored namespace, or nil when the store does not know it. Callers
// must not modify it; an update replaces it rather than changing it.
func (s *Store) Namespace(name string) *NamespaceInfo {
	return s.namespaces[name]
}

// PodsInNamespace returns the stored pods and templates of a namespace, sorted by key, so a
// namespace change can re-evaluate them. Callers must not modify them.
func (s *Store) PodsInNamespace(namespace string) []*Pod {
	inNS := s.byNamespace[namespace]
	if len(inNS) == 0 {
		return nil
	}
	keys := make([]string, 0, len(inNS))
	for k := range inNS {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]*Pod, len(keys))
	for i, k := range keys {
		out[i] = inNS[k]
	}
	return out
}

// Len is the number of pods and templates stored.
func (s *Store) Len() int { return len(s.pods) }

// Namespaces is the number of namespaces stored.
func (s *Store) Namespaces() int { return len(s.namespaces) }

func podKey(namespace, name string) string { return namespace + "/" + name }

func templateKey(kind, namespace, name string) string {
	return "template/" + kind + "/" + namespace + "/" + name
}

// compareResourceVersions returns -1 when a is older than b, 0 when they are the same
// version, +1 otherwise. Kubernetes says resourceVersions are opaque, but every apiserver
// backed by etcd issues increasing integers; when either does not parse as one (or is
// empty), a is taken as newer, so an odd source can never freeze an object's state.
func compareResourceVersions(a, b string) int {
	if a == "" || b == "" {
		return 1
	}
	if a == b {
		return 0
	}
	na, errA := strconv.ParseUint(a, 10, 64)
	nb, errB := strconv.ParseUint(b, 10, 64)
	if errA != nil || errB != nil {
		return 1
	}
	switch {
	case na < nb:
		return -1
	case na == nb: // "007" and "7"
		return 0
	}
	return 1
}
