package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// The simulated kubelets behave like real ones where Vireo depends on it.
func TestKwokPodReadiness(t *testing.T) {
	c := requireCluster(t)
	ns := c.namespace(t, "kwok-ready")
	c.must(t, `
apiVersion: v1
kind: Pod
metadata: {name: plain}
spec: {containers: [{name: app, image: demo:blue}]}
---
apiVersion: v1
kind: Pod
metadata: {name: gated}
spec:
  readinessGates: [{conditionType: example.vireo.dev/gate}]
  containers: [{name: app, image: demo:blue}]
---
apiVersion: v1
kind: Pod
metadata:
  name: slow
  annotations: {sim.vireo.dev/ready-after: "4s"}
spec: {containers: [{name: app, image: demo:blue}]}
`, "apply", "-n", ns, "-f", "-")

	ready := func(pod string) string {
		return c.jsonpath(t, ns, "pod/"+pod, `.status.conditions[?(@.type=="Ready")].status`)
	}
	eventually(t, 30*time.Second, "plain pod Ready", func() error {
		if r := ready("plain"); r != "True" {
			return fmt.Errorf("Ready=%q", r)
		}
		return nil
	})

	// The delayed pod runs, with an IP, before it is ready.
	eventually(t, 30*time.Second, "slow pod Running", func() error {
		if p := c.jsonpath(t, ns, "pod/slow", ".status.phase"); p != "Running" {
			return fmt.Errorf("phase %q", p)
		}
		return nil
	})
	if r := ready("slow"); r != "False" {
		t.Errorf("pod with sim.vireo.dev/ready-after: 4s is Ready=%q as soon as it runs", r)
	}
	eventually(t, 30*time.Second, "slow pod Ready after its delay", func() error {
		if r := ready("slow"); r != "True" {
			return fmt.Errorf("Ready=%q", r)
		}
		return nil
	})

	// A readiness gate holds the pod unready, though its containers are ready,
	// until the gate's condition is True; and Ready follows the gate back down.
	eventually(t, 30*time.Second, "gated pod containers ready", func() error {
		if r := c.jsonpath(t, ns, "pod/gated", `.status.conditions[?(@.type=="ContainersReady")].status`); r != "True" {
			return fmt.Errorf("ContainersReady=%q", r)
		}
		return nil
	})
	if r := ready("gated"); r != "False" {
		t.Fatalf("pod with an unmet readiness gate is Ready=%q", r)
	}
	setGate := func(status string) {
		c.must(t, fmt.Sprintf(`{"status":{"conditions":[{"type":"example.vireo.dev/gate","status":%q}]}}`, status),
			"patch", "pod", "gated", "-n", ns, "--subresource=status", "--type=strategic", "--patch-file=/dev/stdin")
	}
	setGate("True")
	eventually(t, 30*time.Second, "gated pod Ready once its gate is True", func() error {
		if r := ready("gated"); r != "True" {
			return fmt.Errorf("Ready=%q", r)
		}
		return nil
	})
	setGate("False")
	eventually(t, 30*time.Second, "gated pod unready again when its gate turns False", func() error {
		if r := ready("gated"); r != "False" {
			return fmt.Errorf("Ready=%q", r)
		}
		return nil
	})
}

// Job pods run to completion: they succeed unless an annotation or the
// container's command asks them to fail.
func TestKwokJobs(t *testing.T) {
	c := requireCluster(t)
	ns := c.namespace(t, "kwok-jobs")
	c.must(t, `
apiVersion: batch/v1
kind: Job
metadata: {name: passes}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: check, image: busybox, command: [sh, -c, "echo ok"]}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: fails-by-args}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: check, image: busybox, command: [sh, -c], args: ["exit 1"]}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: fails-by-annotation}
spec:
  backoffLimit: 0
  template:
    metadata:
      annotations: {sim.vireo.dev/exit-code: "3"}
    spec:
      restartPolicy: Never
      containers: [{name: check, image: busybox}]
`, "apply", "-n", ns, "-f", "-")

	want := map[string]string{"passes": "Complete", "fails-by-args": "Failed", "fails-by-annotation": "Failed"}
	for job, cond := range want {
		eventually(t, 60*time.Second, "job "+job+" "+cond, func() error {
			got := c.jsonpath(t, ns, "job/"+job, `.status.conditions[?(@.status=="True")].type`)
			for _, other := range []string{"Complete", "Failed"} {
				if other != cond && contains(got, other) {
					t.Fatalf("job %s ended %s, want %s", job, other, cond)
				}
			}
			if !contains(got, cond) {
				return fmt.Errorf("conditions True: %q", got)
			}
			return nil
		})
	}
	code := c.jsonpath(t, ns, "pods", `.items[?(@.metadata.labels.job-name=="fails-by-annotation")].status.containerStatuses[0].state.terminated.exitCode`)
	if code != "3" {
		t.Errorf("exit code of the annotated job's pod = %q, want 3", code)
	}
}

func contains(list, word string) bool {
	return slices.Contains(strings.Fields(list), word)
}
