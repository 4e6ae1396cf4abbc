// Command insights-demo is what `make run` runs: it starts the built collector with the
// demo config, sends it two pods as a k8sobjects receiver would (one like the SAP AI Core
// case, one clean), prints the findings as they arrive, deletes the offending pod to show
// the finding resolve, prints a summary and stops.
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
)

func main() {
	collector := flag.String("collector", "dist/otelcol-insights", "the built distribution")
	config := flag.String("config", "testdata/demo/config.yaml", "collector configuration")
	badPod := flag.String("bad-pod", "testdata/pods/sapwned-job-uid-1337.yaml", "a pod whose app container runs as UID 1337")
	cleanPod := flag.String("clean-pod", "testdata/pods/clean-deployment-pod.yaml", "a clean meshed pod")
	timeout := flag.Duration("timeout", 30*time.Second, "how long to wait for each finding")
	flag.Parse()
	if err := run(os.Stdout, *collector, *config, *badPod, *cleanPod, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func run(out io.Writer, bin, config, badPath, cleanPath string, timeout time.Duration) error {
	bad, err := loadOne(badPath)
	if err != nil {
		return err
	}
	clean, err := loadOne(cleanPath)
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "Starting %s with %s ...\n", bin, config)
	ctx := context.Background()
	c, err := collectorrun.Start(ctx, collectorrun.Options{Binary: bin, Config: config})
	if err != nil {
		return err
	}
	defer func() {
		_ = c.Stop()
		fmt.Fprintf(out, "\nCollector stopped. Everything it exported is in %s\n", c.FindingsFile)
	}()

	fmt.Fprintf(out, "\nSending two pods, as the k8sobjects receiver would (watch mode, ADDED):\n")
	fmt.Fprintf(out, "  %s/%s  runs an app container as UID/GID 1337 with shareProcessNamespace (the SAP AI Core pattern)\n", bad.Namespace(), bad.Name())
	fmt.Fprintf(out, "  %s/%s  a clean meshed pod\n", clean.Namespace(), clean.Name())
	if err := c.PostWatchEvents(ctx, meshsim.WatchAdded, bad, clean); err != nil {
		return err
	}
	shown := 0
	all, err := waitAndShow(out, c, &shown, timeout, func(fs []collectorrun.FindingRecord) bool { return hasState(fs, "open") })
	if err != nil {
		return fmt.Errorf("no finding within %s: %w\n%s", timeout, err, c.Output())
	}

	fmt.Fprintf(out, "\nDeleting %s/%s: its findings resolve.\n", bad.Namespace(), bad.Name())
	if err := c.PostWatchEvents(ctx, meshsim.WatchDeleted, bad); err != nil {
		return err
	}
	all, err = waitAndShow(out, c, &shown, timeout, func(fs []collectorrun.FindingRecord) bool { return hasState(fs, "resolved") })
	if err != nil {
		return fmt.Errorf("no resolved finding within %s: %w", timeout, err)
	}
	printSummary(out, all, clean.Name())
	return nil
}

func loadOne(path string) (meshsim.Object, error) {
	objs, err := meshsim.LoadObjects(path)
	if err != nil {
		return nil, err
	}
	if len(objs) != 1 {
		return nil, fmt.Errorf("%s: want one object, got %d", path, len(objs))
	}
	return objs[0], nil
}

func hasState(fs []collectorrun.FindingRecord, state string) bool {
	for _, f := range fs {
		if f.Attr("insight.state") == state {
			return true
		}
	}
	return false
}

// waitAndShow prints findings as they arrive until done accepts them.
func waitAndShow(out io.Writer, c *collectorrun.Collector, shown *int, timeout time.Duration, done func([]collectorrun.FindingRecord) bool) ([]collectorrun.FindingRecord, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.WaitFindings(ctx, func(fs []collectorrun.FindingRecord) bool {
		for ; *shown < len(fs); *shown++ {
			printFinding(out, fs[*shown])
		}
		return done(fs)
	})
}

func printFinding(out io.Writer, f collectorrun.FindingRecord) {
	fmt.Fprintf(out, "\n  [%s] %s  %s  (%s)\n", f.SeverityText, f.Attr("insight.rule"), f.Attr("insight.workload"), f.Attr("insight.state"))
	fmt.Fprintf(out, "    %s\n", f.Body)
	where := fmt.Sprintf("namespace=%s pod=%s", f.ResourceAttr("k8s.namespace.name"), f.ResourceAttr("k8s.pod.name"))
	if c := f.ResourceAttr("k8s.container.name"); c != "" {
		where += " container=" + c
	}
	fmt.Fprintf(out, "    %s fingerprint=%s\n", where, f.Attr("insight.fingerprint"))
	var ev []string
	for k, v := range f.Attributes {
		if name, ok := strings.CutPrefix(k, "insight.evidence."); ok {
			ev = append(ev, fmt.Sprintf("%s=%v", name, v))
		}
	}
	if len(ev) > 0 {
		slices.Sort(ev)
		fmt.Fprintf(out, "    evidence: %s\n", strings.Join(ev, " "))
	}
	if f.Attr("insight.state") == "open" {
		rem := f.Attr("insight.remediation")
		if i := strings.Index(rem, "\n"); i > 0 {
			rem = rem[:i] + " ..."
		}
		fmt.Fprintf(out, "    remediation: %s\n", rem)
	}
}

func printSummary(out io.Writer, fs []collectorrun.FindingRecord, cleanPod string) {
	fmt.Fprintf(out, "\nSummary\n\n")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tSEVERITY\tSTATE\tWORKLOAD\tCONTAINER")
	cleanSeen := false
	for _, f := range fs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Attr("insight.rule"), f.Attr("insight.severity"), f.Attr("insight.state"),
			f.Attr("insight.workload"), f.ResourceAttr("k8s.container.name"))
		if f.ResourceAttr("k8s.pod.name") == cleanPod {
			cleanSeen = true
		}
	}
	tw.Flush()
	if !cleanSeen {
		fmt.Fprintf(out, "\nThe clean pod %s produced no finding.\n", cleanPod)
	}
}
