package rollout

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/controller/metrics"
	planner "github.com/vireo-dev/vireo/internal/rollout"
)

// A pass that moves a rollout past its expired 10 s pause, 1.5 s after
// the pause's end, is timed as a 1.5 s step transition delay.
func TestObserveStepTransition(t *testing.T) {
	if err := metrics.Register(nil); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ro := &v1alpha1.Rollout{Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{
		{SetWeight: ptr.To[int32](50)}, {Pause: &v1alpha1.RolloutPause{Duration: ptr.To(intstr.FromString("10s"))}}, {SetWeight: ptr.To[int32](100)}}}}}}
	before := v1alpha1.RolloutStatus{CurrentStepIndex: ptr.To[int32](1),
		PauseConditions: []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep, StartTime: metav1.NewTime(start)}}}
	plan := &planner.Plan{Status: v1alpha1.RolloutStatus{CurrentStepIndex: ptr.To[int32](2)}}
	obs := &planner.Observed{Rollout: ro, Now: start.Add(11500 * time.Millisecond)}
	mf, _ := crmetrics.Registry.(prometheus.Gatherer).Gather()
	sum0, n0 := histogram(mf)
	observe(obs, before, plan)
	mf, _ = crmetrics.Registry.(prometheus.Gatherer).Gather()
	sum1, n1 := histogram(mf)
	if n1 != n0+1 || sum1-sum0 < 1.49 || sum1-sum0 > 1.51 {
		t.Errorf("step transition delay: %d observations (+%g s), want one of 1.5 s", n1-n0, sum1-sum0)
	}
	// The same pass seen after its status write (before == after) times nothing.
	observe(obs, plan.Status, plan)
	mf, _ = crmetrics.Registry.(prometheus.Gatherer).Gather()
	if _, n2 := histogram(mf); n2 != n1 {
		t.Errorf("a pass that did not move was timed")
	}
}

func histogram(mf []*dto.MetricFamily) (sum float64, count uint64) {
	for _, f := range mf {
		if f.GetName() == "vireo_step_transition_delay_seconds" {
			for _, m := range f.GetMetric() {
				sum += m.GetHistogram().GetSampleSum()
				count += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return sum, count
}
