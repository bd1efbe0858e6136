package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// vireo.dev/on-analysis-failure: pause, end to end with the judge: a canary
// failing twenty times as often as the stable (real Prometheus, real
// counts) fails its step analysis, and the Rollout waits at a
// FailedAnalysisRun pause instead of aborting; a person's promote goes on to
// Healthy on the new version.
func TestFailurePolicyPauseWithJudge(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	ns := c.namespace(t, "policy")
	v := startVersions(t, 0.2, 0.01)
	prom := startPrometheus(t, v.addr)
	q := func(version, filter string) string {
		return fmt.Sprintf(`sum(app_requests_total{version="%s"%s})`, version, filter)
	}
	c.must(t, fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: judge}
spec:
  metrics:
  - name: judge
    interval: 2s
    count: 60
    provider:
      plugin:
        vireo.dev/judge:
          prometheus: {address: %q}
          canary: {requests: '%s', errors: '%s'}
          stable: {requests: '%s', errors: '%s'}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: policy-demo
  annotations: {vireo.dev/on-analysis-failure: pause}
spec:
  replicas: 2
  selector: {matchLabels: {app: policy-demo}}
  template:
    metadata: {labels: {app: policy-demo}}
    spec: {containers: [{name: app, image: argoproj/rollouts-demo:blue}]}
  strategy:
    canary:
      steps:
      - setWeight: 50
      - analysis: {templates: [{templateName: judge}]}
      - setWeight: 100
`, prom, q("canary", ""), q("canary", `,code="500"`), q("stable", ""), q("stable", `,code="500"`)), "apply", "-n", ns, "-f", "-")
	c.waitRolloutNamed(t, ns, "policy-demo", "Healthy", "", 90*time.Second)
	c.setImage(t, ns, "rollout/policy-demo", "green")
	c.waitRolloutNamed(t, ns, "policy-demo", "Paused", "FailedAnalysisRun", 120*time.Second)
	if abort := c.jsonpath(t, ns, "rollout/policy-demo", ".status.abort"); abort == "true" {
		t.Fatal("the rollout aborted despite vireo.dev/on-analysis-failure: pause")
	}
	events := c.must(t, "", "get", "events", "-n", ns, "--field-selector", "involvedObject.name=policy-demo,reason=AnalysisRunFailed", "-o", "jsonpath={.items[*].message}")
	if !strings.Contains(events, "paused until promoted or aborted (vireo.dev/on-analysis-failure: pause)") {
		t.Errorf("AnalysisRunFailed events: %q", events)
	}
	t.Logf("judge failed, rollout paused: %s", events)
	if out, code := c.vireo(ns, "promote", "policy-demo"); code != 0 {
		t.Fatalf("promote: exit %d: %s", code, out)
	}
	eventually(t, 90*time.Second, "the promoted rollout Healthy on green", func() error {
		out, err := c.kubectl("", "get", "rollout/policy-demo", "-n", ns, "-o",
			`jsonpath={.status.phase}|{.spec.template.spec.containers[0].image}|{.status.stableRS}|{.status.currentPodHash}`)
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		f := strings.Split(out, "|")
		if len(f) != 4 || f[0] != "Healthy" || !strings.HasSuffix(f[1], ":green") || f[2] != f[3] {
			return fmt.Errorf("%s", out)
		}
		return nil
	})
}
