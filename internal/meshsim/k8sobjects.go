// Package meshsim produces synthetic Istio mesh telemetry in the exact shapes a collector
// receives. This file: Kubernetes objects as the k8sobjects receiver emits them.
package meshsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"sigs.k8s.io/yaml"
)

// WatchType is a watch event type of the k8sobjects receiver's watch mode.
type WatchType string

const (
	WatchAdded    WatchType = "ADDED"
	WatchModified WatchType = "MODIFIED"
	WatchDeleted  WatchType = "DELETED"
)

// Object is a Kubernetes object as plain JSON-shaped Go values.
type Object map[string]any

// Name, Namespace and Kind read the object's identity.
func (o Object) Name() string      { return o.metadataString("name") }
func (o Object) Namespace() string { return o.metadataString("namespace") }
func (o Object) Kind() string      { s, _ := o["kind"].(string); return s }

func (o Object) metadataString(key string) string {
	md, _ := o["metadata"].(map[string]any)
	s, _ := md[key].(string)
	return s
}

// LoadObjects reads a (multi-document) YAML or JSON file of Kubernetes objects.
func LoadObjects(path string) ([]Object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Object
	for _, doc := range bytes.Split(data, []byte("\n---")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.UseNumber()
		var o map[string]any
		if err := dec.Decode(&o); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if o != nil {
			out = append(out, Object(integerNumbers(o).(map[string]any)))
		}
	}
	return out, nil
}

// integerNumbers turns JSON numbers into int64 where they are integers, as Kubernetes'
// unstructured objects (and so the k8sobjects receiver) carry them.
func integerNumbers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = integerNumbers(e)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = integerNumbers(e)
		}
		return t
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	}
	return v
}

// AppendWatchRecord adds obj to ld as the k8sobjects receiver's watch mode writes it:
// body {type, object}, attributes k8s.resource.name, event.domain, event.name, and the
// namespace on the resource.
func AppendWatchRecord(ld plog.Logs, typ WatchType, obj Object, ts time.Time) error {
	lr := newRecord(ld, obj, ts)
	body := lr.Body().SetEmptyMap()
	body.PutStr("type", string(typ))
	if err := putSorted(body.PutEmptyMap("object"), obj); err != nil {
		return err
	}
	lr.Attributes().PutStr("event.domain", "k8s")
	lr.Attributes().PutStr("event.name", obj.Name())
	return nil
}

// AppendPullRecord adds obj to ld as the k8sobjects receiver's pull mode writes it: the
// body is the object itself.
func AppendPullRecord(ld plog.Logs, obj Object, ts time.Time) error {
	lr := newRecord(ld, obj, ts)
	return putSorted(lr.Body().SetEmptyMap(), obj)
}

// putSorted fills m from a JSON-shaped map with keys in sorted order at every level, so the
// same object always encodes to the same bytes (pcommon.Map.FromRaw follows Go's random
// map order).
func putSorted(m pcommon.Map, obj map[string]any) error {
	m.EnsureCapacity(len(obj))
	for _, k := range sortedKeys(obj) {
		if err := putValue(m.PutEmpty(k), obj[k]); err != nil {
			return err
		}
	}
	return nil
}

func putValue(v pcommon.Value, raw any) error {
	switch t := raw.(type) {
	case map[string]any:
		return putSorted(v.SetEmptyMap(), t)
	case Object:
		return putSorted(v.SetEmptyMap(), t)
	case []any:
		s := v.SetEmptySlice()
		s.EnsureCapacity(len(t))
		for _, e := range t {
			if err := putValue(s.AppendEmpty(), e); err != nil {
				return err
			}
		}
		return nil
	}
	return v.FromRaw(raw)
}

func newRecord(ld plog.Logs, obj Object, ts time.Time) plog.LogRecord {
	rl := ld.ResourceLogs().AppendEmpty()
	if ns := obj.Namespace(); ns != "" {
		rl.Resource().Attributes().PutStr("k8s.namespace.name", ns)
	}
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts))
	lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	lr.Attributes().PutStr("k8s.resource.name", resourceName(obj.Kind()))
	return lr
}

// resourceName is the plural resource the k8sobjects receiver is configured with.
func resourceName(kind string) string {
	switch kind {
	case "Pod":
		return "pods"
	case "Namespace":
		return "namespaces"
	case "Deployment":
		return "deployments"
	case "StatefulSet":
		return "statefulsets"
	case "DaemonSet":
		return "daemonsets"
	case "Job":
		return "jobs"
	case "CronJob":
		return "cronjobs"
	}
	return "unknown"
}
