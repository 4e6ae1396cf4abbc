// Command load is the load harness (make load): it runs the built distribution twice per
// rate, once with testdata/load/baseline.yaml (OTLP receiver to exporters, nothing in
// between) and once with testdata/load/insights.yaml (the same with the insights processor
// in every pipeline), drives each run with meshsim's clean background traffic at a fixed
// rate of telemetry items per second over OTLP/gRPC (in process, the loop `meshsim run
// --rate --duration` runs), samples the collector's CPU time and memory from /proc, checks
// on the collector's own metrics that every item went through and that clean traffic gave
// no finding, prints a table, and rewrites the "## Load harness" section of
// docs/BENCHMARKS.md.
//
//	go run ./test/load --collector dist/otelcol-insights [--rates 5000,10000,20000] [--warmup 5s] [--duration 30s]
//
// Linux only (/proc). It exits non-zero when a check fails (the docs are still written,
// with the failures listed).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/meshinsights/otelcol-insights/internal/collectorrun"
	"github.com/meshinsights/otelcol-insights/internal/meshsim"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

type options struct {
	collector string
	configs   []namedConfig
	rates     []float64
	warmup    time.Duration
	duration  time.Duration
	seed      uint64
	docs      string
	command   string
}

type namedConfig struct{ name, path string }

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	collector := fs.String("collector", "dist/otelcol-insights", "the built distribution")
	baseline := fs.String("baseline", "testdata/load/baseline.yaml", "collector config without the insights processor")
	insights := fs.String("insights", "testdata/load/insights.yaml", "the same config with the insights processor")
	rates := fs.String("rates", "5000,10000,20000", "comma-separated rates, telemetry items per second")
	warmup := fs.Duration("warmup", 5*time.Second, "traffic at the rate before measuring")
	duration := fs.Duration("duration", 30*time.Second, "measured time per run")
	seed := fs.Uint64("seed", 1, "meshsim seed")
	reproduce := fs.String("reproduce", "", "the command to reproduce the run, as the docs show it (default: this one)")
	docs := fs.String("docs", "docs/BENCHMARKS.md", "file whose \"## Load harness\" section is rewritten (empty: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o := options{collector: *collector, warmup: *warmup, duration: *duration, seed: *seed, docs: *docs,
		configs: []namedConfig{{"baseline", *baseline}, {"insights", *insights}}}
	for _, r := range strings.Split(*rates, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
		if err != nil || v <= 0 {
			return fmt.Errorf("--rates: %q", r)
		}
		o.rates = append(o.rates, v)
	}
	o.command = strings.TrimSpace("go run ./test/load " + strings.Join(args, " "))
	if *reproduce != "" {
		o.command = *reproduce
	}
	if _, err := os.Stat(o.collector); err != nil {
		return fmt.Errorf("collector binary: %w (make build)", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	traffic := describeTraffic(o.seed)
	fmt.Fprintf(out, "load: %s; %d configs x %d rates, %s warm-up + %s measured each\n",
		traffic.String(), len(o.configs), len(o.rates), o.warmup, o.duration)
	startLoad, _ := collectorrun.LoadAvg()
	started := time.Now()
	var results []*result
	for _, rate := range o.rates {
		for _, cfg := range o.configs {
			fmt.Fprintf(out, "load: %s at %.0f items/s ...\n", cfg.name, rate)
			r, err := runPoint(ctx, o, cfg, rate)
			if err != nil {
				return fmt.Errorf("%s at %.0f items/s: %w", cfg.name, rate, err)
			}
			fmt.Fprintf(out, "  %s\n", r.oneLine())
			for _, p := range r.Problems {
				fmt.Fprintf(out, "  PROBLEM: %s\n", p)
			}
			for _, n := range r.Notes {
				fmt.Fprintf(out, "  note: %s\n", n)
			}
			results = append(results, r)
		}
	}
	endLoad, _ := collectorrun.LoadAvg()
	rep := &report{Date: started, Traffic: traffic, Results: results, Opts: o,
		LoadStart: startLoad, LoadEnd: endLoad, Elapsed: time.Since(started)}
	fmt.Fprintln(out)
	rep.table(out, false)
	fmt.Fprintln(out)
	rep.diffTable(out, false)
	if o.docs != "" {
		if err := rep.writeDocs(o.docs); err != nil {
			return err
		}
		fmt.Fprintf(out, "\nload: wrote the \"## Load harness\" section of %s\n", o.docs)
	}
	var failed int
	for _, r := range results {
		failed += len(r.Problems)
	}
	if failed > 0 {
		return fmt.Errorf("%d check(s) failed (see PROBLEM lines)", failed)
	}
	return nil
}

// traffic describes the generator's clean background traffic.
type traffic struct {
	Pods, Namespaces, Workloads, Flows int
	// Per simulated tick (one scrape interval) once every series exists.
	Series, AccessLogs, Spans, Items float64
	TickInterval                     time.Duration
}

func describeTraffic(seed uint64) traffic {
	s, _ := meshsim.ScenarioByName("clean")
	plan := s.Plan(seed)
	t := traffic{Pods: len(plan.Topology.Pods()), Namespaces: len(plan.Topology.Namespaces),
		Workloads: len(plan.Topology.Workloads), Flows: len(plan.Flows), TickInterval: plan.TickInterval}
	gen := meshsim.NewGenerator(plan, seed)
	gen.Endless = true
	const skip, n = 20, 40
	for i := range skip + n {
		b, _ := gen.Next()
		if i < skip {
			continue
		}
		t.Series += float64(b.Metrics.DataPointCount()) / n
		t.AccessLogs += float64(b.Logs.LogRecordCount()) / n
		t.Spans += float64(b.Traces.SpanCount()) / n
		t.Items += float64(b.Items()) / n
	}
	return t
}

func (t traffic) String() string {
	return fmt.Sprintf("meshsim clean traffic: %d pods in %d namespaces, %d flows; per %s tick ~%.0f items (%.0f metric series, %.0f access logs, %.0f spans)",
		t.Pods, t.Namespaces, t.Flows, t.TickInterval, t.Items, t.Series, t.AccessLogs, t.Spans)
}

// result is one measured run.
type result struct {
	Config string
	Rate   float64

	// The measured window (after the warm-up).
	Items    int64
	Wall     time.Duration
	CPU      time.Duration // the collector's utime+stime
	Sender   time.Duration // this process (generator, OTLP/gRPC client)
	Others   time.Duration // every other process on the machine
	RSSStart int64
	RSSEnd   int64
	RSSMax   int64
	RSSMean  float64
	HWM      int64 // VmHWM at the end of the run
	Load1    [2]float64

	// Whole run (warm-up included), from the collector's own metrics.
	Sent     signals
	Accepted signals
	Findings int
	Problems []string
	// Notes: what makes a run's numbers less comparable without failing it.
	Notes []string
}

type signals struct{ Logs, Metrics, Spans int64 }

func (s signals) total() int64 { return s.Logs + s.Metrics + s.Spans }

func (r *result) achieved() float64 { return float64(r.Items) / r.Wall.Seconds() }
func (r *result) cpuPerM() float64  { return r.CPU.Seconds() / float64(r.Items) * 1e6 }
func (r *result) cpuPct() float64   { return 100 * r.CPU.Seconds() / r.Wall.Seconds() }
func (r *result) senderPct() float64 {
	return 100 * r.Sender.Seconds() / r.Wall.Seconds()
}
func (r *result) othersPct() float64 { return 100 * r.Others.Seconds() / r.Wall.Seconds() }

func (r *result) oneLine() string {
	return fmt.Sprintf("%d items in %s (%.0f/s): collector %.2f CPU s (%.1f%% of a core, %.2f s per million items), RSS %s-%s, peak %s; sender %.1f%%, others %.1f%% of a core; %d findings",
		r.Items, r.Wall.Round(time.Millisecond), r.achieved(), r.CPU.Seconds(), r.cpuPct(), r.cpuPerM(),
		mib(r.RSSStart), mib(r.RSSEnd), mib(r.HWM), r.senderPct(), r.othersPct(), r.Findings)
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// driver sends the generator's batches at a fixed rate, as `meshsim run --rate` does: a
// whole tick at a time, then sleep until the items sent so far are due.
type driver struct {
	gen    *meshsim.Generator
	sender meshsim.Sender
	rate   float64
	start  time.Time
	paced  int64 // items sent since start
	items  int64
	sent   signals
}

func (d *driver) runUntil(ctx context.Context, end time.Time) error {
	for time.Now().Before(end) {
		b, ok := d.gen.Next()
		if !ok {
			return errors.New("generator ended")
		}
		if err := meshsim.Send(ctx, d.sender, b); err != nil {
			return fmt.Errorf("tick %d: %w", b.Tick, err)
		}
		d.items += int64(b.Items())
		d.paced += int64(b.Items())
		d.sent.Logs += int64(b.Objects.LogRecordCount() + b.Logs.LogRecordCount())
		d.sent.Metrics += int64(b.Metrics.DataPointCount())
		d.sent.Spans += int64(b.Traces.SpanCount())
		if err := meshsim.WaitDue(ctx, d.start, d.paced, d.rate); err != nil {
			return err
		}
	}
	return nil
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func runPoint(ctx context.Context, o options, cfg namedConfig, rate float64) (*result, error) {
	dir, err := os.MkdirTemp("", "otelcol-insights-load-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	c, err := collectorrun.Start(ctx, collectorrun.Options{Binary: o.collector, Config: cfg.path, Dir: dir})
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = c.Stop()
		}
	}()
	pid := c.Pid()
	sender, err := meshsim.NewSender("grpc", c.OTLPGRPC)
	if err != nil {
		return nil, err
	}
	defer sender.Close()

	s, _ := meshsim.ScenarioByName("clean")
	plan := s.Plan(o.seed)
	gen := meshsim.NewGenerator(plan, o.seed)
	gen.Endless = true
	d := &driver{gen: gen, sender: sender, rate: rate, start: time.Now()}
	if err := d.runUntil(ctx, d.start.Add(o.warmup)); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}

	r := &result{Config: cfg.name, Rate: rate}
	// The measured window: from here to the end of the duration.
	p0, err := collectorrun.ReadProc(pid)
	if err != nil {
		return nil, err
	}
	m0, _ := collectorrun.ReadMachineCPU()
	l0, _ := collectorrun.LoadAvg()
	s0, t0, items0 := selfCPU(), time.Now(), d.items
	// Pace the window on its own: a sender that fell behind during the warm-up does not
	// catch up in a burst here.
	d.start, d.paced = t0, 0
	r.RSSStart = p0.RSS

	var (
		mu      sync.Mutex
		rssSum  float64
		rssN    int
		rssMax  = p0.RSS
		samplCt = make(chan struct{})
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		tk := time.NewTicker(500 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-samplCt:
				return
			case <-tk.C:
			}
			p, err := collectorrun.ReadProc(pid)
			if err != nil {
				continue
			}
			mu.Lock()
			rssSum += float64(p.RSS)
			rssN++
			rssMax = max(rssMax, p.RSS)
			mu.Unlock()
		}
	}()
	err = d.runUntil(ctx, t0.Add(o.duration))
	close(samplCt)
	<-done
	if err != nil {
		return nil, err
	}
	p1, err := collectorrun.ReadProc(pid)
	if err != nil {
		return nil, err
	}
	m1, _ := collectorrun.ReadMachineCPU()
	l1, _ := collectorrun.LoadAvg()
	r.Wall = time.Since(t0)
	r.Sender = selfCPU() - s0
	r.Items = d.items - items0
	r.CPU = p1.CPU - p0.CPU
	r.Others = max(0, (m1.Busy-m0.Busy)-r.CPU-r.Sender)
	r.RSSEnd, r.HWM = p1.RSS, p1.HWM
	mu.Lock()
	r.RSSMax = max(rssMax, p1.RSS)
	r.RSSMean = rssSum / float64(max(rssN, 1))
	mu.Unlock()
	r.Load1 = [2]float64{l0[0], l1[0]}
	r.Sent = d.sent
	if r.achieved() < 0.95*rate {
		r.Notes = append(r.Notes, fmt.Sprintf("the sender reached %.0f items/s, not %.0f: the machine (%.1f%% of a core for the collector, %.1f%% for the sender, %.1f%% for other processes) could not sustain the rate",
			r.achieved(), rate, r.cpuPct(), r.senderPct(), r.othersPct()))
	}

	// Every item through: gRPC Export returns once the pipeline has taken the batch, but
	// read the counters until they settle.
	var m collectorrun.Samples
	deadline := time.Now().Add(15 * time.Second)
	for {
		m, err = c.ScrapeSelfMetrics(ctx)
		if err == nil {
			r.Accepted = signals{
				Logs:    int64(m.Sum("otelcol_receiver_accepted_log_records")),
				Metrics: int64(m.Sum("otelcol_receiver_accepted_metric_points")),
				Spans:   int64(m.Sum("otelcol_receiver_accepted_spans")),
			}
			if r.Accepted == r.Sent || time.Now().After(deadline) {
				break
			}
		} else if time.Now().After(deadline) {
			return nil, fmt.Errorf("own metrics: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.check(m, cfg.name == "insights", len(plan.Topology.Pods()))

	// Findings: on clean traffic there must be none. Stop first: the file exporter flushes.
	if err := c.Stop(); err != nil {
		r.Problems = append(r.Problems, fmt.Sprintf("collector stop: %v", err))
	}
	stopped = true
	lds, err := collectorrun.ReadLogsFile(c.FindingsFile)
	if err != nil {
		return nil, err
	}
	fs := collectorrun.Findings(lds)
	r.Findings = max(r.Findings, len(fs))
	if len(fs) > 0 {
		seen := map[string]int{}
		for _, f := range fs {
			seen[f.Attr("insight.rule")+" "+f.Attr("insight.workload")]++
		}
		keys := make([]string, 0, len(seen))
		for k := range seen {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		r.Problems = append(r.Problems, fmt.Sprintf("%d finding records on clean traffic: %s", len(fs), strings.Join(keys, "; ")))
	}
	return r, nil
}

// check compares the collector's own counters with what was sent.
func (r *result) check(m collectorrun.Samples, insights bool, pods int) {
	bad := func(format string, a ...any) { r.Problems = append(r.Problems, fmt.Sprintf(format, a...)) }
	if r.Accepted != r.Sent {
		bad("receiver accepted %+v, sent %+v", r.Accepted, r.Sent)
	}
	for _, name := range []string{
		"otelcol_receiver_refused_log_records", "otelcol_receiver_refused_metric_points", "otelcol_receiver_refused_spans",
		"otelcol_receiver_failed_log_records", "otelcol_receiver_failed_metric_points", "otelcol_receiver_failed_spans",
		"otelcol_exporter_send_failed_log_records", "otelcol_exporter_send_failed_metric_points", "otelcol_exporter_send_failed_spans",
		"otelcol_exporter_enqueue_failed_log_records", "otelcol_exporter_enqueue_failed_metric_points", "otelcol_exporter_enqueue_failed_spans",
	} {
		if v := m.Sum(name); v != 0 {
			bad("%s = %.0f", name, v)
		}
	}
	if v := int64(m.Sum("otelcol_exporter_sent_metric_points", "exporter", "debug")); v != r.Sent.Metrics {
		bad("debug exporter sent %d metric points, %d sent", v, r.Sent.Metrics)
	}
	if v := int64(m.Sum("otelcol_exporter_sent_spans", "exporter", "debug")); v != r.Sent.Spans {
		bad("debug exporter sent %d spans, %d sent", v, r.Sent.Spans)
	}
	findings := int64(m.Sum("otelcol_processor_insights_findings_emitted"))
	r.Findings = int(findings)
	if v := int64(m.Sum("otelcol_processor_incoming_items", "processor", "filter/findings")); v != r.Sent.Logs+findings {
		bad("filter/findings saw %d log records, %d sent (+%d findings)", v, r.Sent.Logs, findings)
	}
	if !insights {
		return
	}
	for sig, want := range map[string]int64{"logs": r.Sent.Logs, "metrics": r.Sent.Metrics, "traces": r.Sent.Spans} {
		if v := int64(m.Sum("otelcol_processor_insights_items_inspected", "signal", sig)); v != want {
			bad("insights inspected %d %s items, %d sent", v, sig, want)
		}
	}
	for _, name := range []string{"otelcol_processor_insights_findings_dropped", "otelcol_processor_insights_inputs_undecodable",
		"otelcol_processor_insights_inventory_refused"} {
		if v := m.Sum(name); v != 0 {
			bad("%s = %.0f", name, v)
		}
	}
	if findings > 0 {
		bad("%d findings emitted on clean traffic", findings)
	}
	// Hours of simulated time pass in a run: the pods (watch ADDED once, at the start) must
	// still all be known at the end.
	if v := int(m.Sum("otelcol_processor_insights_inventory_pods")); v != pods {
		bad("inventory holds %d pods at the end, the mesh has %d", v, pods)
	}
}

type report struct {
	Date               time.Time
	Traffic            traffic
	Results            []*result
	Opts               options
	LoadStart, LoadEnd [3]float64
	Elapsed            time.Duration
}

func (rep *report) table(w io.Writer, md bool) {
	head := []string{"rate (items/s)", "config", "items measured", "achieved items/s", "collector CPU s", "CPU s / M items",
		"% of one core", "RSS start-end (mean) MiB", "peak RSS (VmHWM) MiB", "sender % core", "others % core", "load1 start-end", "findings", "checks"}
	rows := [][]string{}
	for _, r := range rep.Results {
		checks := "ok"
		if len(r.Problems) > 0 {
			checks = fmt.Sprintf("%d FAILED", len(r.Problems))
		}
		rows = append(rows, []string{
			fmt.Sprintf("%.0f", r.Rate), r.Config, strconv.FormatInt(r.Items, 10), fmt.Sprintf("%.0f", r.achieved()),
			fmt.Sprintf("%.2f", r.CPU.Seconds()), fmt.Sprintf("%.2f", r.cpuPerM()), fmt.Sprintf("%.1f", r.cpuPct()),
			fmt.Sprintf("%.0f-%.0f (%.0f)", mb(r.RSSStart), mb(r.RSSEnd), r.RSSMean/(1<<20)), fmt.Sprintf("%.0f", mb(r.HWM)),
			fmt.Sprintf("%.1f", r.senderPct()), fmt.Sprintf("%.1f", r.othersPct()),
			fmt.Sprintf("%.2f-%.2f", r.Load1[0], r.Load1[1]), strconv.Itoa(r.Findings), checks,
		})
	}
	writeTable(w, md, head, rows)
}

func (rep *report) diffTable(w io.Writer, md bool) {
	head := []string{"rate (items/s)", "baseline CPU s / M items", "insights CPU s / M items", "insights cost: CPU s / M items (= µs per item)",
		"% of one core at the rate", "RSS mean difference MiB", "peak RSS difference MiB"}
	var rows [][]string
	for _, rate := range rep.Opts.rates {
		var b, in *result
		for _, r := range rep.Results {
			if r.Rate == rate && r.Config == "baseline" {
				b = r
			}
			if r.Rate == rate && r.Config == "insights" {
				in = r
			}
		}
		if b == nil || in == nil {
			continue
		}
		d := in.cpuPerM() - b.cpuPerM()
		rows = append(rows, []string{
			fmt.Sprintf("%.0f", rate), fmt.Sprintf("%.2f", b.cpuPerM()), fmt.Sprintf("%.2f", in.cpuPerM()),
			fmt.Sprintf("%+.2f", d), fmt.Sprintf("%+.1f", d*rate/1e6*100),
			fmt.Sprintf("%+.0f", (in.RSSMean-b.RSSMean)/(1<<20)), fmt.Sprintf("%+.0f", mb(in.HWM)-mb(b.HWM)),
		})
	}
	writeTable(w, md, head, rows)
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

func writeTable(w io.Writer, md bool, head []string, rows [][]string) {
	if md {
		fmt.Fprintf(w, "| %s |\n", strings.Join(head, " | "))
		fmt.Fprintf(w, "|%s\n", strings.Repeat("---|", len(head)))
		for _, r := range rows {
			fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

const sectionHeading = "## Load harness"

// writeDocs writes the "## Load harness" section of path: its introduction is rewritten,
// the earlier runs' "### " subsections are kept, and this run's is added after them. The
// section is appended when path has none; what follows it (the next "## ") is kept.
func (rep *report) writeDocs(path string) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var intro, run strings.Builder
	rep.intro(&intro)
	rep.run(&run)
	doc := string(old)
	i := strings.Index(doc, "\n"+sectionHeading+"\n")
	if i < 0 {
		doc = strings.TrimRight(doc, "\n") + "\n\n" + intro.String() + run.String()
		return os.WriteFile(path, []byte(doc), 0o644)
	}
	body := doc[i+1+len(sectionHeading)+1:]
	tail := ""
	if j := strings.Index(body, "\n## "); j >= 0 {
		body, tail = body[:j+1], body[j:]
	}
	runs := ""
	if j := strings.Index(body, "\n### "); j >= 0 {
		runs = strings.TrimRight(body[j+1:], "\n") + "\n\n"
	}
	doc = doc[:i+1] + intro.String() + runs + strings.TrimRight(run.String(), "\n") + "\n" + tail
	return os.WriteFile(path, []byte(doc), 0o644)
}

func (rep *report) intro(w io.Writer) {
	fmt.Fprintf(w, "%s\n\n", sectionHeading)
	fmt.Fprintf(w, `What the processor costs a running collector, rather than a benchmark loop: `+"`make load`"+`
(test/load) builds the distribution, then for each rate runs it twice, with
`+"`testdata/load/baseline.yaml`"+` (OTLP/gRPC receiver to the debug exporter at verbosity basic for
metrics and spans; logs through a filter that keeps only finding records for the file
exporter) and with `+"`testdata/load/insights.yaml`"+` (the same with the insights processor first
in all three pipelines, configured as meshsim's scenarios are scored). meshsim's generator,
in the harness's own process, sends the clean scenario's background traffic over OTLP/gRPC
at a fixed rate of items per second (spans + metric data points + log records), a whole
simulated scrape tick per request set, as `+"`meshsim run --rate`"+` does. After a warm-up the
harness measures a fixed window: the collector's CPU time (utime+stime, /proc/<pid>/stat),
its RSS (/proc/<pid>/status VmRSS every 0.5 s, and the peak VmHWM), the sender's own CPU
(getrusage) and everyone else's (/proc/stat busy time minus both). Then it checks on the
collector's own metrics that every item sent was accepted, exported or filtered, and
inspected by the processor (no refusal, failure or drop), and that clean traffic gave no
finding (processor counter and findings file). The difference between the two runs at a
rate is the processor's cost. Each run adds a subsection below (this introduction is
rewritten). On a shared machine the same point varies from run to run by about as much as
the processor's cost at low rates: read the difference over several runs, and at the
highest rate.

The simulated mesh is small (each run says how small): a rate above its real one (tens of
items/s at one tick per scrape interval) is reached by playing simulated time faster, so
the processor's state (series, edges, pods) stays that of a small mesh while the item rate
is that of a much larger one: memory figures are a lower bound for a bigger mesh, CPU per
item is what the hot path costs. Most of the collector's RSS is the distribution itself
(every component of builder-config.yaml linked in).

`)
}

func (rep *report) run(w io.Writer) {
	o := rep.Opts
	rates := make([]string, len(o.rates))
	for i, r := range o.rates {
		rates[i] = fmt.Sprintf("%.0f", r)
	}
	fmt.Fprintf(w, "### %s\n\n", rep.Date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Reproduce: `%s` (%s warm-up and %s measured per run, rates %s items/s; %s in all).\n",
		o.command, o.warmup, o.duration, strings.Join(rates, ", "), rep.Elapsed.Round(time.Second))
	fmt.Fprintf(w, "Traffic: %s; at one tick per %s that mesh sends ~%.0f items/s.\n",
		rep.Traffic.String(), rep.Traffic.TickInterval, rep.Traffic.Items/rep.Traffic.TickInterval.Seconds())
	fmt.Fprintf(w, "Machine: %d cores, %s %s/%s; load average (1/5/15 min) %.2f/%.2f/%.2f before, %.2f/%.2f/%.2f after.\n",
		runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH,
		rep.LoadStart[0], rep.LoadStart[1], rep.LoadStart[2], rep.LoadEnd[0], rep.LoadEnd[1], rep.LoadEnd[2])
	var othersMax float64
	for _, r := range rep.Results {
		othersMax = max(othersMax, r.othersPct())
	}
	if othersMax >= 5 {
		fmt.Fprintf(w, "The machine was shared: other processes used up to %.0f%% of a core during a measured window (column \"others\"), so CPU figures carry that noise.\n", othersMax)
	}
	fmt.Fprintln(w)
	rep.table(w, true)
	fmt.Fprintf(w, "\nThe insights processor's cost (insights minus baseline at the same rate; the share of a core is\n"+
		"the per-item difference times the rate, so a run that fell short of its rate does not skew it):\n\n")
	rep.diffTable(w, true)
	fmt.Fprintln(w)
	var problems []string
	for _, r := range rep.Results {
		for _, p := range r.Problems {
			problems = append(problems, fmt.Sprintf("%s at %.0f items/s: %s", r.Config, r.Rate, p))
		}
	}
	for _, r := range rep.Results {
		for _, n := range r.Notes {
			fmt.Fprintf(w, "Note, %s at %.0f items/s: %s.\n\n", r.Config, r.Rate, n)
		}
	}
	if len(problems) == 0 {
		fmt.Fprintf(w, "Checks: in every run the receiver accepted every item sent (none refused or failed), the debug\n"+
			"exporter sent every data point and span, the filter saw every log record, the insights processor\n"+
			"inspected every item and still held every pod at the end, and no finding was emitted or written\n"+
			"on clean traffic.\n")
	} else {
		fmt.Fprintf(w, "Checks FAILED:\n\n")
		for _, p := range problems {
			fmt.Fprintf(w, "- %s\n", p)
		}
	}
}
