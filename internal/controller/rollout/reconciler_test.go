package rollout

import (
	"testing"
	"time"
)

func TestRequeueAtPrioritisesDeadlines(t *testing.T) {
	for _, tc := range []struct {
		name     string
		deadline time.Duration
		after    time.Duration
		priority bool
	}{
		{"nothing to come back for", 0, 0, false},
		{"a pause ending", 3 * time.Second, 3 * time.Second, true},
	} {
		res := requeueAt(tc.deadline)
		if res.RequeueAfter != tc.after || (res.Priority != nil) != tc.priority {
			t.Errorf("%s: got after %v priority %v, want %v priority %v", tc.name, res.RequeueAfter, res.Priority, tc.after, tc.priority)
		}
	}
}
