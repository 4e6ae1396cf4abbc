// Package collectorrun runs a built otelcol-insights binary on loopback for the
// end-to-end test and the demo: free ports, health wait, OTLP/HTTP posting, and reading
// what the file exporter wrote.
package collectorrun

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Collector is a running collector process.
type Collector struct {
	cmd          *exec.Cmd
	OTLPHTTP     string // host:port of the OTLP/HTTP receiver
	OTLPGRPC     string // host:port for an OTLP/gRPC receiver (INSIGHTS_OTLP_GRPC), if the config has one
	Health       string // host:port of the health_check extension
	Metrics      string // host:port of the collector's own Prometheus metrics
	FindingsFile string // where the file exporter writes findings
	Dir          string // working directory of the run

	mu     sync.Mutex
	output bytes.Buffer
	exited chan error
}

// Options configure a run.
type Options struct {
	Binary string
	Config string
	// Dir receives the findings file and logs; a temporary directory when empty.
	Dir string
	// Env adds variables for the collector's ${env:...} substitutions.
	Env map[string]string
}

// Start launches the collector with free loopback ports exported as INSIGHTS_OTLP_HTTP,
// INSIGHTS_OTLP_GRPC, INSIGHTS_HEALTH and INSIGHTS_METRICS_PORT, a findings path as
// INSIGHTS_FINDINGS_FILE, and waits until it reports healthy.
func Start(ctx context.Context, opts Options) (*Collector, error) {
	if opts.Dir == "" {
		d, err := os.MkdirTemp("", "otelcol-insights-run-")
		if err != nil {
			return nil, err
		}
		opts.Dir = d
	}
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	c := &Collector{
		OTLPHTTP:     fmt.Sprintf("127.0.0.1:%d", ports[0]),
		Health:       fmt.Sprintf("127.0.0.1:%d", ports[1]),
		Metrics:      fmt.Sprintf("127.0.0.1:%d", ports[2]),
		OTLPGRPC:     fmt.Sprintf("127.0.0.1:%d", ports[3]),
		FindingsFile: filepath.Join(opts.Dir, "findings.jsonl"),
		Dir:          opts.Dir,
		exited:       make(chan error, 1),
	}
	cmd := exec.Command(opts.Binary, "--config", opts.Config)
	cmd.Env = append(os.Environ(),
		"INSIGHTS_OTLP_HTTP="+c.OTLPHTTP,
		"INSIGHTS_OTLP_GRPC="+c.OTLPGRPC,
		"INSIGHTS_HEALTH="+c.Health,
		"INSIGHTS_FINDINGS_FILE="+c.FindingsFile,
		fmt.Sprintf("INSIGHTS_METRICS_PORT=%d", ports[2]),
	)
	for k, v := range opts.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout = &lockedWriter{c: c}
	cmd.Stderr = &lockedWriter{c: c}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c.cmd = cmd
	go func() { c.exited <- cmd.Wait() }()
	if err := c.waitHealthy(ctx); err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("%w\ncollector output:\n%s", err, c.Output())
	}
	return c, nil
}

type lockedWriter struct{ c *Collector }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	return w.c.output.Write(p)
}

// Output is everything the collector printed so far (its own log).
func (c *Collector) Output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.output.String()
}

func (c *Collector) waitHealthy(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-c.exited:
			c.exited <- err
			return fmt.Errorf("collector exited during start-up: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get("http://" + c.Health + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return errors.New("collector did not become healthy within 60s")
}

// PostLogs sends a batch to the OTLP/HTTP receiver as protobuf.
func (c *Collector) PostLogs(ctx context.Context, ld plog.Logs) error {
	return c.Sender().SendLogs(ctx, ld)
}

// PostTraces sends a batch to the OTLP/HTTP receiver as protobuf.
func (c *Collector) PostTraces(ctx context.Context, td ptrace.Traces) error {
	return c.Sender().SendTraces(ctx, td)
}

// PostMetrics sends a batch to the OTLP/HTTP receiver as protobuf.
func (c *Collector) PostMetrics(ctx context.Context, md pmetric.Metrics) error {
	return c.Sender().SendMetrics(ctx, md)
}

// SelfMetrics returns the collector's own metrics in Prometheus text format.
func (c *Collector) SelfMetrics(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.Metrics+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// Stop sends SIGTERM and waits for a clean exit (the collector flushes on shutdown).
func (c *Collector) Stop() error {
	if c.cmd == nil || c.cmd.Process == nil {
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.exited:
		c.exited <- err
		return err
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		return errors.New("collector did not stop within 30s; killed")
	}
}

// ReadLogsFile reads what the file exporter wrote: one OTLP JSON request per line.
// A partly written last line is left for the next read.
func ReadLogsFile(path string) ([]plog.Logs, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []plog.Logs
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	um := &plog.JSONUnmarshaler{}
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		ld, err := um.UnmarshalLogs(line)
		if err != nil {
			continue // a line the exporter is still writing
		}
		out = append(out, ld)
	}
	return out, sc.Err()
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
