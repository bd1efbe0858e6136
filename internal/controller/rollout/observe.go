package rollout

import (
	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/controller/metrics"
	planner "github.com/vireo-dev/vireo/internal/rollout"
)

// observe records Vireo's own timings of a pass that was applied (before
// is the status it read): how long after a timed pause ended the rollout
// moved on, and how long the routers took to hold a weight recorded
// unverified. It decides nothing.
func observe(obs *planner.Observed, before v1alpha1.RolloutStatus, plan *planner.Plan) {
	ro, now := obs.Rollout, obs.Now
	after := plan.Status
	if c := ro.Spec.Strategy.Canary; c != nil && before.CurrentStepIndex != nil && after.CurrentStepIndex != nil &&
		*after.CurrentStepIndex > *before.CurrentStepIndex && int(*before.CurrentStepIndex) < len(c.Steps) {
		if p := c.Steps[*before.CurrentStepIndex].Pause; p != nil && p.Duration != nil {
			if d, err := planner.PauseDuration(*p.Duration); err == nil {
				for _, pc := range before.PauseConditions {
					if pc.Reason == v1alpha1.PauseReasonCanaryPauseStep && !pc.StartTime.IsZero() {
						if end := pc.StartTime.Add(d); !now.Before(end) {
							metrics.StepTransition(now.Sub(end))
						}
					}
				}
			}
		}
	}
	if w := after.Canary.Weights; w != nil && w.Verified != nil {
		if !*w.Verified {
			metrics.WeightRecorded(ro.UID, now)
		} else {
			_, router := metrics.StrategyAndRouter(ro)
			metrics.WeightVerified(ro.UID, router, now)
		}
	}
}
