package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// judge is a web metric's endpoint: it answers {"ok": true} or false as
// set, and records the hash each request asks about.
type judge struct {
	mu     sync.Mutex
	ok     bool
	hashes map[string]int
	url    string
}

func startJudge(t *testing.T, ok bool) *judge {
	j := &judge{ok: ok, hashes: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.mu.Lock()
		defer j.mu.Unlock()
		j.hashes[r.URL.Query().Get("hash")]++
		fmt.Fprintf(w, `{"ok": %t}`, j.ok)
	}))
	t.Cleanup(srv.Close)
	j.url = srv.URL
	return j
}

func (j *judge) asked(hash string) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.hashes[hash]
}

// judgeTemplate is an AnalysisTemplate that asks a judge about a hash, three
// times a second apart.
func judgeTemplate(name, url string) string {
	return fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: %s}
spec:
  args:
  - name: hash
  metrics:
  - name: ok
    count: 3
    interval: 1s
    successCondition: result == true
    provider:
      web: {url: "%s/?hash={{args.hash}}", jsonPath: "{$.ok}"}
`, name, url)
}

// experimentTemplates are an Experiment's two templates: blue and green,
// one pod each, green behind a Service.
const experimentTemplates = `  templates:
  - name: baseline
    selector: {matchLabels: {app: exp, variant: baseline}}
    template:
      metadata: {labels: {app: exp, variant: baseline}}
      spec: {containers: [{name: app, image: "argoproj/rollouts-demo:blue", ports: [{name: http, containerPort: 8080}]}]}
  - name: canary
    service: {}
    selector: {matchLabels: {app: exp, variant: canary}}
    template:
      metadata: {labels: {app: exp, variant: canary}}
      spec: {containers: [{name: app, image: "argoproj/rollouts-demo:green", ports: [{name: http, containerPort: 8080}]}]}
`

// A standalone Experiment on the local control plane: ReplicaSets and a
// Service per template, analyses told the templates' hashes, the duration,
// the scale-down, a failing analysis, terminate and retry through the CLI,
// and an invalid spec.
func TestExperimentStandalone(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	ns := c.namespace(t, "experiment")
	pass, fail := startJudge(t, true), startJudge(t, false)
	c.must(t, judgeTemplate("pass", pass.url)+"---\n"+judgeTemplate("fail", fail.url), "apply", "-n", ns, "-f", "-")

	phase := func(name string) string { return c.jsonpath(t, ns, "experiment/"+name, ".status.phase") }
	waitPhase := func(name, want string, timeout time.Duration) {
		t.Helper()
		eventually(t, timeout, "experiment "+name+" "+want, func() error {
			if p := phase(name); p != want {
				return fmt.Errorf("phase %q, message %q", p, c.jsonpath(t, ns, "experiment/"+name, ".status.message"))
			}
			return nil
		})
	}
	replicas := func(rs string) string { return c.jsonpath(t, ns, "rs/"+rs, ".spec.replicas") }

	// Ten seconds once both templates are available; an analysis told the
	// canary's hash, required for completion.
	c.must(t, `apiVersion: argoproj.io/v1alpha1
kind: Experiment
metadata: {name: timed}
spec:
  duration: 10s
  scaleDownDelaySeconds: 2
`+experimentTemplates+`  analyses:
  - name: canary-ok
    templateName: pass
    requiredForCompletion: true
    args: [{name: hash, value: "{{templates.canary.podTemplateHash}}"}]
`, "apply", "-n", ns, "-f", "-")
	waitPhase("timed", "Running", 90*time.Second)
	hash := c.jsonpath(t, ns, "experiment/timed", `.status.templateStatuses[?(@.name=="canary")].podTemplateHash`)
	if hash == "" || c.jsonpath(t, ns, "rs/timed-canary", `.metadata.labels.rollouts-pod-template-hash`) != hash {
		t.Fatalf("the canary's ReplicaSet does not carry the hash %q the status reports", hash)
	}
	if sel := c.jsonpath(t, ns, "service/timed-canary", ".spec.selector.rollouts-pod-template-hash"); sel != hash {
		t.Errorf("Service timed-canary selects hash %q, want %q", sel, hash)
	}
	if owner := c.jsonpath(t, ns, "rs/timed-baseline", ".metadata.ownerReferences[0].kind"); owner != "Experiment" {
		t.Errorf("ReplicaSet owned by %q", owner)
	}
	started := time.Now()
	waitPhase("timed", "Successful", 90*time.Second)
	if took := time.Since(started); took < 5*time.Second {
		t.Errorf("a 10s experiment ended %s after running", took)
	}
	if pass.asked(hash) == 0 {
		t.Errorf("the analysis never asked about the canary's hash %s (asked: %v)", hash, pass.hashes)
	}
	eventually(t, 60*time.Second, "the pods and the Service gone after the scale-down delay", func() error {
		if r := replicas("timed-canary") + "/" + replicas("timed-baseline"); r != "0/0" {
			return fmt.Errorf("replicas %s", r)
		}
		if out, _ := c.kubectl("", "get", "service/timed-canary", "-n", ns); !strings.Contains(out, "NotFound") {
			return fmt.Errorf("Service still there: %s", out)
		}
		return nil
	})

	// A failing analysis fails the experiment at once, whatever the duration.
	c.must(t, `apiVersion: argoproj.io/v1alpha1
kind: Experiment
metadata: {name: failing}
spec:
  duration: 1h
  scaleDownDelaySeconds: 0
`+experimentTemplates+`  analyses:
  - name: canary-ok
    templateName: fail
    args: [{name: hash, value: "{{templates.canary.podTemplateHash}}"}]
`, "apply", "-n", ns, "-f", "-")
	waitPhase("failing", "Failed", 120*time.Second)
	if msg := c.jsonpath(t, ns, "experiment/failing", ".status.message"); !strings.Contains(msg, "analysis canary-ok Failed") {
		t.Errorf("message %q does not name the failed analysis", msg)
	}
	eventually(t, 30*time.Second, "the failed experiment's pods gone", func() error {
		if r := replicas("failing-canary"); r != "0" {
			return fmt.Errorf("replicas %s", r)
		}
		return nil
	})

	// The CLI: get, list, retry (with the judge now passing), terminate.
	out, code := c.vireo(ns, "get", "experiment", "failing")
	if code != 0 || !strings.Contains(out, "Failed") || !strings.Contains(out, "canary-ok") || !strings.Contains(out, hashOf(c, t, ns, "failing")) {
		t.Errorf("get experiment: exit %d\n%s", code, out)
	}
	out, code = c.vireo(ns, "list", "experiments")
	if code != 0 || !strings.Contains(out, "timed") || !strings.Contains(out, "failing") {
		t.Errorf("list experiments: exit %d\n%s", code, out)
	}
	c.must(t, `{"spec":{"analyses":[{"name":"canary-ok","templateName":"pass","args":[{"name":"hash","value":"{{templates.canary.podTemplateHash}}"}]}]}}`,
		"patch", "experiment/failing", "-n", ns, "--type=merge", "--patch-file=/dev/stdin")
	if out, code := c.vireo(ns, "retry", "experiment", "failing"); code != 0 {
		t.Fatalf("retry experiment: exit %d\n%s", code, out)
	}
	waitPhase("failing", "Running", 90*time.Second)
	eventually(t, 60*time.Second, "the retry measuring in a new run", func() error {
		if run := c.jsonpath(t, ns, "experiment/failing", ".status.analysisRuns[0].analysisRun"); run != "failing-canary-ok.1" {
			return fmt.Errorf("analysisRun %q", run)
		}
		return nil
	})
	if out, code := c.vireo(ns, "terminate", "experiment", "failing"); code != 0 || !strings.Contains(out, "terminated") {
		t.Fatalf("terminate experiment: exit %d\n%s", code, out)
	}
	waitPhase("failing", "Successful", 60*time.Second)
	if msg := c.jsonpath(t, ns, "experiment/failing", ".status.message"); msg != "Experiment terminated" {
		t.Errorf("terminated experiment's message %q", msg)
	}
	if out, code := c.vireo(ns, "retry", "experiment", "nosuch"); code == 0 || !strings.Contains(out, `experiment "nosuch"`) {
		t.Errorf("retry of a missing experiment: exit %d\n%s", code, out)
	}

	// An invalid spec: nothing is created, the message names the field.
	c.must(t, `apiVersion: argoproj.io/v1alpha1
kind: Experiment
metadata: {name: invalid}
spec:
  templates:
  - name: a
    selector: {matchLabels: {app: other}}
    template:
      metadata: {labels: {app: exp}}
      spec: {containers: [{name: app, image: "argoproj/rollouts-demo:blue"}]}
  analyses:
  - {name: x, templateName: missing}
`, "apply", "-n", ns, "-f", "-")
	eventually(t, 30*time.Second, "the invalid experiment reported", func() error {
		msg := c.jsonpath(t, ns, "experiment/invalid", ".status.message")
		for _, want := range []string{"InvalidSpec", "spec.templates[0].selector", "spec.analyses[0].templateName", "missing"} {
			if !strings.Contains(msg, want) {
				return fmt.Errorf("message %q lacks %q", msg, want)
			}
		}
		return nil
	})
	if out, _ := c.kubectl("", "get", "rs/invalid-a", "-n", ns); !strings.Contains(out, "NotFound") {
		t.Errorf("an invalid experiment created its ReplicaSet: %s", out)
	}
}

func hashOf(c *cluster, t *testing.T, ns, ex string) string {
	return c.jsonpath(t, ns, "experiment/"+ex, `.status.templateStatuses[?(@.name=="canary")].podTemplateHash`)
}

// The canary experiment step on the local control plane: the rollout makes
// its Experiment from the stable and canary templates, waits for it, moves
// on when it passes, and aborts when its analysis fails.
func TestExperimentStep(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	ns := c.namespace(t, "experiment-step")
	judge := startJudge(t, true)
	c.must(t, judgeTemplate("compare", judge.url), "apply", "-n", ns, "-f", "-")
	c.must(t, `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: rollouts-demo}
spec:
  replicas: 4
  selector: {matchLabels: {app: rollouts-demo}}
  template:
    metadata: {labels: {app: rollouts-demo}}
    spec: {containers: [{name: rollouts-demo, image: "argoproj/rollouts-demo:blue", ports: [{name: http, containerPort: 8080}]}]}
  strategy:
    canary:
      steps:
      - setWeight: 25
      - experiment:
          duration: 5s
          scaleDownDelaySeconds: 1
          templates:
          - {name: baseline, specRef: stable}
          - {name: canary, specRef: canary}
          analyses:
          - name: compare
            templateName: compare
            args: [{name: hash, value: "{{templates.canary.podTemplateHash}}"}]
      - setWeight: 50
`, "apply", "-n", ns, "-f", "-")
	c.waitRollout(t, ns, "Healthy", "", 60*time.Second)
	ro := "rollout/rollouts-demo"

	c.setImage(t, ns, ro, "green")
	var exp string
	eventually(t, 60*time.Second, "the experiment step's Experiment", func() error {
		exp = c.jsonpath(t, ns, ro, ".status.canary.currentExperiment")
		if exp == "" {
			return fmt.Errorf("no currentExperiment; step %s", c.jsonpath(t, ns, ro, ".status.currentStepIndex"))
		}
		return nil
	})
	hash := c.jsonpath(t, ns, ro, ".status.currentPodHash")
	if want := "rollouts-demo-" + hash + "-2-1"; exp != want {
		t.Errorf("experiment %q, want %q (<rollout>-<hash>-<revision>-<step>)", exp, want)
	}
	if owner := c.jsonpath(t, ns, "experiment/"+exp, ".metadata.ownerReferences[0].kind"); owner != "Rollout" {
		t.Errorf("experiment owned by %q", owner)
	}
	eventually(t, 60*time.Second, "the experiment's pods: stable blue and canary green", func() error {
		b := c.jsonpath(t, ns, "rs/"+exp+"-baseline", ".spec.template.spec.containers[0].image")
		g := c.jsonpath(t, ns, "rs/"+exp+"-canary", ".spec.template.spec.containers[0].image")
		if !strings.HasSuffix(b, ":blue") || !strings.HasSuffix(g, ":green") {
			return fmt.Errorf("baseline %q canary %q", b, g)
		}
		return nil
	})
	c.waitRollout(t, ns, "Healthy", "", 120*time.Second)
	if p := c.jsonpath(t, ns, "experiment/"+exp, ".status.phase"); p != "Successful" {
		t.Errorf("the rollout went on with its experiment %s", p)
	}
	canaryHash := c.jsonpath(t, ns, "experiment/"+exp, `.status.templateStatuses[?(@.name=="canary")].podTemplateHash`)
	if judge.asked(canaryHash) == 0 {
		t.Errorf("the experiment's analysis never asked about its canary's hash %s", canaryHash)
	}
	events := c.must(t, "", "get", "events", "-n", ns, "--field-selector", "involvedObject.kind=Rollout", "-o", "jsonpath={.items[*].message}")
	if !strings.Contains(events, "Created experiment "+exp) || !strings.Contains(events, "(experiment passed)") {
		t.Errorf("events lack the experiment's creation or its step: %s", events)
	}

	// A failing experiment aborts the rollout; the experiment's pods go.
	judge.mu.Lock()
	judge.ok = false
	judge.mu.Unlock()
	c.setImage(t, ns, ro, "red")
	eventually(t, 120*time.Second, "the rollout aborted by its experiment", func() error {
		p, msg := c.jsonpath(t, ns, ro, ".status.phase"), c.jsonpath(t, ns, ro, ".status.message")
		if p != "Degraded" || !strings.Contains(msg, "RolloutAborted: Rollout aborted update to revision 3: experiment rollouts-demo-") ||
			!strings.Contains(msg, "Failed: analysis compare Failed") {
			return fmt.Errorf("phase %q message %q", p, msg)
		}
		return nil
	})
	c.expectPods(t, ns, map[string]int{"green": 4})
}

// A weighted experiment step through the Traefik router on the local control
// plane: while the experiment runs, the TraefikService gives each template's
// Service its share and the stable the rest; once it has passed, the
// experiment's entries are gone and the user's TraefikService is as written.
func TestExperimentStepWeightedTraefik(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.installRouterCRDs(t)
	c.startController(t)
	ns := c.namespace(t, "experiment-traefik")
	c.must(t, `apiVersion: v1
kind: Service
metadata: {name: demo-stable}
spec: {selector: {app: demo}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: demo-canary}
spec: {selector: {app: demo}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: traefik.io/v1alpha1
kind: TraefikService
metadata: {name: demo}
spec:
  weighted:
    services:
    - {name: demo-stable, port: 80}
    - {name: demo-canary, port: 80}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: demo}
spec:
  replicas: 4
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo}}
    spec: {containers: [{name: demo, image: "argoproj/rollouts-demo:blue", ports: [{name: http, containerPort: 8080}]}]}
  strategy:
    canary:
      canaryService: demo-canary
      stableService: demo-stable
      trafficRouting: {traefik: {weightedTraefikServiceName: demo}}
      steps:
      - setWeight: 20
      - experiment:
          duration: 8s
          scaleDownDelaySeconds: 5
          templates:
          - {name: baseline, specRef: stable, weight: 10}
          - {name: canary, specRef: canary, weight: 10}
      - setWeight: 50
`, "apply", "-n", ns, "-f", "-")
	c.waitRolloutNamed(t, ns, "demo", "Healthy", "", 60*time.Second)
	weights := func() string {
		return c.must(t, "", "get", "traefikservice.traefik.io/demo", "-n", ns, "-o",
			`jsonpath={range .spec.weighted.services[*]}{.name}={.weight}:{.port}{" "}{end}`)
	}
	c.setImage(t, ns, "rollout/demo", "green")
	var exp string
	eventually(t, 90*time.Second, "the experiment's Services in the TraefikService", func() error {
		exp = c.jsonpath(t, ns, "rollout/demo", ".status.canary.currentExperiment")
		got := weights()
		want := fmt.Sprintf("demo-stable=60:80 demo-canary=20:80 %[1]s-baseline=10:80 %[1]s-canary=10:80 ", exp)
		if exp == "" || got != want {
			return fmt.Errorf("experiment %q, TraefikService %q, want %q", exp, got, want)
		}
		return nil
	})
	if port := c.jsonpath(t, ns, "service/"+exp+"-canary", ".spec.ports[0].port"); port != "8080" {
		t.Errorf("the experiment's canary Service exposes %q, want the container's 8080", port)
	}
	c.waitRolloutNamed(t, ns, "demo", "Healthy", "", 120*time.Second)
	if got := weights(); got != "demo-stable=0:80 demo-canary=100:80 " && got != "demo-stable=100:80 demo-canary=0:80 " {
		t.Errorf("after the rollout the TraefikService is %q: the experiment's entries should be gone", got)
	}
	if a := c.jsonpath(t, ns, "traefikservice.traefik.io/demo", `.metadata.annotations.vireo\.dev/extra-services`); a != "" {
		t.Errorf("the extra-services annotation is left: %q", a)
	}
}
