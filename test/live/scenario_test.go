package live

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// router is one way of splitting traffic in the live stack.
type router struct {
	name     string
	manifest string         // its objects, in hack/live/manifests
	routing  map[string]any // the Rollout's trafficRouting
}

var routers = []router{
	{name: "traefik", manifest: "traefik.yaml",
		routing: map[string]any{"traefik": map[string]any{"weightedTraefikServiceName": "canary-demo"}}},
	{name: "gatewayapi", manifest: "gateway.yaml",
		routing: map[string]any{"plugins": map[string]any{"argoproj-labs/gatewayAPI": map[string]any{"httpRoute": "canary-demo"}}}},
}

// timing shortens or keeps the manifests' durations.
type timing struct {
	pause        string // every pause step ("" keeps the manifest's)
	interval     string // the analysis's interval ("" keeps it)
	window       string // the PromQL rate window ("" keeps it)
	failureLimit int    // 0 keeps it
	// scaleDownDelay is the Rollout's scaleDownDelaySeconds (nil: the default).
	scaleDownDelay *int
	// settle is how long requests are watched after the abort.
	settle time.Duration
	// analysis is the Rollout's analysis template: "" keeps success-rate
	// (the seed's threshold analysis), "judge" swaps in judge.yaml.
	analysis string
	// onAnalysisFailure sets the Rollout's vireo.dev/on-analysis-failure.
	onAnalysisFailure string
}

// stepShare is the canary's share of real requests at one weight.
type stepShare struct {
	weight   int32
	requests int
	canary   int
}

func (s stepShare) percent() float64 {
	if s.requests == 0 {
		return 0
	}
	return 100 * float64(s.canary) / float64(s.requests)
}

// result is what one scenario measured.
type result struct {
	router string
	// The healthy promotion, blue to green.
	promotion       []answer
	promotionFailed int
	steps           []stepShare
	promotionTook   time.Duration
	// The bad canary, green to yellow with 50% errors.
	badFailed     int           // failed requests before the rollback
	rollbackAfter time.Duration // from the first failed request to weight 0 in the proxy
	afterAbort    int           // requests yellow answered after the abort was in force
	afterRequests int           // requests sent after the abort, while watched
	// abortWritten is when the rollout's status first said aborted with
	// weight 0; proxyLag how much later Traefik served weight 0.
	abortWritten time.Time
	proxyLag     time.Duration
	afterWrite   int // requests yellow answered after the status write
	// began and ended bound the scenario, for the notifications it sent.
	began, ended time.Time
}

// weightEvent is a change of the rollout's canary weight, as its status told.
type weightEvent struct {
	at       time.Time
	weight   int32
	verified bool
}

// rangeWindow is a PromQL range, as in rate(x[15s]).
var rangeWindow = regexp.MustCompile(`\[[0-9]+[smh]\]`)

// runScenario plays seed 000's story through the router: a healthy promotion,
// then a canary failing half its requests that the analysis rolls back.
func runScenario(t *testing.T, s *stack, r router, tm timing) result {
	ctx := context.Background()
	res := result{router: r.name, began: time.Now()}
	s.reset(t)
	s.applyManifests(t, r, tm)
	s.watchWeights(t, 60*time.Second, "canary-demo Healthy on blue", func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy
	})
	s.waitServing(t, "blue")

	// A healthy promotion: blue to green, every step, the final switch and
	// the old pods' scale-down.
	start := time.Now()
	s.vireo(t, "set", "image", "canary-demo", "canary-demo=vireo-demo:green")
	events := s.watchWeights(t, 5*time.Minute, "the promotion to green and the old pods gone", func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == ro.Status.CurrentPodHash &&
			ro.Status.StableRS != "" && s.onlyPodsOf(ctx, t, ro.Status.StableRS)
	})
	time.Sleep(time.Second) // requests in flight through the last change
	end := time.Now()
	res.promotionTook = end.Sub(start)
	time.Sleep(300 * time.Millisecond) // the load log is flushed every 100ms
	load := s.load(t, start, end)
	res.promotion = load
	res.promotionFailed = count(load, answer.failed)
	for i, e := range events {
		if !e.verified || e.weight == 0 {
			continue
		}
		to := end
		if i+1 < len(events) {
			to = events[i+1].at
		}
		// Traefik applies a weight within about 0.1s of its write.
		in := within(load, e.at.Add(300*time.Millisecond), to)
		if len(in) == 0 {
			continue // a passing weight, such as 100 for a moment at the switch
		}
		res.steps = append(res.steps, stepShare{weight: e.weight, requests: len(in),
			canary: count(in, func(a answer) bool { return a.color == "green" })})
	}

	// A bad canary: yellow fails half its requests, as with seed 000's slider.
	s.setFaults(t, "yellow", 50)
	proxy := watchProxy(s.traefikURL)
	bad := time.Now()
	s.vireo(t, "set", "image", "canary-demo", "canary-demo=vireo-demo:yellow")
	events = s.watchWeights(t, 5*time.Minute, "the bad canary aborted with weight 0", func(ro *v1alpha1.Rollout) bool {
		w := ro.Status.Canary.Weights
		return ro.Status.Abort && w != nil && w.Canary.Weight == 0 && w.Verified != nil && *w.Verified
	})
	res.abortWritten = events[len(events)-1].at
	time.Sleep(tm.settle)
	end = time.Now()
	// The abort is in force once the proxy serves weight 0 to the canary:
	// Vireo writes the route first, Traefik applies it a moment later.
	seen := proxy.Stop()
	aborted, ok := firstAt(seen, bad, 0)
	for i := range seen {
		if seen[i].weight > 0 && seen[i].at.After(bad) {
			aborted, ok = firstAt(seen[i:], seen[i].at, 0)
			break
		}
	}
	if !ok {
		t.Fatalf("Traefik never served weight 0 to the canary after the abort (weights seen: %v)", seen)
	}
	res.proxyLag = aborted.Sub(res.abortWritten)
	time.Sleep(300 * time.Millisecond)
	load = s.load(t, bad, end)
	before := within(load, bad, aborted)
	res.badFailed = count(before, answer.failed)
	for _, a := range before {
		if a.failed() {
			res.rollbackAfter = aborted.Sub(a.sent)
			break
		}
	}
	after := within(load, aborted, end)
	res.afterRequests = len(after)
	res.afterAbort = count(after, func(a answer) bool { return a.color == "yellow" })
	res.afterWrite = count(within(load, res.abortWritten, end), func(a answer) bool { return a.color == "yellow" })
	res.ended = time.Now()
	return res
}

// reset removes what an earlier scenario left: the rollout and its pods, the
// route objects of every router, the analysis runs and injected faults.
func (s *stack) reset(t *testing.T) {
	t.Helper()
	// A Flagger Canary of an earlier scenario owns Services and a route of
	// the same names: it goes first, with its Deployments.
	s.kubectl(t, "", "delete", "canary.flagger.app", "canary-demo", "--ignore-not-found", "--wait=true")
	s.kubectl(t, "", "delete", "deployment", "canary-demo", "canary-demo-primary", "--ignore-not-found", "--wait=true")
	s.kubectl(t, "", "delete", "service", "canary-demo-primary", "--ignore-not-found")
	s.kubectl(t, "", "delete", "rollout", "canary-demo", "--ignore-not-found", "--wait=true")
	s.kubectl(t, "", "delete", "analysisruns", "--all", "--ignore-not-found")
	s.kubectl(t, "", "delete", "ingressroute.traefik.io,traefikservice.traefik.io,httproute.gateway.networking.k8s.io",
		"canary-demo", "--ignore-not-found")
	s.kubectl(t, "", "delete", "replicasets", "-l", "app=canary-demo", "--ignore-not-found", "--wait=true")
	s.kubectl(t, "", "wait", "--for=delete", "pod", "-l", "app=canary-demo", "--timeout=60s")
	files, _ := filepath.Glob(filepath.Join(s.dir, "faults", "*.json"))
	for _, f := range files {
		os.Remove(f)
	}
}

// applyManifests applies hack/live/manifests for the router, with the
// timing's changes.
func (s *stack) applyManifests(t *testing.T, r router, tm timing) {
	t.Helper()
	var docs []map[string]any
	analysis := "success-rate"
	if tm.analysis != "" {
		analysis = tm.analysis
	}
	for _, name := range []string{"notifications.yaml", "services.yaml", r.manifest, analysis + ".yaml", "rollout.yaml"} {
		data, err := os.ReadFile(filepath.Join(s.root, "hack", "live", "manifests", name))
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range strings.Split(string(data), "\n---\n") {
			var obj map[string]any
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if obj != nil {
				docs = append(docs, obj)
			}
		}
	}
	for _, obj := range docs {
		u := &unstructured.Unstructured{Object: obj}
		switch u.GetKind() {
		case "AnalysisTemplate":
			if u.GetName() != "success-rate" {
				break
			}
			metrics, _, _ := unstructured.NestedSlice(obj, "spec", "metrics")
			m := metrics[0].(map[string]any)
			if tm.interval != "" {
				m["interval"] = tm.interval
			}
			if tm.failureLimit != 0 {
				m["failureLimit"] = int64(tm.failureLimit)
			}
			if tm.window != "" {
				q, _, _ := unstructured.NestedString(m, "provider", "prometheus", "query")
				if !rangeWindow.MatchString(q) {
					t.Fatalf("success-rate.yaml: no [DURATION] range in the query to shorten: %s", q)
				}
				unstructured.SetNestedField(m, rangeWindow.ReplaceAllString(q, "["+tm.window+"]"), "provider", "prometheus", "query")
			}
			unstructured.SetNestedSlice(obj, metrics, "spec", "metrics")
		case "Rollout":
			unstructured.SetNestedField(obj, r.routing, "spec", "strategy", "canary", "trafficRouting")
			if tm.onAnalysisFailure != "" {
				unstructured.SetNestedField(obj, tm.onAnalysisFailure, "metadata", "annotations", "vireo.dev/on-analysis-failure")
			}
			if tm.analysis != "" && tm.analysis != "success-rate" {
				unstructured.SetNestedSlice(obj, []any{map[string]any{"templateName": tm.analysis}}, "spec", "strategy", "canary", "analysis", "templates")
				unstructured.RemoveNestedField(obj, "spec", "strategy", "canary", "analysis", "args")
			}
			if tm.scaleDownDelay != nil {
				unstructured.SetNestedField(obj, int64(*tm.scaleDownDelay), "spec", "strategy", "canary", "scaleDownDelaySeconds")
			}
			if tm.pause != "" {
				steps, _, _ := unstructured.NestedSlice(obj, "spec", "strategy", "canary", "steps")
				for _, st := range steps {
					if p, ok := st.(map[string]any)["pause"].(map[string]any); ok {
						p["duration"] = tm.pause
					}
				}
				unstructured.SetNestedSlice(obj, steps, "spec", "strategy", "canary", "steps")
			}
		}
		data, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		s.kubectl(t, string(data), "apply", "-f", "-")
	}
}

// load returns the load generator's answers to requests sent in [from, to).
func (s *stack) load(t *testing.T, from, to time.Time) []answer {
	t.Helper()
	list, err := readLoad(filepath.Join(s.dir, "load.log"), from, to)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// vireo runs kubectl-vireo against the live stack.
func (s *stack) vireo(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(s.root, "bin", "kubectl-vireo"), append([]string{"--kubeconfig", s.kubeconfig}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl vireo %v: %v\n%s", args, err, out)
	}
}

// setFaults sets a version's error rate through the demo app's endpoint, as
// the page's slider does, through Traefik.
func (s *stack) setFaults(t *testing.T, color string, errorPercent float64) {
	t.Helper()
	resp, err := http.Post(fmt.Sprintf("%s/config?color=%s&error=%g", s.webURL, color, errorPercent), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("setting %s's faults: %s", color, resp.Status)
	}
}

func (s *stack) rollout(t *testing.T) *v1alpha1.Rollout {
	t.Helper()
	var ro v1alpha1.Rollout
	if err := s.client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "canary-demo"}, &ro); err != nil {
		t.Fatal(err)
	}
	return &ro
}

// watchWeights polls the rollout every 20ms until done holds, recording
// each change of the canary's weight and of its verification.
func (s *stack) watchWeights(t *testing.T, limit time.Duration, what string, done func(*v1alpha1.Rollout) bool) []weightEvent {
	t.Helper()
	var events []weightEvent
	deadline := time.Now().Add(limit)
	for {
		ro := s.rollout(t)
		now := time.Now()
		if w := ro.Status.Canary.Weights; w != nil {
			e := weightEvent{at: now, weight: w.Canary.Weight, verified: w.Verified != nil && *w.Verified}
			if n := len(events); n == 0 || events[n-1].weight != e.weight || events[n-1].verified != e.verified {
				events = append(events, e)
			}
		}
		if ro.Generation == observed(ro) && done(ro) {
			if len(events) == 0 || !events[len(events)-1].at.Equal(now) {
				events = append(events, weightEvent{at: now, weight: -1})
			}
			return events
		}
		if now.After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: phase %s, message %q", limit, what, ro.Status.Phase, ro.Status.Message)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func observed(ro *v1alpha1.Rollout) int64 {
	var g int64
	fmt.Sscan(ro.Status.ObservedGeneration, &g)
	return g
}

// onlyPodsOf tells whether every ReplicaSet of the rollout but the one with
// this hash is scaled to zero and its pods are gone.
func (s *stack) onlyPodsOf(ctx context.Context, t *testing.T, hash string) bool {
	var sets appsv1.ReplicaSetList
	if err := s.client.List(ctx, &sets, client.InNamespace("default"), client.MatchingLabels{"app": "canary-demo"}); err != nil {
		t.Fatal(err)
	}
	for _, rs := range sets.Items {
		if rs.Labels["rollouts-pod-template-hash"] != hash && (rs.Spec.Replicas == nil || *rs.Spec.Replicas > 0 || rs.Status.Replicas > 0) {
			return false
		}
	}
	var pods corev1.PodList
	if err := s.client.List(ctx, &pods, client.InNamespace("default"), client.MatchingLabels{"app": "canary-demo"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Labels["rollouts-pod-template-hash"] != hash {
			return false
		}
	}
	return true
}

// waitServing waits until a full second of the load generator's requests
// was answered by this colour, without a failure.
func (s *stack) waitServing(t *testing.T, color string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		to := time.Now().Add(-200 * time.Millisecond)
		load := s.load(t, to.Add(-time.Second), to)
		if len(load) > 0 && count(load, func(a answer) bool { return !a.failed() && a.color == color }) == len(load) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the route never served only %s: last second %d requests, %d failed", color, len(load), count(load, answer.failed))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
