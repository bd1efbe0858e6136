package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// spec.restartAt (what `kubectl argo rollouts restart` sets) replaces every pod
// through the Eviction API, and status.restartedAt records it.
func TestRestart(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	ns := c.namespace(t, "restart")
	c.must(t, `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: rollouts-demo}
spec:
  replicas: 4
  selector: {matchLabels: {app: restart}}
  template:
    metadata: {labels: {app: restart}}
    spec: {containers: [{name: app, image: argoproj/rollouts-demo:blue}]}
  strategy:
    canary:
      steps: [{setWeight: 50}, {pause: {}}]
`, "apply", "-n", ns, "-f", "-")
	c.waitRollout(t, ns, "Healthy", "", 60*time.Second)
	before := strings.Fields(c.must(t, "", "get", "pods", "-n", ns, "-o", "jsonpath={.items[*].metadata.name}"))
	if len(before) != 4 {
		t.Fatalf("pods before the restart: %v", before)
	}

	at := time.Now().UTC().Add(time.Second).Format(time.RFC3339)
	c.must(t, fmt.Sprintf(`{"spec":{"restartAt":%q}}`, at), "patch", "rollout/rollouts-demo", "-n", ns, "--type=merge", "--patch-file=/dev/stdin")
	eventually(t, 90*time.Second, "status.restartedAt", func() error {
		if got := c.jsonpath(t, ns, "rollout/rollouts-demo", ".status.restartedAt"); got != at {
			return fmt.Errorf("restartedAt %q, want %q", got, at)
		}
		return nil
	})
	c.waitRollout(t, ns, "Healthy", "", 60*time.Second)
	after := c.must(t, "", "get", "pods", "-n", ns, "-o", "jsonpath={.items[*].metadata.name}")
	for _, p := range before {
		if strings.Contains(after, p) {
			t.Errorf("pod %s survived the restart (pods now: %s)", p, after)
		}
	}
	events := c.must(t, "", "get", "events", "-n", ns, "--field-selector", "involvedObject.kind=Rollout", "-o", "jsonpath={.items[*].reason}")
	if !strings.Contains(events, "RolloutRestarted") {
		t.Errorf("no RolloutRestarted event: %s", events)
	}
}
