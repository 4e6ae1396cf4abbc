package insightsprocessor // import "github.com/meshinsights/otelcol-insights/processor/insightsprocessor"

import (
	"os"
	"strings"
)

// Where the collector learns its own namespace: the POD_NAMESPACE variable (the DaemonSet
// sets it from the downward API), else the namespace file every service-account token
// mount has. Variables so tests can point them elsewhere.
var (
	podNamespaceEnv           = "POD_NAMESPACE"
	serviceAccountNamespaceAt = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
	nodeNameEnv               = "K8S_NODE_NAME"
)

// nodeName is kubernetes.node_name, else the K8S_NODE_NAME variable the DaemonSet sets from
// the downward API: without either, a DaemonSet agent would watch and judge every pod of
// the cluster, once per node.
func nodeName(cfg *Config) string {
	if cfg.Kubernetes.NodeName != "" {
		return cfg.Kubernetes.NodeName
	}
	return strings.TrimSpace(os.Getenv(nodeNameEnv))
}

// ownNamespace returns the collector's own namespace as a one-element list, or nil when it
// runs outside Kubernetes. missing_sidecar never reports it: the collector and whatever
// runs beside it are deliberately outside the mesh in most installations.
func ownNamespace() []string {
	if ns := strings.TrimSpace(os.Getenv(podNamespaceEnv)); ns != "" {
		return []string{ns}
	}
	if data, err := os.ReadFile(serviceAccountNamespaceAt); err == nil {
		if ns := strings.TrimSpace(string(data)); ns != "" && len(ns) <= 63 {
			return []string{ns}
		}
	}
	return nil
}
