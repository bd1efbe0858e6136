package rollout

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/reasons"
)

// desiredReplicas is spec.replicas, 1 when unset.
func desiredReplicas(ro *v1alpha1.Rollout) int32 {
	if ro.Spec.Replicas == nil {
		return 1
	}
	return *ro.Spec.Replicas
}

// stepsHash identifies the canary steps, so that editing them mid-rollout
// starts the steps over.
func stepsHash(steps []v1alpha1.CanaryStep) string {
	data, _ := json.Marshal(steps)
	h := fnv.New32a()
	_, _ = h.Write(data)
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// planCanary moves a canary Rollout: it walks the steps as far as the observed
// ReplicaSets allow, then scales towards the current step's weight.
func planCanary(plan *Plan, ro *v1alpha1.Rollout, sets *replicaSets, newRS *appsv1.ReplicaSet, hash string, now metav1.Time) {
	st := &plan.Status
	c := ro.Spec.Strategy.Canary
	steps := c.Steps
	rev := currentRevision(plan, newRS)
	routed := Routed(ro)
	if routed {
		plan.routing = readRouting(&ro.Status, plan.recordHeld)
	}
	observeTemplate(plan, newRS, hash, stepsHash(steps), len(steps), rev)
	if st.PromoteFull && st.Abort {
		// promote --full over an abort, as Argo: the abort is cleared and
		// the new version goes all the way, with no new analysis.
		st.Abort, st.AbortedAt = false, nil
	}
	if hash != st.StableRS {
		retried(st)
		backgroundAnalysis(plan, ro, hash, rev, now)
	}

	switch {
	case hash == st.StableRS:
		// Promoted, the first version, or a fast rollback to the stable template.
		complete(st, len(steps))
	case st.Abort:
		abortCanary(plan, ro, newRS, rev, now)
	case st.PromoteFull && routed:
		// The canary grows to full size and takes all the traffic first.
		st.PauseConditions, st.ControllerPause = nil, false
		if promoteRouted(plan, ro, sets, newRS, hash, now) {
			complete(st, len(steps))
			plan.event(corev1.EventTypeNormal, reasons.RolloutPromoted, "Rollout fully promoted to revision %s, skipping the remaining steps", rev)
		}
	case st.PromoteFull:
		// Every step counts as done; as Argo, the new version becomes
		// stable once fully available, and promoteFull stays set till then.
		if len(steps) > 0 {
			st.CurrentStepIndex = ptr.To(int32(len(steps)))
		}
		st.PauseConditions, st.ControllerPause = nil, false
		if newRS.Status.AvailableReplicas >= desiredReplicas(ro) {
			st.StableRS = hash
			complete(st, len(steps))
			plan.event(corev1.EventTypeNormal, reasons.RolloutPromoted, "Rollout fully promoted to revision %s, skipping the remaining steps", rev)
		}
	default:
		walkSteps(plan, ro, sets, newRS, now)
		if st.Abort {
			abortCanary(plan, ro, newRS, rev, now) // an analysis step failed
			break
		}
		if len(steps) == 0 || int(*st.CurrentStepIndex) >= len(steps) {
			if routed && !promoteRouted(plan, ro, sets, newRS, hash, now) {
				break
			}
			if !routed && newRS.Status.AvailableReplicas < desiredReplicas(ro) {
				// As Argo: the new version becomes stable only once it is
				// fully available; until then the old pods keep serving.
				break
			}
			st.StableRS = hash
			complete(st, len(steps))
			if len(steps) == 0 {
				plan.event(corev1.EventTypeNormal, reasons.RolloutPromoted, "Revision %s is fully available and now stable (no canary steps)", rev)
			} else if last := len(plan.Events) - 1; last >= 0 && plan.Events[last].Reason == reasons.RolloutStepCompleted {
				// The last step's event announces the promotion too: one write, not two.
				plan.Events[last].Message += fmt.Sprintf("; all steps done, revision %s is now stable", rev)
			}
		}
	}

	if routed {
		planTraffic(plan, ro, sets, newRS, hash)
		// The weights, not pod counts, carry the traffic: each ReplicaSet
		// goes straight to its size, without maxSurge or maxUnavailable.
		scaleTo(plan, sets, routedTargets(plan, ro, sets, newRS, now))
	} else {
		scaleTowards(plan, ro, sets, canaryTargets(ro, st, sets, newRS))
		if c.CanaryService != "" {
			// An aborted canary's Service goes back to the stable pods.
			plan.Services[c.CanaryService] = hash
			if st.Abort {
				plan.Services[c.CanaryService] = st.StableRS
			}
		}
		if c.StableService != "" {
			plan.Services[c.StableService] = st.StableRS
		}
	}
	msg := msgWaitingForSteps
	switch {
	case plan.waitingOnAnalysis:
		msg = msgWaitingForAnalysis
	case !routed && (st.CurrentStepIndex == nil || int(*st.CurrentStepIndex) >= len(steps)):
		msg = "" // every step done: the replica counts tell what is left
	}
	summarize(plan, ro, sets, newRS, rev, c.MaxUnavailable, msg, now)
}

// abortCanary sends the canary's traffic back to stable. A retry (abort back
// to false) walks the steps again from the first.
func abortCanary(plan *Plan, ro *v1alpha1.Rollout, newRS *appsv1.ReplicaSet, rev string, now metav1.Time) {
	st := &plan.Status
	steps := len(ro.Spec.Strategy.Canary.Steps)
	if st.AbortedAt == nil {
		st.AbortedAt = &now
		plan.event(corev1.EventTypeWarning, reasons.RolloutAborted, "Rollout aborted update to revision %s", rev)
	}
	if steps > 0 {
		st.CurrentStepIndex = ptr.To[int32](0)
	}
	st.PauseConditions, st.ControllerPause = nil, false
}

// retried notices a retry: abort is back to false on a rollout that was
// aborted. The runs of the aborted attempt are done with; new ones start.
func retried(st *v1alpha1.RolloutStatus) {
	if !st.Abort && st.AbortedAt != nil {
		st.AbortedAt = nil
		clearAnalysis(st)
	}
}

// complete marks every step done and clears what only a rollout in flight has.
func complete(st *v1alpha1.RolloutStatus, steps int) {
	if steps > 0 {
		st.CurrentStepIndex = ptr.To(int32(steps))
	}
	clearInFlight(st)
}

// clearInFlight forgets what only a rollout in flight has: pauses, an abort,
// a promote --full, its analysis runs.
func clearInFlight(st *v1alpha1.RolloutStatus) {
	st.PauseConditions, st.ControllerPause = nil, false
	st.Abort, st.AbortedAt, st.PromoteFull = false, nil, false
	clearAnalysis(st)
}

// walkSteps advances status.currentStepIndex through every step that is done,
// stopping at the first that is not.
func walkSteps(plan *Plan, ro *v1alpha1.Rollout, sets *replicaSets, newRS *appsv1.ReplicaSet, now metav1.Time) {
	st := &plan.Status
	steps := ro.Spec.Strategy.Canary.Steps
	if len(steps) == 0 {
		return
	}
	if st.CurrentStepIndex == nil {
		st.CurrentStepIndex = ptr.To[int32](0)
	}
	for int(*st.CurrentStepIndex) < len(steps) {
		if ro.Spec.Paused || heldByOtherPause(st) {
			return
		}
		i := *st.CurrentStepIndex
		step := steps[i]
		switch {
		case step.SetWeight != nil && plan.routing != nil:
			if !routedStepDone(plan, ro, sets, newRS, now) {
				return
			}
		case step.SetWeight != nil:
			if !basicStepDone(canaryTargets(ro, st, sets, newRS), sets, newRS, st.StableRS) {
				return
			}
		case step.SetCanaryScale != nil:
			if !atTargets(routedTargets(plan, ro, sets, newRS, now), sets) {
				return
			}
		case step.SetHeaderRoute != nil, step.SetMirrorRoute != nil:
			// The routes in force follow the steps done; the applier sets
			// them. A route that sends requests to the canary waits for a pod.
			if routesNeedPods(ro, st) && !atTargets(routedTargets(plan, ro, sets, newRS, now), sets) {
				return
			}
		case step.Pause != nil:
			if !pauseDone(plan, step.Pause, int(i), now) {
				return
			}
		case step.Analysis != nil:
			if !stepAnalysis(plan, ro, st.CurrentPodHash, currentRevision(plan, newRS), i, now) {
				return
			}
		case step.Experiment != nil:
			if !stepExperiment(plan, ro, sets, newRS, i, now) {
				return
			}
		default:
			return // validation refuses kinds this version cannot run
		}
		*st.CurrentStepIndex = i + 1
		plan.event(corev1.EventTypeNormal, reasons.RolloutStepCompleted, "Rollout step %d/%d completed (%s)%s", i+1, len(steps), describeStep(step), nextPause(steps, int(i)+1))
	}
}

// heldByOtherPause reports whether the rollout is paused for something other
// than a pause step (an Inconclusive background run, say): no step moves
// until a person promotes it.
func heldByOtherPause(st *v1alpha1.RolloutStatus) bool {
	for _, c := range st.PauseConditions {
		if c.Reason != v1alpha1.PauseReasonCanaryPauseStep {
			return true
		}
	}
	return false
}

// pauseDone reports whether a pause step is over, starting it when it is new.
// A pause that waits for a person gets its own event; a timed one, and its
// release by promote, are announced by the step events around it.
func pauseDone(plan *Plan, pause *v1alpha1.RolloutPause, index int, now metav1.Time) bool {
	var d *time.Duration
	if pause.Duration != nil {
		v, err := PauseDuration(*pause.Duration)
		if err != nil {
			return false // validation reports it
		}
		d = &v
	}
	outcome, started := pauseGate(plan, v1alpha1.PauseReasonCanaryPauseStep, d, now)
	if started && d == nil {
		plan.event(corev1.EventTypeNormal, reasons.RolloutPaused, "Rollout paused at step %d until promoted", index+1)
	}
	return outcome != gateHeld
}

// nextPause tells, for a step's completion event, that a timed pause follows.
func nextPause(steps []v1alpha1.CanaryStep, next int) string {
	if next < len(steps) && steps[next].Pause != nil && steps[next].Pause.Duration != nil {
		return "; pausing " + describePause(steps[next].Pause)
	}
	return ""
}

func describeStep(s v1alpha1.CanaryStep) string {
	switch {
	case s.SetWeight != nil:
		return "setWeight " + strconv.Itoa(int(*s.SetWeight))
	case s.Pause != nil && s.Pause.Duration == nil:
		return "pause, promoted"
	case s.Pause != nil:
		return "pause " + describePause(s.Pause)
	case s.Analysis != nil:
		return "analysis passed"
	case s.Experiment != nil:
		return "experiment passed"
	case s.SetCanaryScale != nil:
		return "setCanaryScale"
	case s.SetHeaderRoute != nil:
		return "setHeaderRoute " + s.SetHeaderRoute.Name
	case s.SetMirrorRoute != nil:
		return "setMirrorRoute " + s.SetMirrorRoute.Name
	}
	return "step"
}

func describePause(p *v1alpha1.RolloutPause) string {
	if p.Duration == nil {
		return "until promoted"
	}
	if d, err := PauseDuration(*p.Duration); err == nil {
		return d.String()
	}
	return p.Duration.String()
}

// CurrentWeight is the canary weight in force at the current step: that of the
// last setWeight step at or before it, 100 once every step is done, 0 on abort.
func CurrentWeight(ro *v1alpha1.Rollout, st *v1alpha1.RolloutStatus) int32 {
	c := ro.Spec.Strategy.Canary
	if c == nil {
		return 0
	}
	if st.Abort {
		return 0
	}
	if st.CurrentPodHash != "" && st.CurrentPodHash == st.StableRS {
		return 100
	}
	if len(c.Steps) == 0 {
		return 100 // no steps: straight to the new version, within maxSurge and maxUnavailable
	}
	if st.CurrentStepIndex == nil {
		return 0
	}
	idx := int(*st.CurrentStepIndex)
	if idx >= len(c.Steps) {
		return 100
	}
	var w int32
	for i := 0; i <= idx; i++ {
		if c.Steps[i].SetWeight != nil {
			w = *c.Steps[i].SetWeight
		}
	}
	return w
}

// canaryTargets is the replica count each ReplicaSet should end up with at the
// current weight: the canary its share, the stable the rest, others nothing.
func canaryTargets(ro *v1alpha1.Rollout, st *v1alpha1.RolloutStatus, sets *replicaSets, newRS *appsv1.ReplicaSet) map[string]int32 {
	replicas := desiredReplicas(ro)
	targets := map[string]int32{}
	for _, rs := range sets.all {
		targets[rs.Name] = 0
	}
	stable := sets.byHash(st.StableRS)
	if stable == nil || stable == newRS {
		targets[newRS.Name] = replicas
		return targets
	}
	surge, _ := SurgeAndUnavailable(ro)
	targets[newRS.Name], targets[stable.Name] = weightedSplit(replicas, CurrentWeight(ro, st), surge)
	return targets
}

// basicStepDone reports whether a setWeight step of a basic canary is done,
// as Argo judges it: the canary has its pods, all available; the stable
// ReplicaSet has its count, asked and created, ready or not (a stable version
// that cannot become ready must not hold the canary back); and no older
// ReplicaSet has an available pod left.
func basicStepDone(targets map[string]int32, sets *replicaSets, newRS *appsv1.ReplicaSet, stableHash string) bool {
	for _, rs := range sets.all {
		want := targets[rs.Name]
		switch {
		case rs == newRS:
			if specReplicas(rs) != want || rs.Status.ObservedGeneration < rs.Generation || rs.Status.AvailableReplicas < want {
				return false
			}
		case rs.Labels[PodTemplateHashLabel] == stableHash:
			if specReplicas(rs) != want || rs.Status.ObservedGeneration < rs.Generation || rs.Status.Replicas != want {
				return false
			}
		case rs.Status.AvailableReplicas > 0:
			return false
		}
	}
	return true
}

// atTargets reports whether every ReplicaSet has exactly its target replicas,
// all of them available, as last reported by the ReplicaSet controller.
func atTargets(targets map[string]int32, sets *replicaSets) bool {
	for _, rs := range sets.all {
		want := targets[rs.Name]
		if specReplicas(rs) != want || rs.Status.ObservedGeneration < rs.Generation {
			return false
		}
		if want > 0 && rs.Status.AvailableReplicas < want {
			return false
		}
	}
	return true
}

// scaleTo sets every ReplicaSet to its target at once.
func scaleTo(plan *Plan, sets *replicaSets, targets map[string]int32) {
	for _, rs := range sets.all {
		n := targets[rs.Name]
		switch {
		case plan.Create != nil && rs == plan.Create:
			plan.Create.Spec.Replicas = ptr.To(n)
		case n != specReplicas(rs):
			plan.Scale[rs.Name] = n
		}
	}
}

// scaleTowards plans one safe scaling move of every ReplicaSet towards its
// target, within maxSurge and maxUnavailable. The ReplicaSet that must grow
// goes first: the new one, or the stable one on abort.
func scaleTowards(plan *Plan, ro *v1alpha1.Rollout, sets *replicaSets, targets map[string]int32) {
	c := ro.Spec.Strategy.Canary
	replicas := desiredReplicas(ro)
	surge, unavailable := surgeAndUnavailable(replicas, c.MaxSurge, c.MaxUnavailable)

	ordered := append([]*appsv1.ReplicaSet(nil), sets.all...)
	growing := func(rs *appsv1.ReplicaSet) bool { return targets[rs.Name] > specReplicas(rs) }
	// Stable sort: growing ReplicaSets first, newest revision first within each group.
	for i := 1; i < len(ordered); i++ {
		for j := i; j > 0 && growing(ordered[j]) && !growing(ordered[j-1]); j-- {
			ordered[j], ordered[j-1] = ordered[j-1], ordered[j]
		}
	}
	in := make([]rsScale, len(ordered))
	for i, rs := range ordered {
		in[i] = rsScale{current: specReplicas(rs), available: rs.Status.AvailableReplicas, target: targets[rs.Name]}
	}
	for i, n := range nextReplicas(replicas, surge, unavailable, in) {
		rs := ordered[i]
		if n != specReplicas(rs) || (plan.Create != nil && rs == plan.Create) {
			plan.Scale[rs.Name] = n
		}
	}
	if plan.Create != nil {
		plan.Create.Spec.Replicas = ptr.To(plan.Scale[plan.Create.Name])
		delete(plan.Scale, plan.Create.Name)
	}
}
