package rollout

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// withWorkload resolves spec.workloadRef: it returns a copy of the Rollout
// whose pod template, and selector when the Rollout has none, come from the
// referenced Deployment, so the strategies need not know where they came from.
// A Rollout without workloadRef is returned as is.
func withWorkload(ro *v1alpha1.Rollout, d *appsv1.Deployment) (*v1alpha1.Rollout, field.ErrorList) {
	ref := ro.Spec.WorkloadRef
	if ref == nil {
		return ro, nil
	}
	p := field.NewPath("spec", "workloadRef")
	if d == nil {
		return ro, field.ErrorList{field.NotFound(p.Child("name"), ref.Name)}
	}
	out := ro.DeepCopy()
	out.Spec.Template = *d.Spec.Template.DeepCopy()
	if out.Spec.Selector == nil {
		out.Spec.Selector = d.Spec.Selector.DeepCopy()
	}
	sel, err := metav1.LabelSelectorAsSelector(out.Spec.Selector)
	switch {
	case err != nil:
		return ro, field.ErrorList{field.Invalid(field.NewPath("spec", "selector"), out.Spec.Selector, err.Error())}
	case sel.Empty() || !sel.Matches(labels.Set(out.Spec.Template.Labels)):
		return ro, field.ErrorList{field.Invalid(field.NewPath("spec", "selector"), metav1.FormatLabelSelector(out.Spec.Selector),
			"does not match the labels of Deployment "+d.Name+"'s pod template")}
	}
	return out, nil
}

// EffectiveSelector is the selector of a Rollout's pods: its own, or that of
// the Deployment it references.
func EffectiveSelector(ro *v1alpha1.Rollout, d *appsv1.Deployment) *metav1.LabelSelector {
	if ro.Spec.Selector == nil && ro.Spec.WorkloadRef != nil && d != nil {
		return d.Spec.Selector
	}
	return ro.Spec.Selector
}

// planWorkload records the referenced Deployment's generation (only while
// the template comes from it: an inline template clears it) and plans its
// scale-down: never (the default) leaves it alone; onsuccess scales it to zero
// once the Rollout is Healthy; progressively scales it down as the Rollout's
// pods become available. It is only ever scaled down.
func planWorkload(plan *Plan, ro *v1alpha1.Rollout, d *appsv1.Deployment) {
	if ro.Spec.WorkloadRef == nil {
		plan.Status.WorkloadObservedGeneration = ""
		return
	}
	if d == nil {
		return
	}
	st := &plan.Status
	st.WorkloadObservedGeneration = strconv.FormatInt(d.Generation, 10)
	current := int32(1)
	if d.Spec.Replicas != nil {
		current = *d.Spec.Replicas
	}
	target := current
	switch ro.Spec.WorkloadRef.ScaleDown {
	case v1alpha1.ScaleDownOnSuccess:
		if st.Phase == v1alpha1.RolloutPhaseHealthy {
			target = 0
		}
	case v1alpha1.ScaleDownProgressively:
		target = max(0, desiredReplicas(ro)-st.AvailableReplicas)
		if st.Phase == v1alpha1.RolloutPhaseHealthy {
			target = 0
		}
	}
	if target < current {
		plan.ScaleWorkload = ptr.To(target)
	}
}
