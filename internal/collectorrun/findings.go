package collectorrun

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/meshinsights/otelcol-insights/internal/meshsim"
)

// FindingRecord is one finding log record, flattened for assertions and display.
type FindingRecord struct {
	Body           string
	SeverityText   string
	SeverityNumber plog.SeverityNumber
	// Attributes and Resource hold every attribute as plain Go values.
	Attributes map[string]any
	Resource   map[string]any
}

// Attr returns a record attribute as a string ("" when absent or not a string).
func (f FindingRecord) Attr(key string) string {
	s, _ := f.Attributes[key].(string)
	return s
}

// ResourceAttr returns a resource attribute as a string.
func (f FindingRecord) ResourceAttr(key string) string {
	s, _ := f.Resource[key].(string)
	return s
}

// FindingEventName is the EventName of every finding record.
const FindingEventName = "insights.finding"

// Findings returns the finding records in lds, in order; other records are skipped.
func Findings(lds []plog.Logs) []FindingRecord {
	var out []FindingRecord
	for _, ld := range lds {
		rls := ld.ResourceLogs()
		for i := 0; i < rls.Len(); i++ {
			res := rls.At(i).Resource().Attributes().AsRaw()
			sls := rls.At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					lr := lrs.At(k)
					if lr.EventName() != FindingEventName {
						continue
					}
					body := ""
					if lr.Body().Type() == pcommon.ValueTypeStr {
						body = lr.Body().Str()
					}
					out = append(out, FindingRecord{
						Body:           body,
						SeverityText:   lr.SeverityText(),
						SeverityNumber: lr.SeverityNumber(),
						Attributes:     lr.Attributes().AsRaw(),
						Resource:       res,
					})
				}
			}
		}
	}
	return out
}

// ReadFindings returns the finding records the file exporter has written so far.
func (c *Collector) ReadFindings() ([]FindingRecord, error) {
	lds, err := ReadLogsFile(c.FindingsFile)
	if err != nil {
		return nil, err
	}
	return Findings(lds), nil
}

// WaitFindings polls the findings file until done accepts what was written, or ctx ends;
// it returns the records it last read either way.
func (c *Collector) WaitFindings(ctx context.Context, done func([]FindingRecord) bool) ([]FindingRecord, error) {
	for {
		fs, err := c.ReadFindings()
		if err != nil {
			return fs, err
		}
		if done(fs) {
			return fs, nil
		}
		select {
		case <-ctx.Done():
			return fs, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// PostWatchEvents sends objects as k8sobjects watch-mode records, one batch.
func (c *Collector) PostWatchEvents(ctx context.Context, typ meshsim.WatchType, objs ...meshsim.Object) error {
	ld := plog.NewLogs()
	for _, o := range objs {
		if err := meshsim.AppendWatchRecord(ld, typ, o, time.Now()); err != nil {
			return err
		}
	}
	return c.PostLogs(ctx, ld)
}

// Sender is the collector's OTLP/HTTP receiver as a meshsim.Sender.
func (c *Collector) Sender() meshsim.Sender { return &meshsim.HTTPSender{Endpoint: c.OTLPHTTP} }
