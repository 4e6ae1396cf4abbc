package insightsprocessor

import (
	"bytes"
	"context"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/meshinsights/otelcol-insights/internal/engine"
	"github.com/meshinsights/otelcol-insights/internal/inventory"
)

// k8sResourceNameAttr marks records from the k8sobjects receiver (pull and watch mode).
const k8sResourceNameAttr = "k8s.resource.name"

// inspectLogs feeds Kubernetes objects found in the batch to the engine and returns the
// number of records inspected. Records are only read, never kept: a candidate body is
// copied out to plain Go values before decoding.
func inspectLogs(ctx context.Context, eng *engine.Engine, ld plog.Logs) int {
	n := 0
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			n += lrs.Len()
			for k := 0; k < lrs.Len(); k++ {
				inspectLogRecord(ctx, eng, lrs.At(k))
			}
		}
	}
	return n
}

func inspectLogRecord(ctx context.Context, eng *engine.Engine, lr plog.LogRecord) {
	raw, candidate := objectCandidate(lr)
	if !candidate {
		return
	}
	ev, ok, err := inventory.DecodeObject(raw)
	if err != nil || (!ok && saysPod(lr)) {
		// A record the k8sobjects receiver marked as a pod must decode as one.
		eng.Undecodable(ctx, signalLogs, "malformed_k8s_object")
		return
	}
	if !ok {
		return
	}
	eng.ApplyObject(ctx, ev)
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
