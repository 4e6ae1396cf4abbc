// new_edge (INS-0015).
//
// Threat: a workload that starts calling a destination it never called before is how
// lateral movement looks in a service graph that is otherwise stable.
//
// Evidence: destination-reported Istio metrics (reporter="destination", any new series or
// growth; the client is source_workload in source_workload_namespace), and inbound access
// logs whose client IP belonged to a pod at the time (its controller, or pod, is the
// client). Each destination pod keeps the clients it has seen; a client it had not seen,
// after the pod's own learning window, is a new edge.
//
// Not a false positive on: a pod first seen less than the learning window ago (a
// rescheduled or scaled-out pod learns its clients quietly, it does not report them all);
// clients Istio cannot name (source_workload "unknown": plaintext_inbound is about those),
// the proxy's own 127.0.0.6, host-network and unknown IPs; a client seen again.

package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/meshinsights/otelcol-insights/internal/findings"
	"github.com/meshinsights/otelcol-insights/internal/mesh"
)

// DefaultNewEdgeLearningWindow is how long a destination pod learns its clients.
const DefaultNewEdgeLearningWindow = 24 * time.Hour

// NewEdge reports clients a destination pod had not seen after its learning window.
type NewEdge struct {
	learning time.Duration
}

// NewNewEdge returns the rule; a zero learningWindow takes DefaultNewEdgeLearningWindow.
func NewNewEdge(learningWindow time.Duration) *NewEdge {
	if learningWindow <= 0 {
		learningWindow = DefaultNewEdgeLearningWindow
	}
	return &NewEdge{learning: learningWindow}
}

var newEdgeRule = findings.Rule{
	ID:        "new_edge",
	Code:      "INS-0015",
	Title:     "New client for a destination",
	Category:  "traffic_anomaly",
	Severity:  findings.SeverityLow,
	UUID:      findings.RuleUUID("new_edge"),
	Reference: "https://github.com/meshinsights/otelcol-insights#new_edge",
	Remediation: "Confirm the new call is expected (a release, a new feature). If it is not, find out what in the " +
		"client made it; restrict who may call the destination with an AuthorizationPolicy that lists its " +
		"legitimate callers' principals.",
}

// Rule describes new_edge.
func (*NewEdge) Rule() *findings.Rule { return &newEdgeRule }

// CheckMetric learns and reports a destination's clients from its own metrics.
// WantsMetric: destination-reported requests or connections from a named workload.
func (*NewEdge) WantsMetric(o *mesh.TrafficObservation) bool {
	return o.Reporter == "destination" && knownWorkload(o.SourceWorkload) && o.SourceNamespace != "" && flowMetric(o)
}

func (r *NewEdge) CheckMetric(o *mesh.TrafficObservation, ctx *TrafficContext) {
	if !r.WantsMetric(o) {
		return
	}
	var key DestinationKey
	var destUID string
	switch {
	case o.PodName != "" && o.PodNamespace != "":
		key = DestinationKey{Namespace: o.PodNamespace, Pod: o.PodName}
		destUID = o.PodUID
	case knownWorkload(o.DestinationWorkload) && o.DestinationNamespace != "":
		key = DestinationKey{Namespace: o.DestinationNamespace, Workload: o.DestinationWorkload}
	default:
		return
	}
	client := WorkloadKey{Namespace: o.SourceNamespace, Name: o.SourceWorkload}
	seen := ctx.History.SeeClient(key, destUID, client, o.Timestamp)
	if seen.Known || o.Timestamp.Sub(seen.Since) < r.learning {
		return
	}
	var destination string
	if knownWorkload(o.DestinationWorkload) {
		destination = o.DestinationNamespace + "/" + o.DestinationWorkload
	} else {
		destination = key.Namespace + "/" + key.Pod
	}
	f := trafficFinding(r.Rule(), ctx, workloadSubject(client.Namespace, client.Name))
	f.ObservingNode = observingNode(ctx, "")
	r.emit(f, ctx, strings.Clone(destination), strings.Clone(key.Pod), seen.Since)
}

// CheckAccessLog learns and reports a destination's clients from its inbound records.
func (r *NewEdge) CheckAccessLog(o *mesh.AccessLogObservation, ctx *TrafficContext) {
	if o.Direction != mesh.ClusterInbound || o.ClientIP == "" || o.ClientIsProxy || o.ClientIP == o.LocalIP {
		return
	}
	client, ok := ctx.Pods.PodByIP(o.ClientIP, o.Timestamp)
	if !ok || client.HostNetwork {
		return
	}
	dest, _, ok := recordPod(ctx, o.PodNamespace, o.PodName, o.LocalIP, o.Timestamp)
	if !ok || (dest.Namespace == client.Namespace && dest.Name == client.Name) {
		return
	}
	key := DestinationKey{Namespace: dest.Namespace, Pod: dest.Name}
	seen := ctx.History.SeeClient(key, dest.UID, WorkloadKey{Namespace: client.Namespace, Name: client.Workload()}, o.Timestamp)
	if seen.Known || o.Timestamp.Sub(seen.Since) < r.learning {
		return
	}
	f := podFinding(r.Rule(), ctx, client)
	f.ObservingNode = observingNode(ctx, client.NodeName)
	r.emit(f, ctx, strings.Clone(dest.Namespace+"/"+dest.Workload()), strings.Clone(dest.Name), seen.Since)
}

func (r *NewEdge) emit(f findings.Finding, ctx *TrafficContext, destination, destPod string, since time.Time) {
	f.EvidenceKey = destination
	f.Summary = fmt.Sprintf("%s in namespace %s called %s for the first time since that destination was first seen (%s): "+
		"a new edge in a stable service graph can be lateral movement.",
		f.Subject.Workload(), f.Subject.Namespace, destination, since.UTC().Format(time.RFC3339))
	f.Evidence = []findings.EvidenceValue{findings.StrEvidence("destination", destination)}
	if destPod != "" {
		f.Evidence = append(f.Evidence, findings.StrEvidence("destination_pod", destPod))
	}
	f.Count = 1
	ctx.Emit(TrafficFinding{Finding: f})
}
