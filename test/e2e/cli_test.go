package e2e

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// vireo runs the kubectl-vireo binary against the cluster, in a namespace.
func (c *cluster) vireo(ns string, args ...string) (out string, code int) {
	cmd := exec.Command(filepath.Join(c.binDir, "kubectl-vireo"), append(args, "--kubeconfig", c.kubeconfig, "-n", ns)...)
	b, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(b), exit.ExitCode()
	}
	if err != nil {
		return err.Error(), -1
	}
	return string(b), 0
}

// The CLI binary against the running controller, on seed 002's manifests,
// as the tutorial drives it: set image, get rollout, promote, status
// --watch, abort, retry, undo, pause, restart, list.
func TestCLIOnTheController(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	ns := c.namespace(t, "cli")
	c.applySeed002(t, ns)
	ok := func(args ...string) string {
		t.Helper()
		out, code := c.vireo(ns, args...)
		if code != 0 {
			t.Fatalf("kubectl vireo %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
		return out
	}
	contains := func(out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("missing %q in:\n%s", w, out)
			}
		}
	}
	if out := ok("status", "rollouts-demo", "--watch", "--timeout", "60s"); !strings.HasSuffix(out, "Healthy\n") {
		t.Errorf("status --watch of a new rollout:\n%s", out)
	}

	contains(ok("set", "image", "rollouts-demo", "rollouts-demo=argoproj/rollouts-demo:yellow"), "rollout 'rollouts-demo' image updated")
	c.waitRollout(t, ns, "Paused", "CanaryPauseStep", 60*time.Second)
	contains(ok("get", "rollout", "rollouts-demo"),
		"Status:         ॥ Paused", "Step:         1/8", "SetWeight:    20",
		"argoproj/rollouts-demo:yellow (canary)", "argoproj/rollouts-demo:blue (stable)", "# revision:2", "# revision:1", "Pod")
	contains(ok("list", "rollouts"), "rollouts-demo", "Canary", "॥ Paused", "1/8")

	contains(ok("promote", "rollouts-demo"), "rollout 'rollouts-demo' promoted")
	if out := ok("status", "rollouts-demo", "--watch", "--timeout", "120s"); !strings.HasSuffix(out, "Healthy\n") {
		t.Errorf("status --watch through the steps:\n%s", out)
	}
	contains(ok("get", "rollout", "rollouts-demo"), "Status:         ✔ Healthy", "argoproj/rollouts-demo:yellow (stable)")

	// A bad version, aborted: status exits 1 on Degraded; retry and undo.
	ok("set", "image", "rollouts-demo", "rollouts-demo=argoproj/rollouts-demo:red")
	c.waitRollout(t, ns, "Paused", "CanaryPauseStep", 60*time.Second)
	contains(ok("abort", "rollouts-demo"), "rollout 'rollouts-demo' aborted")
	c.waitRollout(t, ns, "Degraded", "RolloutAborted: Rollout aborted update to revision 3", 60*time.Second)
	if out, code := c.vireo(ns, "status", "rollouts-demo"); code != 1 || !strings.Contains(out, "Degraded") {
		t.Errorf("status of an aborted rollout: exit %d\n%s", code, out)
	}
	contains(ok("retry", "rollout", "rollouts-demo"), "retried")
	c.waitRollout(t, ns, "Paused", "CanaryPauseStep", 60*time.Second)
	contains(ok("undo", "rollouts-demo"), "rolled back")
	ok("status", "rollouts-demo", "--watch", "--timeout", "60s")
	c.expectPods(t, ns, map[string]int{"yellow": 5})

	// pause, then promote to resume; restart replaces every pod.
	ok("pause", "rollouts-demo")
	if got := c.jsonpath(t, ns, "rollout/rollouts-demo", ".spec.paused"); got != "true" {
		t.Errorf("spec.paused after pause: %s", got)
	}
	ok("promote", "rollouts-demo")
	ok("restart", "rollouts-demo")
	eventually(t, 90*time.Second, "every pod restarted", func() error {
		return expectField(c, ns, "rollout/rollouts-demo", ".status.restartedAt|.status.phase", c.jsonpath(t, ns, "rollout/rollouts-demo", ".spec.restartAt")+"|Healthy")
	})

	if out, code := c.vireo(ns, "promote", "nope"); code == 0 || !strings.Contains(out, `rollout "nope" in namespace "`+ns+`": not found`) {
		t.Errorf("promote of a missing rollout: exit %d\n%s", code, out)
	}
}
