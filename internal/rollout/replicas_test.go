package rollout

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// The basic canary's split is Argo Rollouts': the closest canary share among
// ceil and floor of N·w/100 in N pods, and in N+1 when maxSurge allows.
func TestWeightedSplit(t *testing.T) {
	for _, tc := range []struct{ replicas, weight, surge, canary, stable int32 }{
		// The examples Argo's behaviour gives.
		{1, 25, 1, 1, 1}, {3, 20, 1, 1, 3}, {8, 25, 2, 2, 6}, {4, 25, 1, 1, 3}, {1, 50, 1, 1, 1},
		// Exact shares need no surge pod.
		{5, 20, 2, 1, 4}, {5, 40, 2, 2, 3}, {5, 60, 2, 3, 2}, {5, 80, 2, 4, 1}, {4, 50, 1, 2, 2}, {4, 75, 1, 3, 1},
		// Rounding: 10 at 5% is 1 in 11 (9.1%) rather than 1 in 10 (10%); 10 at 99% is all 10.
		{10, 5, 3, 1, 10}, {10, 99, 3, 10, 0}, {2, 90, 1, 2, 0},
		// Without surge, only N pods: 3 at 20% is 1 and 2.
		{3, 20, 0, 1, 2}, {1, 50, 0, 1, 0},
		{5, 100, 2, 5, 0}, {5, 0, 2, 0, 5}, {0, 50, 1, 0, 0},
	} {
		c, s := weightedSplit(tc.replicas, tc.weight, tc.surge)
		if c != tc.canary || s != tc.stable {
			t.Errorf("weightedSplit(%d, %d%%, surge %d) = %d canary, %d stable; want %d, %d", tc.replicas, tc.weight, tc.surge, c, s, tc.canary, tc.stable)
		}
	}
}

func TestSurgeAndUnavailable(t *testing.T) {
	for _, tc := range []struct {
		replicas     int32
		surge, unav  *intstr.IntOrString
		wantS, wantU int32
	}{
		{5, nil, nil, 2, 1},
		{4, nil, nil, 1, 1},
		{10, ptr.To(intstr.FromInt32(3)), ptr.To(intstr.FromString("10%")), 3, 1},
		{1, ptr.To(intstr.FromInt32(0)), ptr.To(intstr.FromString("10%")), 1, 0},
		{3, ptr.To(intstr.FromInt32(0)), ptr.To(intstr.FromInt32(5)), 0, 3},
	} {
		s, u := surgeAndUnavailable(tc.replicas, tc.surge, tc.unav)
		if s != tc.wantS || u != tc.wantU {
			t.Errorf("surgeAndUnavailable(%d, %v, %v) = %d, %d; want %d, %d", tc.replicas, tc.surge, tc.unav, s, u, tc.wantS, tc.wantU)
		}
	}
}

// Driving nextReplicas to the end, with pods becoming available as soon as
// they exist, never breaks the surge or availability bounds and always arrives.
func TestNextReplicasConvergesWithinBounds(t *testing.T) {
	for _, tc := range []struct {
		replicas, surge, unav int32
		start, target         []int32
	}{
		{5, 2, 1, []int32{0, 5}, []int32{1, 4}},
		{5, 2, 1, []int32{1, 4}, []int32{5, 0}},
		{5, 0, 1, []int32{0, 5}, []int32{5, 0}},
		{5, 1, 0, []int32{0, 5}, []int32{5, 0}},
		{4, 1, 1, []int32{2, 1, 2}, []int32{4, 0, 0}},
		{3, 0, 3, []int32{0, 3}, []int32{3, 0}},
	} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			cur := append([]int32(nil), tc.start...)
			avail := append([]int32(nil), tc.start...)
			for round := 0; round < 20; round++ {
				sets := make([]rsScale, len(cur))
				for i := range cur {
					sets[i] = rsScale{current: cur[i], available: avail[i], target: tc.target[i]}
				}
				next := nextReplicas(tc.replicas, tc.surge, tc.unav, sets)
				var total, stillAvailable int32
				for i := range next {
					total += next[i]
					stillAvailable += min(avail[i], next[i])
				}
				if total > tc.replicas+tc.surge {
					t.Fatalf("round %d: %v totals %d, over %d+%d", round, next, total, tc.replicas, tc.surge)
				}
				if stillAvailable < tc.replicas-tc.unav && stillAvailable < sum(avail) {
					t.Fatalf("round %d: %v leaves %d available, under %d-%d", round, next, stillAvailable, tc.replicas, tc.unav)
				}
				cur, avail = next, append([]int32(nil), next...)
				if fmt.Sprint(cur) == fmt.Sprint(tc.target) {
					return
				}
			}
			t.Fatalf("did not reach %v, stuck at %v", tc.target, cur)
		})
	}
}

func sum(xs []int32) (s int32) {
	for _, x := range xs {
		s += x
	}
	return s
}
