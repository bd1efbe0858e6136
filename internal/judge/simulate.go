package judge

import (
	"math"
	"math/rand"
	"slices"
	"time"
)

// Traffic is a simulated deployment: the stable's error rate, the canary's
// as a multiple of it, the requests a second and the canary's share, looked
// at every Interval for Duration.
type Traffic struct {
	ErrorRate, Ratio, RPS, Weight float64
	Interval, Duration            time.Duration
}

// Outcome sums up simulated runs of the judge on one Traffic.
type Outcome struct {
	// Aborted is the share of runs the judge failed.
	Aborted float64
	// Median and P95 are the times to abort among those, and
	// CanaryRequests the median number of canary requests seen by then.
	Median, P95    time.Duration
	CanaryRequests float64
	// Passed is the share of runs the judge ended early, its confidence
	// sequence within the tolerance, and PassMedian their median time.
	Passed     float64
	PassMedian time.Duration
}

// Simulate plays the judge on runs of synthetic traffic (Poisson counts),
// from seed, deterministically.
func Simulate(cfg Config, tr Traffic, runs int, seed int64) Outcome {
	looks := int(tr.Duration / tr.Interval)
	var at, passed []int
	var requests []float64
	for k := range runs {
		r := rand.New(rand.NewSource(seed + int64(k)))
		var canary, stable Counts
		st, _ := Update(cfg, State{}, canary, stable) // the first look, at the start
		for i := range looks {
			n := tr.RPS * tr.Interval.Seconds()
			nc, ns := poisson(r, n*tr.Weight), poisson(r, n*(1-tr.Weight))
			canary.Requests += nc
			canary.Errors += poisson(r, nc*tr.ErrorRate*tr.Ratio)
			stable.Requests += ns
			stable.Errors += poisson(r, ns*tr.ErrorRate)
			var r Result
			if st, r = Update(cfg, st, canary, stable); r.Verdict == Harm {
				at = append(at, i)
				requests = append(requests, canary.Requests)
				break
			} else if r.Verdict == Within {
				passed = append(passed, i)
				break
			}
		}
	}
	out := Outcome{Aborted: float64(len(at)) / float64(runs), Passed: float64(len(passed)) / float64(runs)}
	if len(passed) > 0 {
		slices.Sort(passed)
		out.PassMedian = time.Duration(passed[len(passed)/2]+1) * tr.Interval
	}
	if len(at) > 0 {
		slices.Sort(at)
		slices.Sort(requests)
		out.Median = time.Duration(at[len(at)/2]+1) * tr.Interval
		// Nearest rank: the smallest time that at least 95% of aborts took
		// no longer than (never under the median, however few they are).
		out.P95 = time.Duration(at[int(math.Ceil(0.95*float64(len(at))))-1]+1) * tr.Interval
		out.CanaryRequests = requests[len(requests)/2]
	}
	return out
}

// poisson draws a Poisson count (normal above a mean of 50).
func poisson(r *rand.Rand, mean float64) float64 {
	if mean <= 0 {
		return 0
	}
	if mean > 50 {
		return math.Max(0, math.Round(mean+math.Sqrt(mean)*r.NormFloat64()))
	}
	l, k, p := math.Exp(-mean), 0.0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}
