package rollout

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

func TestCoalesceHoldsBackOnlyProgressDetail(t *testing.T) {
	clock := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r := &Reconciler{Clock: clock}
	key := types.NamespacedName{Namespace: "ns", Name: "ro"}
	t0 := metav1.NewTime(clock.Now())
	stored := v1alpha1.RolloutStatus{
		Replicas: 4, AvailableReplicas: 3, CurrentStepIndex: ptr.To[int32](1), Phase: v1alpha1.RolloutPhaseProgressing,
		Conditions: []v1alpha1.Condition{{Type: "Progressing", Status: "True", Reason: "ReplicaSetUpdated", LastUpdateTime: t0, LastTransitionTime: t0}},
	}
	counts := *stored.DeepCopy()
	counts.AvailableReplicas = 4
	counts.Conditions[0].LastUpdateTime = metav1.NewTime(clock.Now().Add(time.Second)) // progress touched
	step := *counts.DeepCopy()
	step.CurrentStepIndex = ptr.To[int32](2)
	detail := *counts.DeepCopy()
	detail.Message = "updated replicas are still becoming available"
	healthy := *counts.DeepCopy()
	healthy.Phase = v1alpha1.RolloutPhaseHealthy
	flipped := *counts.DeepCopy()
	flipped.Conditions[0].Status = "False"

	if d := r.coalesce(key, counts, stored); d != 0 {
		t.Errorf("never written before: held back %v", d)
	}
	r.written(key)
	clock.Step(300 * time.Millisecond)
	if d := r.coalesce(key, counts, stored); d != detailWindow-300*time.Millisecond {
		t.Errorf("counts only, written 300ms ago: held back %v, want %v", d, detailWindow-300*time.Millisecond)
	}
	if d := r.coalesce(key, detail, stored); d != detailWindow-300*time.Millisecond {
		t.Errorf("a new message while Progressing: held back %v, want %v", d, detailWindow-300*time.Millisecond)
	}
	for name, next := range map[string]v1alpha1.RolloutStatus{"a step change": step, "a phase change": healthy, "a condition change": flipped} {
		if d := r.coalesce(key, next, stored); d != 0 {
			t.Errorf("%s was held back %v", name, d)
		}
	}
	clock.Step(detailWindow)
	if d := r.coalesce(key, counts, stored); d != 0 {
		t.Errorf("counts only, written long ago: held back %v", d)
	}
	r.forget(key)
}

func TestRequeueAtPrioritisesDeadlines(t *testing.T) {
	for _, tc := range []struct {
		name           string
		deadline, held time.Duration
		after          time.Duration
		priority       bool
	}{
		{"nothing to come back for", 0, 0, 0, false},
		{"a pause ending", 3 * time.Second, 0, 3 * time.Second, true},
		{"detail held back, no deadline", 0, 2 * time.Second, 2 * time.Second, false},
		{"detail held back past the deadline", 3 * time.Second, 5 * time.Second, 3 * time.Second, true},
		{"detail held back before the deadline", 3 * time.Second, time.Second, time.Second, false},
	} {
		res := requeueAt(tc.deadline, tc.held)
		if res.RequeueAfter != tc.after || (res.Priority != nil) != tc.priority {
			t.Errorf("%s: got after %v priority %v, want %v priority %v", tc.name, res.RequeueAfter, res.Priority, tc.after, tc.priority)
		}
	}
}
