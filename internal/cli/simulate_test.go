package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// runCLI runs the command line without a cluster.
func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = Main(context.Background(), args, genericiooptions.IOStreams{In: strings.NewReader(stdin), Out: &o, ErrOut: &e})
	return code, o.String(), e.String()
}

// Golden timelines of simulate: a routed canary with background analysis
// (passing, and failing with more replicas), a workloadRef canary with an
// analysis step and a manual gate, blue-green with promotion analyses.
func TestSimulateGolden(t *testing.T) {
	for name, args := range map[string][]string{
		"seed000-analysis":            {"-f", "testdata/simulate/seed000-analysis.yaml"},
		"seed000-analysis-fails":      {"-f", "testdata/simulate/seed000-analysis.yaml", "--analysis", "fail", "--replicas", "10"},
		"step-analysis":               {"-f", "testdata/simulate/step-analysis.yaml", "--promote-after", "2m"},
		"bluegreen-analysis":          {"-f", "testdata/simulate/bluegreen-analysis.yaml", "--ready-after", "0s", "--analysis-duration", "1m"},
		"canary-sample-and-bluegreen": {"-f", "-"},
		"seed003-canary":              {"-f", "testdata/simulate/seed003-canary.yaml"},
		"seed003-canary-fails":        {"-f", "testdata/simulate/seed003-canary.yaml", "--analysis", "fail"},
	} {
		t.Run(name, func(t *testing.T) {
			stdin := ""
			if name == "canary-sample-and-bluegreen" {
				stdin = readAll(t, "../../config/samples/canary-rollout.yaml") + "\n---\n" + readAll(t, "../../config/samples/bluegreen-rollout.yaml")
			}
			code, out, errOut := runCLI(t, stdin, append([]string{"simulate"}, args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			golden(t, filepath.Join("testdata", "simulate", name+".golden"), []byte(out))
		})
	}
}

func TestSimulateErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  []string
	}{
		{"no file", "", nil, []string{"give the manifest with -f"}},
		{"bad analysis flag", "", []string{"-f", "x.yaml", "--analysis", "maybe"}, []string{`--analysis "maybe"`, "pass or fail"}},
		{"negative replicas", "", []string{"-f", "x.yaml", "--replicas", "-1"}, []string{"--replicas -1"}},
		{"missing file", "", []string{"-f", "testdata/simulate/nope.yaml"}, []string{"testdata/simulate/nope.yaml", "no such file"}},
		{"invalid rollout", "", []string{"-f", "../../config/samples/invalid-rollout.yaml"},
			[]string{"invalid-rollout.yaml:23: Rollout/typo-demo: spec.strategy.canary.steps[0].setWeight", "2 problems"}},
		{"no rollout", "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n", []string{"-f", "-"}, []string{"- holds no Rollout or Canary"}},
		{"canary without its target", "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: web}\nspec:\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  service: {port: 80}\n  analysis: {interval: 1m, threshold: 2, stepWeight: 50}\n",
			[]string{"-f", "-"}, []string{`canary web targets Deployment "web", which the file does not hold`}},
		{"workloadRef without its Deployment", strings.Split(readAll(t, "testdata/simulate/step-analysis.yaml"), "---\n")[1],
			[]string{"-f", "-"}, []string{"rollout web", `spec.workloadRef names Deployment "web"`}},
		{"limit", "", []string{"-f", "testdata/simulate/seed000-analysis.yaml", "--limit", "2m"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.stdin, append([]string{"simulate"}, tc.args...)...)
			if tc.want == nil {
				// --limit cuts the update short, which is not an error.
				if code != 0 || !strings.Contains(out, "had not finished after 2m0s") {
					t.Fatalf("exit %d, out:\n%s\nerr: %s", code, out, errOut)
				}
				return
			}
			if code == 0 {
				t.Fatalf("exit 0, want an error; out:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}

func readAll(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// simulate --judge plays the judge on synthetic traffic: a canary as good
// as stable is (almost) never aborted, one twice as bad always is, with the
// time and the requests it takes; bad flags are named.
func TestSimulateJudge(t *testing.T) {
	code, out, errOut := runCLI(t, "", "simulate", "--judge", "--runs", "200")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"CANARY/STABLE", "1x (a false abort)", "2x"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 4 && f[0] == "1x" && f[4] != "0.0%" && f[4] != "0.5%":
			t.Errorf("equal rates aborted: %s", line)
		case len(f) > 1 && f[0] == "2x" && f[1] != "100.0%":
			t.Errorf("2x not always caught: %s", line)
		}
	}
	for args, flag := range map[string]string{"--weight 2": "--weight", "--alpha 0": "--alpha", "--runs 0": "--runs"} {
		code, _, errOut := runCLI(t, "", append([]string{"simulate", "--judge"}, strings.Fields(args)...)...)
		if code == 0 || !strings.Contains(errOut, flag) {
			t.Errorf("%s: exit %d, %q", args, code, errOut)
		}
	}
	if code, _, errOut := runCLI(t, "", "simulate", "--judge", "-f", "x.yaml"); code == 0 || !strings.Contains(errOut, "no -f") {
		t.Errorf("--judge with -f: exit %d, %q", code, errOut)
	}
}
