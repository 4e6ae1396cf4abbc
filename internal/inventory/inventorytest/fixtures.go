// Package inventorytest loads the Kubernetes fixtures under testdata/ the way the processor
// will see them: each document as the plain Go value pcommon.Value.AsRaw gives
// (map[string]any, []any, string, int64, float64, bool), decoded with inventory.DecodeObject.
package inventorytest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/meshinsights/otelcol-insights/internal/inventory"
)

// Testdata is the path of a file or folder under the repository's testdata/.
func Testdata(elem ...string) string {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata")
	return filepath.Join(append([]string{root}, elem...)...)
}

// LoadDocuments reads every YAML document of a file as AsRaw-style values.
func LoadDocuments(tb testing.TB, path string) []map[string]any {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read %s: %v", path, err)
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs []map[string]any
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatalf("split %s: %v", path, err)
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		if len(bytes.TrimSpace(js)) == 0 || string(bytes.TrimSpace(js)) == "null" {
			continue
		}
		m, err := RawFromJSON(js)
		if err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, m)
	}
	return docs
}

// RawFromJSON parses a JSON object into AsRaw-style values: integers as int64, other
// numbers as float64.
func RawFromJSON(js []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return normalize(v).(map[string]any), nil
}

func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = normalize(e)
		}
	case []any:
		for i, e := range t {
			t[i] = normalize(e)
		}
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	}
	return v
}

// PodObject turns a manifest document into a v1 Pod object as the apiserver would hold it:
// a Pod as it is; a workload (Deployment, StatefulSet, DaemonSet, Job, ReplicaSet) lifted
// from its pod template and named after the workload. A manifest without a namespace lands
// in "default", as kubectl apply would put it. Other kinds give nil.
func PodObject(doc map[string]any) map[string]any {
	switch doc["kind"] {
	case "Pod":
		meta, _ := doc["metadata"].(map[string]any)
		if ns, _ := meta["namespace"].(string); ns != "" || meta == nil {
			return doc
		}
		pod := make(map[string]any, len(doc))
		for k, v := range doc {
			pod[k] = v
		}
		podMeta := make(map[string]any, len(meta)+1)
		for k, v := range meta {
			podMeta[k] = v
		}
		podMeta["namespace"] = "default"
		pod["metadata"] = podMeta
		return pod
	case "Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet":
	default:
		return nil
	}
	meta, _ := doc["metadata"].(map[string]any)
	spec, _ := doc["spec"].(map[string]any)
	tmpl, _ := spec["template"].(map[string]any)
	tmeta, _ := tmpl["metadata"].(map[string]any)
	podMeta := map[string]any{}
	for k, v := range tmeta {
		podMeta[k] = v
	}
	podMeta["name"] = meta["name"]
	podMeta["namespace"] = "default"
	if ns, ok := meta["namespace"].(string); ok && ns != "" {
		podMeta["namespace"] = ns
	}
	return map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": podMeta, "spec": tmpl["spec"]}
}

// LoadPods decodes every pod (or lifted workload template) of a manifest file.
func LoadPods(tb testing.TB, path string) []*corev1.Pod {
	tb.Helper()
	var pods []*corev1.Pod
	for _, doc := range LoadDocuments(tb, path) {
		obj := PodObject(doc)
		if obj == nil {
			continue
		}
		ev, ok, err := inventory.DecodeObject(obj)
		if err != nil || !ok {
			tb.Fatalf("%s: DecodeObject: ok=%v err=%v", path, ok, err)
		}
		pods = append(pods, ev.Pod)
	}
	return pods
}

// LoadPod decodes the only pod of a manifest file.
func LoadPod(tb testing.TB, path string) *corev1.Pod {
	tb.Helper()
	pods := LoadPods(tb, path)
	if len(pods) != 1 {
		tb.Fatalf("%s: want 1 pod, got %d", path, len(pods))
	}
	return pods[0]
}

// namespacedKinds are the kinds DecodeObject reads that live in a namespace.
var namespacedKinds = map[string]bool{
	"Pod": true, "Deployment": true, "StatefulSet": true, "DaemonSet": true, "Job": true, "CronJob": true,
}

// ManifestObject returns a manifest document as the apiserver would hold it: a namespaced
// object without a namespace lands in "default", as kubectl apply would put it. The document
// itself is not modified.
func ManifestObject(doc map[string]any) map[string]any {
	kind, _ := doc["kind"].(string)
	meta, _ := doc["metadata"].(map[string]any)
	if !namespacedKinds[kind] || meta == nil {
		return doc
	}
	if ns, _ := meta["namespace"].(string); ns != "" {
		return doc
	}
	obj := make(map[string]any, len(doc))
	for k, v := range doc {
		obj[k] = v
	}
	objMeta := make(map[string]any, len(meta)+1)
	for k, v := range meta {
		objMeta[k] = v
	}
	objMeta["namespace"] = "default"
	obj["metadata"] = objMeta
	return obj
}

// LoadObjects decodes every document of a manifest file as the processor would, through
// inventory.DecodeObject: pods, namespaces, and controllers (whose pod templates are lifted).
// A document DecodeObject does not take fails the test.
func LoadObjects(tb testing.TB, path string) []inventory.ObjectEvent {
	tb.Helper()
	var evs []inventory.ObjectEvent
	for _, doc := range LoadDocuments(tb, path) {
		ev, ok, err := inventory.DecodeObject(ManifestObject(doc))
		if err != nil || !ok {
			tb.Fatalf("%s: DecodeObject(%v): ok=%v err=%v", path, doc["kind"], ok, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// LoadNamespace decodes the only namespace of a manifest file.
func LoadNamespace(tb testing.TB, path string) *corev1.Namespace {
	tb.Helper()
	evs := LoadObjects(tb, path)
	if len(evs) != 1 || evs[0].Namespace == nil {
		tb.Fatalf("%s: want 1 namespace, got %d objects", path, len(evs))
	}
	return evs[0].Namespace
}
