package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The job provider on the local control plane: a Job the kube-controller-
// manager runs, on pods kwok plays; the run follows the Job's outcome, and
// the Job belongs to the run.
func TestAnalysisRunJobProvider(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	ns := c.namespace(t, "jobmetric")
	run := func(name, script string) string {
		return fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata:
  name: %s
spec:
  args:
  - name: script
    value: %q
  metrics:
  - name: smoke
    provider:
      job:
        metadata:
          labels: {team: web}
        spec:
          backoffLimit: 0
          template:
            spec:
              restartPolicy: Never
              containers:
              - name: smoke
                image: busybox
                command: [sh, -c]
                args: ["{{args.script}}"]
`, name, script)
	}
	c.must(t, run("passes", "curl -f http://canary/healthz; exit 0")+"---\n"+run("fails", "curl -f http://canary/healthz; exit 1"), "apply", "-n", ns, "-f", "-")
	for name, want := range map[string]string{"passes": "Successful", "fails": "Failed"} {
		eventually(t, 90*time.Second, "run "+name+" "+want, func() error {
			if p := c.jsonpath(t, ns, "analysisrun/"+name, ".status.phase"); p != want {
				return fmt.Errorf("phase %q", p)
			}
			return nil
		})
	}
	jobs := c.must(t, "", "get", "jobs", "-n", ns, "-o", `jsonpath={range .items[*]}{.metadata.name}:{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}:{.metadata.labels.team}{" "}{end}`)
	for _, want := range []string{"passes-smoke-1:AnalysisRun/passes:web", "fails-smoke-1:AnalysisRun/fails:web"} {
		if !strings.Contains(jobs, want) {
			t.Errorf("jobs %q lack %s", jobs, want)
		}
	}
	if msg := c.jsonpath(t, ns, "analysisrun/fails", ".status.metricResults[0].measurements[0].message"); !strings.Contains(msg, "Job fails-smoke-1 failed") {
		t.Errorf("failed measurement message %q", msg)
	}
	// Deleting a run deletes its Jobs.
	c.must(t, "", "delete", "analysisrun/passes", "-n", ns, "--wait=true")
	eventually(t, 60*time.Second, "the run's Job garbage-collected", func() error {
		if out := c.must(t, "", "get", "jobs", "-n", ns, "-o", "name"); strings.Contains(out, "passes-smoke") {
			return fmt.Errorf("jobs %q", out)
		}
		return nil
	})
}

// A Job whose pod cannot pull its image gives an Inconclusive measurement at
// once, not after a timeout: a step analysis pauses the rollout
// (InconclusiveAnalysisRun), and so does a background analysis, whose run
// ends Inconclusive. kwok plays the kubelet that cannot pull.
func TestJobImagePullFailureIsInconclusive(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	ns := c.namespace(t, "imagepull")
	c.must(t, `
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: smoke}
spec:
  metrics:
  - name: smoke
    provider:
      job:
        spec:
          backoffLimit: 0
          template:
            metadata:
              annotations: {sim.vireo.dev/image-pull: fail}
            spec:
              restartPolicy: Never
              containers: [{name: smoke, image: "registry.invalid/smoke:missing", command: [sh, -c, "exit 0"]}]
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: step}
spec:
  replicas: 2
  selector: {matchLabels: {app: step}}
  template:
    metadata: {labels: {app: step}}
    spec: {containers: [{name: app, image: argoproj/rollouts-demo:blue}]}
  strategy:
    canary:
      steps: [{setWeight: 50}, {analysis: {templates: [{templateName: smoke}]}}, {pause: {}}]
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: background}
spec:
  replicas: 2
  selector: {matchLabels: {app: background}}
  template:
    metadata: {labels: {app: background}}
    spec: {containers: [{name: app, image: argoproj/rollouts-demo:blue}]}
  strategy:
    canary:
      analysis: {templates: [{templateName: smoke}]}
      steps: [{setWeight: 50}, {pause: {duration: 1h}}]
`, "apply", "-n", ns, "-f", "-")
	for _, name := range []string{"step", "background"} {
		c.waitRolloutNamed(t, ns, name, "Healthy", "", 60*time.Second)
		c.setImage(t, ns, "rollout/"+name, "green")
	}
	start := time.Now()
	for _, name := range []string{"step", "background"} {
		eventually(t, 60*time.Second, name+" paused for an Inconclusive run", func() error {
			phase := c.jsonpath(t, ns, "rollout/"+name, ".status.phase")
			reasons := c.jsonpath(t, ns, "rollout/"+name, ".status.pauseConditions[*].reason")
			if phase != "Paused" || !strings.Contains(reasons, "InconclusiveAnalysisRun") {
				return fmt.Errorf("phase %s, pause conditions %q", phase, reasons)
			}
			return nil
		})
	}
	t.Logf("both rollouts paused on an Inconclusive run %v after the update", time.Since(start).Round(100*time.Millisecond))
	runs := c.must(t, "", "get", "analysisruns", "-n", ns, "-o",
		`jsonpath={range .items[*]}{.metadata.name}={.status.phase}:{.status.metricResults[0].measurements[-1:].message}{"\n"}{end}`)
	lines := strings.Split(strings.TrimSpace(runs), "\n")
	if len(lines) != 2 {
		t.Fatalf("analysis runs: %q", runs)
	}
	for _, l := range lines {
		if !strings.Contains(l, "=Inconclusive:") || !strings.Contains(l, "ErrImagePull") {
			t.Errorf("run %q: want Inconclusive, its measurement naming ErrImagePull", l)
		}
	}
}
