package e2e

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

const roleMetadataManifest = `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: rollouts-demo}
spec:
  replicas: 4
  selector: {matchLabels: {app: roles}}
  template:
    metadata: {labels: {app: roles}}
    spec: {containers: [{name: app, image: argoproj/rollouts-demo:blue}]}
  strategy:
    canary:
      canaryMetadata: {labels: {role: canary}}
      stableMetadata: {labels: {role: stable}, annotations: {vireo.dev/serving: "yes"}}
      steps: [{setWeight: 25}, {pause: {}}]
`

// canaryMetadata and stableMetadata on real pods: every pod carries its
// ReplicaSet's role, and when the canary is promoted its pods, the same pods,
// are relabelled stable in place.
func TestRoleMetadataOnPods(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	ns := c.namespace(t, "roles")
	c.must(t, roleMetadataManifest, "apply", "-n", ns, "-f", "-")
	ro := "rollout/rollouts-demo"
	c.waitRollout(t, ns, "Healthy", "", 60*time.Second)
	c.expectRoles(t, ns, "blue:stable:yes=4")

	c.setImage(t, ns, ro, "green")
	c.waitRollout(t, ns, "Paused", "CanaryPauseStep", 60*time.Second)
	c.expectRoles(t, ns, "blue:stable:yes=3 green:canary:=1")
	canaryPod := strings.TrimSpace(c.must(t, "", "get", "pods", "-n", ns, "-l", "role=canary", "-o", "name"))

	c.must(t, `{"status":{"pauseConditions":null}}`, "patch", ro, "-n", ns, "--subresource=status", "--type=merge", "--patch-file=/dev/stdin")
	c.waitRollout(t, ns, "Healthy", "", 60*time.Second)
	c.expectRoles(t, ns, "green:stable:yes=4")
	if out, err := c.kubectl("", "get", canaryPod, "-n", ns, "-o", "jsonpath={.metadata.labels.role}"); err != nil || out != "stable" {
		t.Errorf("the canary's own pod %s: role %q (%v), want it relabelled stable in place", canaryPod, out, err)
	}
}

// expectRoles waits until the running pods, counted by image, role label and
// serving annotation, are exactly want ("image:role:serving=count ...").
func (c *cluster) expectRoles(t *testing.T, ns, want string) {
	t.Helper()
	c.expectPodsBy(t, ns, want, ".metadata.labels.role", `.metadata.annotations.vireo\.dev/serving`)
}

// expectPodsBy waits until the live pods, counted by colour and the given
// fields (colour:field:field), are want: "blue:stable=1 green:canary=1".
func (c *cluster) expectPodsBy(t *testing.T, ns, want string, fields ...string) {
	t.Helper()
	var cols strings.Builder
	for _, f := range fields {
		cols.WriteString("{" + f + "}|")
	}
	eventually(t, 60*time.Second, "pods "+want, func() error {
		out := c.must(t, "", "get", "pods", "-n", ns, "-o",
			`jsonpath={range .items[*]}{.spec.containers[0].image}|`+cols.String()+`{.metadata.deletionTimestamp}{"\n"}{end}`)
		count := map[string]int{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Split(line, "|")
			if len(f) != len(fields)+2 || f[len(f)-1] != "" {
				continue // terminating
			}
			count[strings.TrimPrefix(strings.Join(f[:len(f)-1], ":"), "argoproj/rollouts-demo:")]++
		}
		var got []string
		for k, n := range count {
			got = append(got, fmt.Sprintf("%s=%d", k, n))
		}
		sort.Strings(got)
		if strings.Join(got, " ") != want {
			return fmt.Errorf("pods %s", strings.Join(got, " "))
		}
		return nil
	})
}
