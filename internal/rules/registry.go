package rules

// RuleOptions configures the rules that take options. The zero value is the default.
type RuleOptions struct {
	// MissingSidecarExcludedNamespaces are namespaces missing_sidecar never reports. Nil
	// means DefaultMissingSidecarExcludedNamespaces(); a non-nil list replaces it (append
	// to the default to add the collector's own namespace).
	MissingSidecarExcludedNamespaces []string
}

// PodRules returns a fresh instance of every registered pod rule, in catalogue order.
func PodRules(opts RuleOptions) []PodRule {
	return []PodRule{
		AppUID1337{},
		AppGID1337{},
		SharedProcessNamespace{},
		ProxyCredentialsMounted{},
		CaptureWeakened{},
		NetAdminInMesh{},
		HostNetworkInMesh{},
		NewMissingSidecar(opts.MissingSidecarExcludedNamespaces),
	}
}
