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
