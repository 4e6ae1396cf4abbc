package inventory_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/inventory/inventorytest"
)

// templateOf is the clean pod's metadata and spec as a controller's pod template.
func templateOf(t testing.TB) map[string]any {
	t.Helper()
	pod := cleanPodObject(t)
	meta := at(t, pod, "metadata")
	return map[string]any{
		"metadata": map[string]any{"labels": meta["labels"], "annotations": meta["annotations"]},
		"spec":     pod["spec"],
	}
}

func controllerObject(t testing.TB, apiVersion, kind, name string, spec map[string]any) map[string]any {
	t.Helper()
	return map[string]any{
		"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": "shop", "uid": "0d3c2b1a-" + name, "resourceVersion": "5001"},
		"spec":     spec,
		"status":   map[string]any{},
	}
}

// controllerObjects: one of each controller kind, all with the clean pod's template.
func controllerObjects(t testing.TB) map[string]map[string]any {
	t.Helper()
	job := controllerObject(t, "batch/v1", "Job", "nightly-backup-29381520", map[string]any{"template": templateOf(t), "backoffLimit": int64(2)})
	at(t, job, "metadata")["ownerReferences"] = []any{map[string]any{
		"apiVersion": "batch/v1", "kind": "CronJob", "name": "nightly-backup", "uid": "77aa", "controller": true, "blockOwnerDeletion": true,
	}}
	return map[string]map[string]any{
		"Deployment":  controllerObject(t, "apps/v1", "Deployment", "payments", map[string]any{"replicas": int64(3), "template": templateOf(t)}),
		"StatefulSet": controllerObject(t, "apps/v1", "StatefulSet", "ledger", map[string]any{"serviceName": "ledger", "template": templateOf(t)}),
		"DaemonSet":   controllerObject(t, "apps/v1", "DaemonSet", "node-agent", map[string]any{"template": templateOf(t)}),
		"Job":         job,
		"CronJob": controllerObject(t, "batch/v1", "CronJob", "nightly-backup", map[string]any{
			"schedule": "0 2 * * *", "jobTemplate": map[string]any{"spec": map[string]any{"template": templateOf(t)}},
		}),
	}
}

func TestDecodeNamespace(t *testing.T) {
	t.Run("fixture", func(t *testing.T) {
		evs := inventorytest.LoadObjects(t, inventorytest.Testdata("namespaces", "shop-injection-enabled.yaml"))
		require.Len(t, evs, 1)
		ev := evs[0]
		require.NotNil(t, ev.Namespace)
		assert.Nil(t, ev.Pod)
		assert.Nil(t, ev.Template)
		assert.Equal(t, inventory.EventSnapshot, ev.Type)
		assert.Equal(t, &inventory.NamespaceInfo{Name: "shop", ResourceVersion: "48100211", Injection: inventory.InjectionEnabled},
			inventory.FromNamespace(ev.Namespace))
	})

	t.Run("every_namespace_fixture", func(t *testing.T) {
		for file, want := range map[string]inventory.NamespaceInfo{
			"shop-injection-enabled.yaml":    {Name: "shop", Injection: inventory.InjectionEnabled},
			"payments-revision-canary.yaml":  {Name: "payments", Injection: inventory.InjectionRevision, Revision: "1-28-0"},
			"legacy-injection-disabled.yaml": {Name: "legacy", Injection: inventory.InjectionDisabled},
			"analytics-ambient.yaml":         {Name: "analytics", Injection: inventory.InjectionNone, Ambient: true},
		} {
			n := inventory.FromNamespace(inventorytest.LoadNamespace(t, inventorytest.Testdata("namespaces", file)))
			n.ResourceVersion = ""
			assert.Equal(t, want, *n, file)
		}
	})

	t.Run("watch_event", func(t *testing.T) {
		ev, ok, err := inventory.DecodeObject(envelope("DELETED", map[string]any{
			"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "shop", "resourceVersion": "9"},
		}))
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, inventory.EventDeleted, ev.Type)
		assert.Equal(t, "shop", ev.Namespace.Name)
	})
}

func TestDecodeControllerTemplates(t *testing.T) {
	for kind, obj := range controllerObjects(t) {
		t.Run(kind, func(t *testing.T) {
			ev, ok, err := inventory.DecodeObject(envelope("ADDED", obj))
			require.NoError(t, err)
			require.True(t, ok)
			require.NotNil(t, ev.Template)
			require.NotNil(t, ev.Pod)
			assert.Nil(t, ev.Namespace)
			assert.Equal(t, inventory.EventAdded, ev.Type)

			name := at(t, obj, "metadata")["name"].(string)
			assert.Equal(t, inventory.Controller{Kind: kind, Name: name}, ev.Template.Object)
			wantController := ev.Template.Object
			if kind == "Job" {
				wantController = inventory.Controller{Kind: inventory.KindCronJob, Name: "nightly-backup"}
			}
			assert.Equal(t, wantController, ev.Template.Controller)

			// The lifted pod: the object's name, namespace and version; the template's metadata and spec.
			assert.Equal(t, name, ev.Pod.Name)
			assert.Equal(t, "shop", ev.Pod.Namespace)
			assert.Equal(t, "5001", ev.Pod.ResourceVersion)
			assert.Empty(t, ev.Pod.UID)
			assert.Contains(t, ev.Pod.Annotations, "sidecar.istio.io/status")
			assert.Equal(t, "payments", ev.Pod.Labels["app"])
			require.Len(t, ev.Pod.Spec.Containers, 1)
			assert.Equal(t, "payments", ev.Pod.Spec.Containers[0].Name)

			p := inventory.FromTemplate(ev.Pod, *ev.Template, inventory.DefaultProxyIdentity())
			assert.Equal(t, "template/"+kind+"/shop/"+name, p.Key())
			assert.True(t, p.Meshed)
		})
	}

	t.Run("job_without_a_cronjob_owner_is_its_own_controller", func(t *testing.T) {
		obj := controllerObjects(t)["Job"]
		delete(at(t, obj, "metadata"), "ownerReferences")
		ev, ok, err := inventory.DecodeObject(obj)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, inventory.Controller{Kind: inventory.KindJob, Name: "nightly-backup-29381520"}, ev.Template.Controller)
	})

	t.Run("template_metadata_may_be_empty", func(t *testing.T) {
		obj := controllerObject(t, "apps/v1", "Deployment", "bare", map[string]any{
			"template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "app", "image": "nginx"}}}},
		})
		ev, ok, err := inventory.DecodeObject(obj)
		require.NoError(t, err)
		require.True(t, ok)
		assert.False(t, inventory.FromTemplate(ev.Pod, *ev.Template, inventory.DefaultProxyIdentity()).Meshed)
	})

	t.Run("real_injector_output_deployment", func(t *testing.T) {
		evs := inventorytest.LoadObjects(t, inventorytest.Testdata("real", "istio", "inject", "hello.yaml.injected"))
		require.Len(t, evs, 1)
		ev := evs[0]
		require.NotNil(t, ev.Template)
		assert.Equal(t, inventory.Controller{Kind: inventory.KindDeployment, Name: "hello"}, ev.Template.Controller)
		assert.Equal(t, "default", ev.Pod.Namespace, "kubectl apply's namespace")
		p := inventory.FromTemplate(ev.Pod, *ev.Template, inventory.DefaultProxyIdentity())
		assert.True(t, p.Meshed)
		assert.Equal(t, inventory.IdentityIstioInit, p.ProxyUIDSource)
	})
}
