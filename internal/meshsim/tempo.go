package meshsim

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// LoadTempo reads real traces saved from Tempo (Kiali's fixtures use both of Tempo's
// response shapes) into OTLP traces, so recorded Envoy spans can be replayed.
func LoadTempo(path string) (ptrace.Traces, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return ptrace.Traces{}, err
	}
	var f tempoFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return ptrace.Traces{}, fmt.Errorf("%s: %w", path, err)
	}
	d := &tempoDecoder{}
	td := ptrace.NewTraces()
	for _, b := range f.Batches {
		rs := td.ResourceSpans().AppendEmpty()
		d.putAttrs(rs.Resource().Attributes(), b.Resource.Attributes)
		for _, ss := range b.ScopeSpans {
			spans := rs.ScopeSpans().AppendEmpty().Spans()
			for _, s := range ss.Spans {
				sp := spans.AppendEmpty()
				var tid pcommon.TraceID
				var sid, pid pcommon.SpanID
				copy(tid[:], d.b64(s.TraceID))
				copy(sid[:], d.b64(s.SpanID))
				copy(pid[:], d.b64(s.ParentSpanID))
				sp.SetTraceID(tid)
				sp.SetSpanID(sid)
				sp.SetParentSpanID(pid)
				d.fillSpan(sp, s)
			}
		}
	}
	for _, tr := range f.Traces {
		var tid pcommon.TraceID
		copy(tid[:], d.hexID(tr.TraceID, 16))
		for _, s := range tr.SpanSet.Spans {
			rs := td.ResourceSpans().AppendEmpty()
			sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
			var sid pcommon.SpanID
			copy(sid[:], d.hexID(s.SpanIDSearch, 8))
			sp.SetTraceID(tid)
			sp.SetSpanID(sid)
			d.fillSpan(sp, s)
			// The search shape carries service.name as a span attribute; OTLP has it on the resource.
			if v, ok := sp.Attributes().Get("service.name"); ok {
				rs.Resource().Attributes().PutStr("service.name", v.Str())
				sp.Attributes().Remove("service.name")
			}
		}
	}
	if d.err != nil {
		return ptrace.Traces{}, fmt.Errorf("%s: %w", path, d.err)
	}
	return td, nil
}

type tempoAttr struct {
	Key   string `json:"key"`
	Value struct {
		StringValue *string      `json:"stringValue"`
		IntValue    *json.Number `json:"intValue"`
		BoolValue   *bool        `json:"boolValue"`
		DoubleValue *float64     `json:"doubleValue"`
	} `json:"value"`
}

type tempoSpan struct {
	TraceID           string      `json:"traceId"`
	SpanID            string      `json:"spanId"`
	SpanIDSearch      string      `json:"spanID"`
	ParentSpanID      string      `json:"parentSpanId"`
	Name              string      `json:"name"`
	Kind              string      `json:"kind"`
	StartTimeUnixNano string      `json:"startTimeUnixNano"`
	EndTimeUnixNano   string      `json:"endTimeUnixNano"`
	DurationNanos     string      `json:"durationNanos"`
	Attributes        []tempoAttr `json:"attributes"`
}

type tempoFile struct {
	// Tempo's trace-by-ID response: OTLP JSON with `batches` and base64 IDs.
	Batches []struct {
		Resource struct {
			Attributes []tempoAttr `json:"attributes"`
		} `json:"resource"`
		ScopeSpans []struct {
			Spans []tempoSpan `json:"spans"`
		} `json:"scopeSpans"`
	} `json:"batches"`
	// Tempo's search response: traces with span sets (hex IDs, no kind).
	Traces []struct {
		TraceID string `json:"traceID"`
		SpanSet struct {
			Spans []tempoSpan `json:"spans"`
		} `json:"spanSet"`
	} `json:"traces"`
}

// tempoDecoder keeps the first error so the conversion code stays linear.
type tempoDecoder struct{ err error }

func (d *tempoDecoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *tempoDecoder) fillSpan(sp ptrace.Span, s tempoSpan) {
	sp.SetName(s.Name)
	switch s.Kind {
	case "SPAN_KIND_SERVER":
		sp.SetKind(ptrace.SpanKindServer)
	case "SPAN_KIND_CLIENT":
		sp.SetKind(ptrace.SpanKindClient)
	case "SPAN_KIND_INTERNAL":
		sp.SetKind(ptrace.SpanKindInternal)
	}
	start := d.nanos(s.StartTimeUnixNano)
	sp.SetStartTimestamp(pcommon.Timestamp(start))
	if s.EndTimeUnixNano != "" {
		sp.SetEndTimestamp(pcommon.Timestamp(d.nanos(s.EndTimeUnixNano)))
	} else {
		sp.SetEndTimestamp(pcommon.Timestamp(start + d.nanos(s.DurationNanos)))
	}
	d.putAttrs(sp.Attributes(), s.Attributes)
}

func (d *tempoDecoder) putAttrs(m pcommon.Map, attrs []tempoAttr) {
	for _, a := range attrs {
		switch v := a.Value; {
		case v.StringValue != nil:
			m.PutStr(a.Key, *v.StringValue)
		case v.IntValue != nil:
			n, err := v.IntValue.Int64()
			d.fail(err)
			m.PutInt(a.Key, n)
		case v.BoolValue != nil:
			m.PutBool(a.Key, *v.BoolValue)
		case v.DoubleValue != nil:
			m.PutDouble(a.Key, *v.DoubleValue)
		default:
			d.fail(fmt.Errorf("attribute %s: unsupported value", a.Key))
		}
	}
}

func (d *tempoDecoder) nanos(s string) uint64 {
	if s == "" {
		return 0
	}
	n, err := strconv.ParseUint(s, 10, 64)
	d.fail(err)
	return n
}

func (d *tempoDecoder) b64(s string) []byte {
	if s == "" {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	d.fail(err)
	return b
}

// hexID decodes a hex ID that Tempo may print without its leading zeros.
func (d *tempoDecoder) hexID(s string, size int) []byte {
	if len(s) < 2*size {
		s = strings.Repeat("0", 2*size-len(s)) + s
	}
	b, err := hex.DecodeString(s)
	d.fail(err)
	return b
}
