package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Two replicas with --leader-elect. The leader is frozen (SIGSTOP) mid-rollout;
// the standby takes over and carries on; the old leader, woken up (SIGCONT)
// with a stale view, writes nothing and exits. Then the new leader is killed
// (SIGKILL) mid-rollout and a fresh standby finishes the rollout.
func TestLeaderElectionFailover(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	args := []string{"--leader-elect", "--leader-election-namespace", systemNamespace}
	holder := func() string {
		return c.jsonpath(t, systemNamespace, "lease/vireo-controller-leader", ".spec.holderIdentity")
	}
	holds := func(p *controllerProcess) func() error {
		return func() error {
			if h := holder(); !strings.Contains(h, fmt.Sprintf("_%d_", p.cmd.Process.Pid)) {
				return fmt.Errorf("lease held by %q", h)
			}
			return nil
		}
	}

	a := c.startController(t, args...)
	eventually(t, 30*time.Second, "first replica leads", holds(a))
	b := c.startController(t, args...)

	ns := c.namespace(t, "leader")
	c.must(t, `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: rollouts-demo}
spec:
  replicas: 4
  selector: {matchLabels: {app: leader}}
  template:
    metadata: {labels: {app: leader}}
    spec: {containers: [{name: app, image: argoproj/rollouts-demo:blue}]}
  strategy:
    canary:
      steps: [{setWeight: 25}, {pause: {duration: 3}}, {setWeight: 50}, {pause: {duration: 3}}, {setWeight: 75}, {pause: {}}]
`, "apply", "-n", ns, "-f", "-")
	c.waitRollout(t, ns, "Healthy", "", 60*time.Second)
	setImage := func(color string) { c.setImage(t, ns, "rollout/rollouts-demo", color) }

	// Freeze the leader in the middle of the rollout.
	setImage("green")
	c.waitRollout(t, ns, "Paused", "CanaryPauseStep", 60*time.Second)
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	eventually(t, 40*time.Second, "standby takes over", holds(b))
	t.Logf("standby led %.1fs after the leader froze", time.Since(frozen).Seconds())
	// The rollout goes on under the new leader, to the final indefinite pause.
	eventually(t, 60*time.Second, "rollout moves on under the new leader", func() error {
		if i := c.jsonpath(t, ns, "rollout/rollouts-demo", ".status.currentStepIndex"); i != "5" {
			return fmt.Errorf("currentStepIndex %q", i)
		}
		return nil
	})

	woken := time.Now()
	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.exited:
		a.done = true
	case <-time.After(30 * time.Second):
		t.Error("the deposed leader did not exit after losing the lease")
	}
	if w := c.auditWrites(t, func(e auditEvent) bool {
		return byPid(a.cmd.Process.Pid)(e) && e.ObjectRef.Namespace == ns && !e.StageTimestamp.Before(woken)
	}); len(w) > 0 {
		t.Errorf("the deposed leader wrote %d times after waking up, e.g. %s %s/%s", len(w), w[0].Verb, w[0].ObjectRef.Resource, w[0].ObjectRef.Name)
	}
	if w := c.auditWrites(t, func(e auditEvent) bool { return byPid(b.cmd.Process.Pid)(e) && e.ObjectRef.Namespace == ns }); len(w) == 0 {
		t.Error("the audit log shows no write by the new leader: the check above would prove nothing")
	}

	// Kill the new leader at the final pause; a fresh standby finishes.
	c2 := c.startController(t, args...)
	if err := b.stop(syscall.SIGKILL, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	eventually(t, 40*time.Second, "fresh standby takes over", holds(c2))
	c.must(t, `{"status":{"pauseConditions":null}}`, "patch", "rollout/rollouts-demo", "-n", ns, "--subresource=status", "--type=merge", "--patch-file=/dev/stdin")
	c.waitRollout(t, ns, "Healthy", "", 60*time.Second)
	c.expectPods(t, ns, map[string]int{"green": 4})
}
