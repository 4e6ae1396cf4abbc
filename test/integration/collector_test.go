package integration_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshinsights/otelcol-insights/internal/collectorrun"
	"github.com/meshinsights/otelcol-insights/test/integration/k8stest"
)

func openOrResolved(fs []collectorrun.FindingRecord, rule, state, pod string) []collectorrun.FindingRecord {
	var out []collectorrun.FindingRecord
	for _, f := range fs {
		if f.Attr("insight.rule") == rule && f.Attr("insight.state") == state && f.ResourceAttr("k8s.pod.name") == pod {
			out = append(out, f)
		}
	}
	return out
}

// TestBuiltCollectorWatchesPodsThroughTheAPIServer runs dist/otelcol-insights with
// kubernetes.enabled against a real kube-apiserver, as the collector's own user (RBAC:
// get/list/watch pods and namespaces): a pod created through the API yields its findings,
// an update (a NET_ADMIN debug container) adds one, deleting the pod resolves them.
func TestBuiltCollectorWatchesPodsThroughTheAPIServer(t *testing.T) {
	bin := os.Getenv("OTELCOL_INSIGHTS_BIN")
	if bin == "" {
		t.Fatal("OTELCOL_INSIGHTS_BIN is not set: run `make integration-test`, which builds dist/otelcol-insights first")
	}
	cluster := k8stest.StartForTest(t)
	admin := cluster.Client
	grantCollectorAccess(t, admin)
	kubeconfig, err := cluster.WriteKubeconfig(collectorUser)
	require.NoError(t, err)

	pod, status := fixturePod(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := collectorrun.Start(ctx, collectorrun.Options{
		Binary: bin,
		Config: "testdata/collector.yaml",
		Dir:    t.TempDir(),
		Env:    map[string]string{"KUBECONFIG": kubeconfig, "INSIGHTS_NODE": pod.Spec.NodeName},
	})
	require.NoError(t, err)
	defer func() {
		if t.Failed() {
			t.Logf("collector output:\n%s", c.Output())
		}
	}()

	ensureNamespace(t, admin, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: pod.Namespace,
		Labels: map[string]string{"istio-injection": "enabled"}}})
	createPod(t, admin, pod, status)

	fs, err := c.WaitFindings(ctx, func(fs []collectorrun.FindingRecord) bool {
		return len(openOrResolved(fs, "app_uid_1337", "open", pod.Name)) > 0 &&
			len(openOrResolved(fs, "app_gid_1337", "open", pod.Name)) > 0 &&
			len(openOrResolved(fs, "shared_process_namespace", "open", pod.Name)) > 0
	})
	require.NoError(t, err, "the pod's findings did not arrive")
	uid := openOrResolved(fs, "app_uid_1337", "open", pod.Name)[0]
	assert.Equal(t, "integration", uid.ResourceAttr("k8s.cluster.name"))
	assert.Equal(t, "trainer", uid.ResourceAttr("k8s.container.name"))
	assert.NotEmpty(t, uid.ResourceAttr("k8s.pod.uid"), "the live pod's UID comes from the apiserver")
	for _, f := range fs {
		assert.NotContains(t, f.Body, secret, "findings never carry env values")
		for _, v := range f.Attributes {
			if s, ok := v.(string); ok {
				assert.NotContains(t, s, secret)
			}
		}
	}

	// An update through the API: `kubectl debug --profile=netadmin --target=istio-proxy` adds
	// an ephemeral container with NET_ADMIN and NET_RAW next to the proxy.
	live, err := admin.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	require.NoError(t, err)
	live.Spec.EphemeralContainers = append(live.Spec.EphemeralContainers, corev1.EphemeralContainer{
		TargetContainerName: "istio-proxy",
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "debugger", Image: "busybox:1.36", TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			ImagePullPolicy: corev1.PullIfNotPresent,
			SecurityContext: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN", "NET_RAW"}}},
		},
	})
	_, err = admin.CoreV1().Pods(pod.Namespace).UpdateEphemeralContainers(ctx, pod.Name, live, metav1.UpdateOptions{})
	require.NoError(t, err)
	fs, err = c.WaitFindings(ctx, func(fs []collectorrun.FindingRecord) bool {
		return len(openOrResolved(fs, "net_admin_in_mesh", "open", pod.Name)) > 0
	})
	require.NoError(t, err, "the pod update (a NET_ADMIN debug container) yielded no net_admin_in_mesh finding")
	assert.Equal(t, "debugger", openOrResolved(fs, "net_admin_in_mesh", "open", pod.Name)[0].ResourceAttr("k8s.container.name"))

	require.NoError(t, admin.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}))
	fs, err = c.WaitFindings(ctx, func(fs []collectorrun.FindingRecord) bool {
		return len(openOrResolved(fs, "app_uid_1337", "resolved", pod.Name)) > 0
	})
	require.NoError(t, err, "deleting the pod did not resolve its finding")
	assert.Equal(t, uid.Attr("insight.fingerprint"), openOrResolved(fs, "app_uid_1337", "resolved", pod.Name)[0].Attr("insight.fingerprint"))
	require.NoError(t, c.Stop())
}
