package meshsim

import (
	"fmt"
	"strconv"
	"time"
)

// This file: pod and namespace objects as the API server returns them, injected the way
// Istio 1.28's injector does it (testdata/real/istio/inject/hello.yaml.injected: istio-init
// as root with NET_ADMIN/NET_RAW, istio-proxy as a native sidecar running as 1337, the
// sidecar.istio.io/status annotation naming both and the proxy's volumes).

const sidecarStatus = `{"initContainers":["istio-init","istio-proxy"],"containers":null,"volumes":["workload-socket","credential-socket","workload-certs","istio-envoy","istio-data","istio-podinfo","istio-token","istiod-ca-cert","istio-ca-crl"],"imagePullSecrets":null,"revision":"default"}`

const gatewayStatus = `{"initContainers":null,"containers":["istio-proxy"],"volumes":["workload-socket","credential-socket","workload-certs","istio-envoy","istio-data","istio-podinfo","istio-token","istiod-ca-cert","istio-ca-crl"],"imagePullSecrets":null,"revision":"default"}`

// NamespaceObject is the namespace as the API server returns it.
func NamespaceObject(ns *Namespace, created time.Time) Object {
	labels := map[string]any{"kubernetes.io/metadata.name": ns.Name}
	switch {
	case ns.Injection && ns.Revision != "":
		labels["istio.io/rev"] = ns.Revision
	case ns.Injection:
		labels["istio-injection"] = "enabled"
	}
	return Object{
		"apiVersion": "v1",
		"kind":       "Namespace",
		"metadata": map[string]any{
			"name":              ns.Name,
			"uid":               ns.UID,
			"resourceVersion":   "1204",
			"creationTimestamp": rfc3339(created),
			"labels":            labels,
		},
		"spec":   map[string]any{"finalizers": []any{"kubernetes"}},
		"status": map[string]any{"phase": "Active"},
	}
}

// PodObject is the pod as the API server returns it once running; resourceVersion orders
// updates of the same pod.
func PodObject(p *Pod, resourceVersion int64) Object {
	w := p.Workload
	labels := map[string]any{"app": w.App, "version": w.Version}
	annotations := map[string]any{}
	var owner map[string]any
	switch w.Kind {
	case KindDeployment:
		labels["pod-template-hash"] = w.Hash
		owner = ownerRef("apps/v1", "ReplicaSet", w.Name+"-"+w.Hash, w.UID)
	case KindStatefulSet:
		labels["statefulset.kubernetes.io/pod-name"] = p.Name
		labels["apps.kubernetes.io/pod-index"] = p.Name[len(w.Name)+1:]
		owner = ownerRef("apps/v1", "StatefulSet", w.Name, w.UID)
	case KindDaemonSet:
		owner = ownerRef("apps/v1", "DaemonSet", w.Name, w.UID)
	case KindJob:
		labels["batch.kubernetes.io/job-name"] = w.Name
		labels["job-name"] = w.Name
		labels["batch.kubernetes.io/controller-uid"] = w.UID
		labels["controller-uid"] = w.UID
		owner = ownerRef("batch/v1", "Job", w.Name, w.UID)
	}
	if w.Gateway {
		labels["istio"] = "ingressgateway"
		annotations["inject.istio.io/templates"] = "gateway"
	}
	app := map[string]any{
		"name":  appContainerName(w),
		"image": w.Image,
		"resources": map[string]any{
			"requests": map[string]any{"cpu": "100m", "memory": "128Mi"},
			"limits":   map[string]any{"memory": "512Mi"},
		},
		"volumeMounts": []any{map[string]any{
			"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "name": "kube-api-access-" + p.Name[len(p.Name)-5:], "readOnly": true,
		}},
		"terminationMessagePath":   "/dev/termination-log",
		"terminationMessagePolicy": "File",
		"imagePullPolicy":          "IfNotPresent",
	}
	if w.Port != 0 {
		app["ports"] = []any{map[string]any{"containerPort": int64(w.Port), "name": portName(w), "protocol": "TCP"}}
	}
	uid, gid := int64(0), int64(0)
	spec := map[string]any{
		"serviceAccountName":            w.ServiceAccount,
		"serviceAccount":                w.ServiceAccount,
		"nodeName":                      p.Node,
		"dnsPolicy":                     "ClusterFirst",
		"enableServiceLinks":            true,
		"preemptionPolicy":              "PreemptLowerPriority",
		"priority":                      int64(0),
		"schedulerName":                 "default-scheduler",
		"terminationGracePeriodSeconds": int64(30),
		"restartPolicy":                 "Always",
		"securityContext":               map[string]any{},
		"tolerations": []any{
			map[string]any{"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": int64(300)},
			map[string]any{"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": int64(300)},
		},
		"volumes": []any{kubeAPIAccessVolume(p)},
	}
	if w.Kind == KindJob {
		spec["restartPolicy"] = "Never"
	}
	containers := []any{app}
	statuses := []any{}
	if t := w.Spec; t != nil {
		sc := map[string]any{}
		if t.RunAsUser != 0 {
			sc["runAsUser"] = t.RunAsUser
			uid = t.RunAsUser
		}
		if t.RunAsGroup != 0 {
			sc["runAsGroup"] = t.RunAsGroup
			gid = t.RunAsGroup
		}
		if len(t.AddCapabilities) > 0 {
			caps := make([]any, len(t.AddCapabilities))
			for i, c := range t.AddCapabilities {
				caps[i] = c
			}
			sc["capabilities"] = map[string]any{"add": caps}
		}
		if len(sc) > 0 {
			app["securityContext"] = sc
		}
		if t.ShareProcessNamespace {
			spec["shareProcessNamespace"] = true
		}
		if t.ExtraContainer != "" {
			containers = append(containers, map[string]any{
				"name":            t.ExtraContainer,
				"image":           "docker.io/curlimages/curl:8.10.1",
				"command":         []any{"/bin/sh", "-c", "/opt/sync/run.sh"},
				"securityContext": map[string]any{"runAsUser": int64(1000), "runAsGroup": int64(1000)},
				"resources":       map[string]any{"requests": map[string]any{"cpu": "50m", "memory": "64Mi"}},
			})
		}
		for _, k := range sortedKeys(t.Annotations) {
			annotations[k] = t.Annotations[k]
		}
		for _, k := range sortedKeys(t.Labels) {
			labels[k] = t.Labels[k]
		}
		if t.HostNetwork {
			// The pod's IP is its node's (Pod.IP); its ports are the node's ports.
			spec["hostNetwork"] = true
			spec["dnsPolicy"] = "ClusterFirstWithHostNet"
			if ports, ok := app["ports"].([]any); ok {
				for _, pt := range ports {
					pt.(map[string]any)["hostPort"] = pt.(map[string]any)["containerPort"]
				}
			}
		}
		for _, m := range t.Mounts {
			vm := map[string]any{"mountPath": m.Path, "name": m.Volume}
			if m.ReadOnly {
				vm["readOnly"] = true
			}
			app["volumeMounts"] = append(app["volumeMounts"].([]any), vm)
		}
		for _, v := range t.ConfigMapVolumes {
			spec["volumes"] = append(spec["volumes"].([]any), map[string]any{"name": v.Volume, "configMap": map[string]any{"name": v.ConfigMap}})
		}
	}
	for _, c := range containers {
		name := c.(map[string]any)["name"].(string)
		u, g := uid, gid
		if name != appContainerName(w) {
			u, g = 1000, 1000
		}
		if u == 0 && g == 0 {
			// The image's USER: most application images run as an unprivileged user.
			u, g = 10001, 10001
		}
		statuses = append(statuses, containerStatus(name, c.(map[string]any)["image"].(string), p, u, g, "running"))
	}
	var initStatuses []any
	if w.Meshed {
		annotations["prometheus.io/path"] = "/stats/prometheus"
		annotations["prometheus.io/port"] = "15020"
		annotations["prometheus.io/scrape"] = "true"
		annotations["istio.io/rev"] = "default"
		labels["security.istio.io/tlsMode"] = "istio"
		labels["service.istio.io/canonical-name"] = w.App
		labels["service.istio.io/canonical-revision"] = w.Version
		if w.Gateway {
			annotations["sidecar.istio.io/status"] = gatewayStatus
			proxy := proxyContainer(p, false)
			containers = []any{proxy}
			statuses = []any{containerStatus("istio-proxy", ProxyImage, p, 1337, 1337, "running")}
		} else {
			annotations["sidecar.istio.io/status"] = sidecarStatus
			annotations["kubectl.kubernetes.io/default-container"] = appContainerName(w)
			annotations["kubectl.kubernetes.io/default-logs-container"] = appContainerName(w)
			spec["initContainers"] = []any{istioInit(p), proxyContainer(p, true)}
			initStatuses = []any{
				containerStatus("istio-init", ProxyImage, p, 0, 0, "terminated"),
				containerStatus("istio-proxy", ProxyImage, p, 1337, 1337, "running"),
			}
		}
		spec["volumes"] = append(spec["volumes"].([]any), proxyVolumes()...)
	}
	spec["containers"] = containers
	md := map[string]any{
		"name":              p.Name,
		"namespace":         w.Namespace,
		"uid":               p.UID,
		"resourceVersion":   strconv.FormatInt(resourceVersion, 10),
		"creationTimestamp": rfc3339(p.Start.Add(-2 * time.Second)),
		"labels":            labels,
		"ownerReferences":   []any{owner},
	}
	if w.Kind != KindStatefulSet {
		md["generateName"] = p.Name[:len(p.Name)-5]
	}
	if len(annotations) > 0 {
		md["annotations"] = annotations
	}
	status := map[string]any{
		"phase":     "Running",
		"qosClass":  "Burstable",
		"hostIP":    p.NodeIP,
		"hostIPs":   []any{map[string]any{"ip": p.NodeIP}},
		"podIP":     p.IP,
		"podIPs":    []any{map[string]any{"ip": p.IP}},
		"startTime": rfc3339(p.Start),
		"conditions": []any{
			condition("PodReadyToStartContainers", p.Start.Add(2*time.Second)),
			condition("Initialized", p.Start.Add(5*time.Second)),
			condition("Ready", p.Start.Add(10*time.Second)),
			condition("ContainersReady", p.Start.Add(10*time.Second)),
			condition("PodScheduled", p.Start),
		},
		"containerStatuses": statuses,
	}
	if initStatuses != nil {
		status["initContainerStatuses"] = initStatuses
	}
	return Object{"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec, "status": status}
}

func appContainerName(w *Workload) string {
	if w.Gateway {
		return "istio-proxy"
	}
	return w.App
}

func portName(w *Workload) string {
	switch w.Protocol {
	case ProtoGRPC:
		return "grpc"
	case ProtoTCP:
		return "tcp"
	}
	return "http"
}

func ownerRef(apiVersion, kind, name, uid string) map[string]any {
	return map[string]any{"apiVersion": apiVersion, "kind": kind, "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true}
}

func condition(typ string, at time.Time) map[string]any {
	return map[string]any{"type": typ, "status": "True", "lastTransitionTime": rfc3339(at)}
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func containerStatus(name, image string, p *Pod, uid, gid int64, state string) map[string]any {
	id := fmt.Sprintf("containerd://%x%s", len(name), hexOf(p.UID+name))
	st := map[string]any{"running": map[string]any{"startedAt": rfc3339(p.Start.Add(6 * time.Second))}}
	ready, started := true, true
	if state == "terminated" {
		st = map[string]any{"terminated": map[string]any{"exitCode": int64(0), "reason": "Completed",
			"startedAt": rfc3339(p.Start.Add(time.Second)), "finishedAt": rfc3339(p.Start.Add(time.Second)), "containerID": id}}
		started = false
	}
	return map[string]any{
		"name": name, "image": image, "imageID": image + "@sha256:" + hexOf(image)[:64],
		"containerID": id, "ready": ready, "restartCount": int64(0), "started": started, "state": st,
		"user": map[string]any{"linux": map[string]any{"uid": uid, "gid": gid, "supplementalGroups": []any{gid}}},
	}
}

// hexOf is a deterministic hex string of at least 64 characters derived from s.
func hexOf(s string) string {
	var h uint64 = 1469598103934665603
	out := make([]byte, 0, 64)
	for len(out) < 64 {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= 1099511628211
		}
		out = fmt.Appendf(out, "%016x", h)
	}
	return string(out)
}

func istioInit(p *Pod) map[string]any {
	exclude := ""
	if t := p.Workload.Spec; t != nil {
		exclude = t.ExcludeOutboundIPRanges
	}
	return map[string]any{
		"name":  "istio-init",
		"image": ProxyImage,
		"args": []any{"istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT",
			"-i", "*", "-x", exclude, "-b", "*", "-d", "15090,15021,15020", "--log_output_level=default:info"},
		"resources": map[string]any{
			"limits":   map[string]any{"cpu": "2", "memory": "1Gi"},
			"requests": map[string]any{"cpu": "100m", "memory": "128Mi"},
		},
		"securityContext": map[string]any{
			"allowPrivilegeEscalation": false,
			"capabilities":             map[string]any{"add": []any{"NET_ADMIN", "NET_RAW"}, "drop": []any{"ALL"}},
			"privileged":               false, "readOnlyRootFilesystem": false,
			"runAsGroup": int64(0), "runAsNonRoot": false, "runAsUser": int64(0),
		},
	}
}

func proxyContainer(p *Pod, native bool) map[string]any {
	w := p.Workload
	env := []any{
		map[string]any{"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
		map[string]any{"name": "CA_ADDR", "value": "istiod.istio-system.svc:15012"},
		fieldEnv("POD_NAME", "metadata.name"),
		fieldEnv("POD_NAMESPACE", "metadata.namespace"),
		fieldEnv("INSTANCE_IP", "status.podIP"),
		fieldEnv("SERVICE_ACCOUNT", "spec.serviceAccountName"),
		fieldEnv("HOST_IP", "status.hostIP"),
		map[string]any{"name": "ISTIO_META_APP_CONTAINERS", "value": appContainerName(w)},
		map[string]any{"name": "ISTIO_META_CLUSTER_ID", "value": "Kubernetes"},
		map[string]any{"name": "ISTIO_META_INTERCEPTION_MODE", "value": "REDIRECT"},
		map[string]any{"name": "ISTIO_META_WORKLOAD_NAME", "value": w.Name},
		map[string]any{"name": "ISTIO_META_OWNER", "value": fmt.Sprintf("kubernetes://apis/%s/namespaces/%s/%ss/%s",
			map[bool]string{true: "batch/v1", false: "apps/v1"}[w.Kind == KindJob], w.Namespace, lower(w.Kind), w.Name)},
		map[string]any{"name": "ISTIO_META_MESH_ID", "value": "cluster.local"},
		map[string]any{"name": "TRUST_DOMAIN", "value": TrustDomain},
	}
	args := []any{"proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local",
		"--proxyLogLevel=warning", "--proxyComponentLogLevel=misc:error", "--log_output_level=default:info"}
	if w.Gateway {
		args[1] = "router"
	}
	c := map[string]any{
		"name":  "istio-proxy",
		"image": ProxyImage,
		"args":  args,
		"env":   env,
		"ports": []any{map[string]any{"containerPort": int64(15090), "name": "http-envoy-prom", "protocol": "TCP"}},
		"readinessProbe": map[string]any{"failureThreshold": int64(4), "periodSeconds": int64(15), "timeoutSeconds": int64(3),
			"httpGet": map[string]any{"path": "/healthz/ready", "port": int64(15021)}},
		"resources": map[string]any{
			"limits":   map[string]any{"cpu": "2", "memory": "1Gi"},
			"requests": map[string]any{"cpu": "100m", "memory": "128Mi"},
		},
		"securityContext": map[string]any{
			"allowPrivilegeEscalation": false, "capabilities": map[string]any{"drop": []any{"ALL"}},
			"privileged": false, "readOnlyRootFilesystem": true,
			"runAsGroup": int64(1337), "runAsNonRoot": true, "runAsUser": int64(1337),
		},
		"volumeMounts": []any{
			mount("/var/run/secrets/workload-spiffe-uds", "workload-socket"),
			mount("/var/run/secrets/credential-uds", "credential-socket"),
			mount("/var/run/secrets/workload-spiffe-credentials", "workload-certs"),
			mount("/var/run/secrets/istio", "istiod-ca-cert"),
			mount("/var/run/secrets/istio/crl", "istio-ca-crl"),
			mount("/var/lib/istio/data", "istio-data"),
			mount("/etc/istio/proxy", "istio-envoy"),
			mount("/var/run/secrets/tokens", "istio-token"),
			mount("/etc/istio/pod", "istio-podinfo"),
		},
	}
	if native {
		c["restartPolicy"] = "Always"
	}
	return c
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func fieldEnv(name, path string) map[string]any {
	return map[string]any{"name": name, "valueFrom": map[string]any{"fieldRef": map[string]any{"fieldPath": path}}}
}

func mount(path, name string) map[string]any { return map[string]any{"mountPath": path, "name": name} }

func kubeAPIAccessVolume(p *Pod) map[string]any {
	return map[string]any{"name": "kube-api-access-" + p.Name[len(p.Name)-5:], "projected": map[string]any{
		"defaultMode": int64(420),
		"sources": []any{
			map[string]any{"serviceAccountToken": map[string]any{"expirationSeconds": int64(3607), "path": "token"}},
			map[string]any{"configMap": map[string]any{"name": "kube-root-ca.crt", "items": []any{map[string]any{"key": "ca.crt", "path": "ca.crt"}}}},
		},
	}}
}

func proxyVolumes() []any {
	return []any{
		map[string]any{"name": "workload-socket", "emptyDir": map[string]any{}},
		map[string]any{"name": "credential-socket", "emptyDir": map[string]any{}},
		map[string]any{"name": "workload-certs", "emptyDir": map[string]any{}},
		map[string]any{"name": "istio-envoy", "emptyDir": map[string]any{"medium": "Memory"}},
		map[string]any{"name": "istio-data", "emptyDir": map[string]any{}},
		map[string]any{"name": "istio-podinfo", "downwardAPI": map[string]any{"items": []any{
			map[string]any{"fieldRef": map[string]any{"fieldPath": "metadata.labels"}, "path": "labels"},
			map[string]any{"fieldRef": map[string]any{"fieldPath": "metadata.annotations"}, "path": "annotations"},
		}}},
		map[string]any{"name": "istio-token", "projected": map[string]any{"sources": []any{
			map[string]any{"serviceAccountToken": map[string]any{"audience": "istio-ca", "expirationSeconds": int64(43200), "path": "istio-token"}},
		}}},
		map[string]any{"name": "istiod-ca-cert", "configMap": map[string]any{"name": "istio-ca-root-cert"}},
		map[string]any{"name": "istio-ca-crl", "configMap": map[string]any{"name": "istio-ca-crl", "optional": true}},
	}
}
