package sim

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/analysis"
	"github.com/vireo-dev/vireo/internal/rollout"
)

// applyRuns plays the API server and the AnalysisRun controller for the
// runs a plan creates, terminates and deletes.
func (w *World) applyRuns(create []rollout.RunRequest, terminate, del []string) {
	for _, req := range create {
		if _, exists := w.analysisRuns[req.Name]; exists {
			continue
		}
		labels := map[string]string{rollout.RunTypeLabel: req.Kind, rollout.PodTemplateHashLabel: req.Latest}
		if req.Step != nil {
			labels[rollout.RunStepIndexLabel] = fmt.Sprint(*req.Step)
		}
		w.analysisRuns[req.Name] = &v1alpha1.AnalysisRun{
			ObjectMeta: metav1.ObjectMeta{Name: req.Name, Labels: labels, CreationTimestamp: metav1.NewTime(w.now)},
			Status:     v1alpha1.AnalysisRunStatus{Phase: v1alpha1.AnalysisPhasePending},
		}
	}
	for _, name := range terminate {
		if r := w.analysisRuns[name]; r != nil {
			r.Spec.Terminate = true
			r.Status.Phase = v1alpha1.AnalysisPhaseSuccessful
		}
	}
	for _, name := range del {
		delete(w.analysisRuns, name)
	}
}

// advanceRuns moves the runs' phases by Outcome.
func (w *World) advanceRuns() {
	for _, r := range w.allRuns() {
		if r.Spec.Terminate || w.Outcome == nil || analysis.Completed(r.Status.Phase) {
			continue
		}
		r.Status.Phase = w.Outcome(r, w.now.Sub(r.CreationTimestamp.Time))
		if r.Status.Phase != v1alpha1.AnalysisPhaseSuccessful {
			r.Status.Message = w.RunMessages[r.Status.Phase]
		}
	}
}

// Script is an AnalysisRun controller: runs of a kind end in a phase after
// some seconds (Running until then); kinds not listed run until terminated.
// A kind may be "Step-2" for one step, or "Background.1" for a retry's run.
type Script map[string]Ending

// Ending is how a run of a Script ends: its phase After seconds; with no
// phase, it runs until terminated.
type Ending struct {
	After int
	Phase v1alpha1.AnalysisPhase
}

// Outcome is a run's phase at an age: use it as World.Outcome.
func (s Script) Outcome(r *v1alpha1.AnalysisRun, age time.Duration) v1alpha1.AnalysisPhase {
	kind := r.Labels[rollout.RunTypeLabel]
	keys := []string{kind}
	if i := r.Labels[rollout.RunStepIndexLabel]; i != "" {
		keys = append([]string{kind + "-" + i}, keys...)
	}
	if dot := strings.LastIndex(r.Name, "."); dot >= 0 {
		keys = append([]string{kind + r.Name[dot:]}, keys...)
	}
	for _, k := range keys {
		if o, ok := s[k]; ok {
			if o.Phase != "" && age >= time.Duration(o.After)*time.Second {
				return o.Phase
			}
			return v1alpha1.AnalysisPhaseRunning
		}
	}
	return v1alpha1.AnalysisPhaseRunning
}

// allRuns are the rollout's runs and its experiments'.
func (w *World) allRuns() []*v1alpha1.AnalysisRun {
	var out []*v1alpha1.AnalysisRun
	for _, m := range []map[string]*v1alpha1.AnalysisRun{w.analysisRuns, w.experimentRuns} {
		for _, r := range m {
			out = append(out, r)
		}
	}
	return out
}
