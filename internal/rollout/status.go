package rollout

import (
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/conditions"
)

// ReasonInvalidSpec is the reason of the InvalidSpec condition and the prefix
// of the status message of an invalid Rollout.
const ReasonInvalidSpec = "InvalidSpec"

// ObserveSpec records in status what Vireo makes of the Rollout's spec: an
// invalid spec gets an InvalidSpec condition whose message names every wrong
// field, and the phase Degraded; a valid one loses the condition. Either way the
// generation is recorded as observed. It reports whether the spec is valid.
func ObserveSpec(status *v1alpha1.RolloutStatus, ro *v1alpha1.Rollout, now metav1.Time) bool {
	status.ObservedGeneration = strconv.FormatInt(ro.Generation, 10)
	errs := Validate(ro)
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
