package inventory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
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

// ObjectEvent is one Kubernetes object decoded from a record body.
type ObjectEvent struct {
	Type EventType
	Pod  *corev1.Pod
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
// ok=false with a nil error means the body is not a Kubernetes object this package handles:
// not an object at all (an access log line), a watch BOOKMARK/ERROR, or a kind other than
// v1 Pod. err != nil means the body claims to be a Kubernetes object but is malformed; ok
// is then false. Only v1 Pods are decoded for now.
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
	if kind != "Pod" || apiVersion != "v1" {
		// Namespaces and controllers come later; other kinds are not ours to judge.
		return ObjectEvent{}, false, nil
	}

	pod, err := decodePod(obj)
	if err != nil {
		return ObjectEvent{}, false, err
	}
	return ObjectEvent{Type: evType, Pod: pod}, true, nil
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

// decodePod decodes strictly: through JSON into corev1.Pod, so a field of the wrong type is
// an error rather than a silent zero.
func decodePod(obj map[string]any) (*corev1.Pod, error) {
	if _, isMap := obj["metadata"].(map[string]any); !isMap {
		return nil, fmt.Errorf("pod: metadata is %s, not a map", typeName(obj["metadata"]))
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("pod: %w", err)
	}
	pod := &corev1.Pod{}
	if err := json.Unmarshal(raw, pod); err != nil {
		// Some decoders quote the offending value (a timestamp, a quantity): keep it short.
		return nil, fmt.Errorf("pod: %s", truncate(err.Error()))
	}
	switch {
	case pod.Name == "":
		return nil, errors.New("pod: metadata.name is missing")
	case pod.Namespace == "":
		return nil, errors.New("pod: metadata.namespace is missing")
	case len(pod.Name) > maxNameLen:
		return nil, fmt.Errorf("pod: metadata.name is %d bytes long, longer than Kubernetes allows", len(pod.Name))
	case len(pod.Namespace) > maxNamespaceLen:
		return nil, fmt.Errorf("pod: metadata.namespace is %d bytes long, longer than Kubernetes allows", len(pod.Namespace))
	}
	return pod, nil
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
