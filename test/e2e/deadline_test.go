package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// canaryManifest is a basic canary named name with the given spec fields
// (indented for spec), pod template annotations and steps.
func canaryManifest(name string, replicas int, spec, annotations, steps string) string {
	return fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: %[1]s}
spec:
  replicas: %[2]d
%[3]s
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}, annotations: {%[4]s}}
    spec: {containers: [{name: app, image: "argoproj/rollouts-demo:blue"}]}
  strategy:
    canary:
      steps: %[5]s
---
`, name, replicas, spec, annotations, steps)
}

// progressingCondition is the Rollout's Progressing condition as
// "status/reason/message".
func (c *cluster) progressingCondition(t *testing.T, ns, name string) string {
	return c.jsonpath(t, ns, "rollout/"+name, `.status.conditions[?(@.type=="Progressing")].status}/{.status.conditions[?(@.type=="Progressing")].reason}/{.status.conditions[?(@.type=="Progressing")].message`)
}

// progressDeadlineSeconds as Argo applies it, on the local control plane:
//   - the first revision times out too: with a deadline of 5 s and pods
//     ready after 10 s, Degraded (ProgressDeadlineExceeded, `ReplicaSet "…"
//     has timed out progressing.`), then Healthy;
//   - progressDeadlineAbort turned on after the deadline passed aborts;
//   - spec.paused on a Completed rollout leaves Progressing as it was.
func TestProgressDeadline(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	ns := c.namespace(t, "deadline")
	var mu sync.Mutex
	seen := map[string][]string{} // rollout -> phases and Progressing reasons, in order
	watchRollouts(t, c.watchClient(t), ns, func(ro *v1alpha1.Rollout) {
		mu.Lock()
		defer mu.Unlock()
		reason := ""
		for _, cond := range ro.Status.Conditions {
			if cond.Type == v1alpha1.RolloutProgressing {
				reason = string(cond.Status) + "/" + cond.Reason + "/" + cond.Message
			}
		}
		entry := string(ro.Status.Phase) + " " + reason
		if l := seen[ro.Name]; len(l) == 0 || l[len(l)-1] != entry {
			seen[ro.Name] = append(l, entry)
		}
	})
	c.must(t, canaryManifest("slow", 2, "  progressDeadlineSeconds: 5", `sim.vireo.dev/ready-after: "10s"`, "[{setWeight: 50}, {pause: {}}]")+
		canaryManifest("late", 2, "  progressDeadlineSeconds: 5", "", "[{setWeight: 50}, {pause: {}}]")+
		canaryManifest("done", 1, "", "", "[{setWeight: 50}, {pause: {}}]"), "apply", "-n", ns, "-f", "-")

	// B1: the first revision times out at 5 s, and recovers at 10 s.
	c.waitRolloutNamed(t, ns, "slow", "Healthy", "", 60*time.Second)
	hash := c.jsonpath(t, ns, "rollout/slow", ".status.stableRS")
	timedOut := fmt.Sprintf(`Degraded False/ProgressDeadlineExceeded/ReplicaSet "slow-%s" has timed out progressing.`, hash)
	mu.Lock()
	history := seen["slow"]
	mu.Unlock()
	i := -1
	for j, e := range history {
		if e == timedOut {
			i = j
		}
	}
	if i < 0 || history[len(history)-1] == timedOut {
		t.Errorf("slow never went %q before Healthy:\n%s", timedOut, strings.Join(history, "\n"))
	}

	// B3: a rollout stuck past its deadline, then progressDeadlineAbort on.
	c.waitRolloutNamed(t, ns, "late", "Healthy", "", 60*time.Second)
	c.setTemplate(t, ns, "late", "green", "1h")
	eventually(t, 30*time.Second, "late timed out", func() error {
		if p := c.jsonpath(t, ns, "rollout/late", ".status.phase"); p != "Degraded" {
			return fmt.Errorf("phase %s, Progressing %s", p, c.progressingCondition(t, ns, "late"))
		}
		return nil
	})
	if a := c.jsonpath(t, ns, "rollout/late", ".status.abort"); a == "true" {
		t.Fatal("aborted without progressDeadlineAbort")
	}
	c.must(t, `{"spec":{"progressDeadlineAbort":true}}`, "patch", "rollout/late", "-n", ns, "--type=merge", "--patch-file=/dev/stdin")
	eventually(t, 30*time.Second, "late aborted once progressDeadlineAbort is on", func() error {
		if a := c.jsonpath(t, ns, "rollout/late", ".status.abort"); a != "true" {
			return fmt.Errorf("abort %q, phase %s", a, c.jsonpath(t, ns, "rollout/late", ".status.phase"))
		}
		return nil
	})

	// B4: pausing a Completed rollout leaves Progressing alone.
	c.waitRolloutNamed(t, ns, "done", "Healthy", "", 60*time.Second)
	before := c.progressingCondition(t, ns, "done")
	c.must(t, `{"spec":{"paused":true}}`, "patch", "rollout/done", "-n", ns, "--type=merge", "--patch-file=/dev/stdin")
	eventually(t, 30*time.Second, "done's pause observed", func() error {
		if g, o := c.jsonpath(t, ns, "rollout/done", ".metadata.generation"), c.jsonpath(t, ns, "rollout/done", ".status.observedGeneration"); g != o {
			return fmt.Errorf("generation %s, observed %s", g, o)
		}
		return nil
	})
	time.Sleep(2 * time.Second) // a few more passes
	if after := c.progressingCondition(t, ns, "done"); after != before {
		t.Errorf("pausing a Completed rollout changed Progressing from %q to %q", before, after)
	}
}

// H: a setWeight step of a basic canary is done once the canary is
// available and the stable ReplicaSet has its count, ready or not: with a
// stable version that never becomes ready, 4 replicas, maxSurge 1,
// maxUnavailable 0, steps [setWeight 50, pause 5s], the rollout reaches
// Healthy with 4 new pods and no old one.
func TestStableNeverReady(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	ns := c.namespace(t, "never-ready")
	c.must(t, strings.Replace(canaryManifest("stuck", 4, "", `sim.vireo.dev/ready-after: "1h"`, "[{setWeight: 50}, {pause: {duration: 5s}}]"),
		"    canary:\n", "    canary:\n      maxSurge: 1\n      maxUnavailable: 0\n", 1), "apply", "-n", ns, "-f", "-")
	eventually(t, 30*time.Second, "the first version's pods up, not ready", func() error {
		if n := c.jsonpath(t, ns, "rollout/stuck", ".status.replicas"); n != "4" {
			return fmt.Errorf("%s pods", n)
		}
		return nil
	})
	c.setTemplate(t, ns, "stuck", "green", "0s")
	c.waitRolloutNamed(t, ns, "stuck", "Healthy", "", 90*time.Second)
	c.expectPods(t, ns, map[string]int{"green": 4})
}
