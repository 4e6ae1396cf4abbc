// Package replay plays a meshsim scenario into a running collector (the built
// distribution, started by internal/collectorrun), watches the findings it writes, and
// scores them against the scenario's ground truth. make eval and make run use it.
package replay

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/meshinsights/otelcol-insights/internal/collectorrun"
	"github.com/meshinsights/otelcol-insights/internal/meshsim"
)

// Options configure a replay.
type Options struct {
	// Binary is the built distribution; Config the collector configuration.
	Binary string
	Config string
	Seed   uint64
	// TickPace is the wall time each simulated tick takes to send (at least): it spreads
	// the run so detection delays can be told apart in ticks. 0 sends as fast as possible.
	TickPace time.Duration
	// Settle is how long to keep reading findings after the last tick once every truth
	// entry was found (or, for a scenario without truth, after the last tick): late false
	// positives (held sidecar_bypass findings, the last flush) show up in it.
	Settle time.Duration
	// MaxWait bounds the wait for missing truth entries after the last tick.
	MaxWait time.Duration
	// OnFinding, when set, is called for each new finding as it arrives (the demo prints it).
	OnFinding func(o meshsim.Observed, f collectorrun.FindingRecord)
	// OnTick, when set, is called after each tick is sent.
	OnTick func(b *meshsim.Batch)
	// AfterPlay, when set, runs after the settle period, before the last read of the
	// findings (the demo deletes the offending pod there to show its findings resolve).
	AfterPlay func(ctx context.Context, c *collectorrun.Collector, plan *meshsim.Plan) error
	// Dir is the collector's working directory (a temporary one when empty).
	Dir string
	// NoPodAttributes: see meshsim.Generator.NoPodAttributes.
	NoPodAttributes bool
}

// Result is one scenario's replay.
type Result struct {
	Scenario meshsim.Scenario
	Plan     *meshsim.Plan
	Findings []meshsim.Observed
	Records  []collectorrun.FindingRecord
	Score    *meshsim.Score
	Items    int
	Elapsed  time.Duration
	// TickSent is when each tick was sent (wall clock).
	TickSent []time.Time
	// FindingsFile is where the collector wrote its findings.
	FindingsFile string
}

// Run replays a scenario against a fresh collector and scores what came out.
func Run(ctx context.Context, s meshsim.Scenario, opts Options) (*Result, error) {
	if opts.Settle == 0 {
		opts.Settle = 2 * time.Second
	}
	if opts.MaxWait == 0 {
		opts.MaxWait = 15 * time.Second
	}
	start := time.Now()
	c, err := collectorrun.Start(ctx, collectorrun.Options{Binary: opts.Binary, Config: opts.Config, Dir: opts.Dir})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Name, err)
	}
	defer c.Stop()

	plan := s.Plan(opts.Seed)
	off, err := rulesLeftOff(opts.Config)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Name, err)
	}
	plan.DropRules(off...)
	gen := meshsim.NewGenerator(plan, opts.Seed)
	gen.NoPodAttributes = opts.NoPodAttributes
	w := &watcher{c: c, onFinding: opts.OnFinding}
	pollCtx, stopPoll := context.WithCancel(ctx)
	pollDone := make(chan struct{})
	go func() { defer close(pollDone); w.poll(pollCtx) }()
	defer func() { stopPoll(); <-pollDone }()

	sender := c.Sender()
	res := &Result{Scenario: s, Plan: plan, FindingsFile: c.FindingsFile}
	tickSent := make([]time.Time, 0, plan.Ticks)
	for {
		b, ok := gen.Next()
		if !ok {
			break
		}
		sentAt := time.Now()
		w.setTick(b.Tick)
		tickSent = append(tickSent, sentAt)
		if err := meshsim.Send(ctx, sender, b); err != nil {
			return nil, fmt.Errorf("%s: tick %d: %w\n%s", s.Name, b.Tick, err, c.Output())
		}
		res.Items += b.Items()
		if opts.OnTick != nil {
			opts.OnTick(b)
		}
		if opts.TickPace > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Until(sentAt.Add(opts.TickPace))):
			}
		}
	}
	// Wait for every truth entry (bounded), then settle for late findings.
	deadline := time.Now().Add(opts.MaxWait)
	for time.Now().Before(deadline) && !meshsim.AllTruthFound(plan, w.observed()) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(opts.Settle):
	}
	if opts.AfterPlay != nil {
		if err := opts.AfterPlay(ctx, c, plan); err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
	}
	stopPoll()
	<-pollDone
	w.read() // the last word
	res.Findings = w.observed()
	res.Records = w.records()
	res.TickSent = tickSent
	res.Score = meshsim.ScoreFindings(plan, res.Findings, tickSent)
	res.Score.Scenario, res.Score.Seed = s.Name, opts.Seed
	res.Elapsed = time.Since(start)
	return res, nil
}

// watcher polls the findings file and stamps each new finding with its arrival.
type watcher struct {
	c         *collectorrun.Collector
	onFinding func(meshsim.Observed, collectorrun.FindingRecord)

	mu   sync.Mutex
	tick int
	obs  []meshsim.Observed
	recs []collectorrun.FindingRecord
}

func (w *watcher) setTick(t int) {
	w.mu.Lock()
	w.tick = t
	w.mu.Unlock()
}

func (w *watcher) poll(ctx context.Context) {
	for {
		w.read()
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (w *watcher) read() {
	fs, err := w.c.ReadFindings()
	if err != nil {
		return
	}
	w.mu.Lock()
	var fresh []int
	for i := len(w.obs); i < len(fs); i++ {
		o := Observe(fs[i])
		o.Arrived, o.Tick = time.Now(), w.tick
		w.obs = append(w.obs, o)
		w.recs = append(w.recs, fs[i])
		fresh = append(fresh, i)
	}
	obs, recs := slices.Clone(w.obs), slices.Clone(w.recs)
	w.mu.Unlock()
	if w.onFinding != nil {
		for _, i := range fresh {
			w.onFinding(obs[i], recs[i])
		}
	}
}

func (w *watcher) observed() []meshsim.Observed {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.obs)
}

func (w *watcher) records() []collectorrun.FindingRecord {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.recs)
}

// Observe flattens a finding record for scoring and display.
func Observe(f collectorrun.FindingRecord) meshsim.Observed {
	var ev []string
	for _, k := range sortedAttrKeys(f.Attributes) {
		name, ok := strings.CutPrefix(k, "insight.evidence.")
		if !ok || name == "pods" {
			continue
		}
		ev = append(ev, fmt.Sprintf("%s=%v", name, f.Attributes[k]))
	}
	return meshsim.Observed{
		Rule:      f.Attr("insight.rule"),
		State:     f.Attr("insight.state"),
		Severity:  f.Attr("insight.severity"),
		Namespace: f.ResourceAttr("k8s.namespace.name"),
		Workload:  f.Attr("insight.workload"),
		Pod:       f.ResourceAttr("k8s.pod.name"),
		Body:      f.Body,
		Evidence:  strings.Join(ev, " "),
	}
}

func sortedAttrKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// rulesLeftOff are the meshsim.OffByDefaultRules a collector configuration does not enable
// (processors.insights[/name].rules.<id>.enabled: true in any insights processor).
func rulesLeftOff(config string) ([]string, error) {
	data, err := os.ReadFile(config)
	if err != nil {
		return nil, err
	}
	var cfg struct {
		Processors map[string]struct {
			Rules map[string]struct {
				Enabled bool `json:"enabled"`
			} `json:"rules"`
		} `json:"processors"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", config, err)
	}
	var off []string
	for _, id := range meshsim.OffByDefaultRules {
		on := false
		for name, p := range cfg.Processors {
			if name == "insights" || strings.HasPrefix(name, "insights/") {
				on = on || p.Rules[id].Enabled
			}
		}
		if !on {
			off = append(off, id)
		}
	}
	return off, nil
}
