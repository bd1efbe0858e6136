package judge

import (
	"fmt"
	"math"
	"slices"
)

// The latency test compares the two versions' latency distributions, read
// from cumulative histograms (Prometheus' _bucket series). At each tested
// boundary b, a request slower than b counts as an "error" of that
// boundary, and the error-rate test above runs on those counts: the canary
// passes when, at every boundary, its share of requests slower than b is at
// most 1 + tolerance times the stable's. With K boundaries each is tested
// at α/K, so the chance that any of them falsely fails stays at most α
// (a union bound); the confidence sequences are likewise at level 1-α/K,
// so they hold together.

// MaxBoundaries is how many histogram boundaries the latency test takes:
// each costs its share of α and its state.
const MaxBoundaries = 8

// Histogram is one version's cumulative histogram now: the count of
// requests at or below each boundary ("le"), +Inf being all of them.
type Histogram map[float64]float64

// Slower is the requests slower than b, and all requests, as Counts.
func (h Histogram) Slower(b float64) Counts {
	total := h[math.Inf(1)]
	return Counts{Requests: total, Errors: max(0, total-h[b])}
}

// LatencyState is the latency test's state: one error-rate test a boundary.
type LatencyState struct {
	Boundaries []float64 `json:"boundaries"`
	Tests      []State   `json:"tests"`
}

// LatencyResult is where the latency test stands: the result of the
// boundary with the most evidence of harm, and that boundary.
type LatencyResult struct {
	Result
	Boundary float64
}

// Boundaries picks the boundaries to test from the histogram's finite
// ones: those asked for, each of which the histogram must have; else all
// of them when there are at most MaxBoundaries, else MaxBoundaries spread
// evenly over them. The choice depends only on the boundaries, never on
// the counts, so it costs no validity.
func Boundaries(have []float64, want []float64) ([]float64, error) {
	finite := []float64{}
	for _, b := range have {
		if !math.IsInf(b, 1) && !slices.Contains(finite, b) {
			finite = append(finite, b)
		}
	}
	slices.Sort(finite)
	if len(want) > 0 {
		if len(want) > MaxBoundaries {
			return nil, fmt.Errorf("%d boundaries: give at most %d", len(want), MaxBoundaries)
		}
		for _, b := range want {
			if !slices.Contains(finite, b) {
				return nil, fmt.Errorf("boundary %g: the histogram has no bucket le=%g (it has %v)", b, b, finite)
			}
		}
		out := slices.Clone(want)
		slices.Sort(out)
		return slices.Compact(out), nil
	}
	if len(finite) == 0 {
		return nil, fmt.Errorf("the histogram has no finite bucket")
	}
	if len(finite) <= MaxBoundaries {
		return finite, nil
	}
	out := make([]float64, MaxBoundaries)
	for i := range out {
		out[i] = finite[i*(len(finite)-1)/(MaxBoundaries-1)]
	}
	return out, nil
}

// UpdateLatency advances the latency test with the cumulative histograms
// now, at the boundaries given (which must stay the same for a run).
func UpdateLatency(cfg Config, s LatencyState, boundaries []float64, canary, stable Histogram) (LatencyState, LatencyResult) {
	if !slices.Equal(s.Boundaries, boundaries) || len(s.Tests) != len(boundaries) {
		s = LatencyState{Boundaries: slices.Clone(boundaries), Tests: make([]State, len(boundaries))}
	}
	each := Config{Alpha: cfg.Alpha / float64(len(boundaries)), Tolerance: cfg.Tolerance}
	var worst LatencyResult
	within := true
	for i, b := range boundaries {
		var r Result
		s.Tests[i], r = Update(each, s.Tests[i], canary.Slower(b), stable.Slower(b))
		if i == 0 || r.EValue > worst.EValue {
			worst = LatencyResult{Result: r, Boundary: b}
		}
		within = within && r.Verdict == Within
	}
	// The worst boundary's e-value is compared with K/α: report it on the
	// scale of α, so that 1/α is where the test fails.
	worst.EValue /= float64(len(boundaries))
	switch {
	case worst.Verdict == Harm:
	case within:
		worst.Verdict = Within
	default:
		worst.Verdict = Continue
	}
	return s, worst
}

// Rounded is the state with its sums rounded to 1e-4, to keep it short in
// a measurement's metadata; the rounding moves an e-value by less than
// 0.01% a measurement.
func (s State) Rounded() State {
	round := func(xs []float64) []float64 {
		out := make([]float64, len(xs))
		for i, x := range xs {
			out[i] = math.Round(x*1e4) / 1e4
		}
		return out
	}
	s.LogRatios, s.LogLik = round(s.LogRatios), round(s.LogLik)
	return s
}

// Rounded is the state with each boundary's sums rounded.
func (s LatencyState) Rounded() LatencyState {
	out := LatencyState{Boundaries: s.Boundaries, Tests: make([]State, len(s.Tests))}
	for i, t := range s.Tests {
		out.Tests[i] = t.Rounded()
	}
	return out
}
