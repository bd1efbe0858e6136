package conditions

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

func TestSetKeepsTimesWhenNothingChanges(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(time.Minute))
	t2 := metav1.NewTime(t0.Add(2 * time.Minute))

	conds := Set(nil, v1alpha1.RolloutInvalidSpec, metav1.ConditionTrue, "InvalidSpec", "a", t0)
	conds = Set(conds, v1alpha1.RolloutInvalidSpec, metav1.ConditionTrue, "InvalidSpec", "a", t1)
	c := Get(conds, v1alpha1.RolloutInvalidSpec)
	if !c.LastUpdateTime.Equal(&t0) || !c.LastTransitionTime.Equal(&t0) {
		t.Fatalf("unchanged condition was rewritten: %+v", c)
	}

	conds = Set(conds, v1alpha1.RolloutInvalidSpec, metav1.ConditionTrue, "InvalidSpec", "b", t1)
	c = Get(conds, v1alpha1.RolloutInvalidSpec)
	if !c.LastUpdateTime.Equal(&t1) || !c.LastTransitionTime.Equal(&t0) || c.Message != "b" {
		t.Fatalf("message change: want update at t1, transition at t0: %+v", c)
	}

	conds = Set(conds, v1alpha1.RolloutInvalidSpec, metav1.ConditionFalse, "Valid", "", t2)
	c = Get(conds, v1alpha1.RolloutInvalidSpec)
	if !c.LastTransitionTime.Equal(&t2) || c.Status != metav1.ConditionFalse {
		t.Fatalf("status change: want transition at t2: %+v", c)
	}
	if len(conds) != 1 {
		t.Fatalf("want one condition, got %d", len(conds))
	}
}

func TestRemoveAndIsTrue(t *testing.T) {
	now := metav1.Now()
	conds := Set(nil, "A", metav1.ConditionTrue, "r", "", now)
	conds = Set(conds, "B", metav1.ConditionFalse, "r", "", now)
	if !IsTrue(conds, "A") || IsTrue(conds, "B") || IsTrue(conds, "C") {
		t.Fatalf("IsTrue wrong on %+v", conds)
	}
	orig := append([]v1alpha1.Condition(nil), conds...)
	conds2 := Remove(conds, "A")
	if len(conds2) != 1 || conds2[0].Type != "B" {
		t.Fatalf("Remove(A) = %+v", conds2)
	}
	if conds[0].Type != orig[0].Type {
		t.Fatal("Remove modified its input")
	}
	if Remove(conds2, "B") != nil {
		t.Fatal("removing the last condition should give nil")
	}
}
