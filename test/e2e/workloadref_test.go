package e2e

import (
	"fmt"
	"testing"
	"time"
)

// A Rollout that references an existing Deployment (migration from a
// Deployment): it takes the pod template from it, scales it down once Healthy
// (scaleDown: onsuccess), and a new image in the Deployment runs the steps.
func TestWorkloadRef(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	ns := c.namespace(t, "workloadref")
	c.must(t, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: app, image: argoproj/rollouts-demo:blue}]}
`, "apply", "-n", ns, "-f", "-")
	c.expectPods(t, ns, map[string]int{"blue": 3})

	c.must(t, `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: rollouts-demo}
spec:
  replicas: 3
  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: web, scaleDown: onsuccess}
  strategy:
    canary:
      steps: [{setWeight: 33}, {pause: {}}]
`, "apply", "-n", ns, "-f", "-")
	c.waitRollout(t, ns, "Healthy", "", 60*time.Second)
	eventually(t, 30*time.Second, "Deployment scaled down on success", func() error {
		if r := c.jsonpath(t, ns, "deployment/web", ".spec.replicas"); r != "0" {
			return fmt.Errorf("deployment replicas %q", r)
		}
		return nil
	})
	c.expectPods(t, ns, map[string]int{"blue": 3})
	if g := c.jsonpath(t, ns, "rollout/rollouts-demo", ".status.workloadObservedGeneration"); g == "" {
		t.Error("status.workloadObservedGeneration not set")
	}

	// The template lives in the Deployment: changing it there runs the steps.
	c.setImage(t, ns, "deployment/web", "green")
	c.waitRollout(t, ns, "Paused", "CanaryPauseStep", 60*time.Second)
	c.expectPods(t, ns, map[string]int{"blue": 2, "green": 1})
	if r := c.jsonpath(t, ns, "deployment/web", ".spec.replicas"); r != "0" {
		t.Errorf("the Deployment came back to %s replicas", r)
	}
	c.must(t, `{"status":{"pauseConditions":null}}`, "patch", "rollout/rollouts-demo", "-n", ns, "--subresource=status", "--type=merge", "--patch-file=/dev/stdin")
	c.waitRollout(t, ns, "Healthy", "", 60*time.Second)
	c.expectPods(t, ns, map[string]int{"green": 3})
}

// A workloadRef to a Deployment that does not exist is InvalidSpec naming the
// field; creating the Deployment brings the Rollout back.
func TestWorkloadRefMissing(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	ns := c.namespace(t, "workloadref-missing")
	c.must(t, `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: rollouts-demo}
spec:
  replicas: 2
  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: later}
  strategy: {canary: {steps: [{setWeight: 50}]}}
`, "apply", "-n", ns, "-f", "-")
	eventually(t, 30*time.Second, "InvalidSpec naming workloadRef", func() error {
		msg := c.jsonpath(t, ns, "rollout/rollouts-demo", `.status.conditions[?(@.type=="InvalidSpec")].message`)
		if msg != `spec.workloadRef.name: Not found: "later"` {
			return fmt.Errorf("InvalidSpec message %q", msg)
		}
		return nil
	})
	c.must(t, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: later}
spec:
  replicas: 0
  selector: {matchLabels: {app: later}}
  template:
    metadata: {labels: {app: later}}
    spec: {containers: [{name: app, image: argoproj/rollouts-demo:blue}]}
`, "apply", "-n", ns, "-f", "-")
	c.waitRollout(t, ns, "Healthy", "", 60*time.Second)
	c.expectPods(t, ns, map[string]int{"blue": 2})
}
