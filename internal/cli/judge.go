package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vireo-dev/vireo/internal/judge"
)

// judgeFlags are simulate --judge's: the traffic and the test's settings.
type judgeFlags struct {
	errorRate, rps, weight, tolerance, alpha float64
	interval, duration                       time.Duration
	runs                                     int
}

func (j *judgeFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.Float64Var(&j.errorRate, "error-rate", 0.01, "with --judge: the stable version's error rate (0.01 is 1%)")
	f.Float64Var(&j.rps, "rps", 100, "with --judge: requests a second, both versions together")
	f.Float64Var(&j.weight, "weight", 0.2, "with --judge: the canary's share of the requests")
	f.Float64Var(&j.tolerance, "tolerance", judge.Defaults.Tolerance, "with --judge: how much worse than stable a canary may be and pass (0.1 is 10%)")
	f.Float64Var(&j.alpha, "alpha", judge.Defaults.Alpha, "with --judge: the false-abort rate")
	f.DurationVar(&j.interval, "interval", 10*time.Second, "with --judge: the analysis interval")
	f.DurationVar(&j.duration, "duration", 30*time.Minute, "with --judge: how long the analysis runs")
	f.IntVar(&j.runs, "runs", 1000, "with --judge: simulated runs per row")
}

func (j *judgeFlags) run(cmd *cobra.Command) error {
	switch {
	case j.errorRate <= 0 || j.errorRate >= 1:
		return usageError(cmd, fmt.Sprintf("--error-rate %g: give a rate above 0 and below 1", j.errorRate))
	case j.rps <= 0:
		return usageError(cmd, fmt.Sprintf("--rps %g: give a positive rate", j.rps))
	case j.weight <= 0 || j.weight >= 1:
		return usageError(cmd, fmt.Sprintf("--weight %g: give a share above 0 and below 1", j.weight))
	case j.tolerance < 0:
		return usageError(cmd, fmt.Sprintf("--tolerance %g: give 0 or more", j.tolerance))
	case j.alpha <= 0 || j.alpha >= 0.5:
		return usageError(cmd, fmt.Sprintf("--alpha %g: give a rate above 0 and below 0.5", j.alpha))
	case j.interval <= 0 || j.duration < j.interval:
		return usageError(cmd, fmt.Sprintf("--interval %s, --duration %s: give a positive interval and a duration at least as long", j.interval, j.duration))
	case j.runs < 1 || j.runs > 100000:
		return usageError(cmd, fmt.Sprintf("--runs %d: give 1 to 100000", j.runs))
	}
	cfg := judge.Config{Alpha: j.alpha, Tolerance: j.tolerance}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "The judge (α %g, tolerance %g%%) on %g requests/s, %g%% to the canary, stable at %g%% errors, looked at every %s for %s; %d runs a row.\n\n",
		j.alpha, j.tolerance*100, j.rps, j.weight*100, j.errorRate*100, j.interval, j.duration, j.runs)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CANARY/STABLE\tABORTED\tMEDIAN TIME\tP95 TIME\tCANARY REQUESTS BY THEN (MEDIAN)\tPASSED EARLY (MEDIAN TIME)")
	for _, ratio := range []float64{1, 1 + j.tolerance, 1.25, 1.5, 2, 3, 5} {
		o := judge.Simulate(cfg, judge.Traffic{ErrorRate: j.errorRate, Ratio: ratio, RPS: j.rps, Weight: j.weight, Interval: j.interval, Duration: j.duration}, j.runs, 1)
		median, p95, reqs := "-", "-", "-"
		if o.Aborted > 0 {
			median, p95, reqs = o.Median.String(), o.P95.String(), fmt.Sprintf("%.0f", o.CanaryRequests)
		}
		label := fmt.Sprintf("%gx", ratio)
		if ratio <= 1+j.tolerance {
			label += " (a false abort)"
		}
		early := fmt.Sprintf("%.1f%%", 100*o.Passed)
		if o.Passed > 0 {
			early += " (" + o.PassMedian.String() + ")"
		}
		fmt.Fprintf(tw, "%s\t%.1f%%\t%s\t%s\t%s\t%s\n", label, 100*o.Aborted, median, p95, reqs, early)
	}
	return tw.Flush()
}
