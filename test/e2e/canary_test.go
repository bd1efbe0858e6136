package e2e

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// Seed tutorial 002 on the real control plane: its manifests unchanged, the
// same patches `kubectl argo rollouts` sends, real ReplicaSets and (simulated)
// pods.
func TestSeed002Canary(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	ns := c.namespace(t, "seed002")
	c.applySeed002(t, ns)
	ro := "rollout/rollouts-demo"

	// The first version goes straight to 100%: no steps.
	c.waitRollout(t, ns, "Healthy", "", 60*time.Second)
	c.expectPods(t, ns, map[string]int{"blue": 5})
	if i := c.jsonpath(t, ns, ro, ".status.currentStepIndex"); i != "8" {
		t.Errorf("first version: currentStepIndex %q, want 8 (all steps done)", i)
	}

	setImage := func(color string) { c.setImage(t, ns, ro, color) }

	// A new image: 20% (one pod of five), then the indefinite pause.
	setImage("yellow")
	c.waitRollout(t, ns, "Paused", "CanaryPauseStep", 60*time.Second)
	c.expectPods(t, ns, map[string]int{"blue": 4, "yellow": 1})
	if i := c.jsonpath(t, ns, ro, ".status.currentStepIndex"); i != "1" {
		t.Errorf("paused at currentStepIndex %q, want 1", i)
	}
	stable := c.jsonpath(t, ns, ro, ".status.stableRS")
	if sel := c.jsonpath(t, ns, "service/rollouts-demo", ".spec.selector.app"); sel != "rollouts-demo" {
		t.Errorf("the user's Service was rewritten: selector app=%q", sel)
	}

	// promote: the plugin clears the pause conditions. The timed pauses then run
	// by themselves: 40, 60, 80, then 100% yellow.
	start := time.Now()
	c.must(t, `{"status":{"pauseConditions":null}}`, "patch", ro, "-n", ns, "--subresource=status", "--type=merge", "--patch-file=/dev/stdin")
	c.waitRollout(t, ns, "Healthy", "", 90*time.Second)
	took := time.Since(start)
	c.expectPods(t, ns, map[string]int{"yellow": 5})
	if took < 30*time.Second {
		t.Errorf("three 10s pauses passed in %s", took)
	}
	t.Logf("promote to Healthy: %s (30s of pauses)", took.Round(100*time.Millisecond))
	if now := c.jsonpath(t, ns, ro, ".status.stableRS"); now == stable || now == "" {
		t.Errorf("stableRS %q did not move on from %q", now, stable)
	}
	stable = c.jsonpath(t, ns, ro, ".status.stableRS")

	// Another image, then abort at the pause: back to the stable version.
	setImage("red")
	c.waitRollout(t, ns, "Paused", "CanaryPauseStep", 60*time.Second)
	c.expectPods(t, ns, map[string]int{"yellow": 4, "red": 1})
	c.must(t, `{"status":{"abort":true}}`, "patch", ro, "-n", ns, "--subresource=status", "--type=merge", "--patch-file=/dev/stdin")
	c.waitRollout(t, ns, "Degraded", "RolloutAborted: Rollout aborted update to revision 3", 60*time.Second)
	c.expectPods(t, ns, map[string]int{"yellow": 5})
	if s := c.jsonpath(t, ns, ro, ".status.stableRS"); s != stable {
		t.Errorf("abort moved stableRS to %q", s)
	}

	// Re-applying the stable image is a fast rollback: no steps, no pause.
	setImage("yellow")
	c.waitRollout(t, ns, "Healthy", "", 30*time.Second)
	c.expectPods(t, ns, map[string]int{"yellow": 5})
	if rev := c.jsonpath(t, ns, "rs/rollouts-demo-"+stable, `.metadata.annotations.rollout\.argoproj\.io/revision`); rev != "4" {
		t.Errorf("rolled-back ReplicaSet revision %q, want 4", rev)
	}

	// revisionHistoryLimit: 2 keeps two old ReplicaSets besides the current one.
	if n := len(strings.Fields(c.must(t, "", "get", "rs", "-n", ns, "-o", "name"))); n > 3 {
		t.Errorf("%d ReplicaSets with revisionHistoryLimit 2", n)
	}

	// Every step left an Event.
	events := c.must(t, "", "get", "events", "-n", ns, "--field-selector", "involvedObject.kind=Rollout", "-o", "jsonpath={.items[*].reason}")
	for _, want := range []string{"NewReplicaSetCreated", "RolloutUpdated", "RolloutStepCompleted", "RolloutPaused", "RolloutCompleted", "RolloutAborted"} {
		if !strings.Contains(events, want) {
			t.Errorf("no %s event (got %s)", want, events)
		}
	}
}

// applySeed002 applies seed tutorial 002's Rollout and Service, unchanged.
func (c *cluster) applySeed002(t *testing.T, ns string) {
	t.Helper()
	for _, f := range []string{"basic-rollout.yaml", "basic-service.yaml"} {
		c.must(t, "", "apply", "-n", ns, "-f", filepath.Join("testdata", "seed002", f))
	}
}

// waitRollout waits until the rollout's phase (and message, if given) match
// and its status describes the current generation.
func (c *cluster) waitRollout(t *testing.T, ns, phase, message string, timeout time.Duration) {
	t.Helper()
	c.waitRolloutNamed(t, ns, "rollouts-demo", phase, message, timeout)
}

// waitRolloutNamed is waitRollout for a rollout of another name.
func (c *cluster) waitRolloutNamed(t *testing.T, ns, name, phase, message string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "rollout "+name+" "+phase+" "+message, func() error {
		out, err := c.kubectl("", "get", "rollout/"+name, "-n", ns, "-o",
			`jsonpath={.metadata.generation}|{.status.observedGeneration}|{.status.phase}|{.status.message}`)
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		parts := strings.SplitN(out, "|", 4)
		if len(parts) != 4 {
			return fmt.Errorf("status %q", out)
		}
		if parts[0] != parts[1] || parts[2] != phase || parts[3] != message {
			return fmt.Errorf("generation %s observed %s phase %q message %q", parts[0], parts[1], parts[2], parts[3])
		}
		return nil
	})
}

// expectPods waits until the ready pods, counted by image colour, are exactly want.
func (c *cluster) expectPods(t *testing.T, ns string, want map[string]int) {
	t.Helper()
	eventually(t, 60*time.Second, fmt.Sprintf("ready pods %v", want), func() error {
		out := c.must(t, "", "get", "pods", "-n", ns, "-o",
			`jsonpath={range .items[*]}{.spec.containers[0].image}={.status.conditions[?(@.type=="Ready")].status}{" "}{end}`)
		got := map[string]int{}
		for _, f := range strings.Fields(out) {
			img, ready, _ := strings.Cut(f, "=")
			if ready == "True" {
				got[img[strings.LastIndex(img, ":")+1:]]++
			} else {
				got["not-ready"]++
			}
		}
		if fmt.Sprint(sorted(got)) != fmt.Sprint(sorted(want)) {
			return fmt.Errorf("pods %v", got)
		}
		return nil
	})
}

func sorted(m map[string]int) []string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(out)
	return out
}
