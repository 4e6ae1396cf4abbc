package inventory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EventType is the kind of change a record reports: a watch event type, or "" for a
// pull-mode snapshot of the object.
type EventType string

const (
	EventSnapshot EventType = ""
	EventAdded    EventType = "ADDED"
	EventModified EventType = "MODIFIED"
	EventDeleted  EventType = "DELETED"
)

// ObjectEvent is one Kubernetes object decoded from a record body: a pod, a namespace, or
// a controller's pod template. Exactly one of Pod and Namespace is set.
type ObjectEvent struct {
	Type EventType
	// Pod is a v1 Pod, or, when Template is set, the pod template of a controller object
	// lifted into a pod named like the object (its labels, annotations and spec are the
	// template's).
	Pod *corev1.Pod
	// Template is set when Pod was lifted from a controller's pod template.
	Template *TemplateOrigin
	// Namespace is a v1 Namespace.
	Namespace *corev1.Namespace
}

// TemplateOrigin says which controller object a lifted pod template came from.
type TemplateOrigin struct {
	// Object is the object itself: Deployment, StatefulSet, DaemonSet, Job or CronJob.
	Object Controller
	// Controller is what the template's pods name as their controller (the finding's
	// subject): the object itself, or the CronJob that controls a Job.
	Controller Controller
}

// Kubernetes name length limits: a record that exceeds them is not a real object, and the
// names are all the inventory keeps of it, so they must stay small.
const (
	maxNameLen      = 253 // DNS subdomain (pod names)
	maxNamespaceLen = 63  // DNS label (namespace names)
)

// DecodeObject recognises a Kubernetes object in a log record body in the k8sobjects
// receiver's formats: pull mode (the body is the object) or watch mode (the body is
// {"type": ADDED|MODIFIED|DELETED, "object": {...}}), either as a map (pcommon.Value.AsRaw)
// or as a JSON string or []byte.
//
// Decoded kinds: v1 Pod and Namespace; apps/v1 Deployment, StatefulSet and DaemonSet and
// batch/v1 Job and CronJob, whose pod template (a CronJob's spec.jobTemplate.spec.template)
// is lifted into ev.Pod with ev.Template saying where it came from.
//
// ok=false with a nil error means the body is not a Kubernetes object this package handles:
// not an object at all (an access log line), a watch BOOKMARK/ERROR, or another kind or
// version. err != nil means the body claims to be a Kubernetes object but is malformed; ok
// is then false.
func DecodeObject(body any) (ev ObjectEvent, ok bool, err error) {
	var m map[string]any
	switch b := body.(type) {
	case map[string]any:
		m = b
	case string:
		m = jsonObject([]byte(b))
	case []byte:
		m = jsonObject(b)
	}
	if m == nil {
		return ObjectEvent{}, false, nil
	}

	evType := EventSnapshot
	obj := m
	if isWatchEnvelope(m) {
		t, isStr := m["type"].(string)
		if !isStr {
			return ObjectEvent{}, false, fmt.Errorf("watch event: type is %s, not a string", typeName(m["type"]))
		}
		switch EventType(t) {
		case EventAdded, EventModified, EventDeleted:
			evType = EventType(t)
		case "BOOKMARK", "ERROR":
			// Progress markers and watch errors carry no object state to keep.
			return ObjectEvent{}, false, nil
		default:
			return ObjectEvent{}, false, fmt.Errorf("watch event: unknown type %q", truncate(t))
		}
		o, isMap := m["object"].(map[string]any)
		if !isMap {
			return ObjectEvent{}, false, fmt.Errorf("watch event: object is %s, not a map", typeName(m["object"]))
		}
		if !claimsObject(o) {
			return ObjectEvent{}, false, errors.New("watch event: object has no kind, apiVersion or metadata")
		}
		obj = o
	} else if !claimsObject(m) {
		return ObjectEvent{}, false, nil
	}

	kind, err := stringField(obj, "kind")
	if err != nil {
		return ObjectEvent{}, false, err
	}
	apiVersion, err := stringField(obj, "apiVersion")
	if err != nil {
		return ObjectEvent{}, false, err
	}
	switch {
	case apiVersion == "v1" && kind == "Pod":
		pod, err := decodePod(obj)
		if err != nil {
			return ObjectEvent{}, false, err
		}
		return ObjectEvent{Type: evType, Pod: pod}, true, nil
	case apiVersion == "v1" && kind == "Namespace":
		ns, err := decodeNamespace(obj)
		if err != nil {
			return ObjectEvent{}, false, err
		}
		return ObjectEvent{Type: evType, Namespace: ns}, true, nil
	case apiVersion == "apps/v1" && (kind == KindDeployment || kind == KindStatefulSet || kind == KindDaemonSet),
		apiVersion == "batch/v1" && (kind == KindJob || kind == KindCronJob):
		pod, origin, err := decodeTemplate(obj, kind)
		if err != nil {
			return ObjectEvent{}, false, err
		}
		return ObjectEvent{Type: evType, Pod: pod, Template: origin}, true, nil
	}
	// Other kinds (and other versions of these) are not ours to judge.
	return ObjectEvent{}, false, nil
}

// jsonObject parses a JSON object, or returns nil for anything else (plain text, arrays).
func jsonObject(b []byte) map[string]any {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	// Numbers stay exact (a UID near 2^63 would not survive float64).
	dec.UseNumber()
	var m map[string]any
	if dec.Decode(&m) != nil || dec.More() {
		return nil
	}
	return m
}

// isWatchEnvelope: a watch event is exactly {type, object}.
func isWatchEnvelope(m map[string]any) bool {
	_, hasType := m["type"]
	_, hasObject := m["object"]
	return hasType && hasObject
}

// claimsObject: every Kubernetes object has kind, apiVersion and metadata. Two of them make
// a claim; one alone is an ordinary JSON log field ("kind", "metadata") and is no claim.
func claimsObject(m map[string]any) bool {
	n := 0
	for _, k := range [...]string{"kind", "apiVersion", "metadata"} {
		if _, has := m[k]; has {
			n++
		}
	}
	return n >= 2
}

func stringField(m map[string]any, key string) (string, error) {
	v, has := m[key]
	if !has {
		return "", fmt.Errorf("kubernetes object without %s", key)
	}
	s, isStr := v.(string)
	if !isStr {
		return "", fmt.Errorf("kubernetes object: %s is %s, not a string", key, typeName(v))
	}
	return s, nil
}

// decodeStrict decodes through JSON into a typed object, so a field of the wrong type is
// an error rather than a silent zero. what names the kind in errors.
func decodeStrict(obj map[string]any, what string, into any) error {
	if _, isMap := obj["metadata"].(map[string]any); !isMap {
		return fmt.Errorf("%s: metadata is %s, not a map", what, typeName(obj["metadata"]))
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := json.Unmarshal(raw, into); err != nil {
		// Some decoders quote the offending value (a timestamp, a quantity): keep it short.
		return fmt.Errorf("%s: %s", what, truncate(err.Error()))
	}
	return nil
}

// checkNames: the names are all the inventory keys by, so they must be what Kubernetes
// allows: present, short, and free of '/' (the key separator).
func checkNames(what, name, namespace string, namespaced bool) error {
	switch {
	case name == "":
		return fmt.Errorf("%s: metadata.name is missing", what)
	case namespaced && namespace == "":
		return fmt.Errorf("%s: metadata.namespace is missing", what)
	case len(name) > maxNameLen:
		return fmt.Errorf("%s: metadata.name is %d bytes long, longer than Kubernetes allows", what, len(name))
	case len(namespace) > maxNamespaceLen:
		return fmt.Errorf("%s: metadata.namespace is %d bytes long, longer than Kubernetes allows", what, len(namespace))
	case strings.ContainsRune(name, '/') || strings.ContainsRune(namespace, '/'):
		return fmt.Errorf("%s: a name contains '/', which Kubernetes does not allow", what)
	}
	return nil
}

func decodePod(obj map[string]any) (*corev1.Pod, error) {
	pod := &corev1.Pod{}
	if err := decodeStrict(obj, "pod", pod); err != nil {
		return nil, err
	}
	if err := checkNames("pod", pod.Name, pod.Namespace, true); err != nil {
		return nil, err
	}
	return pod, nil
}

func decodeNamespace(obj map[string]any) (*corev1.Namespace, error) {
	ns := &corev1.Namespace{}
	if err := decodeStrict(obj, "namespace", ns); err != nil {
		return nil, err
	}
	// A namespace's name is a DNS label: the namespace length limit applies to it.
	if len(ns.Name) > maxNamespaceLen {
		return nil, fmt.Errorf("namespace: metadata.name is %d bytes long, longer than Kubernetes allows", len(ns.Name))
	}
	if err := checkNames("namespace", ns.Name, "", false); err != nil {
		return nil, err
	}
	return ns, nil
}

// decodeTemplate decodes a controller object strictly and lifts its pod template into a
// pod named like the object. The pod keeps the object's resourceVersion, so the newest
// version of the object wins in the store like a pod's would.
func decodeTemplate(obj map[string]any, kind string) (*corev1.Pod, *TemplateOrigin, error) {
	what := strings.ToLower(kind)
	var (
		meta *metav1.ObjectMeta
		tmpl *corev1.PodTemplateSpec
	)
	switch kind {
	case KindDeployment:
		o := &appsv1.Deployment{}
		meta, tmpl = &o.ObjectMeta, &o.Spec.Template
		if err := decodeStrict(obj, what, o); err != nil {
			return nil, nil, err
		}
	case KindStatefulSet:
		o := &appsv1.StatefulSet{}
		meta, tmpl = &o.ObjectMeta, &o.Spec.Template
		if err := decodeStrict(obj, what, o); err != nil {
			return nil, nil, err
		}
	case KindDaemonSet:
		o := &appsv1.DaemonSet{}
		meta, tmpl = &o.ObjectMeta, &o.Spec.Template
		if err := decodeStrict(obj, what, o); err != nil {
			return nil, nil, err
		}
	case KindJob:
		o := &batchv1.Job{}
		meta, tmpl = &o.ObjectMeta, &o.Spec.Template
		if err := decodeStrict(obj, what, o); err != nil {
			return nil, nil, err
		}
	case KindCronJob:
		o := &batchv1.CronJob{}
		meta, tmpl = &o.ObjectMeta, &o.Spec.JobTemplate.Spec.Template
		if err := decodeStrict(obj, what, o); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, fmt.Errorf("%s: not a controller kind", what)
	}
	if err := checkNames(what, meta.Name, meta.Namespace, true); err != nil {
		return nil, nil, err
	}

	self := Controller{Kind: kind, Name: meta.Name}
	origin := &TemplateOrigin{Object: self, Controller: self}
	if kind == KindJob {
		// A CronJob's Job: its pods name the CronJob (see controllerOf), and so must its template.
		for i := range meta.OwnerReferences {
			ref := &meta.OwnerReferences[i]
			if ref.Controller != nil && *ref.Controller && ref.Kind == KindCronJob && ref.Name != "" && len(ref.Name) <= maxNameLen {
				origin.Controller = Controller{Kind: KindCronJob, Name: ref.Name}
				break
			}
		}
	}
	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            meta.Name,
			Namespace:       meta.Namespace,
			ResourceVersion: meta.ResourceVersion,
			Labels:          tmpl.Labels,
			Annotations:     tmpl.Annotations,
		},
		Spec: tmpl.Spec,
	}
	return pod, origin, nil
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case map[string]any:
		return "a map"
	case []any:
		return "a list"
	case bool:
		return "a bool"
	case int64, float64, json.Number, int:
		return "a number"
	case []byte:
		return "bytes"
	}
	return fmt.Sprintf("%T", v)
}

// truncate keeps error messages (which may be logged) short and free of whole payloads.
func truncate(s string) string {
	const maxLen = 200
	if len(s) <= maxLen {
		return s
	}
	return s[:maxLen] + "..."
}
