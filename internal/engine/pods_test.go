package engine_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshinsights/otelcol-insights/internal/engine"
	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/inventory/inventorytest"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

// sink collects what the engine delivers.
type sink struct {
	mu        sync.Mutex
	delivered []findings.Finding
}

func (s *sink) deliver(_ context.Context, batch []findings.Finding) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delivered = append(s.delivered, batch...)
	return nil
}

// take returns and forgets what was delivered so far.
func (s *sink) take() []findings.Finding {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.delivered
	s.delivered = nil
	return out
}

// refusals counts inventory refusals by store.
type refusals struct {
	engine.NopTelemetry
	mu      sync.Mutex
	byStore map[string]int
}

func (r *refusals) Refused(_ context.Context, store string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byStore[store] += n
}

type harness struct {
	t      *testing.T
	engine *engine.Engine
	sink   *sink
	now    time.Time
	tel    *refusals
}

func newHarness(t *testing.T, maxPods int) *harness {
	t.Helper()
	h := &harness{t: t, sink: &sink{}, now: time.Date(2025, 11, 20, 10, 0, 0, 0, time.UTC), tel: &refusals{byStore: map[string]int{}}}
	h.engine = engine.New(engine.Config{
		Cluster:         "prod-eu-1",
		ProxyFallback:   inventory.DefaultProxyIdentity(),
		FlushInterval:   time.Second,
		ReemitInterval:  time.Hour,
		MaxPending:      1000,
		MaxActive:       1000,
		MaxRetryBackoff: 8 * time.Second,
		MaxPods:         maxPods,
		PodRules:        rules.PodRules(rules.RuleOptions{}),
	}, engine.Settings{Telemetry: h.tel, Now: func() time.Time { return h.now }})
	h.engine.AddSink("logs", h.sink.deliver)
	return h
}

func (h *harness) apply(evs ...inventory.ObjectEvent) {
	for _, ev := range evs {
		h.engine.ApplyObject(context.Background(), ev)
	}
}

// flush delivers what is due and returns it.
func (h *harness) flush() []findings.Finding {
	h.engine.Flush(context.Background())
	return h.sink.take()
}

func states(fs []findings.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, string(f.State)+" "+f.Rule.ID)
	}
	return out
}

func load(t *testing.T, elem ...string) inventory.ObjectEvent {
	t.Helper()
	evs := inventorytest.LoadObjects(t, inventorytest.Testdata(elem...))
	require.Len(t, evs, 1)
	return evs[0]
}

func namespaceEvent(typ inventory.EventType, name, rv string, labels map[string]string) inventory.ObjectEvent {
	return inventory.ObjectEvent{Type: typ, Namespace: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: rv, Labels: labels}}}
}

func withType(ev inventory.ObjectEvent, typ inventory.EventType) inventory.ObjectEvent {
	ev.Type = typ
	return ev
}

func TestNamespaceEvents(t *testing.T) {
	enabled := map[string]string{"istio-injection": "enabled", "kubernetes.io/metadata.name": "shop"}

	t.Run("labelling_the_namespace_opens_and_unlabelling_resolves", func(t *testing.T) {
		h := newHarness(t, 100)
		h.apply(load(t, "pods", "unmeshed-deployment-pod.yaml"))
		assert.Empty(t, h.flush(), "namespace unknown: no evidence")

		h.apply(namespaceEvent(inventory.EventAdded, "shop", "100", enabled))
		fs := h.flush()
		require.Equal(t, []string{"open missing_sidecar"}, states(fs))
		assert.Equal(t, "inventory-7c9d8f6b4a-m5k8w", fs[0].PodName)
		assert.Equal(t, findings.Subject{Kind: findings.KindDeployment, Name: "inventory", Namespace: "shop"}, fs[0].Subject)

		h.apply(namespaceEvent(inventory.EventModified, "shop", "101", map[string]string{"kubernetes.io/metadata.name": "shop"}))
		assert.Equal(t, []string{"resolved missing_sidecar"}, states(h.flush()))
	})

	t.Run("namespace_known_before_the_pod", func(t *testing.T) {
		h := newHarness(t, 100)
		h.apply(load(t, "namespaces", "shop-injection-enabled.yaml"), load(t, "pods", "unmeshed-deployment-pod.yaml"))
		assert.Equal(t, []string{"open missing_sidecar"}, states(h.flush()))
	})

	t.Run("deleting_the_namespace_withdraws", func(t *testing.T) {
		h := newHarness(t, 100)
		ns := load(t, "namespaces", "shop-injection-enabled.yaml")
		h.apply(ns, load(t, "pods", "unmeshed-deployment-pod.yaml"))
		require.Len(t, h.flush(), 1)
		h.apply(withType(ns, inventory.EventDeleted))
		assert.Equal(t, []string{"resolved missing_sidecar"}, states(h.flush()))
	})

	t.Run("only_that_namespace_is_re_evaluated", func(t *testing.T) {
		h := newHarness(t, 100)
		other := load(t, "pods", "unmeshed-deployment-pod.yaml")
		other.Pod.Namespace = "other"
		h.apply(other, load(t, "pods", "unmeshed-deployment-pod.yaml"))
		h.apply(namespaceEvent(inventory.EventAdded, "shop", "1", enabled))
		fs := h.flush()
		require.Len(t, fs, 1)
		assert.Equal(t, "shop", fs[0].Subject.Namespace)
	})

	t.Run("revision_label_and_opt_out", func(t *testing.T) {
		h := newHarness(t, 100)
		pod := load(t, "pods", "unmeshed-deployment-pod.yaml")
		pod.Pod.Namespace = "payments"
		pod.Pod.Annotations = map[string]string{"sidecar.istio.io/inject": "false"}
		h.apply(load(t, "namespaces", "payments-revision-canary.yaml"), pod)
		fs := h.flush()
		require.Equal(t, []string{"open missing_sidecar"}, states(fs))
		assert.Equal(t, findings.SeverityLow, fs[0].Rule.Severity)
	})

	t.Run("irrelevant_namespace_changes_do_not_re_report", func(t *testing.T) {
		h := newHarness(t, 100)
		h.apply(namespaceEvent(inventory.EventAdded, "shop", "1", enabled), load(t, "pods", "unmeshed-deployment-pod.yaml"))
		require.Len(t, h.flush(), 1)
		relabelled := map[string]string{"team": "payments"}
		for k, v := range enabled {
			relabelled[k] = v
		}
		h.apply(namespaceEvent(inventory.EventModified, "shop", "2", relabelled))
		h.now = h.now.Add(2 * time.Hour)
		fs := h.flush()
		require.Equal(t, []string{"ongoing missing_sidecar"}, states(fs))
		assert.Equal(t, int64(1), fs[0].Occurrences, "the team label does not count as another observation")
	})

	t.Run("stale_namespace_event_is_ignored", func(t *testing.T) {
		h := newHarness(t, 100)
		h.apply(namespaceEvent(inventory.EventAdded, "shop", "10", enabled), load(t, "pods", "unmeshed-deployment-pod.yaml"))
		require.Len(t, h.flush(), 1)
		h.apply(namespaceEvent(inventory.EventModified, "shop", "9", nil))
		assert.Empty(t, h.flush())
	})

	t.Run("full_store_refuses_and_counts_namespaces", func(t *testing.T) {
		h := newHarness(t, 1)
		h.apply(namespaceEvent(inventory.EventAdded, "a", "1", nil), namespaceEvent(inventory.EventAdded, "b", "1", enabled))
		assert.Equal(t, map[string]int{"namespaces": 1}, h.tel.byStore)
	})
}

func TestControllerTemplateEvents(t *testing.T) {
	t.Run("a_bad_spec_is_reported_before_any_pod_exists", func(t *testing.T) {
		h := newHarness(t, 100)
		deploy := load(t, "real", "istio", "inject", "traffic-annotations.yaml.injected")
		h.apply(withType(deploy, inventory.EventAdded))
		fs := h.flush()
		require.Equal(t, []string{"open capture_weakened"}, states(fs))
		f := fs[0]
		assert.Equal(t, findings.Subject{Kind: findings.KindDeployment, Name: "traffic", Namespace: "default"}, f.Subject)
		assert.Empty(t, f.PodName)
		assert.Empty(t, f.PodUID)
		assert.Empty(t, f.Pods)
		assert.Equal(t, 1, h.engine.Pods(), "the template is held like a pod")

		h.apply(withType(deploy, inventory.EventDeleted))
		assert.Equal(t, []string{"resolved capture_weakened"}, states(h.flush()))
		assert.Equal(t, 0, h.engine.Pods())
	})

	t.Run("host_network_template_needs_an_injection_namespace", func(t *testing.T) {
		h := newHarness(t, 100)
		h.apply(load(t, "real", "istio", "inject", "hello-host-network.yaml.injected"))
		assert.Empty(t, h.flush())
		h.apply(namespaceEvent(inventory.EventAdded, "default", "1", map[string]string{"istio-injection": "enabled"}))
		assert.Equal(t, []string{"open host_network_in_mesh"}, states(h.flush()))
	})

	t.Run("template_and_pods_share_one_finding", func(t *testing.T) {
		// The Deployment's template (not injected yet) and its running, injected pod both
		// run payments as UID 1337: one finding, resolved only when neither does.
		h := newHarness(t, 100)
		h.apply(load(t, "namespaces", "shop-injection-enabled.yaml"))

		pod := load(t, "pods", "clean-deployment-pod.yaml")
		uid := int64(1337)
		pod.Pod.Status.ContainerStatuses[0].User.Linux.UID = uid

		tmplPod := pod.Pod.DeepCopy()
		delete(tmplPod.Annotations, "sidecar.istio.io/status")
		tmplPod.Spec.InitContainers = nil
		tmplPod.Status = corev1.PodStatus{}
		tmplPod.Spec.Containers[0].SecurityContext.RunAsUser = &uid
		tmplPod.Name, tmplPod.UID, tmplPod.OwnerReferences, tmplPod.ResourceVersion = "payments", "", nil, "900"
		self := inventory.Controller{Kind: inventory.KindDeployment, Name: "payments"}
		template := inventory.ObjectEvent{Type: inventory.EventAdded, Pod: tmplPod, Template: &inventory.TemplateOrigin{Object: self, Controller: self}}

		h.apply(template, pod)
		fs := h.flush()
		require.Equal(t, []string{"open app_uid_1337"}, states(fs))
		assert.Equal(t, []string{"payments-6d8f9c7b5d-q2xlm"}, fs[0].Pods)

		h.apply(withType(pod, inventory.EventDeleted))
		assert.Empty(t, h.flush(), "the template still supports it")
		h.apply(withType(template, inventory.EventDeleted))
		assert.Equal(t, []string{"resolved app_uid_1337"}, states(h.flush()))
	})

	t.Run("a_cronjobs_job_reports_on_the_cronjob", func(t *testing.T) {
		h := newHarness(t, 100)
		job := load(t, "pods", "sapwned-job-uid-1337.yaml")
		// The SAPwned pod's spec as a Job owned by a CronJob.
		tmpl := job.Pod.DeepCopy()
		tmpl.Status = corev1.PodStatus{}
		tmpl.Name, tmpl.UID, tmpl.OwnerReferences = "train-model-29381520", "", nil
		ev := inventory.ObjectEvent{Type: inventory.EventAdded, Pod: tmpl, Template: &inventory.TemplateOrigin{
			Object:     inventory.Controller{Kind: inventory.KindJob, Name: "train-model-29381520"},
			Controller: inventory.Controller{Kind: inventory.KindCronJob, Name: "train-model"},
		}}
		h.apply(ev)
		fs := h.flush()
		assert.ElementsMatch(t, []string{"open app_uid_1337", "open app_gid_1337", "open shared_process_namespace"}, states(fs))
		for _, f := range fs {
			assert.Equal(t, "cronjob/train-model", f.Subject.Workload())
		}
	})
}

func TestPodEventsWithEveryRule(t *testing.T) {
	t.Run("sapwned_job", func(t *testing.T) {
		h := newHarness(t, 100)
		pod := load(t, "pods", "sapwned-job-uid-1337.yaml")
		h.apply(withType(pod, inventory.EventAdded))
		assert.ElementsMatch(t, []string{"open app_uid_1337", "open app_gid_1337", "open shared_process_namespace"}, states(h.flush()))
		h.apply(withType(pod, inventory.EventDeleted))
		assert.ElementsMatch(t, []string{"resolved app_uid_1337", "resolved app_gid_1337", "resolved shared_process_namespace"}, states(h.flush()))
	})

	t.Run("fixed_pod_resolves", func(t *testing.T) {
		h := newHarness(t, 100)
		pod := load(t, "pods", "debug-netadmin-targeting-proxy.yaml")
		h.apply(pod)
		assert.ElementsMatch(t, []string{"open net_admin_in_mesh", "open shared_process_namespace"}, states(h.flush()))
		fixed := load(t, "pods", "clean-deployment-pod.yaml") // same pod, newer version without the debugger
		fixed.Pod.ResourceVersion = "48270000"
		h.apply(withType(fixed, inventory.EventModified))
		assert.ElementsMatch(t, []string{"resolved net_admin_in_mesh", "resolved shared_process_namespace"}, states(h.flush()))
	})
}
