package live

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// judgeCase is one bad-canary story of the comparison: the stable (blue,
// then green) fails base% of its requests, the canary (yellow) bad%.
type judgeCase struct {
	name      string
	base, bad float64
	// pause: the Rollout's failure policy is pause (vireo.dev/on-analysis-failure):
	// a failed analysis holds the rollout for a person, who aborts it.
	pause bool
}

// judgeOutcome is what one method did in one case.
type judgeOutcome struct {
	healthyAborted bool          // the equal-rates promotion to green was aborted (a false abort)
	paused         bool          // the failed analysis paused the rollout (policy pause), not aborted it
	aborted        bool          // the bad canary was aborted
	took           time.Duration // from set image to the abort written
	failed         int           // requests that failed from set image to the abort (or the end)
	canaryFailed   int           // of those, answered by the canary
	requests       int
}

// playJudgeCase plays seed 000's story with the given analysis: blue, a
// promotion to green at equal error rates, then yellow at the bad rate.
func playJudgeCase(t *testing.T, s *stack, c judgeCase, analysis string) judgeOutcome {
	t.Helper()
	ctx := context.Background()
	var out judgeOutcome
	r := routers[0]
	s.reset(t)
	tm := full
	tm.analysis = analysis
	if c.pause {
		tm.onAnalysisFailure = "pause"
	}
	s.applyManifests(t, r, tm)
	s.watchWeights(t, 60*time.Second, "canary-demo Healthy on blue", func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy
	})
	s.waitColor(t, "blue")
	// Through the route, now that it serves.
	for _, color := range []string{"blue", "green"} {
		s.setFaults(t, color, c.base)
	}
	s.setFaults(t, "yellow", c.bad)

	s.vireo(t, "set", "image", "canary-demo", "canary-demo=vireo-demo:green")
	s.watchWeights(t, 5*time.Minute, "the promotion to green, or its abort", func(ro *v1alpha1.Rollout) bool {
		out.healthyAborted = ro.Status.Abort
		return ro.Status.Abort || (ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == ro.Status.CurrentPodHash &&
			ro.Status.StableRS != "" && s.onlyPodsOf(ctx, t, ro.Status.StableRS))
	})
	if out.healthyAborted {
		return out
	}
	s.waitColor(t, "green")

	start := time.Now()
	s.vireo(t, "set", "image", "canary-demo", "canary-demo=vireo-demo:yellow")
	s.watchWeights(t, 5*time.Minute, "the bad canary aborted, paused for a person, or promoted", func(ro *v1alpha1.Rollout) bool {
		out.aborted = ro.Status.Abort
		out.paused = slices.ContainsFunc(ro.Status.PauseConditions, func(p v1alpha1.PauseCondition) bool { return p.Reason == v1alpha1.PauseReasonFailedAnalysis })
		return ro.Status.Abort || out.paused || (ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == ro.Status.CurrentPodHash)
	})
	end := time.Now()
	out.took = end.Sub(start)
	if out.paused {
		// The policy held yellow at its weight for a person; the person
		// aborts, and every request goes back to green.
		s.vireo(t, "abort", "canary-demo")
		s.watchWeights(t, 2*time.Minute, "the abort after the pause", func(ro *v1alpha1.Rollout) bool {
			w := ro.Status.Canary.Weights
			return ro.Status.Abort && w != nil && w.Canary.Weight == 0 && w.Verified != nil && *w.Verified
		})
	}
	time.Sleep(300 * time.Millisecond)
	load := s.load(t, start, end)
	out.requests = len(load)
	out.failed = count(load, answer.failed)
	out.canaryFailed = count(load, func(a answer) bool { return a.failed() && a.color == "yellow" })
	return out
}

// waitColor waits until a second of requests was answered by this colour
// alone (failures allowed: the stable may have a base error rate).
func (s *stack) waitColor(t *testing.T, color string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		to := time.Now().Add(-200 * time.Millisecond)
		load := s.load(t, to.Add(-time.Second), to)
		if len(load) > 0 && count(load, func(a answer) bool { return a.color == color }) == len(load) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the route never served only %s", color)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The judge against the seed's threshold analysis, live, with real requests
// through Traefik at 100 a second: yellow at 50% errors (both catch it), and
// yellow at 5% or 2% against the stable's 0.5% (the threshold, success rate
// over 0.90, lets both through). Each story first promotes green at the
// stable's own error rate, which must not be aborted.
//
// make test asserts only what holds in every run: the 10x regression (5%
// against 0.5%), which the judge catches in the 45 s of background analysis
// in each of 5,000 simulated runs (median 9 s). The 4x one (2% against 0.5%) it
// catches in about 84% of them at this traffic (simulate --judge --rps 100
// --weight 0.6 --interval 3s --duration 45s); CI saw it miss once, as it
// should that often, so it is reported by make bench-live, not asserted.
func TestLiveJudgeAgainstThreshold(t *testing.T) {
	s := need(t)
	// make test plays the judge's side of the story the threshold analysis
	// misses (whose promotion to green is also a healthy one at 0.5%
	// errors); make bench-live (VIREO_JUDGE_LIVE_TABLE) plays both stories
	// with both analyses, for the comparison table.
	cases := []judgeCase{{"5% against 0.5%", 0.5, 5, true}}
	methods := []string{"judge"}
	if os.Getenv("VIREO_JUDGE_LIVE_TABLE") != "" {
		cases = []judgeCase{{"50% errors", 0, 50, false}, {"5% against 0.5%", 0.5, 5, false}, {"2% against 0.5%", 0.5, 2, false}}
		methods = []string{"success-rate", "judge"}
	}
	var b strings.Builder
	fmt.Fprintln(&b, "| yellow | analysis | equal-rates promotion | yellow aborted | set image to abort | requests failed by then (yellow's) |")
	fmt.Fprintln(&b, "|---|---|---|---|---|---|")
	for _, c := range cases {
		for _, analysis := range methods {
			o := playJudgeCase(t, s, c, analysis)
			healthy := "promoted"
			if o.healthyAborted {
				healthy = "**aborted** (a false abort)"
			}
			aborted, took := "no: **promoted**", "-"
			switch {
			case o.paused:
				aborted, took = "paused for a person (policy pause), then aborted", fmt.Sprintf("%.1fs", o.took.Seconds())
			case o.aborted:
				aborted, took = "yes", fmt.Sprintf("%.1fs", o.took.Seconds())
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d of %d (%d) |\n", c.name, analysis, healthy, aborted, took, o.failed, o.requests, o.canaryFailed)
			if analysis == "judge" {
				if o.healthyAborted {
					t.Errorf("%s: the judge aborted the promotion to green at equal error rates", c.name)
				} else if !o.aborted && !o.paused && c.bad/c.base < 5 {
					t.Logf("%s: the judge let yellow through (a 4x regression in 45 s of 100 requests/s: caught in about 84%% of runs)", c.name)
				} else if !o.aborted && !o.paused {
					t.Errorf("%s: the judge let yellow through", c.name)
				} else if c.pause != o.paused {
					t.Errorf("%s: failure policy pause %v, but the rollout paused: %v", c.name, c.pause, o.paused)
				}
			}
		}
	}
	t.Logf("the judge against the seed's threshold analysis, live:\n%s", b.String())
	if path := os.Getenv("VIREO_JUDGE_LIVE_TABLE"); path != "" {
		_ = os.WriteFile(path, []byte(b.String()), 0o644)
	}
}

// Healthy promotions with equal error rates (1% on both), judged: none may
// be aborted. VIREO_JUDGE_HEALTHY_RUNS sets how many (make bench-live: 20);
// it runs only with it.
func TestLiveJudgeHealthyPromotions(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv("VIREO_JUDGE_HEALTHY_RUNS"))
	if err != nil || n < 1 {
		t.Skip("make bench-live: set VIREO_JUDGE_HEALTHY_RUNS (make test's judge story promotes green at equal rates already)")
	}
	s := need(t)
	runs := n
	ctx := context.Background()
	s.reset(t)
	colors := []string{"blue", "green"}
	tm := full
	tm.analysis = "judge"
	s.applyManifests(t, routers[0], tm)
	s.watchWeights(t, 60*time.Second, "canary-demo Healthy on blue", func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy
	})
	s.waitColor(t, "blue")
	for _, c := range colors {
		s.setFaults(t, c, 1)
	}
	aborted := 0
	for i := range runs {
		next := colors[(i+1)%2]
		s.vireo(t, "set", "image", "canary-demo", "canary-demo=vireo-demo:"+next)
		var abort bool
		s.watchWeights(t, 5*time.Minute, "a healthy promotion, or its abort", func(ro *v1alpha1.Rollout) bool {
			abort = ro.Status.Abort
			return abort || (ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == ro.Status.CurrentPodHash &&
				ro.Status.StableRS != "" && s.onlyPodsOf(ctx, t, ro.Status.StableRS))
		})
		if abort {
			aborted++
			t.Fatalf("promotion %d to %s (equal error rates) was aborted: %s", i+1, next, s.rollout(t).Status.Message)
		}
	}
	t.Logf("the judge: %d of %d healthy promotions (1%% errors on both versions, 100 requests/s) aborted", aborted, runs)
}
