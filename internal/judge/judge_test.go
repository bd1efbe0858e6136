package judge

import (
	"flag"
	"fmt"
	"math"
	"math/rand"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

var table = flag.Bool("judge-table", false, "print the simulation table (10,000 runs a cell) and write it to docs/judge-simulation.md")

// scenario is traffic at rps requests a second, 20% of it to the canary,
// the stable's error rate base, the canary's base*ratio, looked at every
// 10 s for 30 minutes.
type scenario struct {
	base, ratio, rps float64
}

const (
	interval  = 10 * time.Second
	intervals = 180
	weight    = 0.2
)

// outcome is when each method aborted (the look's index), or -1.
type outcome struct{ judge, threshold, peeking int }

func run(sc scenario, seed int64) outcome {
	r := rand.New(rand.NewSource(seed))
	out := outcome{-1, -1, -1}
	var st State
	var canary, stable Counts
	thresholdFailures := 0
	for i := 0; i < intervals; i++ {
		n := sc.rps * interval.Seconds()
		nc, ns := poisson(r, n*weight), poisson(r, n*(1-weight))
		ec := poisson(r, nc*sc.base*sc.ratio)
		es := poisson(r, ns*sc.base)
		canary.Requests += nc
		canary.Errors += ec
		stable.Requests += ns
		stable.Errors += es
		var verdict Verdict
		st, _, verdict = Update(Defaults, st, canary, stable)
		if verdict == Harm && out.judge < 0 {
			out.judge = i
		}
		// The seeds' threshold analysis: the canary's success rate over the
		// interval at least 0.95, failureLimit 3 (the 4th failure aborts).
		if nc > 0 && 1-ec/nc < 0.95 {
			thresholdFailures++
		}
		if thresholdFailures > 3 && out.threshold < 0 {
			out.threshold = i
		}
		// A fixed-horizon one-sided two-proportion z-test (α = 0.01),
		// looked at every interval without correction.
		if out.peeking < 0 && canary.Requests > 0 && stable.Requests > 0 {
			pc, ps := canary.Errors/canary.Requests, stable.Errors/stable.Requests
			p := (canary.Errors + stable.Errors) / (canary.Requests + stable.Requests)
			se := math.Sqrt(p * (1 - p) * (1/canary.Requests + 1/stable.Requests))
			if se > 0 && (pc-ps*(1+Defaults.Tolerance))/se > 2.326 {
				out.peeking = i
			}
		}
	}
	return out
}

// Under the null (the canary no worse than stable), the judge aborts at
// most α of the time, however often it looks; a naive z-test looked at
// every interval does not keep that bound.
func TestFalseAbortsAtMostAlpha(t *testing.T) {
	const runs = 2000
	for _, sc := range []scenario{{base: 0.01, ratio: 1, rps: 100}, {base: 0.001, ratio: 1, rps: 1000}, {base: 0.05, ratio: 1.1, rps: 10}} {
		aborts := 0
		for seed := int64(1); seed <= runs; seed++ {
			if run(sc, seed).judge >= 0 {
				aborts++
			}
		}
		if rate := float64(aborts) / runs; rate > Defaults.Alpha {
			t.Errorf("%+v: false aborts %.4f, above α = %g", sc, rate, Defaults.Alpha)
		}
	}
}

// A canary twice as bad is caught, with a few hundred errors at most.
func TestDetectsARegression(t *testing.T) {
	const runs = 500
	caught := 0
	var times []int
	for seed := int64(1); seed <= runs; seed++ {
		if i := run(scenario{base: 0.01, ratio: 2, rps: 100}, seed).judge; i >= 0 {
			caught++
			times = append(times, i)
		}
	}
	if caught < runs*95/100 {
		t.Errorf("a 2x regression caught in %d of %d runs", caught, runs)
	}
	slices.Sort(times)
	t.Logf("2x at 1%%, 100 req/s: caught %d/%d, median %s", caught, runs, time.Duration(times[len(times)/2]+1)*interval)
}

// Traffic that shifts (a burst, a quiet hour) changes nothing under the
// null: only the error-rate ratio counts.
func TestCounterResetAndNoTraffic(t *testing.T) {
	var st State
	st, e, v := Update(Defaults, st, Counts{100, 1}, Counts{400, 4})
	if v != Continue || e <= 0 {
		t.Fatalf("first look: e %g, verdict %v", e, v)
	}
	before := st.LogRatios[0]
	// No new traffic: nothing learned.
	st, _, _ = Update(Defaults, st, Counts{100, 1}, Counts{400, 4})
	if st.LogRatios[0] != before {
		t.Errorf("no traffic moved the test: %g -> %g", before, st.LogRatios[0])
	}
	// A counter reset: the new value is the increment, never negative.
	st, _, _ = Update(Defaults, st, Counts{10, 0}, Counts{40, 0})
	if st.Canary.Requests != 10 || math.IsNaN(st.LogRatios[0]) {
		t.Errorf("after a reset: %+v", st)
	}
	// All errors in the canary at equal traffic: evidence of harm builds.
	var bad State
	var verdict Verdict
	for i := 1; i <= 30 && verdict != Harm; i++ {
		bad, _, verdict = Update(Defaults, bad, Counts{float64(100 * i), float64(5 * i)}, Counts{float64(400 * i), float64(4 * i)})
	}
	if verdict != Harm {
		t.Errorf("a canary with 5x the stable's error rate never judged harmful: e %g", EValue(bad))
	}
}

// TestSimulationTable prints (with -judge-table) the judge against the
// seeds' threshold analysis and a z-test peeked at every interval.
func TestSimulationTable(t *testing.T) {
	if !*table {
		t.Skip("run with -judge-table")
	}
	const runs = 10000
	var b strings.Builder
	fmt.Fprintf(&b, "# The judge in simulation\n\n%d runs a cell; 30 minutes looked at every 10 s; 20%% of the traffic to the canary; α = %g, tolerance %g%%.\n"+
		"Columns: the share of runs aborted, and the median and p95 time to abort among them, for the judge, the seeds' threshold analysis\n"+
		"(success rate >= 0.95 each interval, failureLimit 3) and a one-sided z-test looked at every interval.\n"+
		"At ratio 1.0 an abort is a false abort.\n\n", runs, Defaults.Alpha, Defaults.Tolerance*100)
	b.WriteString("| base error rate | canary/stable | req/s | judge aborts | judge median / p95 | threshold aborts | threshold median / p95 | peeking z aborts | peeking median / p95 |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, base := range []float64{0.001, 0.01, 0.05} {
		for _, ratio := range []float64{1, 1.1, 1.5, 2, 5} {
			for _, rps := range []float64{10, 100, 1000} {
				var j, th, pk []int
				for seed := int64(1); seed <= runs; seed++ {
					o := run(scenario{base, ratio, rps}, seed)
					for _, x := range []struct {
						v int
						l *[]int
					}{{o.judge, &j}, {o.threshold, &th}, {o.peeking, &pk}} {
						if x.v >= 0 {
							*x.l = append(*x.l, x.v)
						}
					}
				}
				fmt.Fprintf(&b, "| %g%% | %g | %g | %s | %s | %s | %s | %s | %s |\n", base*100, ratio, rps,
					percent(j, runs), times(j), percent(th, runs), times(th), percent(pk, runs), times(pk))
			}
		}
	}
	fmt.Print(b.String())
	if err := os.WriteFile("../../docs/judge-simulation.md", []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func percent(l []int, runs int) string {
	return fmt.Sprintf("%.2f%%", 100*float64(len(l))/float64(runs))
}

func times(l []int) string {
	if len(l) == 0 {
		return "-"
	}
	slices.Sort(l)
	at := func(q float64) time.Duration { return time.Duration(l[int(q*float64(len(l)-1))]+1) * interval }
	return fmt.Sprintf("%s / %s", at(0.5), at(0.95))
}
