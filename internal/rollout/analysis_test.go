package rollout

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// Completed runs beyond the history limits go, oldest first; running ones
// nothing waits for are terminated; the ones the status names stay.
func TestSweepRuns(t *testing.T) {
	ro := validCanary()
	ro.Spec.Analysis = &v1alpha1.AnalysisRunStrategy{UnsuccessfulRunHistoryLimit: ptr.To[int32](1)}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var list []*v1alpha1.AnalysisRun
	add := func(name string, phase v1alpha1.AnalysisPhase, age int) {
		list = append(list, &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(start.Add(time.Duration(-age) * time.Minute))},
			Status: v1alpha1.AnalysisRunStatus{Phase: phase}})
	}
	for i := 0; i < 7; i++ {
		add(fmt.Sprintf("ok-%d", i), v1alpha1.AnalysisPhaseSuccessful, i)
	}
	add("failed-new", v1alpha1.AnalysisPhaseFailed, 1)
	add("error-old", v1alpha1.AnalysisPhaseError, 2)
	add("current", v1alpha1.AnalysisPhaseRunning, 0)
	add("orphan", v1alpha1.AnalysisPhaseRunning, 0)
	plan := &Plan{}
	plan.Status.Canary.CurrentBackgroundAnalysisRunStatus = &v1alpha1.RolloutAnalysisRunStatus{Name: "current"}
	sweepRuns(plan, ro, list)
	if fmt.Sprint(plan.DeleteRuns) != "[error-old ok-5 ok-6]" || fmt.Sprint(plan.TerminateRuns) != "[orphan]" {
		t.Errorf("delete %v, terminate %v", plan.DeleteRuns, plan.TerminateRuns)
	}
	plan = &Plan{}
	plan.Status.Abort = true
	plan.Status.Canary.CurrentBackgroundAnalysisRunStatus = &v1alpha1.RolloutAnalysisRunStatus{Name: "current"}
	sweepRuns(plan, ro, list)
	if fmt.Sprint(plan.TerminateRuns) != "[current orphan]" {
		t.Errorf("on abort every running run stops: %v", plan.TerminateRuns)
	}
}
