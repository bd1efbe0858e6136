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
