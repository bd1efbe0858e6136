package lint

import (
	"os"
	"strings"
	"testing"
)

// A file with several mistakes: every one is reported, at its line, with
// its field path, schema errors as the API server gives them and rule
// errors as an InvalidSpec would.
func TestSeveralErrors(t *testing.T) {
	data, err := os.ReadFile("testdata/several-errors.yaml")
	if err != nil {
		t.Fatal(err)
	}
	problems, err := File(data)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.String())
	}
	want := []string{
		`line 15: Rollout/rollouts-demo: spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"`,
		`line 30: Rollout/rollouts-demo: spec.strategy.canary.stepz: unknown field`,
		`line 52: AnalysisTemplate/success-rate: spec.metrics[1].name: Duplicate value: "success-rate"`,
		`line 53: AnalysisTemplate/success-rate: spec.metrics[1].provider: Required value`,
	}
	joined := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("missing\n  %s\nin\n%s", w, joined)
		}
	}
}

// Once the schema accepts a Rollout, the controller's own rules apply.
func TestRolloutRules(t *testing.T) {
	data, err := os.ReadFile("testdata/several-errors.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fixed := strings.Replace(string(data), "replicas: five", "replicas: 5", 1)
	fixed = strings.Replace(fixed, "      stepz: []\n", "", 1)
	problems, err := File([]byte(fixed))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.String())
	}
	joined := strings.Join(got, "\n")
	for _, w := range []string{
		"line 31: Rollout/rollouts-demo: spec.strategy.canary.steps[0].setWeight: Invalid value: 120",
		"line 32: Rollout/rollouts-demo: spec.strategy.canary.steps[1].pause.duration: Invalid value",
		"line 33: Rollout/rollouts-demo: spec.strategy.canary.steps[2]",
		"spec.strategy.canary.stableService: Required value",
		"spec.strategy.canary.trafficRouting.nginx.stableIngress: Required value",
	} {
		if !strings.Contains(joined, w) {
			t.Errorf("missing\n  %s\nin\n%s", w, joined)
		}
	}
}

func TestCleanFileAndBadYAML(t *testing.T) {
	clean := `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: ok}
spec:
  replicas: 2
  selector: {matchLabels: {app: ok}}
  template:
    metadata: {labels: {app: ok}}
    spec: {containers: [{name: ok, image: "x:1"}]}
  strategy: {canary: {steps: [{setWeight: 50}, {pause: {}}]}}
`
	if problems, err := File([]byte(clean)); err != nil || len(problems) != 0 {
		t.Errorf("clean file: %v %v", problems, err)
	}
	if _, err := File([]byte("a: [b\n")); err == nil {
		t.Error("broken YAML accepted")
	}
}

// Flagger's Canary: the schema's errors, then the controller's rules, at
// their lines; seed 003's Canary is clean.
func TestCanary(t *testing.T) {
	bad := `apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
spec:
  provider: appmesh
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service:
    port: 9898
  analysis:
    interval: soon
    threshold: 5
    maxWeight: 150
    stepWeight: 10
    webhooks:
    - name: load-test
      url: ""
    stepz: 1
`
	problems, err := File([]byte(bad))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.String())
	}
	joined := strings.Join(got, "\n")
	for _, w := range []string{
		"line 18: Canary/podinfo: spec.analysis.stepz: unknown field",
		`line 11: Canary/podinfo: spec.analysis.interval: Invalid value: "soon"`,
	} {
		if !strings.Contains(joined, w) {
			t.Errorf("missing\n  %s\nin\n%s", w, joined)
		}
	}
	fixed := strings.NewReplacer("interval: soon", "interval: 1m", "    stepz: 1\n", "").Replace(bad)
	problems, err = File([]byte(fixed))
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, p := range problems {
		got = append(got, p.String())
	}
	joined = strings.Join(got, "\n")
	for _, w := range []string{
		`line 6: Canary/podinfo: spec.provider: Unsupported value: "appmesh"`,
		"line 13: Canary/podinfo: spec.analysis.maxWeight: Invalid value: 150",
		`line 17: Canary/podinfo: spec.analysis.webhooks[0].url: Invalid value: ""`,
	} {
		if !strings.Contains(joined, w) {
			t.Errorf("missing\n  %s\nin\n%s", w, joined)
		}
	}
	seed, err := os.ReadFile("../../test/e2e/testdata/seed003/canary.yaml")
	if err != nil {
		t.Fatal(err)
	}
	problems, err = File([]byte(strings.ReplaceAll(string(seed), "LOADTESTER", "http://flagger-loadtester.test/")))
	if err != nil || len(problems) != 0 {
		t.Errorf("seed 003's Canary: %v %v", problems, err)
	}
}
