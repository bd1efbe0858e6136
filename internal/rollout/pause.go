package rollout

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// gateOutcome is where a pause stands after a pass.
type gateOutcome int

const (
	gateHeld         gateOutcome = iota // still paused
	gateOpenedByUser                    // released by promote, which clears pauseConditions
	gateTimedOut                        // its duration has passed
)

// pauseGate runs a pause with the given reason, the one mechanism behind a
// canary pause step and the blue-green promotion gate. It records the pause
// in status.pauseConditions (and controllerPause) when it starts; a pause the
// controller started whose condition is gone was released by the user; with a
// duration it ends on its own, and the Rollout is looked at again exactly
// then. started tells whether the pause began on this pass.
func pauseGate(plan *Plan, reason v1alpha1.PauseReason, duration *time.Duration, now metav1.Time) (outcome gateOutcome, started bool) {
	st := &plan.Status
	cond := pauseCondition(st, reason)
	if cond == nil {
		if st.ControllerPause && len(st.PauseConditions) == 0 {
			// The controller had paused and every pause condition is gone:
			// a person promoted. (Another gate's condition, such as an
			// Inconclusive run's, does not open this one.)
			st.ControllerPause = false
			return gateOpenedByUser, false
		}
		st.PauseConditions = append(st.PauseConditions, v1alpha1.PauseCondition{Reason: reason, StartTime: wholeSecondUp(now)})
		st.ControllerPause = true
		cond = &st.PauseConditions[len(st.PauseConditions)-1]
		started = true
	}
	if duration == nil {
		return gateHeld, started
	}
	if left := cond.StartTime.Add(*duration).Sub(now.Time); left > 0 {
		plan.requeue(left)
		return gateHeld, started
	}
	removePauseCondition(st, reason)
	st.ControllerPause = len(st.PauseConditions) > 0
	return gateTimedOut, started
}

// wholeSecondUp rounds a time up to the whole second. Status times are stored
// to the second; rounding a pause's start up, not down, means a pause never
// ends before its duration has passed.
func wholeSecondUp(t metav1.Time) metav1.Time {
	if r := t.Truncate(time.Second); !r.Equal(t.Time) {
		return metav1.NewTime(r.Add(time.Second))
	}
	return t
}

func pauseCondition(st *v1alpha1.RolloutStatus, reason v1alpha1.PauseReason) *v1alpha1.PauseCondition {
	for i := range st.PauseConditions {
		if st.PauseConditions[i].Reason == reason {
			return &st.PauseConditions[i]
		}
	}
	return nil
}

func removePauseCondition(st *v1alpha1.RolloutStatus, reason v1alpha1.PauseReason) {
	var kept []v1alpha1.PauseCondition
	for _, c := range st.PauseConditions {
		if c.Reason != reason {
			kept = append(kept, c)
		}
	}
	st.PauseConditions = kept
}
