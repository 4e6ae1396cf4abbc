package rules_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/rules"
)

func checkCapture(t testing.TB, p *corev1.Pod) []findings.Finding {
	t.Helper()
	return checkIn(t, rules.CaptureWeakened{}, p, nil)
}

// annotated is the clean pod with capture annotations added.
func annotated(t testing.TB, annotations map[string]string) *corev1.Pod {
	t.Helper()
	pod := cleanPod(t)
	for k, v := range annotations {
		pod.Annotations[k] = v
	}
	return pod
}

func TestCaptureWeakened(t *testing.T) {
	t.Run("clean_deployment_pod_is_clean", func(t *testing.T) {
		assert.Empty(t, checkCapture(t, cleanPod(t)))
	})

	t.Run("traffic_annotations_fixture", func(t *testing.T) {
		f := onlyFinding(t, rules.CaptureWeakened{}.CheckPod(realTemplate(t, "traffic-annotations.yaml.injected"), ctx))
		assert.Equal(t, "capture_weakened", f.Rule.ID)
		assert.Equal(t, findings.Subject{Kind: findings.KindDeployment, Name: "traffic", Namespace: "default"}, f.Subject)
		assert.Empty(t, f.Container)
		assert.Empty(t, f.PodName, "a template: no pod yet")
		assert.Equal(t, map[string]any{
			"excluded_inbound_ports":      []string{"4", "5", "6"},
			"excluded_outbound_ports":     []string{"7", "8", "9"},
			"excluded_outbound_ip_ranges": []string{"10.96.0.2/24", "10.96.0.3/24"},
			"included_inbound_ports":      []string{"1", "2", "3"},
			"included_outbound_ip_ranges": []string{"127.0.0.1/24", "10.96.0.1/24"},
			"annotations": []string{
				"traffic.sidecar.istio.io/excludeInboundPorts", "traffic.sidecar.istio.io/excludeOutboundIPRanges",
				"traffic.sidecar.istio.io/excludeOutboundPorts", "traffic.sidecar.istio.io/includeInboundPorts",
				"traffic.sidecar.istio.io/includeOutboundIPRanges",
			},
		}, evidence(t, f))
		assert.Equal(t, "deployment/traffic in namespace default takes traffic out of the Istio sidecar's capture "+
			"(excluded inbound ports 4,5,6; excluded outbound ports 7,8,9; excluded outbound IP ranges 10.96.0.2/24,10.96.0.3/24; "+
			"inbound ports captured only: 1,2,3; outbound IP ranges captured only: 127.0.0.1/24,10.96.0.1/24): "+
			"that traffic bypasses mTLS, authorization policy and telemetry.", f.Summary)
	})

	t.Run("interception_mode_none", func(t *testing.T) {
		f := onlyFinding(t, checkCapture(t, realPod(t, "init-no-intercept-no-native-sidecar.yaml.injected")))
		assert.Equal(t, map[string]any{
			"interception_mode": "NONE",
			"annotations":       []string{"sidecar.istio.io/interceptionMode"},
		}, evidence(t, f))
		assert.Contains(t, f.Summary, "(interception mode NONE (nothing is captured))")
	})

	t.Run("injector_default_15020_is_clean", func(t *testing.T) {
		pod := realPod(t, "hello.yaml.cni.injected")
		v := pod.Annotations["traffic.sidecar.istio.io/excludeInboundPorts"]
		assert.Equal(t, "15020", v)
		assert.Empty(t, checkCapture(t, pod))
	})

	t.Run("openshift_injector_defaults_are_clean", func(t *testing.T) {
		assert.Empty(t, checkCapture(t, realPod(t, "hello-openshift.yaml.injected")))
	})

	t.Run("istio_own_ports_in_exclusions_are_clean", func(t *testing.T) {
		assert.Empty(t, checkCapture(t, annotated(t, map[string]string{
			"traffic.sidecar.istio.io/excludeInboundPorts":  "15090,15021,15020",
			"traffic.sidecar.istio.io/excludeOutboundPorts": " 15020 , 15090",
		})))
		f := onlyFinding(t, checkCapture(t, annotated(t, map[string]string{"traffic.sidecar.istio.io/excludeInboundPorts": "15020,8080"})))
		assert.Equal(t, []string{"8080"}, evidence(t, f)["excluded_inbound_ports"], "only what is not Istio's")
	})

	t.Run("custom_status_port_is_istio_own", func(t *testing.T) {
		// CNI injection with status.sidecar.istio.io/port: the injector excludes that port instead of 15020.
		assert.Empty(t, checkCapture(t, annotated(t, map[string]string{
			"status.sidecar.istio.io/port":                 "15030",
			"traffic.sidecar.istio.io/excludeInboundPorts": "15030",
		})))
	})

	t.Run("wildcard_includes_are_clean", func(t *testing.T) {
		for _, v := range []string{"*", " * ", "10.0.0.0/8,*"} {
			assert.Empty(t, checkCapture(t, annotated(t, map[string]string{
				"traffic.sidecar.istio.io/includeOutboundIPRanges": v,
				"traffic.sidecar.istio.io/includeInboundPorts":     v,
			})), v)
		}
	})

	t.Run("empty_include_captures_nothing", func(t *testing.T) {
		f := onlyFinding(t, checkCapture(t, annotated(t, map[string]string{"traffic.sidecar.istio.io/includeOutboundIPRanges": ""})))
		assert.Equal(t, []string{}, evidence(t, f)["included_outbound_ip_ranges"])
		assert.Contains(t, f.Summary, "outbound IP ranges captured only: none")
	})

	t.Run("empty_exclusions_are_clean", func(t *testing.T) {
		assert.Empty(t, checkCapture(t, annotated(t, map[string]string{
			"traffic.sidecar.istio.io/excludeOutboundIPRanges": "",
			"traffic.sidecar.istio.io/excludeOutboundPorts":    " , ",
		})))
	})

	t.Run("excluded_interfaces_and_wildcard_exclusion", func(t *testing.T) {
		f := onlyFinding(t, checkCapture(t, annotated(t, map[string]string{
			"traffic.sidecar.istio.io/excludeInterfaces":       "eth1,net1",
			"traffic.sidecar.istio.io/excludeOutboundIPRanges": "0.0.0.0/0",
			"traffic.sidecar.istio.io/excludeInboundPorts":     "*",
		})))
		ev := evidence(t, f)
		assert.Equal(t, []string{"eth1", "net1"}, ev["excluded_interfaces"])
		assert.Equal(t, []string{"0.0.0.0/0"}, ev["excluded_outbound_ip_ranges"])
		assert.Equal(t, []string{"*"}, ev["excluded_inbound_ports"])
	})

	t.Run("widening_annotations_are_clean", func(t *testing.T) {
		assert.Empty(t, checkCapture(t, annotated(t, map[string]string{
			"traffic.sidecar.istio.io/includeOutboundPorts": "443",
			"traffic.sidecar.istio.io/kubevirtInterfaces":   "net1",
			"sidecar.istio.io/interceptionMode":             "TPROXY",
		})))
	})

	t.Run("interception_mode_spelling", func(t *testing.T) {
		for _, mode := range []string{"REDIRECT", "TPROXY", "none"} {
			assert.Empty(t, checkCapture(t, annotated(t, map[string]string{"sidecar.istio.io/interceptionMode": mode})), mode)
		}
	})

	t.Run("unmeshed_pod_is_clean", func(t *testing.T) {
		pod := annotated(t, map[string]string{"traffic.sidecar.istio.io/excludeOutboundPorts": "5432"})
		delete(pod.Annotations, "sidecar.istio.io/status")
		assert.Empty(t, checkIn(t, rules.CaptureWeakened{}, pod, nsEnabled))
	})

	t.Run("template_of_a_workload_to_be_injected", func(t *testing.T) {
		pod := uninjected(t)
		pod.Annotations["traffic.sidecar.istio.io/excludeOutboundPorts"] = "5432"
		tmpl := asTemplate(pod, "payments")
		f := onlyFinding(t, rules.CaptureWeakened{}.CheckPod(tmpl, ctxIn(nsEnabled)))
		assert.Equal(t, []string{"5432"}, evidence(t, f)["excluded_outbound_ports"])
		assert.Empty(t, f.PodName)
		assert.Empty(t, rules.CaptureWeakened{}.CheckPod(tmpl, ctxIn(nil)), "unknown namespace: no sidecar expected")
	})

	t.Run("pod_labelled_istio_is_still_checked", func(t *testing.T) {
		pod := annotated(t, map[string]string{"traffic.sidecar.istio.io/excludeOutboundPorts": "5432"})
		pod.Labels["istio"] = "sidecar"
		assert.Len(t, checkCapture(t, pod), 1)
	})

	t.Run("statefulset_owned_pod_names_its_controller", func(t *testing.T) {
		pod := annotated(t, map[string]string{"traffic.sidecar.istio.io/excludeOutboundPorts": "5432"})
		delete(pod.Labels, "pod-template-hash")
		pod.OwnerReferences[0].Kind, pod.OwnerReferences[0].Name = "StatefulSet", "ledger"
		assert.Equal(t, "statefulset/ledger", onlyFinding(t, checkCapture(t, pod)).Subject.Workload())
	})

	t.Run("findings_carry_no_other_annotations", func(t *testing.T) {
		const secret = "s3cr3t-do-not-leak"
		pod := annotated(t, map[string]string{
			"traffic.sidecar.istio.io/excludeOutboundPorts": "5432",
			"proxy.istio.io/config":                         "proxyMetadata: {TOKEN: " + secret + "}",
			"example.com/password":                          secret,
		})
		assert.NotContains(t, fmt.Sprintf("%+v", onlyFinding(t, checkCapture(t, pod))), secret)
	})

	t.Run("nil_pod", func(t *testing.T) {
		assert.Empty(t, rules.CaptureWeakened{}.CheckPod(nil, ctx))
	})
}

func TestCaptureWeakenedRule(t *testing.T) {
	r := rules.CaptureWeakened{}.Rule()
	for _, must := range []string{"traffic.sidecar.istio.io/exclude", "interceptionMode", "ValidatingAdmissionPolicy", "'15020'"} {
		assert.Contains(t, r.Remediation, must)
	}
}
