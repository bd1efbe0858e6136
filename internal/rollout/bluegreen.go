package rollout

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/reasons"
)

// ScaleDownDeadlineAnnotation holds when a ReplicaSet that is kept up for a
// while, the old active one after a switch or the preview after an abort, is
// scaled to zero: an RFC3339 UTC time. The key has no prefix, as in Argo
// Rollouts.
const ScaleDownDeadlineAnnotation = "scale-down-deadline"

// vireo1ScaleDownDeadlineAnnotation is the key Vireo's first releases wrote.
// It is still read, and removed with the deadline, so that an upgrade keeps
// the deadlines already set.
const vireo1ScaleDownDeadlineAnnotation = "argo-rollouts.argoproj.io/scale-down-deadline"

// Defaults of the blue-green delays, in seconds.
const (
	defaultScaleDownDelaySeconds      = 30
	defaultAbortScaleDownDelaySeconds = 30
)

const msgWaitingForPreview = "waiting for the preview to become available"

// planBlueGreen stands the new version up beside the active one, behind the
// preview Service, and switches the active Service to it when it is promoted.
func planBlueGreen(plan *Plan, ro *v1alpha1.Rollout, sets *replicaSets, newRS *appsv1.ReplicaSet, hash string, now metav1.Time) {
	st := &plan.Status
	bg := ro.Spec.Strategy.BlueGreen
	rev := currentRevision(plan, newRS)
	observeTemplate(plan, newRS, hash, "", 0, rev)
	if st.PromoteFull && st.Abort {
		st.Abort, st.AbortedAt = false, nil // promote --full over an abort, as for a canary
	}
	if hash != st.StableRS {
		retried(st)
	}

	switch {
	case hash == st.StableRS:
		// Promoted, the first version, or a fast rollback to the active template.
		complete(st, 0)
		st.BlueGreen.ScaleUpPreviewCheckPoint = false
	case st.Abort:
		abortBlueGreen(plan, bg, newRS, rev, now)
	default:
		advanceBlueGreen(plan, ro, sets, newRS, hash, rev, now)
		if st.Abort {
			abortBlueGreen(plan, bg, newRS, rev, now) // an analysis failed
		}
	}

	active := st.StableRS
	if postPromotionPending(ro, st, hash) {
		active = hash
	}
	preview := active
	if hash != st.StableRS {
		// Also after an abort, as Argo: the preview keeps showing the newest
		// version while the active Service is back on the stable one.
		preview = hash
	}
	st.BlueGreen.ActiveSelector = active
	plan.Services[bg.ActiveService] = active
	if bg.PreviewService != "" {
		st.BlueGreen.PreviewSelector = preview
		plan.Services[bg.PreviewService] = preview
	}

	for name, n := range blueGreenTargets(plan, ro, sets, newRS, now) {
		rs := sets.byName(name)
		if plan.Create != nil && name == plan.Create.Name {
			plan.Create.Spec.Replicas = &n
			continue
		}
		if n != specReplicas(rs) {
			plan.Scale[name] = n
		}
	}
	msg := msgWaitingForPreview
	if plan.waitingOnAnalysis {
		msg = msgWaitingForAnalysis
	}
	summarize(plan, ro, sets, newRS, rev, bg.MaxUnavailable, msg, now)
}

// abortBlueGreen keeps the active Service on the stable revision (switching
// it back if a post-promotion analysis failed) and scales the new one down
// after abortScaleDownDelaySeconds.
func abortBlueGreen(plan *Plan, bg *v1alpha1.BlueGreenStrategy, newRS *appsv1.ReplicaSet, rev string, now metav1.Time) {
	st := &plan.Status
	if st.AbortedAt == nil {
		st.AbortedAt = &now
		plan.event(corev1.EventTypeWarning, reasons.RolloutAborted, "Rollout aborted update to revision %s", rev)
		delay := seconds32(bg.AbortScaleDownDelaySeconds, defaultAbortScaleDownDelaySeconds)
		keepUntil(plan, newRS, now.Add(delay))
	}
	st.PauseConditions, st.ControllerPause = nil, false
	st.BlueGreen.ScaleUpPreviewCheckPoint = false
}

// msgWaitingForAnalysis is the message of a rollout held by an analysis run.
const msgWaitingForAnalysis = "waiting for analysis to complete"

// advanceBlueGreen brings the preview up, waits at the promotion gate, scales
// the preview up to full size if it ran smaller, and switches.
func advanceBlueGreen(plan *Plan, ro *v1alpha1.Rollout, sets *replicaSets, newRS *appsv1.ReplicaSet, hash, rev string, now metav1.Time) {
	st := &plan.Status
	bg := ro.Spec.Strategy.BlueGreen
	replicas := desiredReplicas(ro)
	if _, kept := scaleDownDeadline(newRS, plan); kept {
		keepUntil(plan, newRS, time.Time{}) // current again (a retry): no longer on its way out
	}
	if st.PromoteFull {
		// promote --full: no pause, no pre- or post-promotion analysis; a
		// preview that ran smaller grows to full size, then the switch.
		st.PauseConditions, st.ControllerPause = nil, false
		if !available(newRS, replicas) {
			st.BlueGreen.ScaleUpPreviewCheckPoint = true
			return
		}
		st.BlueGreen.ActiveSelector = hash
		becomeStable(plan, ro, sets, newRS, hash, now)
		plan.event(corev1.EventTypeNormal, reasons.RolloutPromoted, "Rollout fully promoted to revision %s, skipping the pause and the analyses", rev)
		return
	}
	if postPromotionPending(ro, st, hash) {
		// Switched; the new revision becomes stable once its analysis passes.
		req := RunRequest{Name: runName(ro, hash, rev, RunPostPromotion, nil), Kind: RunPostPromotion,
			Analysis: bg.PostPromotionAnalysis, Latest: hash, Stable: st.StableRS, Revision: rev}
		if analysisGate(plan, &st.BlueGreen.PostPromotionAnalysisRunStatus, req, now) == analysisPassed {
			becomeStable(plan, ro, sets, newRS, hash, now)
		}
		return
	}
	want := previewReplicas(ro)
	if st.BlueGreen.ScaleUpPreviewCheckPoint {
		want = replicas
	}
	if ro.Spec.Paused || !available(newRS, want) {
		return
	}
	if !st.BlueGreen.ScaleUpPreviewCheckPoint {
		promoted := false
		if a := bg.PrePromotionAnalysis; a != nil {
			// The preview is measured before anyone may promote it. With
			// autoPromotionSeconds the promotion clock runs alongside: a run that
			// passes early leaves the rest of the wait, and when the time is up
			// the rollout promotes and the run still measuring is stopped.
			req := RunRequest{Name: runName(ro, hash, rev, RunPrePromotion, nil), Kind: RunPrePromotion,
				Analysis: a, Latest: hash, Stable: st.StableRS, Revision: rev}
			switch analysisGate(plan, &st.BlueGreen.PrePromotionAnalysisRunStatus, req, now) {
			case analysisPassed:
			case analysisWaiting:
				if !timedPromotion(bg) || !promotionAllowed(plan, bg, now) {
					return
				}
				promoted = true
				ref := st.BlueGreen.PrePromotionAnalysisRunStatus
				if run := plan.runs[ref.Name]; run != nil && !run.Spec.Terminate {
					plan.TerminateRuns = append(plan.TerminateRuns, run.Name)
				}
				plan.event(corev1.EventTypeNormal, reasons.AnalysisRunTerminated, "Promoted while pre-promotion analysis run %s was measuring; the run is stopped", ref.Name)
			default:
				return
			}
		}
		if !promoted && !promotionAllowed(plan, bg, now) {
			return
		}
		if want < replicas {
			// The preview ran at previewReplicaCount: bring it to full size first.
			st.BlueGreen.ScaleUpPreviewCheckPoint = true
			plan.event(corev1.EventTypeNormal, reasons.ScalingUpPreview, "Scaling the preview of revision %s up to %d replicas before the switch", rev, replicas)
			return
		}
	}
	st.BlueGreen.ScaleUpPreviewCheckPoint = false
	if bg.PostPromotionAnalysis != nil {
		// The active Service moves now; the old revision stays stable, and at
		// full size, until the post-promotion analysis passes.
		st.BlueGreen.ActiveSelector = hash
		st.PauseConditions, st.ControllerPause = nil, false
		return
	}
	becomeStable(plan, ro, sets, newRS, hash, now)
}

// becomeStable makes the new revision the stable one; the previous one
// scales down after scaleDownDelaySeconds.
func becomeStable(plan *Plan, ro *v1alpha1.Rollout, sets *replicaSets, newRS *appsv1.ReplicaSet, hash string, now metav1.Time) {
	st := &plan.Status
	previous := sets.byHash(st.StableRS)
	st.StableRS = hash
	st.BlueGreen.ScaleUpPreviewCheckPoint = false
	complete(st, 0)
	if previous != nil && previous != newRS {
		keepUntil(plan, previous, now.Add(seconds32(ro.Spec.Strategy.BlueGreen.ScaleDownDelaySeconds, defaultScaleDownDelaySeconds)))
	}
}

// postPromotionPending reports whether the active Service already serves the
// new revision while its post-promotion analysis decides whether it stays.
func postPromotionPending(ro *v1alpha1.Rollout, st *v1alpha1.RolloutStatus, hash string) bool {
	return ro.Spec.Strategy.BlueGreen.PostPromotionAnalysis != nil && !st.Abort && hash != st.StableRS && st.BlueGreen.ActiveSelector == hash
}

// timedPromotion reports whether the rollout promotes itself after
// autoPromotionSeconds.
func timedPromotion(bg *v1alpha1.BlueGreenStrategy) bool {
	return (bg.AutoPromotionEnabled == nil || *bg.AutoPromotionEnabled) && bg.AutoPromotionSeconds > 0
}

// promotionAllowed is the promotion gate. With autoPromotionEnabled (the
// default) and no autoPromotionSeconds it is open. Otherwise the rollout pauses
// (BlueGreenPause) until promoted, or until autoPromotionSeconds have passed.
func promotionAllowed(plan *Plan, bg *v1alpha1.BlueGreenStrategy, now metav1.Time) bool {
	auto := bg.AutoPromotionEnabled == nil || *bg.AutoPromotionEnabled
	if auto && bg.AutoPromotionSeconds == 0 {
		return true
	}
	var d *time.Duration
	if auto {
		v := time.Duration(bg.AutoPromotionSeconds) * time.Second
		d = &v
	}
	outcome, started := pauseGate(plan, v1alpha1.PauseReasonBlueGreenPause, d, now)
	switch {
	case started:
		plan.event(corev1.EventTypeNormal, reasons.RolloutPaused, "Rollout paused: the preview is ready and waits for promotion")
	case outcome == gateOpenedByUser:
		plan.event(corev1.EventTypeNormal, reasons.RolloutResumed, "Rollout promoted")
	case outcome == gateTimedOut:
		plan.event(corev1.EventTypeNormal, reasons.RolloutResumed, "Rollout promoted automatically after %ds", bg.AutoPromotionSeconds)
	}
	return outcome != gateHeld
}

// blueGreenTargets is where each ReplicaSet should be: the active one at full
// size, the preview at its preview size, those kept for a while where they are
// until their deadline (at most scaleDownDelayRevisionLimit of them), the rest
// at zero.
func blueGreenTargets(plan *Plan, ro *v1alpha1.Rollout, sets *replicaSets, newRS *appsv1.ReplicaSet, now metav1.Time) map[string]int32 {
	st := &plan.Status
	bg := ro.Spec.Strategy.BlueGreen
	replicas := desiredReplicas(ro)
	active := sets.byHash(st.StableRS)
	targets := map[string]int32{}
	kept := int32(0)
	for _, rs := range sets.all { // newest first
		switch {
		case rs == active:
			targets[rs.Name] = replicas
		case rs == newRS && !st.Abort:
			targets[rs.Name] = previewReplicas(ro)
			if st.BlueGreen.ScaleUpPreviewCheckPoint || postPromotionPending(ro, st, rs.Labels[PodTemplateHashLabel]) {
				targets[rs.Name] = replicas
			}
		case scaleDownPending(rs, plan, now) && (bg.ScaleDownDelayRevisionLimit == nil || kept < *bg.ScaleDownDelayRevisionLimit || rs == newRS):
			if rs != newRS {
				kept++
			}
			targets[rs.Name] = specReplicas(rs)
			deadline, _ := scaleDownDeadline(rs, plan)
			plan.requeue(deadline.Sub(now.Time))
		default:
			targets[rs.Name] = 0
			if _, has := scaleDownDeadline(rs, plan); has && specReplicas(rs) == 0 {
				keepUntil(plan, rs, time.Time{}) // scaled down: the deadline has served
			}
		}
	}
	if active == nil {
		targets[newRS.Name] = replicas // nothing else can serve
	}
	return targets
}

func previewReplicas(ro *v1alpha1.Rollout) int32 {
	replicas := desiredReplicas(ro)
	if bg := ro.Spec.Strategy.BlueGreen; bg != nil && bg.PreviewReplicaCount != nil {
		return min(*bg.PreviewReplicaCount, replicas)
	}
	return replicas
}

// available reports whether a ReplicaSet runs exactly n replicas, all available.
func available(rs *appsv1.ReplicaSet, n int32) bool {
	return specReplicas(rs) == n && rs.Status.ObservedGeneration >= rs.Generation && rs.Status.AvailableReplicas >= n
}

// keepUntil sets (or, with a zero time, removes) a ReplicaSet's scale-down deadline.
func keepUntil(plan *Plan, rs *appsv1.ReplicaSet, deadline time.Time) {
	if _, old := rs.Annotations[vireo1ScaleDownDeadlineAnnotation]; old {
		plan.annotate(rs.Name, vireo1ScaleDownDeadlineAnnotation, "")
	}
	if deadline.IsZero() {
		plan.annotate(rs.Name, ScaleDownDeadlineAnnotation, "")
		return
	}
	plan.annotate(rs.Name, ScaleDownDeadlineAnnotation, deadline.UTC().Format(time.RFC3339))
}

// scaleDownDeadline reads a ReplicaSet's deadline as it will be once the plan is applied.
func scaleDownDeadline(rs *appsv1.ReplicaSet, plan *Plan) (time.Time, bool) {
	v, planned := plan.Annotate[rs.Name][ScaleDownDeadlineAnnotation]
	if !planned {
		v = rs.Annotations[ScaleDownDeadlineAnnotation]
		if _, ok := rs.Annotations[ScaleDownDeadlineAnnotation]; !ok {
			v = rs.Annotations[vireo1ScaleDownDeadlineAnnotation]
		}
	}
	if v == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// scaleDownPending reports whether a ReplicaSet is deliberately kept up until
// a deadline still ahead.
func scaleDownPending(rs *appsv1.ReplicaSet, plan *Plan, now metav1.Time) bool {
	d, ok := scaleDownDeadline(rs, plan)
	return ok && now.Time.Before(d)
}

func seconds32(v *int32, def int32) time.Duration {
	if v == nil {
		return time.Duration(def) * time.Second
	}
	return time.Duration(*v) * time.Second
}
