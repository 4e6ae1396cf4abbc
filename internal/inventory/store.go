package inventory

import (
	"errors"
	"strconv"
)

// ApplyOutcome says what Store.Apply did with an event.
type ApplyOutcome int

const (
	// ApplyAdded: a pod new to the store was stored.
	ApplyAdded ApplyOutcome = iota + 1
	// ApplyUpdated: a stored pod was replaced by a newer (or not comparable) version.
	ApplyUpdated
	// ApplyUnchanged: the stored pod already has this resourceVersion; nothing changed.
	ApplyUnchanged
	// ApplyDeleted: a stored pod was removed; its findings should be withdrawn.
	ApplyDeleted
	// ApplyStale: the event is older than the stored pod and was ignored.
	ApplyStale
	// ApplyRejected: a new pod was not stored because the store is full. Count it.
	ApplyRejected
	// ApplyNotFound: a deletion of a pod the store does not hold.
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
	// Key is the pod's namespace/name, always set.
	Key string
	// Pod is the stored pod after an add, update or unchanged; the removed pod after a
	// delete; nil otherwise. Callers must not modify it.
	Pod *Pod
}

// Stored reports whether the store now holds Pod as the pod's current state.
func (r ApplyResult) Stored() bool {
	return r.Outcome == ApplyAdded || r.Outcome == ApplyUpdated || r.Outcome == ApplyUnchanged
}

// Store keeps the latest stripped-down state of each pod, keyed by namespace/name, from
// whatever source delivers it (log records, an informer): the newest resourceVersion wins.
// It is not safe for concurrent use; the engine serialises access.
type Store struct {
	maxPods int
	pods    map[string]*Pod
}

// NewStore returns an empty store holding at most maxPods pods (0 or less: no limit).
func NewStore(maxPods int) *Store {
	return &Store{maxPods: maxPods, pods: make(map[string]*Pod)}
}

// Apply records one pod event. Pull snapshots, ADDED and MODIFIED upsert; DELETED removes.
// An event whose resourceVersion is older than the stored one is ignored (both parsed as
// unsigned integers; when either does not parse, the event is taken as newer). A pod new to
// a full store is rejected. The fallback is the configured proxy identity (see FromPod).
func (s *Store) Apply(ev ObjectEvent, fallback ProxyIdentity) (ApplyResult, error) {
	if ev.Pod == nil {
		return ApplyResult{}, errors.New("inventory: event without a pod")
	}
	key := podKey(ev.Pod.Namespace, ev.Pod.Name)
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
		delete(s.pods, key)
		return ApplyResult{Outcome: ApplyDeleted, Key: key, Pod: stored}, nil
	}

	if !has && s.maxPods > 0 && len(s.pods) >= s.maxPods {
		return ApplyResult{Outcome: ApplyRejected, Key: key}, nil
	}
	pod := FromPod(ev.Pod, fallback)
	s.pods[key] = pod
	if has {
		return ApplyResult{Outcome: ApplyUpdated, Key: key, Pod: pod}, nil
	}
	return ApplyResult{Outcome: ApplyAdded, Key: key, Pod: pod}, nil
}

// Get returns the stored pod for a namespace/name key. Callers must not modify it.
func (s *Store) Get(key string) (*Pod, bool) {
	p, ok := s.pods[key]
	return p, ok
}

// Len is the number of pods stored.
func (s *Store) Len() int { return len(s.pods) }

func podKey(namespace, name string) string { return namespace + "/" + name }

// compareResourceVersions returns -1 when a is older than b, 0 when they are the same
// version, +1 otherwise. Kubernetes says resourceVersions are opaque, but every apiserver
// backed by etcd issues increasing integers; when either does not parse as one (or is
// empty), a is taken as newer, so an odd source can never freeze a pod's state.
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
