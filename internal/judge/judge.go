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
	LogRatios []float64
	// Canary and Stable are the counts last seen, to take increments from.
	Canary, Stable Counts
}

// Verdict is a measurement's outcome.
type Verdict int

const (
	// Continue: no evidence of harm yet.
	Continue Verdict = iota
	// Harm: the canary's error rate is above the stable's by more than
	// the tolerance, with false-abort probability at most α.
	Harm
)

// Update takes the cumulative counts now and returns the new state, the
// e-value and the verdict. A counter that went down was reset: its new
// value is the increment.
func Update(cfg Config, s State, canary, stable Counts) (State, float64, Verdict) {
	if len(s.LogRatios) != len(alternatives) {
		s.LogRatios = make([]float64, len(alternatives))
	}
	dc, ds := increment(s.Canary, canary), increment(s.Stable, stable)
	s.Canary, s.Stable = canary, stable
	rho0 := 1 + cfg.Tolerance
	if dc.Requests > 0 && ds.Requests > 0 && dc.Errors+ds.Errors > 0 {
		theta0 := share(dc.Requests, ds.Requests, rho0)
		for i, k := range alternatives {
			theta := share(dc.Requests, ds.Requests, rho0*k)
			s.LogRatios[i] += dc.Errors*math.Log(theta/theta0) + ds.Errors*math.Log((1-theta)/(1-theta0))
		}
	}
	e := EValue(s)
	if e >= 1/cfg.Alpha {
		return s, e, Harm
	}
	return s, e, Continue
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
func Describe(cfg Config, e float64, canary, stable Counts) string {
	return fmt.Sprintf("e-value %.3g (fails at %.3g); canary %g errors in %g requests, stable %g in %g; observed ratio %.3g, tolerated up to %.3g",
		e, 1/cfg.Alpha, canary.Errors, canary.Requests, stable.Errors, stable.Requests, Ratio(canary, stable), 1+cfg.Tolerance)
}
