// Package judge compares a canary's error rate with the stable version's
// that serves beside it, continuously and with a known false-abort rate,
// however often it looks: an anytime-valid sequential test on count data
// (after Lindon and Malek, "Anytime-valid inference for multinomial count
// data", NeurIPS 2022, and the mixture sequential probability ratio test).
//
// The model: each version's errors arrive as a Poisson process whose
// intensity is its request rate times its error rate, both free to change
// over time. Given that an interval saw E errors in all, and that the canary
// served Nc requests and the stable Ns, the number of the canary's errors
// is Binomial(E, θ) with θ = Nc·ρ / (Nc·ρ + Ns), where ρ is the ratio of
// the canary's error rate to the stable's. Traffic shifts, bursts and quiet
// hours change Nc, Ns and E, not ρ: they cancel out.
//
// The test: H0 is ρ ≤ ρ0 = 1 + tolerance. The e-process is a mixture, over
// a grid of alternatives ρ > ρ0, of the likelihood ratios against ρ0. Each
// interval's factor has expectation at most 1 under any ρ ≤ ρ0 (the
// binomial family has a monotone likelihood ratio in θ), so the e-process
// is a nonnegative supermartingale under H0, and by Ville's inequality it
// ever reaches 1/α with probability at most α. The canary fails as soon as
// it does. It is pure: no I/O, no clock.
package judge

import (
	"fmt"
	"math"
	"slices"
)

// Counts are a version's cumulative request and error counts, as read from
// counters (a Prometheus increase since the analysis started, say).
type Counts struct {
	Requests, Errors float64
}

// Config is the test's: the false-abort rate α, and the tolerance on the
// error-rate ratio (0.1: a canary up to 10% worse than stable passes).
type Config struct {
	Alpha, Tolerance float64
}

// Defaults are the safe ones: α = 0.01, tolerance 10%.
var Defaults = Config{Alpha: 0.01, Tolerance: 0.1}

// alternatives are the error-rate ratios, as multiples of 1 + tolerance,
// that the mixture weighs equally.
var alternatives = []float64{1.25, 1.5, 2, 3, 5, 10}

// State is what the test keeps between measurements; it fits in a
// measurement's metadata.
type State struct {
	// LogRatios are the log likelihood ratios of each alternative against
	// the null boundary, summed over the intervals seen.
	LogRatios []float64 `json:"logRatios,omitempty"`
	// LogLik is the log likelihood of each ratio on the grid (GridRatio),
	// less its largest value: what the confidence sequence is read from.
	LogLik []float64 `json:"logLik,omitempty"`
	// Canary and Stable are the counts last seen, to take increments from.
	Canary, Stable Counts
	// Started is set by the first look, which only takes the counters as
	// they are: the test counts what happens from then on, never the
	// history the counters carry from earlier releases.
	Started bool `json:"started,omitempty"`
	// CanarySeen and StableSeen are the counts since the first look.
	CanarySeen, StableSeen Counts
}

// Verdict is a measurement's outcome.
type Verdict int

const (
	// Continue: no evidence either way yet.
	Continue Verdict = iota
	// Harm: the canary's error rate is above the stable's by more than
	// the tolerance, with false-abort probability at most α.
	Harm
	// Within: the confidence sequence puts the ratio at or below 1 +
	// tolerance; wrong with probability at most α.
	Within
)

func (v Verdict) String() string {
	return [...]string{"continue", "harm", "within-tolerance"}[v]
}

// Result is where the test stands after a measurement.
type Result struct {
	// EValue is the evidence against "the canary is at most 1 + tolerance
	// times as bad"; it fails at 1/α.
	EValue float64
	Verdict
	// Low and High bound the ratio of the canary's error rate to the
	// stable's: a confidence sequence at level 1-α, valid at every look at
	// once. Low is 0 and High +Inf before there is evidence.
	Low, High float64
	// Baseline: this was the first look, which took the counters as the
	// zero point and judged nothing.
	Baseline bool
}

// The grid of ratios the confidence sequence is computed on: 2^(j/8) for j
// from -gridHalf to gridHalf, 1/16 to 16 in steps of 9%.
const (
	gridSteps = 8
	gridHalf  = 4 * gridSteps
	gridLen   = 2*gridHalf + 1
)

// GridRatio is the j-th ratio of the grid.
func GridRatio(j int) float64 { return math.Exp2(float64(j-gridHalf) / gridSteps) }

// Update takes the cumulative counts now and returns the new state and
// where the test stands. The first look only takes the counts as the zero
// point. A counter that went down was reset: its new value is the
// increment.
func Update(cfg Config, s State, canary, stable Counts) (State, Result) {
	if len(s.LogRatios) != len(alternatives) {
		s.LogRatios = make([]float64, len(alternatives))
	}
	if len(s.LogLik) != gridLen {
		s.LogLik = make([]float64, gridLen)
	}
	dc, ds := increment(s.Canary, canary), increment(s.Stable, stable)
	s.Canary, s.Stable = canary, stable
	baseline := !s.Started
	if baseline {
		s.Started, dc, ds = true, Counts{}, Counts{}
	}
	s.CanarySeen = Counts{Requests: s.CanarySeen.Requests + dc.Requests, Errors: s.CanarySeen.Errors + dc.Errors}
	s.StableSeen = Counts{Requests: s.StableSeen.Requests + ds.Requests, Errors: s.StableSeen.Errors + ds.Errors}
	rho0 := 1 + cfg.Tolerance
	if dc.Requests > 0 && ds.Requests > 0 && dc.Errors+ds.Errors > 0 {
		for i, k := range alternatives {
			s.LogRatios[i] += logLik(dc, ds, rho0*k) - logLik(dc, ds, rho0)
		}
		top := math.Inf(-1)
		for j := range s.LogLik {
			s.LogLik[j] += logLik(dc, ds, GridRatio(j))
			top = max(top, s.LogLik[j])
		}
		for j := range s.LogLik {
			s.LogLik[j] -= top
		}
	}
	r := Result{EValue: EValue(s), Baseline: baseline}
	r.Low, r.High = Interval(s, cfg.Alpha)
	switch {
	case r.EValue >= 1/cfg.Alpha:
		r.Verdict = Harm
	case r.High <= rho0:
		r.Verdict = Within
	}
	return s, r
}

// logLik is the log likelihood of the canary's share of an interval's
// errors at ratio rho, less the terms that do not depend on rho.
func logLik(dc, ds Counts, rho float64) float64 {
	theta := share(dc.Requests, ds.Requests, rho)
	return dc.Errors*math.Log(theta) + ds.Errors*math.Log1p(-theta)
}

// EValue is the mixture's value: the mean of the alternatives' ratios.
func EValue(s State) float64 {
	if len(s.LogRatios) == 0 {
		return 1
	}
	sum := 0.0
	for _, l := range s.LogRatios {
		sum += math.Exp(min(l, 700))
	}
	return sum / float64(len(s.LogRatios))
}

// Interval is the confidence sequence on the ratio at level 1-alpha: the
// ratios of the grid that a mixture test, of every grid ratio weighed
// equally against that one, has not rejected at 1/alpha, widened by one
// grid step on each side (so a true ratio between two grid points is
// covered too). The log likelihood is concave in log ρ, so the set is an
// interval.
func Interval(s State, alpha float64) (low, high float64) {
	if len(s.LogLik) != gridLen {
		return 0, math.Inf(1)
	}
	// E(ρk) = mean_j exp(ℓj - ℓk) < 1/α  ⇔  ℓk > logΣexp(ℓ) - log(n/α).
	top := slices.Max(s.LogLik)
	sum := 0.0
	for _, l := range s.LogLik {
		sum += math.Exp(l - top)
	}
	cut := top + math.Log(sum) - math.Log(float64(gridLen)/alpha)
	first, last := -1, -1
	for j, l := range s.LogLik {
		if l > cut {
			if first < 0 {
				first = j
			}
			last = j
		}
	}
	low, high = 0, math.Inf(1)
	if first > 0 {
		low = GridRatio(first - 1)
	}
	if last >= 0 && last < gridLen-1 {
		high = GridRatio(last + 1)
	}
	return low, high
}

// share is θ: the canary's share of the errors when it serves nc requests
// to the stable's ns, at error-rate ratio rho.
func share(nc, ns, rho float64) float64 {
	return nc * rho / (nc*rho + ns)
}

func increment(last, now Counts) Counts {
	d := Counts{Requests: now.Requests - last.Requests, Errors: now.Errors - last.Errors}
	if d.Requests < 0 || d.Errors < 0 { // a counter reset
		d = now
	}
	return d
}

// Ratio is the observed ratio of the canary's error rate to the stable's,
// over the counts given; NaN without errors or traffic to compare.
func Ratio(canary, stable Counts) float64 {
	if canary.Requests == 0 || stable.Requests == 0 || stable.Errors == 0 {
		return math.NaN()
	}
	return (canary.Errors / canary.Requests) / (stable.Errors / stable.Requests)
}

// Describe says where the test stands, for a measurement's message.
func Describe(cfg Config, r Result, canary, stable Counts) string {
	return DescribeAs(cfg, r, canary, stable, "errors")
}

// DescribeAs is Describe with the counted events named (errors, or
// requests slower than a boundary).
func DescribeAs(cfg Config, r Result, canary, stable Counts, events string) string {
	return fmt.Sprintf("e-value %.3g (fails at %.3g); canary %.6g %s in %.6g requests, stable %.6g in %.6g; observed ratio %.3g, %g%% confidence interval %s, tolerated up to %.3g",
		r.EValue, 1/cfg.Alpha, canary.Errors, events, canary.Requests, stable.Errors, stable.Requests, Ratio(canary, stable), 100*(1-cfg.Alpha), FormatInterval(r.Low, r.High), 1+cfg.Tolerance)
}

// FormatInterval writes a confidence interval on the ratio as [0.91, 1.3].
func FormatInterval(low, high float64) string {
	h := "∞"
	if !math.IsInf(high, 1) {
		h = fmt.Sprintf("%.3g", high)
	}
	return fmt.Sprintf("[%.3g, %s]", low, h)
}
