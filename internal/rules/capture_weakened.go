// capture_weakened (INS-0005).
//
// Threat: Istio's iptables capture only what the pod's annotations let them. Every port,
// CIDR or interface excluded with traffic.sidecar.istio.io/exclude*, everything left out of
// a narrowed includeOutboundIPRanges / includeInboundPorts, and all traffic under
// sidecar.istio.io/interceptionMode: NONE goes around the sidecar: no mTLS, no
// authorization policy, no telemetry. Exclusions are sometimes needed (an init container
// reaching the API server, a node-local agent), but each one is a hole to justify.
//
// Evidence: the capture annotations of a meshed pod (or of a template whose pods will be
// injected), parsed as istio-iptables reads them; the evidence lists exactly what is
// excluded, or exactly what a narrowed include still captures.
//
// Not a false positive on Istio's own defaults: in CNI mode (and on OpenShift) the injector
// writes excludeInboundPorts: "15020" (the status port, moved by status.sidecar.istio.io/port),
// includeInboundPorts: '*' and includeOutboundIPRanges: '*' itself. Istio's own ports
// (15090 Envoy's metrics, 15021 health, 15020 status, or the pod's status port) in any port
// exclusion, and '*' in an include, are not findings. includeOutboundPorts and
// kubevirtInterfaces only widen capture and are ignored.

package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
)

// CaptureWeakened reports pods whose annotations take traffic out of the sidecar's capture.
type CaptureWeakened struct{}

var captureWeakenedRule = findings.Rule{
	ID:        "capture_weakened",
	Code:      "INS-0005",
	Title:     "Pod annotations take traffic out of the sidecar's capture",
	Category:  "capture_config",
	Severity:  findings.SeverityMedium,
	UUID:      findings.RuleUUID("capture_weakened"),
	Reference: "https://github.com/meshinsights/otelcol-insights#capture_weakened",
	Remediation: "Remove the traffic.sidecar.istio.io/exclude* annotations, the narrowed " +
		"traffic.sidecar.istio.io/includeOutboundIPRanges / includeInboundPorts (leave them unset or '*') and " +
		"sidecar.istio.io/interceptionMode: NONE from the pod template. Where an exclusion is truly needed, keep it " +
		"to the single port or /32 address that needs it and record why; for egress, prefer a ServiceEntry and an " +
		"egress gateway to an excluded CIDR; for init containers, run istio-proxy as a native sidecar instead. " +
		"To stop regressions, a ValidatingAdmissionPolicy validation such as !has(object.metadata.annotations) || " +
		"(object.metadata.annotations.all(k, !k.startsWith('traffic.sidecar.istio.io/exclude') || " +
		"(k == 'traffic.sidecar.istio.io/excludeInboundPorts' && object.metadata.annotations[k] == '15020')) && " +
		"(!('sidecar.istio.io/interceptionMode' in object.metadata.annotations) || " +
		"object.metadata.annotations['sidecar.istio.io/interceptionMode'] != 'NONE')), which still admits the " +
		"injector's own CNI default.",
}

// Rule describes capture_weakened.
func (CaptureWeakened) Rule() *findings.Rule { return &captureWeakenedRule }

// istioPorts are the proxy's own ports: Envoy's Prometheus endpoint, the health check and
// the agent's status port. Istio itself excludes them from inbound capture.
var istioPorts = []string{"15090", "15021", "15020"}

// captureExclusion is one exclude* annotation and the evidence it fills.
type captureExclusion struct {
	annotation, evidence, noun string
	ports                      bool
}

var captureExclusions = []captureExclusion{
	{inventory.AnnotationExcludeInboundPorts, "excluded_inbound_ports", "inbound ports", true},
	{inventory.AnnotationExcludeOutboundPorts, "excluded_outbound_ports", "outbound ports", true},
	{inventory.AnnotationExcludeOutboundIPRanges, "excluded_outbound_ip_ranges", "outbound IP ranges", false},
	{inventory.AnnotationExcludeInterfaces, "excluded_interfaces", "interfaces", false},
}

// captureInclusion is one include* annotation: anything but '*' narrows capture.
type captureInclusion struct {
	annotation, evidence, noun string
}

var captureInclusions = []captureInclusion{
	{inventory.AnnotationIncludeInboundPorts, "included_inbound_ports", "inbound ports"},
	{inventory.AnnotationIncludeOutboundIPRanges, "included_outbound_ip_ranges", "outbound IP ranges"},
}

// CheckPod reports one finding per pod listing every weakening its annotations make.
func (r CaptureWeakened) CheckPod(pod *inventory.Pod, ctx PodContext) []findings.Finding {
	if pod == nil || !sidecarApplies(pod, ctx) {
		return nil
	}
	own := istioPorts
	if p, ok := pod.Annotation(inventory.AnnotationStatusPort); ok && strings.TrimSpace(p) != "" {
		own = append(slices.Clip(istioPorts), strings.TrimSpace(p))
	}

	var (
		evidence    []findings.EvidenceValue
		annotations []string
		phrases     []string
	)
	// Istio accepts exactly REDIRECT, TPROXY and NONE (other spellings fail injection).
	if mode, _ := pod.Annotation(inventory.AnnotationInterceptionMode); mode == "NONE" {
		evidence = append(evidence, findings.StrEvidence("interception_mode", "NONE"))
		annotations = append(annotations, inventory.AnnotationInterceptionMode)
		phrases = append(phrases, "interception mode NONE (nothing is captured)")
	}
	for _, ex := range captureExclusions {
		v, ok := pod.Annotation(ex.annotation)
		if !ok {
			continue
		}
		items := splitList(v)
		if ex.ports {
			items = slices.DeleteFunc(items, func(p string) bool { return slices.Contains(own, p) })
		}
		if len(items) == 0 {
			continue
		}
		evidence = append(evidence, findings.ListEvidence(ex.evidence, items))
		annotations = append(annotations, ex.annotation)
		phrases = append(phrases, fmt.Sprintf("excluded %s %s", ex.noun, strings.Join(items, ",")))
	}
	for _, in := range captureInclusions {
		v, ok := pod.Annotation(in.annotation)
		if !ok {
			continue
		}
		items := splitList(v)
		if slices.Contains(items, "*") {
			continue
		}
		if items == nil {
			// Valid, and captures nothing in that direction.
			items = []string{}
		}
		evidence = append(evidence, findings.ListEvidence(in.evidence, items))
		annotations = append(annotations, in.annotation)
		captured := strings.Join(items, ",")
		if captured == "" {
			captured = "none"
		}
		phrases = append(phrases, fmt.Sprintf("%s captured only: %s", in.noun, captured))
	}
	if len(evidence) == 0 {
		return nil
	}
	slices.Sort(annotations)
	evidence = append(evidence, findings.ListEvidence("annotations", annotations))

	f := PodFinding(r.Rule(), pod, ctx)
	f.Summary = fmt.Sprintf("%s in namespace %s takes traffic out of the Istio sidecar's capture (%s): "+
		"that traffic bypasses mTLS, authorization policy and telemetry.",
		f.Subject.Workload(), pod.Namespace, strings.Join(phrases, "; "))
	f.Evidence = evidence
	return []findings.Finding{f}
}

// splitList reads a comma-separated annotation as istio-iptables does: entries trimmed,
// empty ones dropped, duplicates once.
func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" && !slices.Contains(out, item) {
			out = append(out, item)
		}
	}
	return out
}
