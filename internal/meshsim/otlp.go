package meshsim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// This file: sending batches to a collector's OTLP receiver (gRPC or HTTP/protobuf), and
// writing them as OTLP JSON files.

// Sender sends batches to an OTLP endpoint.
type Sender interface {
	SendLogs(ctx context.Context, ld plog.Logs) error
	SendMetrics(ctx context.Context, md pmetric.Metrics) error
	SendTraces(ctx context.Context, td ptrace.Traces) error
	Close() error
}

// Send sends a batch: objects first (the inventory must know the pods before their
// traffic arrives), then access logs, traces and metrics. Empty parts are skipped.
func Send(ctx context.Context, s Sender, b *Batch) error {
	if b.Objects.LogRecordCount() > 0 {
		if err := s.SendLogs(ctx, b.Objects); err != nil {
			return fmt.Errorf("objects: %w", err)
		}
	}
	if b.Logs.LogRecordCount() > 0 {
		if err := s.SendLogs(ctx, b.Logs); err != nil {
			return fmt.Errorf("access logs: %w", err)
		}
	}
	if b.Traces.SpanCount() > 0 {
		if err := s.SendTraces(ctx, b.Traces); err != nil {
			return fmt.Errorf("traces: %w", err)
		}
	}
	if b.Metrics.DataPointCount() > 0 {
		if err := s.SendMetrics(ctx, b.Metrics); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return nil
}

// WaitDue paces a sender to rate items/s: it sleeps until the items sent since start are
// due (at once when rate is not positive or they are already late), or ctx ends.
func WaitDue(ctx context.Context, start time.Time, items int64, rate float64) error {
	if rate <= 0 {
		return ctx.Err()
	}
	due := start.Add(time.Duration(float64(items) / rate * float64(time.Second)))
	t := time.NewTimer(time.Until(due))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// NewSender connects to endpoint (host:port) with protocol "grpc" or "http".
func NewSender(protocol, endpoint string) (Sender, error) {
	switch protocol {
	case "grpc":
		cc, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		return &grpcSender{cc: cc, logs: plogotlp.NewGRPCClient(cc), metrics: pmetricotlp.NewGRPCClient(cc), traces: ptraceotlp.NewGRPCClient(cc)}, nil
	case "http":
		return &HTTPSender{Endpoint: endpoint, Client: &http.Client{Timeout: 30 * time.Second}}, nil
	}
	return nil, fmt.Errorf("protocol %q: want grpc or http", protocol)
}

type grpcSender struct {
	cc      *grpc.ClientConn
	logs    plogotlp.GRPCClient
	metrics pmetricotlp.GRPCClient
	traces  ptraceotlp.GRPCClient
}

func (s *grpcSender) SendLogs(ctx context.Context, ld plog.Logs) error {
	_, err := s.logs.Export(ctx, plogotlp.NewExportRequestFromLogs(ld))
	return err
}

func (s *grpcSender) SendMetrics(ctx context.Context, md pmetric.Metrics) error {
	_, err := s.metrics.Export(ctx, pmetricotlp.NewExportRequestFromMetrics(md))
	return err
}

func (s *grpcSender) SendTraces(ctx context.Context, td ptrace.Traces) error {
	_, err := s.traces.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
	return err
}

func (s *grpcSender) Close() error { return s.cc.Close() }

// HTTPSender posts OTLP/HTTP protobuf to Endpoint (host:port).
type HTTPSender struct {
	Endpoint string
	Client   *http.Client
}

func (s *HTTPSender) SendLogs(ctx context.Context, ld plog.Logs) error {
	body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		return err
	}
	return s.post(ctx, "/v1/logs", body)
}

func (s *HTTPSender) SendMetrics(ctx context.Context, md pmetric.Metrics) error {
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		return err
	}
	return s.post(ctx, "/v1/metrics", body)
}

func (s *HTTPSender) SendTraces(ctx context.Context, td ptrace.Traces) error {
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		return err
	}
	return s.post(ctx, "/v1/traces", body)
}

func (s *HTTPSender) Close() error { return nil }

func (s *HTTPSender) post(ctx context.Context, path string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.Endpoint+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	c := s.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("OTLP/HTTP %s: %s: %s", path, resp.Status, msg)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

// WriteBatch writes a batch as OTLP JSON files in dir: tick-NNNN-objects.json (k8sobjects
// records), -logs.json (access logs), -metrics.json and -traces.json; empty parts are not
// written. It returns the files written.
func WriteBatch(dir string, b *Batch) ([]string, error) {
	var out []string
	write := func(kind string, data []byte, err error) error {
		if err != nil {
			return err
		}
		p := filepath.Join(dir, fmt.Sprintf("tick-%04d-%s.json", b.Tick, kind))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
		out = append(out, p)
		return nil
	}
	if b.Objects.LogRecordCount() > 0 {
		data, err := (&plog.JSONMarshaler{}).MarshalLogs(b.Objects)
		if err := write("objects", data, err); err != nil {
			return out, err
		}
	}
	if b.Logs.LogRecordCount() > 0 {
		data, err := (&plog.JSONMarshaler{}).MarshalLogs(b.Logs)
		if err := write("logs", data, err); err != nil {
			return out, err
		}
	}
	if b.Metrics.DataPointCount() > 0 {
		data, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(b.Metrics)
		if err := write("metrics", data, err); err != nil {
			return out, err
		}
	}
	if b.Traces.SpanCount() > 0 {
		data, err := (&ptrace.JSONMarshaler{}).MarshalTraces(b.Traces)
		if err := write("traces", data, err); err != nil {
			return out, err
		}
	}
	return out, nil
}
