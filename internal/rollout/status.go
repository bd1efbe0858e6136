package rollout

import (
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/conditions"
)

// ReasonInvalidSpec is the reason of the InvalidSpec condition and the prefix
// of the status message of an invalid Rollout.
const ReasonInvalidSpec = "InvalidSpec"

// recordSpec records in status what Vireo makes of the Rollout's spec, given
// the problems found in it: with problems, an InvalidSpec condition whose
// message names every wrong field, and the phase Degraded; without, the
// condition goes. Either way the generation is recorded as observed. It reports
// whether the spec can be acted on.
func recordSpec(status *v1alpha1.RolloutStatus, ro *v1alpha1.Rollout, errs field.ErrorList, now metav1.Time) bool {
	status.ObservedGeneration = strconv.FormatInt(ro.Generation, 10)
	if len(errs) == 0 {
		if conditions.Get(status.Conditions, v1alpha1.RolloutInvalidSpec) != nil {
			status.Conditions = conditions.Remove(status.Conditions, v1alpha1.RolloutInvalidSpec)
			if strings.HasPrefix(status.Message, ReasonInvalidSpec+":") {
				status.Phase, status.Message = "", ""
			}
		}
		return true
	}
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	msg := strings.Join(msgs, "; ")
	status.Conditions = conditions.Set(status.Conditions, v1alpha1.RolloutInvalidSpec, metav1.ConditionTrue, ReasonInvalidSpec, msg, now)
	status.Phase = v1alpha1.RolloutPhaseDegraded
	status.Message = ReasonInvalidSpec + ": " + msg
	return false
}
