package rollout

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/conditions"
)

func TestRecordSpecInvalidThenFixed(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ro := validCanary()
	ro.Generation = 3
	ro.Spec.Strategy.Canary.Steps[0].SetWeight = ptr.To[int32](150)

	var st v1alpha1.RolloutStatus
	if recordSpec(&st, ro, Validate(ro), now) {
		t.Fatal("invalid spec reported valid")
	}
	c := conditions.Get(st.Conditions, v1alpha1.RolloutInvalidSpec)
	if c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "spec.strategy.canary.steps[0].setWeight") {
		t.Fatalf("InvalidSpec condition = %+v", c)
	}
	if st.Phase != v1alpha1.RolloutPhaseDegraded || !strings.HasPrefix(st.Message, "InvalidSpec: spec.strategy.canary.steps[0].setWeight") {
		t.Fatalf("phase/message = %q / %q", st.Phase, st.Message)
	}
	if st.ObservedGeneration != "3" {
		t.Fatalf("observedGeneration = %q", st.ObservedGeneration)
	}

	// Observing the same spec again changes nothing, so the controller writes nothing.
	again := *st.DeepCopy()
	recordSpec(&again, ro, Validate(ro), metav1.NewTime(now.Add(time.Minute)))
	if !equality.Semantic.DeepEqual(st, again) {
		t.Fatalf("second observation changed status:\n%+v\n%+v", st, again)
	}

	ro.Generation = 4
	ro.Spec.Strategy.Canary.Steps[0].SetWeight = ptr.To[int32](50)
	if !recordSpec(&st, ro, Validate(ro), now) {
		t.Fatal("fixed spec still invalid")
	}
	if conditions.Get(st.Conditions, v1alpha1.RolloutInvalidSpec) != nil || st.Phase != "" || st.Message != "" {
		t.Fatalf("fixed spec kept its InvalidSpec status: %+v", st)
	}
	if st.ObservedGeneration != "4" {
		t.Fatalf("observedGeneration = %q", st.ObservedGeneration)
	}
}
