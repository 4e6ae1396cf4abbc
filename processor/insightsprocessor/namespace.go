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
)

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
