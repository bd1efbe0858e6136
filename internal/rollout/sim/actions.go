package sim

import (
	"fmt"
	"maps"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/rollout"
)

// Action is something a person does to the Rollout, such as the kubectl
// plugin's patches. It sets w's action text for the timeline, or marks that
// the person waits because the rollout is not ready for it yet.
type Action func(ro *v1alpha1.Rollout, w *World)

// Do acts now. It reports false when the person waits instead: the action
// is not taken and may be tried again later.
func (w *World) Do(act Action) bool {
	w.action, w.notYet = "", false
	act(w.ro, w)
	if w.notYet {
		return false
	}
	w.log = append(w.log, fmt.Sprintf("%5s  >> %s", w.clock(), w.action))
	return true
}

// Tick moves the world one second on: the ReplicaSet and AnalysisRun
// controllers act, then the planner reconciles once. It returns the plan.
func (w *World) Tick() *rollout.Plan {
	w.syncReplicaSets()
	w.checkTraffic()
	w.advanceRuns()
	plan := w.reconcile()
	w.reconcileExperiments()
	w.now = w.now.Add(time.Second)
	return plan
}

// Run ticks until the given time, with the actions at their times; an
// action the person must wait with is tried again a second later.
func (w *World) Run(until time.Duration, actions map[time.Duration]Action) {
	pending := maps.Clone(actions)
	for w.Elapsed() <= until {
		at := w.Elapsed()
		if act, ok := pending[at]; ok {
			delete(pending, at)
			if !w.Do(act) {
				pending[at+time.Second] = act
			}
		}
		w.Tick()
	}
}

// The user's actions: the same patches the kubectl plugin sends.
func SetImage(img string) Action {
	return func(ro *v1alpha1.Rollout, w *World) {
		w.action = "set image " + img
		if w.Workload != nil {
			// With workloadRef the template lives in the Deployment.
			w.Workload.Spec.Template.Spec.Containers[0].Image = "demo:" + img
			w.Workload.Generation++
			return
		}
		ro.Spec.Template.Spec.Containers[0].Image = "demo:" + img
		ro.Generation++
	}
}

// Promote is what a person does on seeing the rollout paused: the plugin's
// patch. Until the rollout is paused, the person waits.
func Promote(ro *v1alpha1.Rollout, w *World) {
	if ro.Status.Phase != v1alpha1.RolloutPhasePaused {
		w.notYet = true
		return
	}
	w.action = "promote"
	if ro.Spec.Paused {
		ro.Spec.Paused = false
	}
	if len(ro.Status.PauseConditions) > 0 {
		ro.Status.PauseConditions = nil
	} else if c := ro.Spec.Strategy.Canary; c != nil && ro.Status.CurrentStepIndex != nil && int(*ro.Status.CurrentStepIndex) < len(c.Steps) {
		ro.Status.CurrentStepIndex = ptr.To(*ro.Status.CurrentStepIndex + 1)
	}
}

func PromoteFull(ro *v1alpha1.Rollout, w *World) {
	w.action = "promote --full"
	ro.Status.PromoteFull = true
}

func Abort(ro *v1alpha1.Rollout, w *World) {
	w.action = "abort"
	ro.Status.Abort = true
}

func Retry(ro *v1alpha1.Rollout, w *World) {
	w.action = "retry"
	ro.Status.Abort = false
}

func Restart(ro *v1alpha1.Rollout, w *World) {
	w.action = "restart"
	ro.Spec.RestartAt = ptr.To(metav1.NewTime(w.now))
	ro.Generation++
}

// Undo puts the template of an earlier revision back into the Rollout, as
// `kubectl argo rollouts undo [--to-revision N]` does; 0 means the revision
// before the newest.
func Undo(toRevision int64) Action {
	return func(ro *v1alpha1.Rollout, w *World) {
		w.action = fmt.Sprintf("undo --to-revision %d", toRevision)
		var revs []int64
		byRev := map[int64]*appsv1.ReplicaSet{}
		for _, rs := range w.rss {
			byRev[rollout.Revision(rs)] = rs
			revs = append(revs, rollout.Revision(rs))
		}
		sort.Slice(revs, func(i, j int) bool { return revs[i] > revs[j] })
		if toRevision == 0 {
			toRevision = revs[1]
		}
		tmpl := byRev[toRevision].Spec.Template.DeepCopy()
		delete(tmpl.Labels, rollout.PodTemplateHashLabel)
		ro.Spec.Template = *tmpl
		ro.Generation++
	}
}

func Pause(ro *v1alpha1.Rollout, w *World) {
	w.action = "pause"
	ro.Spec.Paused = true
	ro.Generation++
}

// Scale sets spec.replicas, as `kubectl scale` or an HPA does (through the
// scale subresource).
func Scale(n int32) Action {
	return func(ro *v1alpha1.Rollout, w *World) {
		w.action = fmt.Sprintf("scale to %d", n)
		ro.Spec.Replicas = ptr.To(n)
		ro.Generation++
	}
}
