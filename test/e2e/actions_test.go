package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/vireo-dev/vireo/pkg/actions"
)

// Every user action through pkg/actions (what Vireo's CLI and dashboard
// call) against the running controller, on the seed 002 manifests: pause and
// promote, promote --full, abort and retry, undo to the stable revision (a
// fast rollback) and to an older one (a new update through the steps).
func TestActionsOnTheController(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	ns := c.namespace(t, "actions")
	c.applySeed002(t, ns)
	ro := "rollout/rollouts-demo"
	key := types.NamespacedName{Namespace: ns, Name: "rollouts-demo"}
	cl := c.watchClient(t)
	ctx := context.Background()
	do := func(what string, _ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	c.waitRollout(t, ns, "Healthy", "", 60*time.Second) // revision 1: blue

	// Revision 2, yellow: paused at step 1, and paused by the user as well.
	// One promote releases both; the steps move on (and do not skip one).
	// promote --full then skips the rest.
	c.setImage(t, ns, ro, "yellow")
	c.waitRollout(t, ns, "Paused", "CanaryPauseStep", 60*time.Second)
	r, err := actions.Pause(ctx, cl, key)
	do("pause", r, err)
	r, err = actions.Promote(ctx, cl, key, actions.PromoteOptions{})
	do("promote", r, err)
	// (the merge patch leaves paused:false in the object, so it prints)
	eventually(t, 30*time.Second, "promoted past step 2", func() error {
		return expectField(c, ns, ro, ".spec.paused|.status.currentStepIndex", "false|3")
	})
	r, err = actions.Promote(ctx, cl, key, actions.PromoteOptions{Full: true})
	do("promote --full", r, err)
	c.waitRollout(t, ns, "Healthy", "", 60*time.Second)
	c.expectPods(t, ns, map[string]int{"yellow": 5})

	// Revision 3, red: abort goes back to yellow, retry walks the steps again.
	c.setImage(t, ns, ro, "red")
	c.waitRollout(t, ns, "Paused", "CanaryPauseStep", 60*time.Second)
	r, err = actions.Abort(ctx, cl, key)
	do("abort", r, err)
	c.waitRollout(t, ns, "Degraded", "RolloutAborted: Rollout aborted update to revision 3", 60*time.Second)
	c.expectPods(t, ns, map[string]int{"yellow": 5})
	r, err = actions.Retry(ctx, cl, key)
	do("retry", r, err)
	c.waitRollout(t, ns, "Paused", "CanaryPauseStep", 60*time.Second)
	c.expectPods(t, ns, map[string]int{"yellow": 4, "red": 1})

	// undo: the revision before red is yellow, the stable one: a fast
	// rollback, no steps.
	r, err = actions.Undo(ctx, cl, key, 0)
	do("undo", r, err)
	c.waitRollout(t, ns, "Healthy", "", 30*time.Second)
	c.expectPods(t, ns, map[string]int{"yellow": 5})

	// undo --to-revision 1 (blue, not stable): an update through the steps,
	// on blue's old ReplicaSet, which takes the next revision number.
	r, err = actions.Undo(ctx, cl, key, 1)
	do("undo --to-revision 1", r, err)
	c.waitRollout(t, ns, "Paused", "CanaryPauseStep", 60*time.Second)
	c.expectPods(t, ns, map[string]int{"yellow": 4, "blue": 1})
	hash := c.jsonpath(t, ns, ro, ".status.currentPodHash")
	if rev := c.jsonpath(t, ns, "rs/rollouts-demo-"+hash, `.metadata.annotations.rollout\.argoproj\.io/revision`); rev != "5" {
		t.Errorf("blue's ReplicaSet after undo: revision %q, want 5", rev)
	}
	if _, err := actions.Undo(ctx, cl, key, 42); err == nil {
		t.Error("undo to a revision that does not exist succeeded")
	}
}

// expectField compares '|'-separated jsonpath fields of an object with want.
func expectField(c *cluster, ns, obj, fields, want string) error {
	var parts []string
	for _, f := range strings.Split(fields, "|") {
		parts = append(parts, "{"+f+"}")
	}
	out, err := c.kubectl("", "get", obj, "-n", ns, "-o", "jsonpath="+strings.Join(parts, "|"))
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	if out != want {
		return fmt.Errorf("%s is %q, want %q", fields, out, want)
	}
	return nil
}
