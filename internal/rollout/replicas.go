package rollout

import (
	"github.com/vireo-dev/vireo/api/v1alpha1"

	"math"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// Defaults of canary.maxSurge and maxUnavailable, as for Deployments.
var (
	defaultMaxSurge       = intstr.FromString("25%")
	defaultMaxUnavailable = intstr.FromString("25%")
)

// surgeAndUnavailable resolves maxSurge (rounded up) and maxUnavailable
// (rounded down) against the desired replicas. Validation has already rejected
// malformed values and both being zero; if rounding makes both zero, one pod of
// surge is allowed so the rollout can move.
func surgeAndUnavailable(replicas int32, maxSurge, maxUnavailable *intstr.IntOrString) (surge, unavailable int32) {
	if maxSurge == nil {
		maxSurge = &defaultMaxSurge
	}
	if maxUnavailable == nil {
		maxUnavailable = &defaultMaxUnavailable
	}
	surge = scaled(maxSurge, replicas, true)
	unavailable = scaled(maxUnavailable, replicas, false)
	if unavailable > replicas {
		unavailable = replicas
	}
	if surge == 0 && unavailable == 0 {
		surge = 1
	}
	return surge, unavailable
}

func scaled(v *intstr.IntOrString, total int32, roundUp bool) int32 {
	n, err := intstr.GetScaledValueFromIntOrPercent(v, int(total), roundUp)
	if err != nil || n < 0 {
		return 0
	}
	return int32(n)
}

// canaryReplicas is the canary's share of replicas at a weight without a
// traffic router: 5 replicas at weight 20 give 1 canary pod. Any weight above
// zero gives at least one pod, and below 100 leaves at least one stable pod when
// there are two or more replicas, so both versions keep serving.
func canaryReplicas(replicas, weight int32) int32 {
	if weight <= 0 || replicas == 0 {
		return 0
	}
	if weight >= 100 {
		return replicas
	}
	n := int32(math.Ceil(float64(replicas) * float64(weight) / 100))
	if n >= replicas && replicas > 1 {
		n = replicas - 1
	}
	return n
}

// rsScale is one ReplicaSet in a scaling decision.
type rsScale struct {
	current   int32 // spec.replicas now
	available int32 // available pods now
	target    int32 // where it should end up
}

// nextReplicas moves every ReplicaSet one safe step towards its target:
// scale-ups first, keeping the total within replicas+surge; then scale-downs,
// removing unavailable pods freely and available ones only while at least
// replicas-unavailable pods stay available. The ReplicaSets come in priority
// order (the one that should grow first, first). It returns the new counts.
func nextReplicas(replicas, surge, unavailable int32, sets []rsScale) []int32 {
	out := make([]int32, len(sets))
	var total, available int32
	for i, s := range sets {
		out[i] = s.current
		total += s.current
		available += min(s.available, s.current)
	}

	upBudget := replicas + surge - total
	for i, s := range sets {
		if s.target > s.current && upBudget > 0 {
			add := min(s.target-s.current, upBudget)
			out[i] += add
			upBudget -= add
		}
	}

	downBudget := available - (replicas - unavailable)
	// Unavailable pods go first: removing them costs no availability.
	for i, s := range sets {
		if s.target < out[i] {
			unready := max(s.current-s.available, 0)
			remove := min(out[i]-s.target, unready)
			out[i] -= remove
		}
	}
	for i, s := range sets {
		if s.target < out[i] && downBudget > 0 {
			remove := min(out[i]-s.target, downBudget)
			out[i] -= remove
			downBudget -= remove
		}
	}
	return out
}

// SurgeAndUnavailable is what a canary's maxSurge and maxUnavailable allow,
// in pods, for spec.replicas: surge rounded up, unavailable down, and at
// least one of them non-zero.
func SurgeAndUnavailable(ro *v1alpha1.Rollout) (surge, unavailable int32) {
	c := ro.Spec.Strategy.Canary
	if c == nil {
		return surgeAndUnavailable(desiredReplicas(ro), nil, nil)
	}
	return surgeAndUnavailable(desiredReplicas(ro), c.MaxSurge, c.MaxUnavailable)
}
