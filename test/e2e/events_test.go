package e2e

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

const blueGreenAutoManifest = `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: bg-events}
spec:
  replicas: 3
  selector: {matchLabels: {app: bg-events}}
  template:
    metadata: {labels: {app: bg-events}}
    spec: {containers: [{name: app, image: argoproj/rollouts-demo:blue}]}
  strategy:
    blueGreen:
      activeService: bg-events
      scaleDownDelaySeconds: 2
---
apiVersion: v1
kind: Service
metadata: {name: bg-events}
spec: {selector: {app: bg-events}, ports: [{port: 80}]}
`

// The Events of a blue-green rollout carry Argo Rollouts' reasons, in Argo's
// order: a fresh rollout, then an update promoted automatically.
func TestBlueGreenEventsAreArgos(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	ns := c.namespace(t, "bg-events")
	c.must(t, blueGreenAutoManifest, "apply", "-n", ns, "-f", "-")
	ro := "rollout/bg-events"
	c.waitRolloutNamed(t, ns, "bg-events", "Healthy", "", 60*time.Second)
	blue := c.jsonpath(t, ns, ro, ".status.stableRS")
	first := rolloutEvents(t, c, ns)
	expectInOrder(t, "fresh rollout", first, []string{"RolloutAddedToInformer", "RolloutUpdated", "NewReplicaSetCreated", "ScalingReplicaSet", "RolloutCompleted"})
	expectInOrder(t, "fresh rollout", first, []string{"NewReplicaSetCreated", "SwitchService"})

	c.setImage(t, ns, ro, "green")
	eventually(t, 60*time.Second, "the update completes", func() error {
		if h := c.jsonpath(t, ns, ro, ".status.stableRS"); h == blue || h == "" {
			return fmt.Errorf("stableRS still %q", h)
		}
		return nil
	})
	c.waitRolloutNamed(t, ns, "bg-events", "Healthy", "", 60*time.Second)
	update := rolloutEvents(t, c, ns)[len(first):]
	expectInOrder(t, "update", update, []string{"RolloutUpdated", "NewReplicaSetCreated", "RolloutNotCompleted", "ScalingReplicaSet", "SwitchService", "RolloutCompleted"})
	for _, e := range update {
		if e == "SwitchedActiveService" {
			t.Errorf("a Vireo-only reason in place of Argo's SwitchService: %v", update)
		}
	}
}

// rolloutEvents lists the reasons of the Events on Rollouts in a namespace,
// in the order they were created (by resourceVersion, finer than timestamps).
func rolloutEvents(t *testing.T, c *cluster, ns string) []string {
	t.Helper()
	out := c.must(t, "", "get", "events", "-n", ns, "--field-selector", "involvedObject.kind=Rollout",
		"-o", `jsonpath={range .items[*]}{.metadata.resourceVersion} {.reason}{"\n"}{end}`)
	type ev struct {
		rv     int
		reason string
	}
	var evs []ev
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		rv, _ := strconv.Atoi(f[0])
		evs = append(evs, ev{rv, f[1]})
	}
	sort.Slice(evs, func(i, j int) bool { return evs[i].rv < evs[j].rv })
	reasons := make([]string, len(evs))
	for i, e := range evs {
		reasons[i] = e.reason
	}
	return reasons
}

// expectInOrder fails unless want appears in got as a subsequence.
func expectInOrder(t *testing.T, what string, got, want []string) {
	t.Helper()
	i := 0
	for _, r := range got {
		if i < len(want) && r == want[i] {
			i++
		}
	}
	if i < len(want) {
		t.Errorf("%s: events %v lack %v in that order (stopped at %s)", what, got, want, want[i])
	}
}
