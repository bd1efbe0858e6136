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

func TestCoalesceHoldsBackOnlyCountChanges(t *testing.T) {
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

	if d := r.coalesce(key, counts, stored); d != 0 {
		t.Errorf("never written before: held back %v", d)
	}
	r.written(key)
	clock.Step(300 * time.Millisecond)
	if d := r.coalesce(key, counts, stored); d != countsWindow-300*time.Millisecond {
		t.Errorf("counts only, written 300ms ago: held back %v, want %v", d, countsWindow-300*time.Millisecond)
	}
	if d := r.coalesce(key, step, stored); d != 0 {
		t.Errorf("a step change was held back %v", d)
	}
	clock.Step(countsWindow)
	if d := r.coalesce(key, counts, stored); d != 0 {
		t.Errorf("counts only, written long ago: held back %v", d)
	}
	r.forget(key)
}
