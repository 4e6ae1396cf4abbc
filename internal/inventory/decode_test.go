package inventory_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/inventory/inventorytest"
)

// cleanPodObject is testdata/pods/clean-deployment-pod.yaml as the processor sees a pull-mode
// record body. Each call returns a fresh copy the caller may modify.
func cleanPodObject(t testing.TB) map[string]any {
	t.Helper()
	docs := inventorytest.LoadDocuments(t, inventorytest.Testdata("pods", "clean-deployment-pod.yaml"))
	require.Len(t, docs, 1)
	return docs[0]
}

func envelope(typ any, obj any) map[string]any {
	return map[string]any{"type": typ, "object": obj}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// at walks a path of map keys and list indexes inside an object.
func at(t testing.TB, obj map[string]any, path ...any) map[string]any {
	t.Helper()
	var cur any = obj
	for _, p := range path {
		switch k := p.(type) {
		case string:
			cur = cur.(map[string]any)[k]
		case int:
			cur = cur.([]any)[k]
		}
	}
	m, ok := cur.(map[string]any)
	require.True(t, ok, "path %v is not a map", path)
	return m
}

func TestDecodeObject(t *testing.T) {
	t.Run("pull_mode_body_is_the_pod", func(t *testing.T) {
		ev, ok, err := inventory.DecodeObject(cleanPodObject(t))
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, inventory.EventSnapshot, ev.Type)
		assert.Equal(t, "shop", ev.Pod.Namespace)
		assert.Equal(t, "payments-6d8f9c7b5d-q2xlm", ev.Pod.Name)
		assert.Equal(t, "48213377", ev.Pod.ResourceVersion)
		require.Len(t, ev.Pod.Status.ContainerStatuses, 1)
		require.NotNil(t, ev.Pod.Status.ContainerStatuses[0].User)
		assert.Equal(t, int64(10001), ev.Pod.Status.ContainerStatuses[0].User.Linux.UID)
	})

	for _, typ := range []inventory.EventType{inventory.EventAdded, inventory.EventModified, inventory.EventDeleted} {
		t.Run("watch_mode_"+strings.ToLower(string(typ)), func(t *testing.T) {
			ev, ok, err := inventory.DecodeObject(envelope(string(typ), cleanPodObject(t)))
			require.NoError(t, err)
			require.True(t, ok)
			assert.Equal(t, typ, ev.Type)
			assert.Equal(t, "payments-6d8f9c7b5d-q2xlm", ev.Pod.Name)
		})
	}

	t.Run("json_string_and_bytes_bodies", func(t *testing.T) {
		pull := mustJSON(t, cleanPodObject(t))
		watch := mustJSON(t, envelope("DELETED", cleanPodObject(t)))
		for name, body := range map[string]any{
			"pull string": string(pull), "pull bytes": pull,
			"watch string": "  " + string(watch) + "\n", "watch bytes": watch,
		} {
			ev, ok, err := inventory.DecodeObject(body)
			require.NoError(t, err, name)
			require.True(t, ok, name)
			assert.Equal(t, "shop", ev.Pod.Namespace, name)
		}
		ev, _, _ := inventory.DecodeObject(watch)
		assert.Equal(t, inventory.EventDeleted, ev.Type)
	})

	notObjects := map[string]any{
		"nil":                     nil,
		"int":                     int64(42),
		"float":                   1.5,
		"bool":                    true,
		"list":                    []any{cleanPodObject(t)},
		"empty map":               map[string]any{},
		"access log line":         `[2025-11-20T09:14:03.000Z] "GET /pay HTTP/1.1" 200 - via_upstream - "-" 0 12 3 2 "-" "curl/8.5" "abc" "payments:8080" "10.244.1.23:8080" inbound|8080|| 127.0.0.6:40213 10.244.1.23:8080 10.244.2.17:51234 outbound_.8080_._.payments.shop.svc.cluster.local default`,
		"json access log":         `{"response_code":200,"upstream_cluster":"inbound|8080||","downstream_remote_address":"10.244.2.17:51234"}`,
		"json list string":        `[{"kind":"Pod"}]`,
		"truncated json":          `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a"`,
		"two json values":         `{"kind":"Pod"} {"kind":"Pod"}`,
		"one k8s-ish key only":    map[string]any{"kind": "audit", "msg": "user logged in"},
		"metadata key only":       map[string]any{"metadata": "x", "msg": "hello"},
		"replicaset object":       map[string]any{"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": map[string]any{"name": "payments-6d8f9c7b5d", "namespace": "shop"}},
		"service object":          map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "payments", "namespace": "shop"}},
		"deployment of old group": map[string]any{"apiVersion": "extensions/v1beta1", "kind": "Deployment", "metadata": map[string]any{"name": "payments", "namespace": "shop"}},
		"cronjob of old version":  map[string]any{"apiVersion": "batch/v1beta1", "kind": "CronJob", "metadata": map[string]any{"name": "backup", "namespace": "shop"}},
		"namespace of a group":    map[string]any{"apiVersion": "apps/v1", "kind": "Namespace", "metadata": map[string]any{"name": "shop"}},
		"pod of another version":  map[string]any{"apiVersion": "v2", "kind": "Pod", "metadata": map[string]any{"name": "p", "namespace": "shop"}},
		"watch bookmark":          envelope("BOOKMARK", map[string]any{"kind": "Pod", "apiVersion": "v1", "metadata": map[string]any{"resourceVersion": "12"}}),
		"watch error":             envelope("ERROR", map[string]any{"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{}, "code": int64(410)}),
		"watch of a service":      envelope("ADDED", map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "shop", "namespace": "shop"}}),
		"unsupported typed value": struct{ Kind string }{"Pod"},
	}
	for name, body := range notObjects {
		t.Run("not_a_pod/"+strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			ev, ok, err := inventory.DecodeObject(body)
			assert.NoError(t, err)
			assert.False(t, ok)
			assert.Nil(t, ev.Pod)
			assert.Nil(t, ev.Namespace)
		})
	}

	malformed := map[string]func(t *testing.T) any{
		"envelope_object_is_a_string": func(t *testing.T) any {
			return envelope("ADDED", string(mustJSON(t, cleanPodObject(t))))
		},
		"envelope_object_is_null": func(t *testing.T) any { return envelope("MODIFIED", nil) },
		"envelope_type_is_a_number": func(t *testing.T) any {
			return envelope(int64(1), cleanPodObject(t))
		},
		"envelope_type_unknown": func(t *testing.T) any { return envelope("UPSERTED", cleanPodObject(t)) },
		"envelope_object_is_not_kubernetes": func(t *testing.T) any {
			return envelope("ADDED", map[string]any{"foo": "bar"})
		},
		"missing_metadata": func(t *testing.T) any {
			return map[string]any{"apiVersion": "v1", "kind": "Pod", "spec": map[string]any{}}
		},
		"metadata_is_a_list": func(t *testing.T) any {
			return map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": []any{"a"}}
		},
		"missing_kind": func(t *testing.T) any {
			o := cleanPodObject(t)
			delete(o, "kind")
			return o
		},
		"kind_is_a_number": func(t *testing.T) any {
			o := cleanPodObject(t)
			o["kind"] = int64(7)
			return o
		},
		"missing_metadata_name": func(t *testing.T) any {
			o := cleanPodObject(t)
			delete(at(t, o, "metadata"), "name")
			return o
		},
		"missing_metadata_namespace": func(t *testing.T) any {
			o := cleanPodObject(t)
			delete(at(t, o, "metadata"), "namespace")
			return envelope("ADDED", o)
		},
		"metadata_name_is_an_int": func(t *testing.T) any {
			o := cleanPodObject(t)
			at(t, o, "metadata")["name"] = int64(12)
			return o
		},
		"containers_not_a_list": func(t *testing.T) any {
			o := cleanPodObject(t)
			at(t, o, "spec")["containers"] = map[string]any{"name": "payments"}
			return o
		},
		"run_as_user_is_a_string": func(t *testing.T) any {
			o := cleanPodObject(t)
			at(t, o, "spec", "containers", 0, "securityContext")["runAsUser"] = "1337"
			return o
		},
		"run_as_user_beyond_int64": func(t *testing.T) any {
			o := cleanPodObject(t)
			at(t, o, "spec", "containers", 0, "securityContext")["runAsUser"] = 1e300
			return o
		},
		"run_as_user_fractional": func(t *testing.T) any {
			o := cleanPodObject(t)
			at(t, o, "spec", "containers", 0, "securityContext")["runAsUser"] = 1337.5
			return o
		},
		"kubelet_uid_is_nan": func(t *testing.T) any {
			o := cleanPodObject(t)
			at(t, o, "status", "containerStatuses", 0, "user", "linux")["uid"] = math.NaN()
			return o
		},
		"huge_uid_in_json_string": func(t *testing.T) any {
			return strings.Replace(string(mustJSON(t, cleanPodObject(t))), `"runAsUser":10001`, `"runAsUser":99999999999999999999999`, 1)
		},
		"name_longer_than_kubernetes_allows": func(t *testing.T) any {
			o := cleanPodObject(t)
			at(t, o, "metadata")["name"] = strings.Repeat("a", 254)
			return o
		},
		"namespace_longer_than_kubernetes_allows": func(t *testing.T) any {
			o := cleanPodObject(t)
			at(t, o, "metadata")["namespace"] = strings.Repeat("n", 64)
			return o
		},
		"bad_quantity": func(t *testing.T) any {
			o := cleanPodObject(t)
			at(t, o, "spec", "containers", 0, "resources", "limits")["memory"] = "lots"
			return o
		},
		"bad_timestamp": func(t *testing.T) any {
			o := cleanPodObject(t)
			at(t, o, "metadata")["creationTimestamp"] = strings.Repeat("x", 10_000)
			return o
		},
		"name_with_a_slash": func(t *testing.T) any {
			// Not a Kubernetes name, and it could pose as a template's inventory key.
			o := cleanPodObject(t)
			at(t, o, "metadata")["namespace"] = "template"
			at(t, o, "metadata")["name"] = "Deployment/shop/payments"
			return o
		},
		"namespace_without_name": func(t *testing.T) any {
			return map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"labels": map[string]any{"istio-injection": "enabled"}}}
		},
		"namespace_name_longer_than_a_dns_label": func(t *testing.T) any {
			return map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": strings.Repeat("n", 64)}}
		},
		"namespace_labels_not_strings": func(t *testing.T) any {
			return envelope("MODIFIED", map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "shop", "labels": map[string]any{"istio-injection": true}}})
		},
		"deployment_without_namespace": func(t *testing.T) any {
			return map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "payments"}}
		},
		"deployment_template_is_a_list": func(t *testing.T) any {
			return map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "payments", "namespace": "shop"},
				"spec": map[string]any{"template": []any{}}}
		},
		"cronjob_template_containers_not_a_list": func(t *testing.T) any {
			return map[string]any{"apiVersion": "batch/v1", "kind": "CronJob", "metadata": map[string]any{"name": "backup", "namespace": "shop"},
				"spec": map[string]any{"jobTemplate": map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": "x"}}}}}}
		},
		"statefulset_metadata_is_a_string": func(t *testing.T) any {
			return map[string]any{"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": "ledger"}
		},
	}
	for name, body := range malformed {
		t.Run("malformed/"+name, func(t *testing.T) {
			ev, ok, err := inventory.DecodeObject(body(t))
			require.Error(t, err)
			assert.False(t, ok)
			assert.Nil(t, ev.Pod)
			assert.Nil(t, ev.Namespace)
			assert.Nil(t, ev.Template)
			assert.Less(t, len(err.Error()), 300, "errors stay short: they may be logged")
		})
	}

	t.Run("huge_values_that_are_still_valid", func(t *testing.T) {
		o := cleanPodObject(t)
		at(t, o, "spec", "containers", 0, "securityContext")["runAsUser"] = int64(math.MaxInt64)
		at(t, o, "metadata", "labels")["blob"] = strings.Repeat("x", 1<<20)
		at(t, o, "metadata")["name"] = strings.Repeat("a", 253)
		delete(at(t, o, "status"), "containerStatuses")
		ev, ok, err := inventory.DecodeObject(o)
		require.NoError(t, err)
		require.True(t, ok)
		p := inventory.FromPod(ev.Pod, inventory.DefaultProxyIdentity())
		app := container(t, p, "payments")
		require.NotNil(t, app.UID)
		assert.Equal(t, int64(math.MaxInt64), *app.UID)
	})

	t.Run("deleted_event_keeps_the_final_state", func(t *testing.T) {
		o := cleanPodObject(t)
		at(t, o, "metadata")["deletionTimestamp"] = "2025-11-20T10:00:00Z"
		at(t, o, "metadata")["resourceVersion"] = "48219999"
		ev, ok, err := inventory.DecodeObject(envelope("DELETED", o))
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, inventory.EventDeleted, ev.Type)
		assert.Equal(t, "48219999", ev.Pod.ResourceVersion)
		assert.NotNil(t, ev.Pod.DeletionTimestamp)
	})
}

// FuzzDecodeObject: no input may panic DecodeObject or anything downstream of it, and the
// contract holds: an error is never ok, and ok always carries a named pod.
func FuzzDecodeObject(f *testing.F) {
	podFiles, _ := filepath.Glob(inventorytest.Testdata("pods", "*.yaml"))
	namespaceFiles, _ := filepath.Glob(inventorytest.Testdata("namespaces", "*.yaml"))
	realFiles, _ := filepath.Glob(inventorytest.Testdata("real", "istio", "inject", "*"))
	for _, path := range append(append(podFiles, namespaceFiles...), realFiles...) {
		for _, doc := range inventorytest.LoadDocuments(f, path) {
			// The manifest as it is (a Deployment, a Pod, a Namespace) and, for workloads, its
			// template lifted into a Pod.
			obj := inventorytest.ManifestObject(doc)
			f.Add(mustJSON(f, obj))
			f.Add(mustJSON(f, envelope("MODIFIED", obj)))
			if pod := inventorytest.PodObject(doc); pod != nil && doc["kind"] != "Pod" {
				f.Add(mustJSON(f, pod))
			}
		}
	}
	for _, obj := range controllerObjects(f) {
		f.Add(mustJSON(f, obj))
		f.Add(mustJSON(f, envelope("DELETED", obj)))
	}
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `"x"`, `{"type":"ADDED","object":"{}"}`, `{"type":7,"object":{}}`,
		`{"kind":"Pod","apiVersion":"v1"}`, `{"kind":"Pod","apiVersion":"v1","metadata":{"name":1}}`,
		`{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a","namespace":"b"},"spec":{"containers":{}}}`,
		`{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a","namespace":"b","annotations":{"sidecar.istio.io/status":"{\"containers\":[\"istio-proxy\"]}"}},"spec":{"containers":[{"name":"istio-proxy","image":"proxyv2","args":["-u"]}]}}`,
		`{"type":"DELETED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a","namespace":"b","resourceVersion":"18446744073709551616"}}}`,
		`{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"shop","labels":{"istio-injection":"enabled","istio.io/dataplane-mode":"ambient"}}}`,
		`{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"a/b"}}`,
		`{"kind":"CronJob","apiVersion":"batch/v1","metadata":{"name":"c","namespace":"b"},"spec":{"jobTemplate":{"spec":{"template":{"spec":{"shareProcessNamespace":true,"containers":[{"name":"x","securityContext":{"capabilities":{"add":["cap_net_raw"]}}}]}}}}}}`,
		`{"kind":"Job","apiVersion":"batch/v1","metadata":{"name":"j","namespace":"b","ownerReferences":[{"kind":"CronJob","name":"c","controller":true}]},"spec":{"template":{"metadata":{"annotations":{"traffic.sidecar.istio.io/excludeOutboundPorts":"1,,2"}}}}}`,
	} {
		f.Add([]byte(s))
	}
	if b, err := os.ReadFile(inventorytest.Testdata("pods", "clean-deployment-pod.yaml")); err == nil {
		f.Add(b) // YAML text: not JSON, so not an object
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		store := inventory.NewStore(2)
		check := func(body any) {
			ev, ok, err := inventory.DecodeObject(body)
			if err != nil {
				if ok || ev.Pod != nil || ev.Namespace != nil || ev.Template != nil {
					t.Fatalf("error with ok=%v pod=%v namespace=%v", ok, ev.Pod != nil, ev.Namespace != nil)
				}
				return
			}
			if !ok {
				return
			}
			if ev.Namespace != nil {
				if ev.Pod != nil || ev.Template != nil || ev.Namespace.Name == "" || strings.Contains(ev.Namespace.Name, "/") {
					t.Fatalf("ok with a bad namespace event: %+v", ev)
				}
				n := inventory.FromNamespace(ev.Namespace)
				if n.Name != ev.Namespace.Name {
					t.Fatalf("namespace %q", n.Name)
				}
			} else {
				if ev.Pod == nil || ev.Pod.Name == "" || ev.Pod.Namespace == "" || strings.Contains(ev.Pod.Name+ev.Pod.Namespace, "/") {
					t.Fatalf("ok without a well-named pod: %+v", ev)
				}
				var p *inventory.Pod
				want := ev.Pod.Namespace + "/" + ev.Pod.Name
				if ev.Template != nil {
					p = inventory.FromTemplate(ev.Pod, *ev.Template, inventory.DefaultProxyIdentity())
					want = "template/" + ev.Template.Object.Kind + "/" + want
					if p.Name != "" || p.UID != "" {
						t.Fatalf("template with a pod name: %+v", p)
					}
				} else {
					p = inventory.FromPod(ev.Pod, inventory.DefaultProxyIdentity())
					// The informer's strip transform keeps whatever the model reads.
					if stripped := inventory.FromPod(inventory.StripPod(ev.Pod), inventory.DefaultProxyIdentity()); !reflect.DeepEqual(p, stripped) {
						t.Fatalf("stripping changed the model:\n%+v\n%+v", p, stripped)
					}
				}
				if p.Key() != want {
					t.Fatalf("key %q, want %q", p.Key(), want)
				}
			}
			res, err := store.Apply(ev, inventory.DefaultProxyIdentity())
			if err != nil {
				t.Fatal(err)
			}
			if res.Stored() && ev.Namespace == nil && res.Pod == nil {
				t.Fatalf("stored without a pod: %+v", res)
			}
		}
		check(data)
		check(string(data))
		if m, err := inventorytest.RawFromJSON(data); err == nil {
			check(m)
		}
	})
}
