package judge

import (
	"flag"
	"fmt"
	"math"
	"math/rand"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var tableRuns = flag.Int("judge-runs", 10000, "with -judge-table: runs a cell")

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
type outcome struct{ judge, passed, threshold, peeking int }

func run(sc scenario, seed int64) outcome {
	r := rand.New(rand.NewSource(seed))
	out := outcome{-1, -1, -1, -1}
	var canary, stable Counts
	st, _ := Update(Defaults, State{}, canary, stable) // the first look, at the start
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
		var res Result
		st, res = Update(Defaults, st, canary, stable)
		if res.Verdict == Harm && out.judge < 0 && out.passed < 0 {
			out.judge = i
		}
		if res.Verdict == Within && out.judge < 0 && out.passed < 0 {
			out.passed = i
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
	t.Parallel()
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
	// The first look takes the counters as they are, history and all, as
	// the zero point: it judges nothing.
	st, r := Update(Defaults, State{}, Counts{5000, 500}, Counts{9000, 9})
	if !r.Baseline || r.EValue != 1 || st.CanarySeen != (Counts{}) {
		t.Fatalf("first look: %+v, seen %+v", r, st.CanarySeen)
	}
	st, r = Update(Defaults, State{}, Counts{}, Counts{})
	st, r = Update(Defaults, st, Counts{100, 1}, Counts{400, 4})
	if r.Verdict != Continue || r.EValue <= 0 || r.Baseline || st.CanarySeen != (Counts{100, 1}) {
		t.Fatalf("second look: %+v", r)
	}
	before := st.LogRatios[0]
	// No new traffic: nothing learned.
	st, _ = Update(Defaults, st, Counts{100, 1}, Counts{400, 4})
	if st.LogRatios[0] != before {
		t.Errorf("no traffic moved the test: %g -> %g", before, st.LogRatios[0])
	}
	// A counter reset: the new value is the increment, never negative.
	st, _ = Update(Defaults, st, Counts{10, 0}, Counts{40, 0})
	if st.Canary.Requests != 10 || math.IsNaN(st.LogRatios[0]) {
		t.Errorf("after a reset: %+v", st)
	}
	// All errors in the canary at equal traffic: evidence of harm builds.
	bad, res := Update(Defaults, State{}, Counts{}, Counts{})
	for i := 1; i <= 30 && res.Verdict != Harm; i++ {
		bad, res = Update(Defaults, bad, Counts{float64(100 * i), float64(5 * i)}, Counts{float64(400 * i), float64(4 * i)})
	}
	if res.Verdict != Harm {
		t.Errorf("a canary with 5x the stable's error rate never judged harmful: e %g", EValue(bad))
	}
}

// TestSimulationTable prints (with -judge-table) the judge against the
// seeds' threshold analysis and a z-test peeked at every interval.
func TestSimulationTable(t *testing.T) {
	if !*table {
		t.Skip("run with -judge-table")
	}
	runs := *tableRuns
	var b strings.Builder
	fmt.Fprintf(&b, "# The judge in simulation\n\n%d runs a cell; 30 minutes looked at every 10 s; 20%% of the traffic to the canary; α = %g, tolerance %g%%.\n"+
		"Columns: the share of runs aborted, and the median and p95 time to abort among them, for the judge, the seeds' threshold analysis\n"+
		"(success rate >= 0.95 each interval, failureLimit 3) and a one-sided z-test looked at every interval.\n"+
		"At ratio 1.0 an abort is a false abort.\n\n", runs, Defaults.Alpha, Defaults.Tolerance*100)
	b.WriteString("| base error rate | canary/stable | req/s | judge aborts | judge median / p95 | judge passes early | threshold aborts | threshold median / p95 | peeking z aborts | peeking median / p95 |\n|---|---|---|---|---|---|---|---|---|---|\n")
	type cell struct {
		sc              scenario
		j, pass, th, pk []int
	}
	var cells []*cell
	for _, base := range []float64{0.001, 0.01, 0.05} {
		for _, ratio := range []float64{1, 1.1, 1.5, 2, 5} {
			for _, rps := range []float64{10, 100, 1000} {
				cells = append(cells, &cell{sc: scenario{base, ratio, rps}})
			}
		}
	}
	var wg sync.WaitGroup
	work := make(chan *cell)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for c := range work {
				for seed := int64(1); seed <= int64(runs); seed++ {
					o := run(c.sc, seed)
					for _, x := range []struct {
						v int
						l *[]int
					}{{o.judge, &c.j}, {o.passed, &c.pass}, {o.threshold, &c.th}, {o.peeking, &c.pk}} {
						if x.v >= 0 {
							*x.l = append(*x.l, x.v)
						}
					}
				}
			}
		})
	}
	for _, c := range cells {
		work <- c
	}
	close(work)
	wg.Wait()
	var rows []Row
	for _, c := range cells {
		fmt.Fprintf(&b, "| %g%% | %g | %g | %s | %s | %s | %s | %s | %s | %s |\n", c.sc.base*100, c.sc.ratio, c.sc.rps,
			percent(c.j, runs), times(c.j), percent(c.pass, runs), percent(c.th, runs), times(c.th), percent(c.pk, runs), times(c.pk))
		rows = append(rows, Row{Base: c.sc.base, Ratio: c.sc.ratio, RPS: c.sc.rps, Judge: summary(c.j, runs), Threshold: summary(c.th, runs), Peeking: summary(c.pk, runs)})
	}
	b.WriteString("\n![The judge, the threshold analysis and a peeked z-test at 100 requests/s](judge-simulation.png)\n")
	fmt.Print(b.String())
	if err := os.WriteFile("../../docs/judge-simulation.md", []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writePlot(rows, runs, "../../docs/judge-simulation.png"); err != nil {
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

// The e-value and the confidence interval of a fixed sequence, against
// values computed by hand (a separate Python script of the same formulas:
// e = mean over k of Π (θk/θ0)^xc ((1-θk)/(1-θ0))^xs, θ = nc·ρ/(nc·ρ+ns)).
func TestKnownValues(t *testing.T) {
	st, _ := Update(Defaults, State{}, Counts{}, Counts{})
	st, r := Update(Defaults, st, Counts{100, 3}, Counts{400, 4})
	if math.Abs(r.EValue-1.560610840855782) > 1e-9 {
		t.Errorf("look 1: e-value %.15g, want 1.560610840855782", r.EValue)
	}
	st, r = Update(Defaults, st, Counts{250, 9}, Counts{1000, 10})
	if math.Abs(r.EValue-9.66875799294904) > 1e-9 {
		t.Errorf("look 2: e-value %.15g, want 9.66875799294904", r.EValue)
	}
	if math.Abs(r.Low-0.5946035575013605) > 1e-12 || !math.IsInf(r.High, 1) || r.Verdict != Continue {
		t.Errorf("look 2: interval [%g, %g] %v, want [0.5946, +Inf] continue", r.Low, r.High, r.Verdict)
	}
	six, _ := Update(Defaults, State{}, Counts{}, Counts{})
	_, r = Update(Defaults, six, Counts{1000, 60}, Counts{4000, 40})
	if math.Abs(r.Low-2.5936791093020193) > 1e-12 || math.Abs(r.High-13.454342644059432) > 1e-12 || r.Verdict != Harm {
		t.Errorf("6x: interval [%g, %g] %v, want [2.594, 13.45] harm", r.Low, r.High, r.Verdict)
	}
	// Rounding the state for the metadata moves nothing that matters.
	rounded, exact := st.Rounded(), st
	_, a := Update(Defaults, rounded, Counts{400, 12}, Counts{1600, 16})
	_, b := Update(Defaults, exact, Counts{400, 12}, Counts{1600, 16})
	if math.Abs(a.EValue/b.EValue-1) > 1e-3 || a.Low != b.Low || a.High != b.High {
		t.Errorf("rounded state: %+v, exact %+v", a, b)
	}
}

// The confidence sequence covers the true ratio at every look at once in
// at least 1-α of 10,000 simulated runs: a ratio on the grid (1), one
// between grid points (1.3) and one of a regression (2).
func TestConfidenceSequenceCoverage(t *testing.T) {
	t.Parallel()
	const runs, looks = 10000, 60
	for _, ratio := range []float64{1, 1.3, 2} {
		missed, narrowed := 0, 0
		for seed := int64(1); seed <= runs; seed++ {
			r := rand.New(rand.NewSource(seed))
			var canary, stable Counts
			st, _ := Update(Defaults, State{}, canary, stable)
			for range looks {
				nc, ns := poisson(r, 1000*weight), poisson(r, 1000*(1-weight))
				canary.Requests += nc
				canary.Errors += poisson(r, nc*0.01*ratio)
				stable.Requests += ns
				stable.Errors += poisson(r, ns*0.01)
				var res Result
				st, res = Update(Defaults, st, canary, stable)
				if ratio < res.Low || ratio > res.High {
					missed++
					break
				}
			}
			if _, res := Update(Defaults, st, canary, stable); !math.IsInf(res.High, 1) && res.Low > 0 {
				narrowed++
			}
		}
		rate := float64(missed) / runs
		// α plus three standard errors of the estimate.
		if bound := Defaults.Alpha + 3*math.Sqrt(Defaults.Alpha*(1-Defaults.Alpha)/runs); rate > bound {
			t.Errorf("ratio %g: the sequence missed it in %.4f of runs, above %.4f", ratio, rate, bound)
		}
		if narrowed < runs/2 {
			t.Errorf("ratio %g: only %d of %d runs ended with a bounded interval; the sequence says nothing", ratio, narrowed, runs)
		}
		t.Logf("ratio %g: missed in %.2f%% of %d runs of %d looks", ratio, 100*rate, runs, looks)
	}
}

// The latency test: a canary whose tail is slower is caught, one with the
// same distribution is not, and the boundaries are picked from the
// histogram's, never its counts.
func TestLatency(t *testing.T) {
	bounds, err := Boundaries([]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, math.Inf(1)}, nil)
	if err != nil || len(bounds) != MaxBoundaries || bounds[0] != 0.005 || bounds[len(bounds)-1] != 10 {
		t.Fatalf("boundaries: %v %v", bounds, err)
	}
	if _, err := Boundaries([]float64{0.1, 0.5, math.Inf(1)}, []float64{0.3}); err == nil || !strings.Contains(err.Error(), "0.3") {
		t.Errorf("a boundary the histogram lacks: %v", err)
	}
	if got, _ := Boundaries([]float64{0.1, 0.5, 1, math.Inf(1)}, []float64{0.5}); len(got) != 1 || got[0] != 0.5 {
		t.Errorf("asked for 0.5: %v", got)
	}
	bounds = []float64{0.1, 0.5, 1}
	// share of requests at or below each boundary
	fast := map[float64]float64{0.1: 0.5, 0.5: 0.9, 1: 0.99}
	slow := map[float64]float64{0.1: 0.3, 0.5: 0.7, 1: 0.95} // the canary: 3x the tail past 0.5 s
	hist := func(n float64, cdf map[float64]float64) Histogram {
		h := Histogram{math.Inf(1): n}
		for b, q := range cdf {
			h[b] = math.Round(n * q)
		}
		return h
	}
	same, rs := UpdateLatency(Defaults, LatencyState{}, bounds, hist(0, fast), hist(0, fast))
	worse, rw := UpdateLatency(Defaults, LatencyState{}, bounds, hist(0, fast), hist(0, fast))
	if !rs.Baseline {
		t.Errorf("the first latency look is not the baseline: %+v", rs)
	}
	for i := 1; i <= 30; i++ {
		n := float64(200 * i)
		same, rs = UpdateLatency(Defaults, same, bounds, hist(n, fast), hist(4*n, fast))
		if rw.Verdict != Harm {
			worse, rw = UpdateLatency(Defaults, worse, bounds, hist(n, slow), hist(4*n, fast))
		}
	}
	if rs.Verdict == Harm {
		t.Errorf("equal latency judged harmful: %+v", rs)
	}
	if rw.Verdict != Harm {
		t.Errorf("a slower canary never caught: %+v", rw)
	}
	t.Logf("equal: e %.3g; slower: e %.3g at le=%g, interval %s", rs.EValue, rw.EValue, rw.Boundary, FormatInterval(rw.Low, rw.High))
}
