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

// weightedSplit is how a basic canary (no traffic router) shares replicas at
// a weight, as Argo Rollouts shares them: of the candidates (ceil(N·w/100)
// canary pods in N), (floor, N) when the floor is non-zero and differs, and,
// when maxSurge allows a pod more, the same canary counts in N+1, it takes
// the one whose canary share is closest to w, the earlier on a tie (the
// ceiling, then N). 3 replicas at 20% give 1 canary and 3 stable pods; 1 at
// 25% gives 1 and 1; 8 at 25% give 2 and 6.
func weightedSplit(replicas, weight, surge int32) (canary, stable int32) {
	switch {
	case replicas <= 0:
		return 0, 0
	case weight <= 0:
		return 0, replicas
	case weight >= 100:
		return replicas, 0
	}
	exact := float64(replicas) * float64(weight) / 100
	ceil, floor := int32(math.Ceil(exact)), int32(math.Floor(exact))
	type option struct{ canary, total int32 }
	options := []option{{ceil, replicas}}
	if floor != ceil && floor > 0 {
		options = append(options, option{floor, replicas})
	}
	if surge > 0 {
		options = append(options, option{ceil, replicas + 1})
		if floor != ceil && floor > 0 {
			options = append(options, option{floor, replicas + 1})
		}
	}
	delta := func(o option) float64 { return math.Abs(float64(o.canary)/float64(o.total)*100 - float64(weight)) }
	best := options[0]
	for _, o := range options[1:] {
		if delta(o) < delta(best) {
			best = o
		}
	}
	return best.canary, best.total - best.canary
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
	// spec.replicas lowered mid-update (by hand, by an HPA) can leave more
	// pods than replicas+surge even so: a shrinking ReplicaSet then also
	// loses unavailable pods below its target, as Argo trims it, never its
	// available ones.
	over := -(replicas + surge)
	for _, n := range out {
		over += n
	}
	for i, s := range sets {
		if over <= 0 {
			break
		}
		if s.target < s.current {
			remove := min(over, max(out[i]-min(s.available, out[i]), 0))
			out[i] -= remove
			over -= remove
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
