package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/vireo-dev/vireo/internal/cli"
)

func run(args ...string) (code int, out, errOut string) {
	var o, e bytes.Buffer
	code = cli.Main(context.Background(), args, genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: &o, ErrOut: &e})
	return code, o.String(), e.String()
}

func TestVersionCommand(t *testing.T) {
	code, out, _ := run("version")
	if code != 0 || !strings.HasPrefix(out, "kubectl-vireo ") {
		t.Errorf("version: exit %d, printed %q", code, out)
	}
}

func TestUnknownCommandFails(t *testing.T) {
	code, _, errOut := run("promot")
	if code == 0 || !strings.Contains(errOut, `unknown command "promot"`) {
		t.Errorf("unknown command: exit %d, %q", code, errOut)
	}
}

func TestMissingNameFails(t *testing.T) {
	code, _, errOut := run("promote")
	if code == 0 || !strings.Contains(errOut, "the name of the rollout is required") {
		t.Errorf("promote without a name: exit %d, %q", code, errOut)
	}
}

func TestLint(t *testing.T) {
	code, out, errOut := run("lint", "-f", "../../internal/lint/testdata/several-errors.yaml")
	if code != 1 || !strings.Contains(errOut, "4 problems") ||
		!strings.Contains(out, "several-errors.yaml:30: Rollout/rollouts-demo: spec.strategy.canary.stepz: unknown field") {
		t.Errorf("lint: exit %d\n%s\n%s", code, out, errOut)
	}
	code, _, errOut = run("lint", "-f", "nope.yaml")
	if code != 1 || !strings.Contains(errOut, "reading nope.yaml") {
		t.Errorf("lint of a missing file: exit %d %q", code, errOut)
	}
	code, out, _ = run("lint", "-f", "../../test/e2e/testdata/seed001/canary-rollout.yaml")
	if code != 0 || !strings.Contains(out, "no problems found") {
		t.Errorf("lint of seed 001's rollout: exit %d %q", code, out)
	}
}

func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		if code, out, errOut := run("completion", shell); code != 0 || !strings.Contains(out, "kubectl-vireo") {
			t.Errorf("completion %s: exit %d %q", shell, code, errOut)
		}
	}
}
