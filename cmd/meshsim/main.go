// Command meshsim plays synthetic Istio mesh telemetry with ground truth (internal/meshsim)
// to a collector over OTLP, or writes it as OTLP JSON files.
//
//	meshsim list
//	meshsim run --scenario NAME --endpoint HOST:PORT [--protocol grpc|http] [--rate N] [--duration D] [--seed S]
//	meshsim write --scenario NAME --out DIR [--seed S]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/meshinsights/otelcol-insights/internal/meshsim"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "meshsim:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  meshsim list
  meshsim run --scenario NAME --endpoint HOST:PORT [--protocol grpc|http] [--rate ITEMS/S] [--duration D] [--seed N]
  meshsim write --scenario NAME --out DIR [--seed N]`

func run(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "list":
		return list(out)
	case "run":
		return runCmd(args[1:], out)
	case "write":
		return writeCmd(args[1:], out)
	case "-h", "--help", "help":
		fmt.Fprintln(out, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

func list(out io.Writer) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tEXPECTED FINDINGS (rules)\tWHAT HAPPENS")
	for _, s := range meshsim.Scenarios() {
		rules := s.Plan(1).Rules()
		r := "none"
		if len(rules) > 0 {
			r = fmt.Sprint(rules)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, r, s.Summary)
	}
	return tw.Flush()
}

func runCmd(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	scenario := fs.String("scenario", "sapwned", "scenario name (meshsim list)")
	endpoint := fs.String("endpoint", "127.0.0.1:4317", "the collector's OTLP receiver, host:port")
	protocol := fs.String("protocol", "grpc", "grpc or http (OTLP/HTTP protobuf)")
	rate := fs.Float64("rate", 0, "items per second (records, data points, spans); 0: as fast as the collector takes them")
	duration := fs.Duration("duration", 0, "keep sending background traffic until this much time has passed (0: play the scenario once)")
	seed := fs.Uint64("seed", 1, "random seed: the same seed sends the same telemetry")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := meshsim.ScenarioByName(*scenario)
	if err != nil {
		return err
	}
	sender, err := meshsim.NewSender(*protocol, *endpoint)
	if err != nil {
		return err
	}
	defer sender.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	plan := s.Plan(*seed)
	gen := meshsim.NewGenerator(plan, *seed)
	if *duration > 0 {
		gen.Endless = true
	}
	fmt.Fprintf(out, "meshsim: scenario %s, seed %d, %d simulated ticks of %s (anomaly from tick %d), %s to %s\n",
		s.Name, *seed, plan.Ticks, plan.TickInterval, plan.AnomalyTick, *protocol, *endpoint)
	start := time.Now()
	lastReport := start
	var items, batches int
	for {
		if *duration > 0 && time.Since(start) >= *duration {
			break
		}
		b, ok := gen.Next()
		if !ok {
			break
		}
		if err := meshsim.Send(ctx, sender, b); err != nil {
			return fmt.Errorf("tick %d: %w", b.Tick, err)
		}
		items += b.Items()
		batches++
		if err := meshsim.WaitDue(ctx, start, int64(items), *rate); err != nil {
			return err
		}
		if time.Since(lastReport) >= 3*time.Second {
			lastReport = time.Now()
			el := time.Since(start).Seconds()
			fmt.Fprintf(out, "  %6.1fs  tick %4d (sim %s)  %8d items  %7.0f items/s\n", el, b.Tick, b.Time.Format("15:04:05"), items, float64(items)/el)
		}
	}
	el := time.Since(start)
	fmt.Fprintf(out, "meshsim: sent %d ticks, %d items in %s (%.0f items/s)\n", batches, items, el.Round(time.Millisecond), float64(items)/el.Seconds())
	return nil
}

func writeCmd(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("write", flag.ContinueOnError)
	scenario := fs.String("scenario", "sapwned", "scenario name (meshsim list)")
	dir := fs.String("out", "", "directory for the OTLP JSON files (created)")
	seed := fs.Uint64("seed", 1, "random seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("--out is required")
	}
	s, err := meshsim.ScenarioByName(*scenario)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	plan := s.Plan(*seed)
	gen := meshsim.NewGenerator(plan, *seed)
	files, items := 0, 0
	for {
		b, ok := gen.Next()
		if !ok {
			break
		}
		written, err := meshsim.WriteBatch(*dir, b)
		if err != nil {
			return err
		}
		files += len(written)
		items += b.Items()
	}
	truth, err := json.MarshalIndent(map[string]any{"scenario": s.Name, "seed": *seed, "summary": s.Summary,
		"start": plan.Start, "tick_interval": plan.TickInterval.String(), "ticks": plan.Ticks,
		"anomaly_tick": plan.AnomalyTick, "truth": plan.Truth}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*dir, "truth.json"), append(truth, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(out, "meshsim: wrote %d OTLP JSON files (%d items) and truth.json to %s\n", files, items, *dir)
	return nil
}
