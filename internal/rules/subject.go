package rules

import (
	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
)

// PodSubject is what has to change for a pod-scoped finding: the pod's controller when it
// has one (a rollout then keeps the same subject), else the pod itself.
func PodSubject(p *inventory.Pod) findings.Subject {
	if p.Controller.Kind != "" && p.Controller.Name != "" {
		return findings.Subject{Kind: p.Controller.Kind, Name: p.Controller.Name, Namespace: p.Namespace}
	}
	return findings.Subject{Kind: findings.KindPod, Name: p.Name, Namespace: p.Namespace}
}

// PodFinding starts a finding about a pod: the rule, the cluster, the subject and the pod the
// evidence came from. The rule adds the container, evidence key, summary and evidence.
// A controller's pod template has no pod: its findings name none, and share their
// fingerprints with the same findings about the controller's pods.
func PodFinding(rule *findings.Rule, p *inventory.Pod, ctx PodContext) findings.Finding {
	f := findings.Finding{
		Rule:    rule,
		Cluster: ctx.Cluster,
		Subject: PodSubject(p),
	}
	if p.Template == nil {
		f.PodName, f.PodUID, f.Pods = p.Name, p.UID, []string{p.Name}
	}
	return f
}
