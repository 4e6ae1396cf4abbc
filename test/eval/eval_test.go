//go:build eval

// Package eval scores the built distribution against every meshsim scenario's ground
// truth and writes docs/DETECTION.md. Run it with `make eval`:
//
//	OTELCOL_INSIGHTS_BIN=dist/otelcol-insights go test -tags eval -count=1 ./test/eval/
//
// It fails below precision 0.99 or recall 1.0 over the suite, and on any finding in clean.
package eval

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/meshinsights/otelcol-insights/internal/meshsim"
	"github.com/meshinsights/otelcol-insights/internal/meshsim/replay"
)

var (
	seed     = flag.Uint64("seed", 1, "meshsim seed")
	parallel = flag.Int("parallel", 3, "scenarios run at once (one collector each)")
	only     = flag.String("scenario", "", "run only this scenario (the report is then not written)")
	report   = flag.String("report", "../../docs/DETECTION.md", "where to write the report")
	bare     = flag.Bool("no-pod-attributes", false, "access logs and spans without k8sattributes' pod attributes (the report is then not written)")
)

const (
	minPrecision = 0.99
	minRecall    = 1.0
)

func TestDetectionQuality(t *testing.T) {
	bin := os.Getenv("OTELCOL_INSIGHTS_BIN")
	if bin == "" {
		t.Skip("OTELCOL_INSIGHTS_BIN is not set: run `make eval`")
	}
	config := filepath.Join("..", "..", "testdata", "meshsim")
	var scenarios []meshsim.Scenario
	for _, s := range meshsim.Scenarios() {
		if *only == "" || s.Name == *only {
			scenarios = append(scenarios, s)
		}
	}
	if len(scenarios) == 0 {
		t.Fatalf("no scenario %q", *only)
	}

	start := time.Now()
	results := make([]*replay.Result, len(scenarios))
	errs := make([]error, len(scenarios))
	sem := make(chan struct{}, max(*parallel, 1))
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for i, s := range scenarios {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i], errs[i] = replay.Run(ctx, s, replay.Options{
				Binary: bin, Config: filepath.Join(config, s.Config), Seed: *seed,
				TickPace: 80 * time.Millisecond, Dir: t.TempDir(), NoPodAttributes: *bare,
			})
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v", scenarios[i].Name, err)
		}
	}

	var scores []*meshsim.Score
	for _, r := range results {
		scores = append(scores, r.Score)
		t.Logf("%-22s %5d items  %2d open findings  %d false positives  %d missed  (%s)", r.Scenario.Name, r.Items,
			len(r.Findings)-r.Score.Other, len(r.Score.FalsePositives), len(r.Score.Missed), r.Elapsed.Round(10*time.Millisecond))
		for _, fp := range r.Score.FalsePositives {
			t.Logf("    false positive: %s %s/%s: %s", fp.Rule, fp.Namespace, fp.Workload, fp.Evidence)
		}
		for _, m := range r.Score.Missed {
			t.Logf("    missed: %s %s/%s", m.Rule, m.Namespace, m.Subject())
		}
	}
	suite := meshsim.MergeScores(scores)
	md := Report(results, suite, *seed, elapsed)
	if *only == "" && !*bare && *report != "" {
		if err := os.WriteFile(*report, []byte(md), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%s for %d scenarios)", *report, elapsed.Round(100*time.Millisecond), len(results))
	}

	for _, r := range results {
		if r.Scenario.Name == "clean" && len(r.Findings)-r.Score.Other > 0 {
			t.Errorf("clean: %d findings, want none", len(r.Findings)-r.Score.Other)
		}
	}
	for _, rs := range suite {
		if rs.Precision() < minPrecision {
			t.Errorf("%s: precision %.3f < %.2f (%d of %d open findings match the ground truth)", rs.Rule, rs.Precision(), minPrecision, rs.Matched, rs.Emitted)
		}
		if rs.Recall() < minRecall {
			t.Errorf("%s: recall %.3f < %.2f (%d of %d truth entries found)", rs.Rule, rs.Recall(), minRecall, rs.Found, rs.Truth)
		}
	}
	fmt.Fprintln(os.Stderr) // keep go test's summary on its own line
}
