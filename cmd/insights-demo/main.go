// Command insights-demo is what `make run` runs: it starts the built collector with the
// demo config and plays meshsim's sapwned scenario into it: a synthetic Istio mesh (two
// dozen workloads, mTLS, an ingress gateway) in which, after a quiet baseline, a Job pod
// runs its trainer as the proxy's UID/GID 1337 (the SAP AI Core pattern). It prints the
// findings as they arrive, deletes the job to show its findings resolve, ends with a
// summary table against the scenario's ground truth, and stops.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/meshinsights/otelcol-insights/internal/collectorrun"
	"github.com/meshinsights/otelcol-insights/internal/meshsim"
	"github.com/meshinsights/otelcol-insights/internal/meshsim/replay"
)

func main() {
	collector := flag.String("collector", "dist/otelcol-insights", "the built distribution")
	config := flag.String("config", "testdata/demo/config.yaml", "collector configuration")
	scenario := flag.String("scenario", "sapwned", "meshsim scenario to play (go run ./cmd/meshsim list)")
	seed := flag.Uint64("seed", 1, "meshsim seed")
	pace := flag.Duration("tick", 150*time.Millisecond, "wall time per simulated 30s tick")
	flag.Parse()
	if err := run(os.Stdout, *collector, *config, *scenario, *seed, *pace); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func run(out io.Writer, bin, config, name string, seed uint64, pace time.Duration) error {
	s, err := meshsim.ScenarioByName(name)
	if err != nil {
		return err
	}
	plan := s.Plan(seed)
	describe(out, plan, s)

	start := time.Now()
	firstOfRule := map[string]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fmt.Fprintf(out, "Starting %s with %s ...\n\n", bin, config)
	res, err := replay.Run(ctx, s, replay.Options{
		Binary: bin, Config: config, Seed: seed, TickPace: pace, Settle: 1500 * time.Millisecond,
		OnTick: func(b *meshsim.Batch) { onTick(out, plan, b, start) },
		OnFinding: func(o meshsim.Observed, f collectorrun.FindingRecord) {
			printFinding(out, o, time.Since(start), !firstOfRule[o.Rule+o.State])
			firstOfRule[o.Rule+o.State] = true
		},
		AfterPlay: deleteAnomalousPods,
	})
	if err != nil {
		return err
	}
	summary(out, res)
	fmt.Fprintf(out, "Scores for every scenario: docs/DETECTION.md (make eval).\n")
	fmt.Fprintf(out, "\nCollector stopped after %s. Everything it exported is in %s\n", time.Since(start).Round(100*time.Millisecond), res.FindingsFile)
	return nil
}

func describe(out io.Writer, plan *meshsim.Plan, s meshsim.Scenario) {
	t := plan.Topology
	meshed, pods := 0, 0
	for _, w := range t.Workloads {
		pods += len(w.Pods)
		if w.Meshed {
			meshed++
		}
	}
	fmt.Fprintf(out, "otelcol-insights demo: scenario %q\n\n", s.Name)
	fmt.Fprintf(out, "A synthetic Istio mesh (internal/meshsim) is played into the collector over OTLP: %d namespaces,\n", len(t.Namespaces))
	fmt.Fprintf(out, "%d workloads (%d with sidecars), %d pods. The collector receives what a node agent would: pod objects\n", len(t.Workloads), meshed, pods)
	fmt.Fprintf(out, "(k8sobjects format), Envoy access logs, Envoy spans, Istio metrics as the prometheus receiver scrapes\n")
	fmt.Fprintf(out, "them. Simulated time: one tick = one %s scrape, sent every few hundred milliseconds.\n\n", plan.TickInterval)
	fmt.Fprintf(out, "Ticks 0-%d: normal traffic (mTLS between sidecars, an ingress gateway, ServiceEntry egress); the\n", plan.AnomalyTick-1)
	fmt.Fprintf(out, "collector learns who talks to whom. No finding is expected.\n")
	fmt.Fprintf(out, "Tick %d on: %s.\n\n", plan.AnomalyTick, s.Summary)
}

func onTick(out io.Writer, plan *meshsim.Plan, b *meshsim.Batch, start time.Time) {
	el := time.Since(start).Seconds()
	switch {
	case b.Tick == 0:
		fmt.Fprintf(out, "  %5.1fs  tick %2d  sim %s  the mesh comes up: %d pod/namespace objects, %d access logs, %d spans, %d metric points\n",
			el, b.Tick, b.Time.Format("15:04"), b.Objects.LogRecordCount(), b.Logs.LogRecordCount(), b.Traces.SpanCount(), b.Metrics.DataPointCount())
	case b.Tick == plan.AnomalyTick:
		fmt.Fprintf(out, "  %5.1fs  tick %2d  sim %s  >>> the anomaly starts (%d new pod objects)\n", el, b.Tick, b.Time.Format("15:04"), b.Objects.LogRecordCount())
	case b.Tick%8 == 0 || b.Tick == plan.Ticks-1:
		fmt.Fprintf(out, "  %5.1fs  tick %2d  sim %s  %d telemetry items this tick\n", el, b.Tick, b.Time.Format("15:04"), b.Items())
	}
}

func printFinding(out io.Writer, o meshsim.Observed, at time.Duration, explain bool) {
	sev := strings.ToUpper(o.Severity)
	fmt.Fprintf(out, "  %5.1fs  %-8s %-24s %s (%s)  [%s]\n", at.Seconds(), sev, o.Rule, o.Workload, o.Namespace, o.State)
	if o.Evidence != "" {
		fmt.Fprintf(out, "          evidence: %s\n", o.Evidence)
	}
	if explain {
		fmt.Fprintf(out, "          %s\n", o.Body)
	}
}

// deleteAnomalousPods deletes the pods the scenario added (the job) and waits for their
// pod-spec findings to resolve. Traffic findings resolve on their own after
// findings.resolve_after without evidence (10m in the demo config: not within the demo).
func deleteAnomalousPods(ctx context.Context, c *collectorrun.Collector, plan *meshsim.Plan) error {
	var objs []meshsim.Object
	var names []string
	for w, tick := range plan.Appear {
		if tick == 0 {
			continue
		}
		for _, p := range w.Pods {
			objs = append(objs, meshsim.PodObject(p, 99999999))
			names = append(names, p.Namespace()+"/"+p.Name)
		}
	}
	if len(objs) == 0 {
		return nil
	}
	slices.Sort(names)
	fmt.Fprintf(os.Stdout, "\nDeleting %s (a DELETED watch event): its pod findings resolve.\n", strings.Join(names, ", "))
	if err := c.PostWatchEvents(ctx, meshsim.WatchDeleted, objs...); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, _ = c.WaitFindings(wctx, func(fs []collectorrun.FindingRecord) bool {
		n := 0
		for _, f := range fs {
			if f.Attr("insight.state") == "resolved" {
				n++
			}
		}
		return n >= 3
	})
	time.Sleep(300 * time.Millisecond) // let the watcher print them
	return nil
}

func summary(out io.Writer, res *replay.Result) {
	fmt.Fprintf(out, "\nSummary: %d telemetry items over %d simulated ticks (%s of mesh time).\n\n",
		res.Items, res.Plan.Ticks, time.Duration(res.Plan.Ticks)*res.Plan.TickInterval)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EXPECTED\tRULE\tSEVERITY\tSUBJECT\tFINDINGS\tSTATE AT THE END\tFOUND AFTER")
	for _, tr := range res.Plan.Truth {
		n, sev, state, after := 0, "-", "-", "MISSED"
		for _, o := range res.Findings {
			if o.Rule != tr.Rule || o.Namespace != tr.Namespace || (o.Workload != tr.Subject() && o.Workload != tr.Name) {
				continue
			}
			if o.State == "open" {
				n++
				if after == "MISSED" {
					after = fmt.Sprintf("%d ticks of anomaly", o.Tick-tr.StartTick+1)
				}
			}
			sev, state = o.Severity, o.State
		}
		fmt.Fprintf(tw, "yes\t%s\t%s\t%s/%s\t%d\t%s\t%s\n", tr.Rule, sev, tr.Namespace, tr.Subject(), n, state, after)
	}
	for _, fp := range res.Score.FalsePositives {
		fmt.Fprintf(tw, "NO\t%s\t%s\t%s/%s\t1\t%s\t(false positive)\n", fp.Rule, fp.Severity, fp.Namespace, fp.Workload, fp.State)
	}
	tw.Flush()
	fmt.Fprintf(out, "\n%d of %d expected findings arrived; %d findings the ground truth does not expect.\n",
		len(res.Plan.Truth)-len(res.Score.Missed), len(res.Plan.Truth), len(res.Score.FalsePositives))
	if res.Scenario.Name != "sapwned" {
		return
	}
	fmt.Fprintf(out, "The job's own pod findings came from its pod spec; sidecar_bypass from the destinations' access logs\n")
	fmt.Fprintf(out, "(plaintext from the job pod's IP with no Istio identity); its direct uploads to the internet pass no\n")
	fmt.Fprintf(out, "proxy, so only the kubelet's byte counters show them (unaccounted_egress, experimental, on in this demo),\n")
	fmt.Fprintf(out, "and its second container's download through the sidecar is passthrough_egress.\n")
}
