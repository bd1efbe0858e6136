package rollout

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/conditions"
	"github.com/vireo-dev/vireo/internal/reasons"
)

// Messages of status.message while progressing; tools and people read them.
const (
	msgWaitingForSteps   = "waiting for all steps to complete"
	msgMoreReplicas      = "more replicas need to be updated"
	msgUpdatedAvailable  = "updated replicas are still becoming available"
	msgOldPendingRemoval = "old replicas are pending termination"
	msgManuallyPaused    = "manually paused"
)

// summarize fills the replica counts, the phase and message, and the
// conditions, from the ReplicaSets as they are now (the ReplicaSet controller
// reports; Vireo only scales).
func summarize(plan *Plan, ro *v1alpha1.Rollout, sets *replicaSets, newRS *appsv1.ReplicaSet, rev string,
	maxUnavailable *intstr.IntOrString, notPromotedMsg string, now metav1.Time) {
	st := &plan.Status
	replicas := desiredReplicas(ro)

	st.Replicas, st.ReadyReplicas, st.AvailableReplicas = 0, 0, 0
	// Pods of old ReplicaSets still to go, leaving aside those retired on a
	// deadline (kept up for a while after a blue-green switch, then scaled down).
	var pendingOld int32
	for _, rs := range sets.all {
		st.Replicas += rs.Status.Replicas
		st.ReadyReplicas += rs.Status.ReadyReplicas
		st.AvailableReplicas += rs.Status.AvailableReplicas
		if _, retiring := scaleDownDeadline(rs, plan); rs != newRS && !retiring {
			pendingOld += max(rs.Status.Replicas, specReplicasAfter(rs, plan))
		}
	}
	st.UpdatedReplicas = newRS.Status.Replicas
	st.HPAReplicas = st.Replicas
	st.Selector = metav1.FormatLabelSelector(ro.Spec.Selector)
	if ro.Spec.Strategy.BlueGreen != nil {
		// As Argo: a blue-green rollout's ready and available pods, the
		// count an HPA scales on and the selector it reads are the active
		// ReplicaSet's, the version serving; the preview's do not count.
		if active := sets.byHash(st.BlueGreen.ActiveSelector); active != nil {
			st.ReadyReplicas, st.AvailableReplicas = active.Status.ReadyReplicas, active.Status.AvailableReplicas
			st.HPAReplicas = active.Status.Replicas
			st.Selector = metav1.FormatLabelSelector(active.Spec.Selector)
		}
	}

	promoted := st.CurrentPodHash == st.StableRS
	paused := ro.Spec.Paused || len(st.PauseConditions) > 0
	done := promoted && newRS.Status.Replicas == replicas && newRS.Status.AvailableReplicas == replicas && pendingOld == 0 &&
		newRS.Status.ObservedGeneration >= newRS.Generation && specReplicas(newRS) == replicas
	stalled := progressStalled(plan, ro, newRS, paused || done || plan.waitingOnAnalysis, now)
	switch {
	case st.Abort:
		st.Phase, st.Message = v1alpha1.RolloutPhaseDegraded, "RolloutAborted: "+abortMessage(plan, rev)
	case stalled:
		st.Phase, st.Message = v1alpha1.RolloutPhaseDegraded, "ProgressDeadlineExceeded: "+stalledMessage(newRS)
	case ro.Spec.Paused:
		st.Phase, st.Message = v1alpha1.RolloutPhasePaused, msgManuallyPaused
	case len(st.PauseConditions) > 0:
		st.Phase, st.Message = v1alpha1.RolloutPhasePaused, string(st.PauseConditions[0].Reason)
	case !promoted && notPromotedMsg != "":
		st.Phase, st.Message = v1alpha1.RolloutPhaseProgressing, notPromotedMsg
	case newRS.Status.Replicas < replicas || specReplicas(newRS) < replicas:
		st.Phase, st.Message = v1alpha1.RolloutPhaseProgressing, msgMoreReplicas
	case newRS.Status.AvailableReplicas < replicas:
		st.Phase, st.Message = v1alpha1.RolloutPhaseProgressing, msgUpdatedAvailable
	case !done:
		st.Phase, st.Message = v1alpha1.RolloutPhaseProgressing, msgOldPendingRemoval
	default:
		st.Phase, st.Message = v1alpha1.RolloutPhaseHealthy, ""
	}

	set := func(t string, s metav1.ConditionStatus, reason, msg string) {
		st.Conditions = conditions.Set(st.Conditions, t, s, reason, msg, now)
	}
	switch {
	case st.Abort:
		set(v1alpha1.RolloutProgressing, metav1.ConditionFalse, "RolloutAborted", abortMessage(plan, rev))
	case stalled:
		set(v1alpha1.RolloutProgressing, metav1.ConditionFalse, reasonDeadlineExceeded, stalledMessage(newRS))
	case paused && len(st.PauseConditions) == 0 && promoted && conditions.IsTrue(st.Conditions, v1alpha1.RolloutCompleted):
		// spec.paused on a completed rollout: nothing is in progress to
		// pause, and Argo leaves the Progressing condition as it is.
	case paused:
		set(v1alpha1.RolloutProgressing, metav1.ConditionUnknown, "RolloutPaused", "Rollout is paused")
	case done:
		set(v1alpha1.RolloutProgressing, metav1.ConditionTrue, reasons.NewReplicaSetAvailable, fmt.Sprintf("ReplicaSet %q has successfully progressed.", newRS.Name))
	default:
		set(v1alpha1.RolloutProgressing, metav1.ConditionTrue, reasons.ReplicaSetUpdated, fmt.Sprintf("ReplicaSet %q is progressing.", newRS.Name))
	}

	_, unavailable := surgeAndUnavailable(replicas, nil, maxUnavailable)
	if st.AvailableReplicas >= replicas-unavailable {
		set(v1alpha1.RolloutAvailable, metav1.ConditionTrue, "AvailableReason", "Rollout has minimum availability")
	} else {
		set(v1alpha1.RolloutAvailable, metav1.ConditionFalse, "AvailableReason", "Rollout does not have minimum availability")
	}

	if paused {
		set(v1alpha1.RolloutPaused, metav1.ConditionTrue, "RolloutPaused", "Rollout is paused")
	} else if conditions.Get(st.Conditions, v1alpha1.RolloutPaused) != nil {
		set(v1alpha1.RolloutPaused, metav1.ConditionFalse, "RolloutResumed", "Rollout is resumed")
	}

	// Completed stays true for a revision once reached, through later dips in
	// availability (a restart, a node going away); a new template resets it.
	completed := done || (promoted && conditions.IsTrue(st.Conditions, v1alpha1.RolloutCompleted) && ro.Status.CurrentPodHash == st.CurrentPodHash)
	switch wasCompleted := conditions.IsTrue(st.Conditions, v1alpha1.RolloutCompleted); {
	case done && !wasCompleted:
		plan.event(corev1.EventTypeNormal, reasons.RolloutCompleted, "Rollout completed update to revision %s (%s): %s", rev, st.CurrentPodHash, completedHow(ro, rev))
	case !completed && wasCompleted:
		plan.event(corev1.EventTypeNormal, reasons.RolloutNotCompleted, "Rollout not completed, started update to revision %s (%s)", rev, st.CurrentPodHash)
	}
	if completed {
		set(v1alpha1.RolloutCompleted, metav1.ConditionTrue, "RolloutCompleted", "Rollout completed update to revision "+rev)
	} else {
		set(v1alpha1.RolloutCompleted, metav1.ConditionFalse, "RolloutCompleted", "Rollout not completed, started update to revision "+rev)
	}
	if st.Phase == v1alpha1.RolloutPhaseHealthy {
		set(v1alpha1.RolloutHealthy, metav1.ConditionTrue, "RolloutHealthy", "Rollout is healthy")
	} else {
		set(v1alpha1.RolloutHealthy, metav1.ConditionFalse, "RolloutHealthy", "Rollout is not healthy")
	}
}

// completedHow ends the RolloutCompleted event's message, as Argo's does.
func completedHow(ro *v1alpha1.Rollout, rev string) string {
	switch {
	case rev == "1":
		return "Initial deploy"
	case ro.Spec.Strategy.BlueGreen != nil:
		return "Completed blue-green update"
	case len(ro.Spec.Strategy.Canary.Steps) == 0:
		return "Completed rollout with no steps"
	default:
		return fmt.Sprintf("Completed all %d canary steps", len(ro.Spec.Strategy.Canary.Steps))
	}
}

// specReplicasAfter is a ReplicaSet's spec.replicas once the plan is applied.
func specReplicasAfter(rs *appsv1.ReplicaSet, plan *Plan) int32 {
	if n, ok := plan.Scale[rs.Name]; ok {
		return n
	}
	return specReplicas(rs)
}

const reasonDeadlineExceeded = reasons.ProgressDeadlineExceeded

func stalledMessage(rs *appsv1.ReplicaSet) string {
	return fmt.Sprintf("ReplicaSet %q has timed out progressing.", rs.Name)
}

// progressStalled applies spec.progressDeadlineSeconds. Progress, as Argo
// Rollouts counts it, is since the status last written: updated replicas
// changed, old replicas fewer, ready or available replicas more, a new
// template, and for a canary the step, the steps or the stable ReplicaSet
// changed, for blue-green the active or preview selector. It moves the
// Progressing condition's lastUpdateTime, as for Deployments. A rollout that
// is paused, or done, cannot stall. Once stalled it stays so until it
// progresses again. With progressDeadlineAbort a stall aborts.
func progressStalled(plan *Plan, ro *v1alpha1.Rollout, newRS *appsv1.ReplicaSet, idle bool, now metav1.Time) bool {
	st, prev := &plan.Status, &ro.Status
	cond := conditions.Get(st.Conditions, v1alpha1.RolloutProgressing)
	if st.Abort || idle || cond == nil {
		return false // a paused or finished rollout has no deadline; nothing to record
	}
	// Resuming from a pause counts as progress: the deadline starts afresh.
	if madeProgress(ro, prev, st) {
		st.Conditions = conditions.Touch(st.Conditions, v1alpha1.RolloutProgressing, now)
		return false
	}
	if cond.Reason == reasonDeadlineExceeded {
		// Checked on every pass: progressDeadlineAbort turned on after the
		// deadline passed aborts too.
		if ro.Spec.ProgressDeadlineAbort {
			st.Abort = true
		}
		return true
	}
	if cond.Reason != reasons.ReplicaSetUpdated {
		return false
	}
	deadline := time.Duration(DefaultProgressDeadlineSeconds) * time.Second
	if ro.Spec.ProgressDeadlineSeconds != nil {
		deadline = time.Duration(*ro.Spec.ProgressDeadlineSeconds) * time.Second
	}
	left := cond.LastUpdateTime.Add(deadline).Sub(now.Time)
	if left > 0 {
		plan.requeue(left)
		return false
	}
	plan.event(corev1.EventTypeWarning, reasonDeadlineExceeded, "%s", stalledMessage(newRS))
	if ro.Spec.ProgressDeadlineAbort {
		st.Abort = true // the abort itself is planned, and announced, on the next pass
	}
	return true
}

// madeProgress compares the status last written with the next one.
func madeProgress(ro *v1alpha1.Rollout, prev, next *v1alpha1.RolloutStatus) bool {
	strategy := false
	if ro.Spec.Strategy.BlueGreen != nil {
		strategy = prev.BlueGreen.ActiveSelector != next.BlueGreen.ActiveSelector || prev.BlueGreen.PreviewSelector != next.BlueGreen.PreviewSelector
	} else {
		strategy = prev.StableRS != next.StableRS || prev.CurrentStepHash != next.CurrentStepHash || !equalIndex(prev.CurrentStepIndex, next.CurrentStepIndex)
	}
	return strategy || prev.CurrentPodHash != next.CurrentPodHash ||
		prev.UpdatedReplicas != next.UpdatedReplicas ||
		next.Replicas-next.UpdatedReplicas < prev.Replicas-prev.UpdatedReplicas ||
		next.ReadyReplicas > prev.ReadyReplicas || next.AvailableReplicas > prev.AvailableReplicas ||
		prev.Phase == v1alpha1.RolloutPhasePaused // resumed: the deadline starts afresh
}

func equalIndex(a, b *int32) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// abortMessage says which revision was aborted and, when analysis did it, why.
func abortMessage(plan *Plan, rev string) string {
	msg := "Rollout aborted update to revision " + rev
	if cause := abortCause(plan); cause != "" {
		msg += ": " + cause
	}
	return msg
}
