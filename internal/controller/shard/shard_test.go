package shard

import (
	"context"
	"fmt"
	"testing"
)

// The hash is stable (these values are what every replica, of any version,
// must compute), spreads objects evenly, and the label overrides it only
// with a valid shard number.
func TestOf(t *testing.T) {
	for _, c := range []struct {
		ns, name string
		labels   map[string]string
		n, want  int
	}{
		{"default", "rollouts-demo", nil, 1, 0},
		{"default", "rollouts-demo", nil, 3, Of("default", "rollouts-demo", nil, 3)},
		{"team-a", "web", map[string]string{Label: "2"}, 3, 2},
		{"team-a", "web", map[string]string{Label: "7"}, 3, Of("team-a", "web", nil, 3)},
		{"team-a", "web", map[string]string{Label: "x"}, 3, Of("team-a", "web", nil, 3)},
	} {
		if got := Of(c.ns, c.name, c.labels, c.n); got != c.want {
			t.Errorf("Of(%s/%s, %v, %d) = %d, want %d", c.ns, c.name, c.labels, c.n, got, c.want)
		}
	}
	// Pinned: FNV-1a of "namespace/name", modulo n.
	if got := Of("default", "rollouts-demo", nil, 1000); got != pinned {
		t.Errorf("the shard hash changed: %d, want %d; replicas of two versions would split objects differently", got, pinned)
	}
	counts := make([]int, 4)
	for i := range 4000 {
		counts[Of("bench", fmt.Sprintf("ro-%03d", i), nil, 4)]++
	}
	for k, c := range counts {
		if c < 850 || c > 1150 {
			t.Errorf("shard %d holds %d of 4000 rollouts: %v", k, c, counts)
		}
	}
	ctx := With(context.Background(), 2)
	if k, ok := From(ctx); !ok || k != 2 {
		t.Errorf("From(With(2)) = %d, %v", k, ok)
	}
	if _, ok := From(context.Background()); ok {
		t.Error("a shard in a bare context")
	}
}

// pinned is FNV-1a 32 of "default/rollouts-demo", modulo 1000, computed apart
// from this package.
const pinned = 747
