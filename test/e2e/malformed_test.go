package e2e

import (
	"strings"
	"testing"
	"time"
)

const malformedManifest = `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: malformed}
spec:
  replicas: 2
  selector: {matchLabels: {app: malformed}}
  template:
    metadata: {labels: {app: malformed}}
    spec:
      containers:
      - name: app
        image: argoproj/rollouts-demo:blue
        resources: {requests: {memory: invalid, cpu: 100m}}
  strategy:
    canary:
      steps: [{setWeight: 50}, {pause: {duration: 1s}}]
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: wellformed}
spec:
  replicas: 2
  selector: {matchLabels: {app: wellformed}}
  template:
    metadata: {labels: {app: wellformed}}
    spec: {containers: [{name: app, image: argoproj/rollouts-demo:blue}]}
  strategy:
    canary:
      steps: [{setWeight: 50}, {pause: {duration: 1s}}]
`

// One Rollout that the Go types cannot decode as written (a memory request
// of "invalid", which the CRD schema lets through) stops nothing: the
// controller reconciles it and the others to Healthy, leaving the bad value
// out as Argo does, and the CLI lists every rollout and names the value.
func TestMalformedRolloutStopsNothing(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	ns := c.namespace(t, "malformed")
	c.must(t, malformedManifest, "apply", "-n", ns, "-f", "-")
	for _, name := range []string{"malformed", "wellformed"} {
		c.waitRolloutNamed(t, ns, name, "Healthy", "", 60*time.Second)
	}
	c.setImage(t, ns, "rollout/wellformed", "green")
	c.waitRolloutNamed(t, ns, "wellformed", "Healthy", "", 60*time.Second)
	if img := c.jsonpath(t, ns, "rollout/wellformed", ".spec.template.spec.containers[0].image"); !strings.HasSuffix(img, ":green") {
		t.Errorf("image %q", img)
	}
	// What the user wrote stays as written.
	if m := c.jsonpath(t, ns, "rollout/malformed", ".spec.template.spec.containers[0].resources.requests.memory"); m != "invalid" {
		t.Errorf("the stored spec was rewritten: memory %q", m)
	}
	out, code := c.vireo(ns, "list", "rollouts")
	if code != 0 {
		t.Fatalf("list rollouts exited %d: %s", code, out)
	}
	for _, want := range []string{"malformed", "wellformed",
		`spec.template.spec.containers[0].resources.requests.memory: invalid quantity "invalid", left out`} {
		if !strings.Contains(out, want) {
			t.Errorf("list rollouts lacks %q:\n%s", want, out)
		}
	}
	events := c.must(t, "", "get", "events", "-n", ns, "--field-selector", "involvedObject.name=malformed", "-o", "jsonpath={.items[*].reason}")
	if !strings.Contains(events, "SpecValueLeftOut") {
		t.Errorf("no SpecValueLeftOut event on the malformed rollout: %s", events)
	}
}
