package sim

import (
	"maps"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/experiment"
	"github.com/vireo-dev/vireo/internal/rollout"
)

// RunExperiment is the rollout-type label the simulated AnalysisRuns of
// experiments carry, so that a Script can say how they end.
const RunExperiment = "Experiment"

// controlledBy reports whether an object's controller is of a kind and name.
func controlledBy(meta metav1.Object, kind, name string) bool {
	ref := metav1.GetControllerOfNoCopy(meta)
	return ref != nil && ref.Kind == kind && ref.Name == name
}

// applyExperiments plays the API server for the Experiments a rollout plan
// creates, terminates and deletes; deleting one deletes what it owns.
func (w *World) applyExperiments(ex *v1alpha1.Experiment, terminate, del []string) {
	if ex != nil && w.experiments[ex.Name] == nil {
		ex = ex.DeepCopy()
		ex.UID = types.UID("uid-" + ex.Name)
		ex.CreationTimestamp = metav1.NewTime(w.now)
		w.experiments[ex.Name] = ex
	}
	for _, name := range terminate {
		if ex := w.experiments[name]; ex != nil {
			ex.Spec.Terminate = true
		}
	}
	for _, name := range del {
		delete(w.experiments, name)
		for rs, obj := range w.rss {
			if controlledBy(obj, "Experiment", name) {
				delete(w.rss, rs)
				delete(w.pods, rs)
			}
		}
		for svc, obj := range w.objects {
			if controlledBy(obj, "Experiment", name) {
				delete(w.objects, svc)
			}
		}
		for run, obj := range w.experimentRuns {
			if controlledBy(obj, "Experiment", name) {
				delete(w.experimentRuns, run)
			}
		}
	}
}

// reconcileExperiments plays the Experiment controller: the planner of
// internal/experiment, applied as its controller applies it.
func (w *World) reconcileExperiments() {
	for _, name := range slices.Sorted(maps.Keys(w.experiments)) {
		ex := w.experiments[name]
		obs := experiment.Observed{Experiment: ex.DeepCopy(), Services: map[string]*corev1.Service{}, Now: w.now}
		for _, n := range w.names() {
			if controlledBy(w.rss[n], "Experiment", name) {
				obs.ReplicaSets = append(obs.ReplicaSets, w.rss[n].DeepCopy())
			}
		}
		for n, svc := range w.objects {
			obs.Services[n] = svc.DeepCopy()
		}
		for _, n := range slices.Sorted(maps.Keys(w.experimentRuns)) {
			if r := w.experimentRuns[n]; controlledBy(r, "Experiment", name) {
				obs.AnalysisRuns = append(obs.AnalysisRuns, r.DeepCopy())
			}
		}
		plan := experiment.Decide(obs)
		for _, rs := range plan.Create {
			if w.rss[rs.Name] != nil {
				w.fail("experiment %s creates %s, which exists", name, rs.Name)
				continue
			}
			rs = rs.DeepCopy()
			rs.CreationTimestamp = metav1.NewTime(w.now)
			rs.Generation = 1
			w.rss[rs.Name] = rs
		}
		for n, replicas := range plan.Scale {
			if rs := w.rss[n]; rs != nil {
				rs.Spec.Replicas = ptr.To(replicas)
				rs.Generation++
			}
		}
		for _, svc := range plan.CreateServices {
			w.objects[svc.Name] = svc.DeepCopy()
		}
		for _, n := range plan.DeleteServices {
			delete(w.objects, n)
		}
		for _, req := range plan.CreateRuns {
			if w.experimentRuns[req.Name] != nil {
				continue
			}
			w.experimentRuns[req.Name] = &v1alpha1.AnalysisRun{
				ObjectMeta: metav1.ObjectMeta{Name: req.Name, CreationTimestamp: metav1.NewTime(w.now),
					Labels:          map[string]string{rollout.RunTypeLabel: RunExperiment},
					OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ex, v1alpha1.GroupVersion.WithKind("Experiment"))}},
				Status: v1alpha1.AnalysisRunStatus{Phase: v1alpha1.AnalysisPhasePending},
			}
		}
		for _, n := range plan.TerminateRuns {
			if r := w.experimentRuns[n]; r != nil {
				r.Spec.Terminate = true
				r.Status.Phase = v1alpha1.AnalysisPhaseSuccessful
			}
		}
		ex.Status = plan.Status
		for _, e := range plan.Events {
			w.pending = append(w.pending, "experiment "+name+" "+e.Reason+": "+e.Message)
		}
	}
}

// rolloutReplicaSets are the ReplicaSets the rollout owns, as the controller
// lists them: an experiment's are not.
func (w *World) rolloutReplicaSets() []*appsv1.ReplicaSet {
	var list []*appsv1.ReplicaSet
	for _, n := range w.names() {
		if !w.experimentOwned(w.rss[n]) {
			list = append(list, w.rss[n])
		}
	}
	return list
}

func (w *World) experimentOwned(rs *appsv1.ReplicaSet) bool {
	ref := metav1.GetControllerOfNoCopy(rs)
	return ref != nil && ref.Kind == "Experiment"
}

// Experiments are the rollout's Experiments, by name.
func (w *World) Experiments() []*v1alpha1.Experiment {
	var out []*v1alpha1.Experiment
	for _, n := range slices.Sorted(maps.Keys(w.experiments)) {
		out = append(out, w.experiments[n])
	}
	return out
}
