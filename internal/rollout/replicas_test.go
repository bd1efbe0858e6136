package rollout

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestCanaryReplicas(t *testing.T) {
	for _, tc := range []struct{ replicas, weight, want int32 }{
		{5, 20, 1}, {5, 40, 2}, {5, 60, 3}, {5, 80, 4}, {5, 100, 5}, {5, 0, 0},
		{4, 25, 1}, {4, 50, 2}, {4, 75, 3},
		{10, 5, 1}, {10, 99, 9}, {1, 50, 1}, {2, 90, 1}, {0, 50, 0},
	} {
		if got := canaryReplicas(tc.replicas, tc.weight); got != tc.want {
			t.Errorf("canaryReplicas(%d, %d) = %d, want %d", tc.replicas, tc.weight, got, tc.want)
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
