package insightsprocessor

import (
	"bytes"
	"context"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/meshinsights/otelcol-insights/internal/engine"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
	"github.com/meshinsights/otelcol-insights/internal/mesh"
)

// k8sResourceNameAttr marks records from the k8sobjects receiver (pull and watch mode).
const k8sResourceNameAttr = "k8s.resource.name"

// inspectLogs reads the batch in one pass: Envoy access logs go to the engine's traffic
// rules as they are met, Kubernetes objects are copied out (to plain Go values) and
// applied to the inventory after the pass, outside the traffic batch's lock. It returns the
// number of records inspected. Records are only read, never kept.
func inspectLogs(ctx context.Context, eng *engine.Engine, ld plog.Logs) int {
	var objects []objectRecord
	n, malformed := 0, 0
	readAccessLogs := eng.ObservesAccessLogs()
	eng.ObserveTraffic(ctx, func(b *engine.TrafficBatch) {
		var o mesh.AccessLogObservation
		rls := ld.ResourceLogs()
		for i := 0; i < rls.Len(); i++ {
			rl := rls.At(i)
			var podName, podNamespace, podUID string
			if readAccessLogs {
				podName, podNamespace, podUID = mesh.ResourcePod(rl.Resource().Attributes())
			}
			sls := rl.ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				n += lrs.Len()
				for k := 0; k < lrs.Len(); k++ {
					lr := lrs.At(k)
					if raw, candidate := objectCandidate(lr); candidate {
						objects = append(objects, objectRecord{raw: raw, saysPod: saysPod(lr)})
						continue
					}
					if !readAccessLogs {
						continue
					}
					if ok, bad := mesh.ReadAccessLogRecord(lr, &o); ok {
						o.PodName, o.PodNamespace, o.PodUID = podName, podNamespace, podUID
						b.AccessLog(&o)
					} else if bad {
						malformed++
					}
				}
			}
		}
	})
	for range malformed {
		eng.Undecodable(ctx, signalLogs, "malformed_access_log")
	}
	for _, obj := range objects {
		applyObject(ctx, eng, obj)
	}
	return n
}

// objectRecord is a candidate Kubernetes object copied out of a record.
type objectRecord struct {
	raw     any
	saysPod bool // the k8sobjects receiver marked the record as a pod
}

func applyObject(ctx context.Context, eng *engine.Engine, obj objectRecord) {
	ev, ok, err := inventory.DecodeObject(obj.raw)
	if err != nil || (!ok && obj.saysPod) {
		// A record the k8sobjects receiver marked as a pod must decode as one.
		eng.Undecodable(ctx, signalLogs, "malformed_k8s_object")
		return
	}
	if !ok {
		return
	}
	eng.ApplyObject(ctx, ev)
	eng.IndexObject(ev)
}

func saysPod(lr plog.LogRecord) bool {
	v, ok := lr.Attributes().Get(k8sResourceNameAttr)
	return ok && v.Str() == "pods"
}

// objectCandidate returns the body as plain Go values when the record may carry a
// Kubernetes object. Cheap checks first: most records are access logs or app logs.
func objectCandidate(lr plog.LogRecord) (any, bool) {
	_, fromK8sObjects := lr.Attributes().Get(k8sResourceNameAttr)
	body := lr.Body()
	switch body.Type() {
	case pcommon.ValueTypeMap:
		m := body.Map()
		_, hasKind := m.Get("kind")
		_, hasObject := m.Get("object")
		if fromK8sObjects || hasKind || hasObject {
			return m.AsRaw(), true
		}
		return nil, false
	case pcommon.ValueTypeStr:
		s := body.Str()
		if fromK8sObjects || (strings.HasPrefix(s, "{") && strings.Contains(s, `"apiVersion"`)) {
			return s, true
		}
		return nil, false
	case pcommon.ValueTypeBytes:
		b := body.Bytes().AsRaw()
		if fromK8sObjects || (bytes.HasPrefix(b, []byte("{")) && bytes.Contains(b, []byte(`"apiVersion"`))) {
			return b, true
		}
		return nil, false
	}
	// Any other body type is only a candidate when the record says it is an object.
	if fromK8sObjects {
		return body.AsRaw(), true
	}
	return nil, false
}
