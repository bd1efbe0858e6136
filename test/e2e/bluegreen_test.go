package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const blueGreenManifest = `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: rollouts-demo}
spec:
  replicas: 3
  selector: {matchLabels: {app: bg}}
  template:
    metadata: {labels: {app: bg}}
    spec: {containers: [{name: app, image: argoproj/rollouts-demo:blue}]}
  strategy:
    blueGreen:
      activeService: bg-active
      previewService: bg-preview
      autoPromotionEnabled: false
      previewReplicaCount: 1
      scaleDownDelaySeconds: 3
---
apiVersion: v1
kind: Service
metadata: {name: bg-active}
spec: {selector: {app: bg}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: bg-preview}
spec: {selector: {app: bg}, ports: [{port: 80}]}
`

// Blue-green on the real control plane: the preview comes up small behind the
// preview Service, waits for promotion, scales up, takes over the active
// Service, and the old version goes after scaleDownDelaySeconds.
func TestBlueGreen(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	ns := c.namespace(t, "bluegreen")
	c.must(t, blueGreenManifest, "apply", "-n", ns, "-f", "-")
	ro := "rollout/rollouts-demo"
	selector := func(svc string) string {
		return c.jsonpath(t, ns, "service/"+svc, ".spec.selector.rollouts-pod-template-hash")
	}

	c.waitRollout(t, ns, "Healthy", "", 60*time.Second)
	c.expectPods(t, ns, map[string]int{"blue": 3})
	blue := c.jsonpath(t, ns, ro, ".status.stableRS")
	if selector("bg-active") != blue || selector("bg-preview") != blue {
		t.Fatalf("first version: active %q preview %q, want both %q", selector("bg-active"), selector("bg-preview"), blue)
	}

	c.setImage(t, ns, ro, "green")
	c.waitRollout(t, ns, "Paused", "BlueGreenPause", 60*time.Second)
	c.expectPods(t, ns, map[string]int{"blue": 3, "green": 1})
	green := c.jsonpath(t, ns, ro, ".status.currentPodHash")
	if selector("bg-active") != blue || selector("bg-preview") != green {
		t.Errorf("while previewing: active %q preview %q, want %q and %q", selector("bg-active"), selector("bg-preview"), blue, green)
	}
	if got := c.jsonpath(t, ns, ro, ".status.blueGreen.activeSelector"); got != blue {
		t.Errorf("status.blueGreen.activeSelector %q, want %q", got, blue)
	}

	// promote: the preview scales to full size first, then the switch.
	c.must(t, `{"status":{"pauseConditions":null}}`, "patch", ro, "-n", ns, "--subresource=status", "--type=merge", "--patch-file=/dev/stdin")
	eventually(t, 60*time.Second, "active Service switched", func() error {
		if s := selector("bg-active"); s != green {
			return fmt.Errorf("active selects %q", s)
		}
		return nil
	})
	if n := c.jsonpath(t, ns, "rs/rollouts-demo-"+green, ".status.availableReplicas"); n != "3" {
		t.Errorf("the switch happened with %s green pods available, want 3", n)
	}
	c.waitRollout(t, ns, "Healthy", "", 30*time.Second)
	// The old version stays a moment (scaleDownDelaySeconds: 3), then goes.
	c.expectPods(t, ns, map[string]int{"green": 3})
	if d := c.jsonpath(t, ns, "rs/rollouts-demo-"+blue, `.metadata.annotations.scale-down-deadline`); d != "" {
		t.Errorf("scale-down deadline %q left on the scaled-down ReplicaSet", d)
	}

	// Switched to a canary that names neither Service: both are given back,
	// without the hash selector and the managed-by annotation, as Argo does.
	managedBy := func(svc string) string {
		return c.jsonpath(t, ns, "service/"+svc, `.metadata.annotations.argo-rollouts\.argoproj\.io/managed-by-rollouts`)
	}
	if m := managedBy("bg-preview"); m != "rollouts-demo" {
		t.Fatalf("before the switch, bg-preview managed-by %q, want rollouts-demo", m)
	}
	c.must(t, `{"spec":{"strategy":{"blueGreen":null,"canary":{"steps":[{"setWeight":50},{"pause":{}}]}}}}`,
		"patch", ro, "-n", ns, "--type=merge", "--patch-file=/dev/stdin")
	for _, svc := range []string{"bg-active", "bg-preview"} {
		eventually(t, 30*time.Second, svc+" released", func() error {
			sel := selector(svc)
			managed := managedBy(svc)
			if sel != "" || managed != "" {
				return fmt.Errorf("selector hash %q, managed-by %q", sel, managed)
			}
			return nil
		})
	}
}

// A Rollout that names a missing Service is InvalidSpec, naming the field;
// creating the Service brings it back without any other change.
func TestMissingServiceThenCreated(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	ns := c.namespace(t, "missing-svc")
	c.must(t, `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: rollouts-demo}
spec:
  replicas: 2
  selector: {matchLabels: {app: ms}}
  template:
    metadata: {labels: {app: ms}}
    spec: {containers: [{name: app, image: argoproj/rollouts-demo:blue}]}
  strategy:
    canary:
      canaryService: ms-canary
      steps: [{setWeight: 50}, {pause: {}}]
`, "apply", "-n", ns, "-f", "-")
	eventually(t, 30*time.Second, "InvalidSpec naming canaryService", func() error {
		msg := c.jsonpath(t, ns, "rollout/rollouts-demo", `.status.conditions[?(@.type=="InvalidSpec")].message`)
		if !strings.Contains(msg, `spec.strategy.canary.canaryService: Not found: "ms-canary"`) {
			return fmt.Errorf("InvalidSpec message %q", msg)
		}
		return nil
	})
	if n := c.must(t, "", "get", "rs", "-n", ns, "-o", "name"); strings.TrimSpace(n) != "" {
		t.Errorf("ReplicaSets created for an invalid rollout: %s", n)
	}
	c.must(t, `{"apiVersion":"v1","kind":"Service","metadata":{"name":"ms-canary"},"spec":{"selector":{"app":"ms"},"ports":[{"port":80}]}}`,
		"apply", "-n", ns, "-f", "-")
	c.waitRollout(t, ns, "Healthy", "", 60*time.Second)
	if s := c.jsonpath(t, ns, "service/ms-canary", ".spec.selector.rollouts-pod-template-hash"); s == "" {
		t.Error("the canary Service was not pointed at the rollout's pods")
	}
}
