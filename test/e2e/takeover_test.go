package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/vireo-dev/vireo/internal/testenv"
	"github.com/vireo-dev/vireo/pkg/actions"
)

// Taking over a live namespace from Argo Rollouts' own controller, and
// handing it back, on Argo's own CRDs: four rollouts mid-update (a basic canary paused at a
// step, an nginx-routed canary at weight 20, a blue-green paused with its
// preview up, a canary with a background AnalysisRun running) change
// controller, and nothing restarts. Argo's controller is built from the
// module proxy by hack/cluster/build argo-rollouts, in a module of its own.

// argoController is the path of Argo Rollouts' controller binary, or "" when
// it was not built.
func argoController(t *testing.T) string {
	t.Helper()
	path := filepath.Join(testenv.BinDir(), "argo-rollouts-controller")
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("VIREO_REQUIRE_CLUSTER") != "" {
			t.Fatalf("Argo Rollouts' controller is not built (hack/cluster/build argo-rollouts): %v", err)
		}
		t.Skip("Argo Rollouts' controller not built; run hack/cluster/build argo-rollouts")
	}
	return path
}

// startArgo runs Argo Rollouts' controller on one namespace until it is
// stopped or the test ends, and waits until it answers its health check.
func (c *cluster) startArgo(t *testing.T, ns string) *controllerProcess {
	t.Helper()
	bin := argoController(t)
	port := func() string { _, p, _ := strings.Cut(freeAddr(t), ":"); return p }
	healthz, metrics := port(), port()
	p := startProcess(t, "Argo Rollouts' controller", bin, "--kubeconfig", c.kubeconfig, "--namespaced", "--namespace", ns, "--leader-elect=false",
		"--healthzPort", healthz, "--metricsport", metrics, "--loglevel", "info")
	waitHTTPOK(t, "http://127.0.0.1:"+healthz+"/healthz", "Argo Rollouts' /healthz")
	return p
}

// useArgoCRDs replaces Vireo's CRDs with Argo Rollouts' own (the reference
// schemas, descriptions removed) for the test: a team that swaps
// controllers keeps its CRDs. Vireo's come back when the test ends.
func (c *cluster) useArgoCRDs(t *testing.T) {
	t.Helper()
	c.must(t, "", "replace", "-f", filepath.Join(testenv.RepoRoot(), "internal", "crdschema", "testdata", "reference", "argo-rollouts-crds"))
	c.must(t, "", "wait", "--for=condition=Established", "crd", "--all", "--timeout=30s")
	t.Cleanup(func() {
		if out, err := c.kubectl("", "replace", "-f", filepath.Join(testenv.RepoRoot(), "config", "crd", "bases")); err != nil {
			t.Errorf("restoring Vireo's CRDs: %v\n%s", err, out)
		}
	})
}

// takeoverManifests: a basic canary, a blue-green with a preview, and a
// canary with a background analysis that asks a web server forever; the
// routed canary is seed 001's.
func takeoverManifests(judgeURL string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: bg-active}
spec: {selector: {app: bg}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: bg-preview}
spec: {selector: {app: bg}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: basic}
spec:
  replicas: 4
  selector: {matchLabels: {app: basic}}
  template:
    metadata: {labels: {app: basic}}
    spec: {containers: [{name: app, image: "argoproj/rollouts-demo:blue"}]}
  strategy:
    canary:
      steps: [{setWeight: 25}, {pause: {}}]
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: bg}
spec:
  replicas: 2
  selector: {matchLabels: {app: bg}}
  template:
    metadata: {labels: {app: bg}}
    spec: {containers: [{name: app, image: "argoproj/rollouts-demo:blue"}]}
  strategy:
    blueGreen: {activeService: bg-active, previewService: bg-preview, autoPromotionEnabled: false}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: pass}
spec:
  metrics:
  - name: ok
    interval: 2s
    successCondition: result == true
    provider:
      web: {url: "%s/", jsonPath: "{$.ok}"}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: analyzed}
spec:
  replicas: 2
  selector: {matchLabels: {app: analyzed}}
  template:
    metadata: {labels: {app: analyzed}}
    spec: {containers: [{name: app, image: "argoproj/rollouts-demo:blue"}]}
  strategy:
    canary:
      analysis: {templates: [{templateName: pass}]}
      steps: [{setWeight: 50}, {pause: {}}]
`, judgeURL)
}

// takeoverRollouts are the rollouts, and the pause each waits at mid-update.
var takeoverRollouts = map[string]string{"basic": "CanaryPauseStep", "canary-demo": "CanaryPauseStep", "bg": "BlueGreenPause", "analyzed": "CanaryPauseStep"}

// liveState is what must not change when the controller does.
type liveState struct {
	replicaSets, pods string // name=uid, sorted
	steps             map[string]string
	run               string // the background AnalysisRun
}

func (c *cluster) liveState(t *testing.T, ns string) liveState {
	t.Helper()
	list := func(kind string) string {
		out := c.must(t, "", "get", kind, "-n", ns, "-o", `jsonpath={range .items[*]}{.metadata.name}={.metadata.uid}{"\n"}{end}`)
		lines := strings.Fields(out)
		slices.Sort(lines)
		return strings.Join(lines, " ")
	}
	s := liveState{replicaSets: list("replicasets"), pods: list("pods"), steps: map[string]string{}}
	for _, name := range slices.Sorted(maps.Keys(takeoverRollouts)) {
		s.steps[name] = c.jsonpath(t, ns, "rollout/"+name, ".status.currentStepIndex")
	}
	s.run = c.must(t, "", "get", "analysisruns", "-n", ns, "-o", `jsonpath={.items[*].metadata.name}`)
	return s
}

// runMeasurements is how many times the background run has measured.
func (c *cluster) runMeasurements(t *testing.T, ns, run string) int {
	n, _ := strconv.Atoi(c.jsonpath(t, ns, "analysisrun/"+run, ".status.metricResults[0].count"))
	return n
}

// bringMidUpdate creates the rollouts under the controller running, updates
// each to green and waits until each waits at its pause, its analysis running.
func (c *cluster) bringMidUpdate(t *testing.T, ns, judgeURL string) {
	t.Helper()
	for _, f := range []string{"canary-demo-service.yaml", "canary-demo-ingress.yaml", "canary-rollout.yaml"} {
		c.must(t, "", "apply", "-n", ns, "-f", filepath.Join("testdata", "seed001", f))
	}
	c.must(t, takeoverManifests(judgeURL), "apply", "-n", ns, "-f", "-")
	for name := range takeoverRollouts {
		c.waitRolloutNamed(t, ns, name, "Healthy", "", 90*time.Second)
	}
	for name := range takeoverRollouts {
		c.setImage(t, ns, "rollout/"+name, "green")
	}
	for name, pause := range takeoverRollouts {
		c.waitRolloutNamed(t, ns, name, "Paused", pause, 90*time.Second)
	}
	eventually(t, 30*time.Second, "the background analysis measuring", func() error {
		runs := strings.Fields(c.must(t, "", "get", "analysisruns", "-n", ns, "-o", `jsonpath={.items[*].metadata.name}`))
		if len(runs) != 1 {
			return fmt.Errorf("analysis runs %v", runs)
		}
		if phase := c.jsonpath(t, ns, "analysisrun/"+runs[0], ".status.phase"); phase != "Running" || c.runMeasurements(t, ns, runs[0]) < 1 {
			return fmt.Errorf("run %s %s, %d measurements", runs[0], phase, c.runMeasurements(t, ns, runs[0]))
		}
		return nil
	})
	if w := c.jsonpath(t, ns, "ingress/canary-demo-canary-demo-canary", `.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary-weight`); w != "20" {
		t.Fatalf("the routed canary's weight is %q before the takeover, want 20", w)
	}
}

// expectTakenOver checks, after the controllers changed, that nothing was
// created or restarted, that each rollout waits where it did, that the
// analysis goes on, and that promote and abort work.
func (c *cluster) expectTakenOver(t *testing.T, ns string, before liveState) {
	t.Helper()
	wc := c.watchClient(t)
	// Long enough for several passes of the new controller over everything.
	time.Sleep(10 * time.Second)
	for name, pause := range takeoverRollouts {
		c.waitRolloutNamed(t, ns, name, "Paused", pause, 30*time.Second)
	}
	after := c.liveState(t, ns)
	created, restarted := diffNames(before.replicaSets, after.replicaSets), diffNames(before.pods, after.pods)
	t.Logf("after the takeover: %d ReplicaSets created or replaced, %d pods restarted", len(created), len(restarted))
	if len(created) != 0 {
		t.Errorf("ReplicaSets created or replaced: %v\nbefore %s\nafter  %s", created, before.replicaSets, after.replicaSets)
	}
	if len(restarted) != 0 {
		t.Errorf("pods restarted: %v\nbefore %s\nafter  %s", restarted, before.pods, after.pods)
	}
	if !maps.Equal(before.steps, after.steps) {
		t.Errorf("step indexes %v, were %v", after.steps, before.steps)
	}
	if after.run != before.run {
		t.Errorf("analysis runs %q, were %q", after.run, before.run)
	}
	n := c.runMeasurements(t, ns, before.run)
	eventually(t, 30*time.Second, "the background analysis measuring on", func() error {
		if phase := c.jsonpath(t, ns, "analysisrun/"+before.run, ".status.phase"); phase != "Running" {
			return fmt.Errorf("run %s", phase)
		}
		if m := c.runMeasurements(t, ns, before.run); m < n+2 {
			return fmt.Errorf("%d measurements, %d at the takeover", m, n)
		}
		return nil
	})
	if w := c.jsonpath(t, ns, "ingress/canary-demo-canary-demo-canary", `.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary-weight`); w != "20" {
		t.Errorf("the routed canary's weight is %q after the takeover, want 20", w)
	}

	// Promote, abort.
	ctx := context.Background()
	for _, name := range []string{"basic", "bg", "analyzed"} {
		if _, err := actions.Promote(ctx, wc, types.NamespacedName{Namespace: ns, Name: name}, actions.PromoteOptions{}); err != nil {
			t.Fatalf("promote %s: %v", name, err)
		}
	}
	if _, err := actions.Abort(ctx, wc, types.NamespacedName{Namespace: ns, Name: "canary-demo"}); err != nil {
		t.Fatalf("abort canary-demo: %v", err)
	}
	for _, name := range []string{"basic", "bg", "analyzed"} {
		c.waitRolloutNamed(t, ns, name, "Healthy", "", 90*time.Second)
	}
	eventually(t, 60*time.Second, "the aborted canary back to stable", func() error {
		w := c.jsonpath(t, ns, "ingress/canary-demo-canary-demo-canary", `.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary-weight`)
		phase := c.jsonpath(t, ns, "rollout/canary-demo", ".status.phase")
		if w != "0" || phase != "Degraded" {
			return fmt.Errorf("weight %q, phase %s", w, phase)
		}
		return nil
	})
	for _, name := range []string{"basic", "bg", "analyzed"} {
		if stable, current := c.jsonpath(t, ns, "rollout/"+name, ".status.stableRS"), c.jsonpath(t, ns, "rollout/"+name, ".status.currentPodHash"); stable != current {
			t.Errorf("%s promoted: stable %s, current %s", name, stable, current)
		}
	}
	if hash := c.jsonpath(t, ns, "rollout/bg", ".status.currentPodHash"); c.jsonpath(t, ns, "service/bg-active", ".spec.selector.rollouts-pod-template-hash") != hash {
		t.Errorf("bg-active does not select the promoted pods %s", hash)
	}
	eventually(t, 30*time.Second, "the background analysis ended", func() error {
		if phase := c.jsonpath(t, ns, "analysisrun/"+before.run, ".status.phase"); phase != "Successful" {
			return fmt.Errorf("run %s", phase)
		}
		return nil
	})
}

// diffNames lists the entries ("name=uid") of after that before lacks.
func diffNames(before, after string) []string {
	had := map[string]bool{}
	for _, f := range strings.Fields(before) {
		had[f] = true
	}
	var out []string
	for _, f := range strings.Fields(after) {
		if !had[f] {
			out = append(out, f)
		}
	}
	return out
}

func TestTakeoverFromArgoRollouts(t *testing.T) {
	c := requireCluster(t)
	argoController(t)
	c.installDefault(t)
	c.useArgoCRDs(t)
	ns := c.namespace(t, "takeover-from-argo")
	j := startJudge(t, true)
	argo := c.startArgo(t, ns)
	c.bringMidUpdate(t, ns, j.url)
	before := c.liveState(t, ns)
	if err := argo.stop(syscall.SIGTERM, 30*time.Second); err != nil {
		t.Fatalf("stopping Argo Rollouts: %v", err)
	}
	c.startController(t, "--namespace", ns)
	c.expectTakenOver(t, ns, before)
}

func TestHandoverToArgoRollouts(t *testing.T) {
	c := requireCluster(t)
	argoController(t)
	c.installDefault(t)
	c.useArgoCRDs(t)
	ns := c.namespace(t, "handover-to-argo")
	j := startJudge(t, true)
	vireo := c.startController(t, "--namespace", ns)
	c.bringMidUpdate(t, ns, j.url)
	before := c.liveState(t, ns)
	if err := vireo.stop(syscall.SIGTERM, 30*time.Second); err != nil {
		t.Fatalf("stopping Vireo: %v", err)
	}
	c.startArgo(t, ns)
	c.expectTakenOver(t, ns, before)
}
