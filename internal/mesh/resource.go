package mesh

import "go.opentelemetry.io/collector/pdata/pcommon"

// ResourcePod reads the pod attributes that k8sattributes (or the sender) put on a
// resource; absent ones are "".
func ResourcePod(attrs pcommon.Map) (name, namespace, uid string) {
	for k, v := range attrs.All() {
		switch k {
		case "k8s.pod.name":
			name = v.Str()
		case "k8s.namespace.name":
			namespace = v.Str()
		case "k8s.pod.uid":
			uid = v.Str()
		}
	}
	return name, namespace, uid
}
