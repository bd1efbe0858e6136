package judge

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
)

// Reading is one look at the counters: for kind errors each version's
// requests and errors, for kind latency each version's histogram.
type Reading struct {
	Canary, Stable         Counts
	CanaryHist, StableHist Histogram
}

// Step is a look's outcome: the new state (JSON, for the next look), the
// result, and the counts since the first look that it rests on (for
// latency the worst boundary's, whose "errors" are the requests slower
// than it).
type Step struct {
	State          string
	Result         Result
	Canary, Stable Counts
	Boundary       float64
}

// Baseline is whether this was the first look: the counters taken as the
// zero point, nothing judged.
func (s Step) Baseline() bool { return s.Result.Baseline }

// NoData is whether a version had no requests since the first look: no
// verdict (the first look itself has none).
func (s Step) NoData() bool { return s.Canary.Requests == 0 || s.Stable.Requests == 0 }

// Harmed says what the canary was found worse at.
func (s Step) Harmed(spec Spec) string {
	if spec.Kind == KindLatency {
		return "the canary's latency is worse than the stable's beyond the tolerance"
	}
	return "the canary's error rate is above the stable's beyond the tolerance"
}

// Describe says where the test stands.
func (s Step) Describe(cfg Config) string {
	if s.Boundary != 0 {
		return DescribeAs(cfg, s.Result, s.Canary, s.Stable, fmt.Sprintf("slower than %gs", s.Boundary))
	}
	return Describe(cfg, s.Result, s.Canary, s.Stable)
}

// Advance takes a look: the state the last look left (JSON; "" for none),
// and the reading now. A state that does not read is an error, never a
// silent new start.
func Advance(spec Spec, cfg Config, prev string, r Reading) (Step, error) {
	if spec.Kind == KindLatency {
		var st LatencyState
		if err := decode(prev, &st); err != nil {
			return Step{}, err
		}
		bounds := st.Boundaries
		if len(bounds) == 0 {
			// Chosen once, from the boundaries the stable's histogram has.
			have := make([]float64, 0, len(r.StableHist))
			for b := range r.StableHist {
				have = append(have, b)
			}
			var err error
			if bounds, err = Boundaries(have, spec.Boundaries); err != nil {
				return Step{}, fmt.Errorf("boundaries: %w", err)
			}
		}
		for _, h := range []Histogram{r.CanaryHist, r.StableHist} {
			if _, ok := h[math.Inf(1)]; len(h) > 0 && !ok {
				return Step{}, fmt.Errorf("a buckets query gave no le=\"+Inf\" series, so the total is unknown")
			}
		}
		st, res := UpdateLatency(cfg, st, bounds, r.CanaryHist, r.StableHist)
		data, _ := json.Marshal(st.Rounded())
		worst := st.Tests[slices.Index(bounds, res.Boundary)]
		return Step{State: string(data), Result: res.Result, Canary: worst.CanarySeen, Stable: worst.StableSeen, Boundary: res.Boundary}, nil
	}
	var st State
	if err := decode(prev, &st); err != nil {
		return Step{}, err
	}
	st, res := Update(cfg, st, r.Canary, r.Stable)
	data, _ := json.Marshal(st.Rounded())
	return Step{State: string(data), Result: res, Canary: st.CanarySeen, Stable: st.StableSeen}, nil
}

func decode(prev string, into any) error {
	if prev == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(prev), into); err != nil {
		return fmt.Errorf("the judge's state from the last look does not read (%v); the test cannot go on", err)
	}
	return nil
}
