// Package simulate plays a Rollout's next update on the planner before it is
// applied: the first version comes up and becomes stable, then a new version
// is rolled out step by step, with simulated pods, analyses that pass or fail
// as asked, and a person who promotes at every manual gate. The result is a
// timeline of what the cluster would show.
package simulate

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/analysis"
	"github.com/vireo-dev/vireo/internal/rollout"
	"github.com/vireo-dev/vireo/internal/rollout/sim"
)

// Options are the assumptions of a simulation.
type Options struct {
	// Replicas, when set, replaces spec.replicas.
	Replicas *int32
	// ReadyAfter is how long a new pod takes to become ready.
	ReadyAfter time.Duration
	// AnalysisFails makes every analysis fail once it has run for
	// AnalysisDuration; otherwise step and promotion analyses pass after it
	// and background analyses run until the rollout ends them.
	AnalysisFails    bool
	AnalysisDuration time.Duration
	// PromoteAfter is how long the person takes to promote at a manual gate.
	PromoteAfter time.Duration
	// Limit bounds the simulated time of the update.
	Limit time.Duration

	// tickThrough ticks through quiet times instead of skipping them (for
	// the test that skipping changes nothing).
	tickThrough bool
}

// versionAnnotation marks the simulated new version's pod template.
const versionAnnotation = "simulate.vireo.dev/version"

// Run simulates an update of ro. workload is the Deployment that
// spec.workloadRef names, if the Rollout has one. ro is not changed.
func Run(ro *v1alpha1.Rollout, workload *appsv1.Deployment, o Options) (*Timeline, error) {
	ro = ro.DeepCopy()
	ro.Status = v1alpha1.RolloutStatus{}
	ro.Generation, ro.UID = 1, "simulated"
	if ro.Namespace == "" {
		ro.Namespace = "default"
	}
	if o.Replicas != nil {
		ro.Spec.Replicas = ptr.To(*o.Replicas)
	}
	if errs := rollout.Validate(ro); len(errs) > 0 {
		return nil, fmt.Errorf("rollout %s: %w", ro.Name, errs.ToAggregate())
	}
	if ro.Spec.WorkloadRef != nil {
		if workload == nil {
			return nil, fmt.Errorf("rollout %s: spec.workloadRef names Deployment %q; give it in the same file", ro.Name, ro.Spec.WorkloadRef.Name)
		}
		workload = workload.DeepCopy()
		workload.Generation = 1
		if o.Replicas != nil {
			workload.Spec.Replicas = ptr.To(*o.Replicas)
		}
	}
	w := sim.New(ro)
	w.ReadyAfter, w.Workload = o.ReadyAfter, workload
	runs := script(o)
	w.Outcome = runs.Outcome
	w.RunMessages = map[v1alpha1.AnalysisPhase]string{v1alpha1.AnalysisPhaseFailed: "simulated failure (--analysis fail)"}

	// The first version comes up and becomes stable; that is not shown.
	for !settled(w.Rollout()) {
		if w.Elapsed() > o.Limit {
			return nil, fmt.Errorf("rollout %s: the first version did not become Healthy in %s of simulated time: %s", ro.Name, o.Limit, w.Rollout().Status.Message)
		}
		w.Tick()
	}
	if w.Rollout().Status.Phase != v1alpha1.RolloutPhaseHealthy {
		return nil, fmt.Errorf("rollout %s: the first version ends %s: %s", ro.Name, w.Rollout().Status.Phase, w.Rollout().Status.Message)
	}

	t := &Timeline{Rollout: w.Rollout().DeepCopy(), Options: o}
	start := w.Elapsed()
	if !w.Do(newVersion) {
		return nil, fmt.Errorf("rollout %s: could not change the template", ro.Name)
	}
	gateSince := time.Duration(-1) // when the rollout began to wait for a person
	for {
		at := w.Elapsed() - start
		if at > o.Limit {
			t.Unfinished = true
			break
		}
		note := ""
		if gateSince >= 0 && at-gateSince >= o.PromoteAfter && w.Do(sim.Promote) {
			gateSince, note = -1, "promoted"
		}
		before := w.Rollout().Status.DeepCopy()
		plan := w.Tick()
		t.add(at, w, plan, note)
		if gate := manualGate(w.Rollout()); gate != "" && gateSince < 0 {
			gateSince = at
			t.note("waits for a person (" + gate + "): kubectl vireo promote")
		}
		if done(w) {
			break
		}
		still := equality.Semantic.DeepEqual(*before, w.Rollout().Status) && len(plan.Events) == 0 && plan.Create == nil &&
			len(plan.CreateRuns)+len(plan.TerminateRuns)+len(plan.DeleteRuns) == 0
		if wait := quietFor(w, plan, runs); still && wait > 0 && gateSince < 0 && !o.tickThrough {
			w.Skip(min(wait, o.Limit-at))
		}
	}
	if err := w.Err(); err != nil {
		return t, fmt.Errorf("rollout %s: %w", ro.Name, err)
	}
	return t, nil
}

// quietFor is how long nothing will happen after a reconcile that changed
// nothing (the controller would not look again at once): it waits for the
// plan's RequeueAfter (a pause), every pod is ready, and no analysis starts
// or ends before then. The simulation skips that time rather than tick through it.
func quietFor(w *sim.World, plan *rollout.Plan, runs sim.Script) time.Duration {
	wait := plan.RequeueAfter.Truncate(time.Second) - time.Second
	if wait <= 0 || !w.PodsSettled() {
		return 0
	}
	now := sim.Start.Add(w.Elapsed())
	for _, r := range w.AnalysisRuns() {
		if r.Spec.Terminate || analysis.Completed(r.Status.Phase) {
			continue
		}
		age := now.Sub(r.CreationTimestamp.Time)
		if w.Outcome(r, age+time.Second) != r.Status.Phase {
			return 0 // a run starts or ends at the next tick
		}
		if e, ok := runs[r.Labels[rollout.RunTypeLabel]]; ok && e.Phase != "" {
			wait = min(wait, time.Duration(e.After)*time.Second-age-time.Second)
		}
	}
	return wait
}

// newVersion changes the pod template, as a new image would.
func newVersion(ro *v1alpha1.Rollout, w *sim.World) {
	meta := &ro.Spec.Template.ObjectMeta
	if w.Workload != nil {
		meta = &w.Workload.Spec.Template.ObjectMeta
		w.Workload.Generation++
	} else {
		ro.Generation++
	}
	if meta.Annotations == nil {
		meta.Annotations = map[string]string{}
	}
	meta.Annotations[versionAnnotation] = "2"
}

// script is the AnalysisRun controller the options describe.
func script(o Options) sim.Script {
	after := int(o.AnalysisDuration / time.Second)
	end := sim.Ending{After: after, Phase: v1alpha1.AnalysisPhaseSuccessful}
	if o.AnalysisFails {
		end.Phase = v1alpha1.AnalysisPhaseFailed
	}
	s := sim.Script{rollout.RunStep: end, rollout.RunPrePromotion: end, rollout.RunPostPromotion: end}
	if o.AnalysisFails {
		s[rollout.RunBackground] = end
	}
	return s
}

// manualGate names what the rollout waits on a person for, or "".
func manualGate(ro *v1alpha1.Rollout) string {
	st := &ro.Status
	if st.Phase != v1alpha1.RolloutPhasePaused || st.Abort {
		return ""
	}
	if ro.Spec.Paused {
		return "spec.paused"
	}
	for _, c := range st.PauseConditions {
		switch c.Reason {
		case v1alpha1.PauseReasonInconclusiveAnalysis:
			return "an inconclusive analysis"
		case v1alpha1.PauseReasonBlueGreenPause:
			if bg := ro.Spec.Strategy.BlueGreen; bg != nil && bg.AutoPromotionSeconds == 0 {
				return "blue-green promotion"
			}
		case v1alpha1.PauseReasonCanaryPauseStep:
			steps := ro.Spec.Strategy.Canary.Steps
			if i := st.CurrentStepIndex; i != nil && int(*i) < len(steps) {
				if p := steps[*i].Pause; p != nil && p.Duration == nil {
					return fmt.Sprintf("pause at step %d", *i+1)
				}
			}
		}
	}
	return ""
}

// settled is a rollout that has finished with its template: Healthy, or
// Degraded.
func settled(ro *v1alpha1.Rollout) bool {
	return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy || ro.Status.Phase == v1alpha1.RolloutPhaseDegraded
}

// done is an update that has nothing more to show: settled, and every
// ReplicaSet other than the stable one scaled to zero and the stable one
// all available (or, for a Degraded rollout that was not aborted, left as
// it is).
func done(w *sim.World) bool {
	ro := w.Rollout()
	if !settled(ro) {
		return false
	}
	if ro.Status.Phase == v1alpha1.RolloutPhaseDegraded && !ro.Status.Abort {
		return true
	}
	for _, rs := range w.ReplicaSets() {
		n := ptr.Deref(rs.Spec.Replicas, 1)
		if rs.Labels[rollout.PodTemplateHashLabel] == ro.Status.StableRS {
			if rs.Status.AvailableReplicas != n {
				return false
			}
		} else if n > 0 || rs.Status.Replicas > 0 {
			return false
		}
	}
	return true
}

// runName is how the timeline names an AnalysisRun: its kind, and its
// step for a step's analysis.
func runName(r *v1alpha1.AnalysisRun) string {
	kind := r.Labels[rollout.RunTypeLabel]
	if i := r.Labels[rollout.RunStepIndexLabel]; i != "" {
		return "step " + i
	}
	return strings.ToLower(kind[:1]) + kind[1:]
}
