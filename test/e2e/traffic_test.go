package e2e

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/internal/testenv"
	"github.com/vireo-dev/vireo/pkg/actions"
)

// router is one kind of traffic router, as the routed tests drive it: the
// objects a user writes for a rollout called name, the rollout's
// trafficRouting, and where the canary weight can be read back.
type router struct {
	name string
	// objects are the router's own objects for the rollout (YAML).
	objects func(name string) string
	// routing is the rollout's spec.strategy.canary.trafficRouting (YAML, at
	// its indentation).
	routing func(name string) string
	// kind holds the weight; weightOf reads the canary's from one object of it,
	// ok false when the object is not the rollout's.
	kind     schema.GroupVersionKind
	weightOf func(u *unstructured.Unstructured, name string) (weight int64, ok bool)
}

// backendWeight finds the weight of the backend named service in a list of
// maps under path, by the key that names backends.
func backendWeight(u *unstructured.Unstructured, key, service string, path ...string) (int64, bool) {
	list, _, _ := unstructured.NestedSlice(u.Object, path...)
	for _, item := range list {
		if m, ok := item.(map[string]any); ok && m[key] == service {
			w, _ := m["weight"].(int64)
			return w, true
		}
	}
	return 0, false
}

var routersUnderTest = []router{
	{
		name: "nginx",
		objects: func(n string) string {
			return fmt.Sprintf(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: %[1]s}
spec:
  ingressClassName: nginx
  rules:
  - host: %[1]s.local
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: %[1]s-stable, port: {number: 80}}}}
`, n)
		},
		routing: func(n string) string { return "nginx: {stableIngress: " + n + "}" },
		kind:    schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"},
		weightOf: func(u *unstructured.Unstructured, n string) (int64, bool) {
			if u.GetName() != n+"-"+n+"-canary" {
				return 0, false
			}
			var w int64
			_, err := fmt.Sscan(u.GetAnnotations()["nginx.ingress.kubernetes.io/canary-weight"], &w)
			return w, err == nil
		},
	},
	{
		name: "gatewayapi",
		objects: func(n string) string {
			return fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: %[1]s}
spec:
  parentRefs: [{name: gateway}]
  rules:
  - backendRefs:
    - {name: %[1]s-stable, port: 80}
    - {name: %[1]s-canary, port: 80, weight: 0}
`, n)
		},
		routing: func(n string) string { return `plugins: {argoproj-labs/gatewayAPI: {httpRoute: ` + n + `}}` },
		kind:    schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"},
		weightOf: func(u *unstructured.Unstructured, n string) (int64, bool) {
			if u.GetName() != n {
				return 0, false
			}
			rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
			if len(rules) == 0 {
				return 0, false
			}
			return backendWeight(&unstructured.Unstructured{Object: rules[0].(map[string]any)}, "name", n+"-canary", "backendRefs")
		},
	},
	{
		name:    "smi",
		objects: func(string) string { return "" }, // Vireo creates the TrafficSplit
		routing: func(n string) string { return "smi: {rootService: " + n + "-stable}" },
		kind:    schema.GroupVersionKind{Group: "split.smi-spec.io", Version: "v1alpha3", Kind: "TrafficSplit"},
		weightOf: func(u *unstructured.Unstructured, n string) (int64, bool) {
			if u.GetName() != n {
				return 0, false
			}
			return backendWeight(u, "service", n+"-canary", "spec", "backends")
		},
	},
	{
		name: "istio",
		objects: func(n string) string {
			return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: %[1]s}
spec:
  hosts: [%[1]s]
  http:
  - name: primary
    route:
    - {destination: {host: %[1]s-stable}, weight: 100}
    - {destination: {host: %[1]s-canary}, weight: 0}
`, n)
		},
		routing: func(n string) string { return "istio: {virtualService: {name: " + n + ", routes: [primary]}}" },
		kind:    schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"},
		weightOf: func(u *unstructured.Unstructured, n string) (int64, bool) {
			if u.GetName() != n {
				return 0, false
			}
			http, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
			if len(http) == 0 {
				return 0, false
			}
			route, _ := http[0].(map[string]any)["route"].([]any)
			for _, d := range route {
				if dest, _ := d.(map[string]any)["destination"].(map[string]any); dest["host"] == n+"-canary" {
					w, _ := d.(map[string]any)["weight"].(int64)
					return w, true
				}
			}
			return 0, false
		},
	},
	{
		name: "traefik",
		objects: func(n string) string {
			return fmt.Sprintf(`apiVersion: traefik.io/v1alpha1
kind: TraefikService
metadata: {name: %[1]s}
spec:
  weighted:
    services:
    - {name: %[1]s-stable, port: 80}
    - {name: %[1]s-canary, port: 80}
`, n)
		},
		routing: func(n string) string { return "traefik: {weightedTraefikServiceName: " + n + "}" },
		kind:    schema.GroupVersionKind{Group: "traefik.io", Version: "v1alpha1", Kind: "TraefikService"},
		weightOf: func(u *unstructured.Unstructured, n string) (int64, bool) {
			if u.GetName() != n {
				return 0, false
			}
			return backendWeight(u, "name", n+"-canary", "spec", "weighted", "services")
		},
	},
	{
		name: "alb",
		objects: func(n string) string {
			return fmt.Sprintf(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: %[1]s}
spec:
  ingressClassName: alb
  rules:
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: %[1]s-stable, port: {name: use-annotation}}}}
`, n)
		},
		routing: func(n string) string { return "alb: {ingress: " + n + ", servicePort: 80}" },
		kind:    schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"},
		weightOf: func(u *unstructured.Unstructured, n string) (int64, bool) {
			action, ok := u.GetAnnotations()["alb.ingress.kubernetes.io/actions."+n+"-stable"]
			if u.GetName() != n || !ok {
				return 0, false
			}
			var a struct {
				ForwardConfig struct{ TargetGroups []map[string]any }
			}
			if json.Unmarshal([]byte(action), &a) != nil {
				return 0, false
			}
			for _, g := range a.ForwardConfig.TargetGroups {
				if g["serviceName"] == n+"-canary" {
					w, _ := g["weight"].(float64)
					return int64(w), true
				}
			}
			return 0, false
		},
	},
	{
		name: "ambassador",
		objects: func(n string) string {
			return fmt.Sprintf(`apiVersion: getambassador.io/v3alpha1
kind: Mapping
metadata: {name: %[1]s}
spec:
  hostname: "*"
  prefix: /%[1]s/
  service: %[1]s-stable:80
`, n)
		},
		routing: func(n string) string { return "ambassador: {mappings: [" + n + "]}" },
		kind:    schema.GroupVersionKind{Group: "getambassador.io", Version: "v3alpha1", Kind: "Mapping"},
		weightOf: func(u *unstructured.Unstructured, n string) (int64, bool) {
			if u.GetName() != n+"-canary" {
				return 0, false
			}
			w, _, _ := unstructured.NestedInt64(u.Object, "spec", "weight")
			return w, true
		},
	},
	{
		name: "apisix",
		objects: func(n string) string {
			return fmt.Sprintf(`apiVersion: apisix.apache.org/v2
kind: ApisixRoute
metadata: {name: %[1]s}
spec:
  http:
  - name: main
    match: {paths: ["/*"], hosts: [%[1]s.local]}
    backends:
    - {serviceName: %[1]s-stable, servicePort: 80}
    - {serviceName: %[1]s-canary, servicePort: 80}
`, n)
		},
		routing: func(n string) string { return "apisix: {route: {name: " + n + "}}" },
		kind:    schema.GroupVersionKind{Group: "apisix.apache.org", Version: "v2", Kind: "ApisixRoute"},
		weightOf: func(u *unstructured.Unstructured, n string) (int64, bool) {
			if u.GetName() != n {
				return 0, false
			}
			rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
			if len(rules) == 0 {
				return 0, false
			}
			return backendWeight(&unstructured.Unstructured{Object: rules[0].(map[string]any)}, "serviceName", n+"-canary", "backends")
		},
	},
}

// installRouterCRDs installs the CRDs of the routers under test (the Gateway
// API's, Traefik's, SMI's, Istio's, Emissary's and APISIX's), from their
// modules, into the suite's cluster.
func (c *cluster) installRouterCRDs(t *testing.T) {
	t.Helper()
	for _, dir := range []string{testenv.GatewayCRDs(t), testenv.TraefikCRDs(t, false), testenv.SMICRDs(t), testenv.IstioCRDs(t), testenv.AmbassadorCRDs(t), testenv.APISIXCRDs(t)} {
		c.must(t, "", "apply", "--server-side", "--force-conflicts", "-f", dir)
	}
	for _, crd := range []string{"httproutes.gateway.networking.k8s.io", "traefikservices.traefik.io", "trafficsplits.split.smi-spec.io", "virtualservices.networking.istio.io", "mappings.getambassador.io", "apisixroutes.apisix.apache.org"} {
		c.must(t, "", "wait", "--for=condition=Established", "--timeout=60s", "crd/"+crd)
	}
}

// routedCase is one rollout of the routed tests.
type routedCase struct {
	name       string
	router     router
	replicas   int
	weight     int
	dynamic    bool
	minPods    int // 0: unset
	abortDelay int // abortScaleDownDelaySeconds; 0 keeps the canary up
}

// manifests are the case's Services, router objects and Rollout (blue),
// with steps setWeight, then an indefinite pause.
func (rc routedCase) manifests() string {
	n := rc.name
	var b strings.Builder
	for _, role := range []string{"stable", "canary"} {
		fmt.Fprintf(&b, `apiVersion: v1
kind: Service
metadata: {name: %s-%s}
spec:
  selector: {app: %s}
  ports: [{port: 80, targetPort: 8080}]
---
`, n, role, n)
	}
	if o := rc.router.objects(n); o != "" {
		b.WriteString(o + "---\n")
	}
	extra := ""
	if rc.dynamic {
		extra += "      dynamicStableScale: true\n"
	}
	if rc.minPods > 0 {
		extra += fmt.Sprintf("      minPodsPerReplicaSet: %d\n", rc.minPods)
	}
	fmt.Fprintf(&b, `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: %[1]s}
spec:
  replicas: %[2]d
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      containers: [{name: demo, image: "argoproj/rollouts-demo:blue"}]
  strategy:
    canary:
      stableService: %[1]s-stable
      canaryService: %[1]s-canary
      abortScaleDownDelaySeconds: %[3]d
%[4]s      trafficRouting:
        %[5]s
      steps:
      - setWeight: %[6]d
      - pause: {}
`, n, rc.replicas, rc.abortDelay, extra, rc.router.routing(n), rc.weight)
	return b.String()
}

// routerWeights follows the canary weight every router object holds, by
// rollout name, with the time each value was first seen.
type routerWeights struct {
	mu   sync.Mutex
	seen map[string][]weightSeen
}

type weightSeen struct {
	weight int64
	at     time.Time
}

func watchRouterWeights(t *testing.T, wc client.WithWatch, ns string, cases []routedCase) *routerWeights {
	rw := &routerWeights{seen: map[string][]weightSeen{}}
	byKind := map[string][]routedCase{}
	for _, rc := range cases {
		byKind[rc.router.name] = append(byKind[rc.router.name], rc)
	}
	for _, r := range routersUnderTest {
		own := byKind[r.name]
		if len(own) == 0 {
			continue
		}
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(r.kind.GroupVersion().WithKind(r.kind.Kind + "List"))
		watchObjects(t, wc, list, ns, func(o runtime.Object) {
			u, ok := o.(*unstructured.Unstructured)
			if !ok {
				return
			}
			for _, rc := range own {
				if w, ok := r.weightOf(u, rc.name); ok {
					rw.record(rc.name, w)
				}
			}
		})
	}
	return rw
}

func (rw *routerWeights) record(name string, w int64) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	s := rw.seen[name]
	if len(s) == 0 || s[len(s)-1].weight != w {
		rw.seen[name] = append(s, weightSeen{w, time.Now()})
	}
}

// current is the weight last seen for a rollout; -1 when none yet.
func (rw *routerWeights) current(name string) int64 {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	s := rw.seen[name]
	if len(s) == 0 {
		return -1
	}
	return s[len(s)-1].weight
}

// zeroSince is when the weight last became 0 after t0; zero time if it has not.
func (rw *routerWeights) zeroSince(name string, t0 time.Time) time.Time {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	s := rw.seen[name]
	if len(s) == 0 || s[len(s)-1].weight != 0 || s[len(s)-1].at.Before(t0) {
		return time.Time{}
	}
	return s[len(s)-1].at
}

// routedCases draws the property test's rollouts: every router × dynamic
// stable scale × minPodsPerReplicaSet × abortScaleDownDelaySeconds, with
// random replica counts and weights.
func routedCases(seed int64) []routedCase {
	rnd := rand.New(rand.NewSource(seed))
	var out []routedCase
	for _, r := range routersUnderTest {
		for _, dynamic := range []bool{false, true} {
			for _, minPods := range []int{0, 2} {
				for _, delay := range []int{0, 2} {
					out = append(out, routedCase{
						name:     fmt.Sprintf("%s-d%t-m%d-a%d", r.name, dynamic, minPods, delay),
						router:   r,
						replicas: 1 + rnd.Intn(5),
						weight:   5 * (1 + rnd.Intn(19)),
						dynamic:  dynamic, minPods: minPods, abortDelay: delay,
					})
				}
			}
		}
	}
	return out
}

// TestRoutedAbortProperty: for every router and every combination of
// dynamicStableScale, minPodsPerReplicaSet and abortScaleDownDelaySeconds, a
// canary at its step's weight is aborted; afterwards no router holds a
// canary weight, the canary Service selects the stable pods, the status says
// so, verified, and the canary pods go (or stay, with
// abortScaleDownDelaySeconds 0).
func TestRoutedAbortProperty(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.installRouterCRDs(t)
	c.startController(t)
	ns := c.namespace(t, "routed")
	wc := c.watchClient(t)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	cases := routedCases(seed)
	weights := watchRouterWeights(t, wc, ns, cases)
	for _, rc := range cases {
		c.must(t, rc.manifests(), "apply", "-n", ns, "-f", "-")
	}
	var mu sync.Mutex
	var latencies []time.Duration
	t.Run("cases", func(t *testing.T) {
		for _, rc := range cases {
			t.Run(rc.name, func(t *testing.T) {
				t.Parallel()
				t.Logf("replicas %d, weight %d", rc.replicas, rc.weight)
				ro := "rollout/" + rc.name
				c.waitRolloutNamed(t, ns, rc.name, "Healthy", "", 90*time.Second)
				c.setImage(t, ns, ro, "green")
				c.waitRolloutNamed(t, ns, rc.name, "Paused", "CanaryPauseStep", 90*time.Second)
				if w := weights.current(rc.name); w != int64(rc.weight) {
					t.Errorf("paused at setWeight %d, the %s object holds %d", rc.weight, rc.router.name, w)
				}
				stable := c.jsonpath(t, ns, ro, ".status.stableRS")
				canary := c.jsonpath(t, ns, ro, ".status.currentPodHash")
				t0 := time.Now()
				if _, err := actions.Abort(context.Background(), wc, types.NamespacedName{Namespace: ns, Name: rc.name}); err != nil {
					t.Fatal(err)
				}
				eventually(t, 30*time.Second, "weight 0 after the abort", func() error {
					if weights.zeroSince(rc.name, t0).IsZero() {
						return fmt.Errorf("the %s object holds %d", rc.router.name, weights.current(rc.name))
					}
					return nil
				})
				mu.Lock()
				latencies = append(latencies, weights.zeroSince(rc.name, t0).Sub(t0))
				mu.Unlock()
				eventually(t, 30*time.Second, "the abort settled", func() error {
					sel := c.jsonpath(t, ns, "service/"+rc.name+"-canary", ".spec.selector.rollouts-pod-template-hash")
					verified := c.jsonpath(t, ns, ro, ".status.canary.weights.verified")
					w := c.jsonpath(t, ns, ro, ".status.canary.weights.canary.weight")
					if sel != stable || verified != "true" || (w != "0" && w != "") {
						return fmt.Errorf("canary Service selects %s (stable %s), status weight %q verified %q", sel, stable, w, verified)
					}
					return nil
				})
				wantCanary := "0"
				if rc.abortDelay == 0 {
					time.Sleep(3 * time.Second) // long enough for a wrong scale-down to show
					wantCanary = c.jsonpath(t, ns, "rs/"+rc.name+"-"+canary, ".spec.replicas")
					if wantCanary == "0" {
						t.Errorf("abortScaleDownDelaySeconds 0 scaled the canary down")
					}
				}
				eventually(t, 30*time.Second, "the canary's size after the abort", func() error {
					if n := c.jsonpath(t, ns, "rs/"+rc.name+"-"+canary, ".spec.replicas"); n != wantCanary {
						return fmt.Errorf("canary ReplicaSet at %s, want %s", n, wantCanary)
					}
					if n := c.jsonpath(t, ns, "rs/"+rc.name+"-"+stable, ".status.availableReplicas"); n != fmt.Sprint(rc.replicas) {
						return fmt.Errorf("stable ReplicaSet has %s available, want %d", n, rc.replicas)
					}
					return nil
				})
				if w := weights.current(rc.name); w != 0 {
					t.Errorf("the %s object holds %d after the abort", rc.router.name, w)
				}
			})
		}
	})
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	if len(latencies) > 0 {
		t.Logf("abort patch to router weight 0, %d rollouts at once: median %s, max %s", len(latencies),
			latencies[len(latencies)/2].Round(time.Millisecond), latencies[len(latencies)-1].Round(time.Millisecond))
	}
}

var benchAbort = flag.Int("bench-abort", 0, "run the abort benchmark with this many routed rollouts (make bench uses 40)")

// TestBenchAbortToWeightZero is the abort benchmark (make bench): N routed
// rollouts, spread over every router, paused at weight 50; each is aborted
// with the plugin's patch, first one at a time, then all at once, and the time
// from the patch to the router object holding weight 0, as a watch sees it, is
// measured. It prints a table and asserts nothing about time.
func TestBenchAbortToWeightZero(t *testing.T) {
	n := *benchAbort
	if n == 0 {
		t.Skip("benchmark: run with -args -bench-abort=N (make bench)")
	}
	c := requireCluster(t)
	c.installDefault(t)
	c.installRouterCRDs(t)
	c.startController(t, "--log-level", "info")
	ns := c.namespace(t, "bench-abort")
	wc := c.watchClient(t)
	var cases []routedCase
	for i := 0; i < n; i++ {
		r := routersUnderTest[i%len(routersUnderTest)]
		cases = append(cases, routedCase{name: fmt.Sprintf("%s-%03d", r.name, i), router: r, replicas: 2, weight: 50, abortDelay: 30})
	}
	weights := watchRouterWeights(t, wc, ns, cases)
	var manifests []string
	for _, rc := range cases {
		manifests = append(manifests, rc.manifests())
	}
	c.must(t, strings.Join(manifests, "---\n"), "apply", "-n", ns, "-f", "-")

	measure := func(batch []routedCase, parallel int) map[string][]time.Duration {
		for _, rc := range batch {
			c.waitRolloutNamed(t, ns, rc.name, "Healthy", "", 5*time.Minute)
		}
		for _, rc := range batch {
			c.setImage(t, ns, "rollout/"+rc.name, "green")
		}
		for _, rc := range batch {
			c.waitRolloutNamed(t, ns, rc.name, "Paused", "CanaryPauseStep", 5*time.Minute)
			eventually(t, 30*time.Second, rc.name+" at weight 50", func() error {
				if w := weights.current(rc.name); w != 50 {
					return fmt.Errorf("weight %d", w)
				}
				return nil
			})
		}
		starts := make([]time.Time, len(batch))
		var wg sync.WaitGroup
		sem := make(chan struct{}, parallel)
		for i, rc := range batch {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				starts[i] = time.Now()
				if _, err := actions.Abort(context.Background(), wc, types.NamespacedName{Namespace: ns, Name: rc.name}); err != nil {
					t.Error(err)
				}
				if parallel == 1 {
					eventually(t, 30*time.Second, rc.name+" at weight 0", func() error {
						if weights.zeroSince(rc.name, starts[i]).IsZero() {
							return fmt.Errorf("weight %d", weights.current(rc.name))
						}
						return nil
					})
				}
			}()
		}
		wg.Wait()
		out := map[string][]time.Duration{}
		for i, rc := range batch {
			eventually(t, 60*time.Second, rc.name+" at weight 0", func() error {
				if weights.zeroSince(rc.name, starts[i]).IsZero() {
					return fmt.Errorf("weight %d", weights.current(rc.name))
				}
				return nil
			})
			d := weights.zeroSince(rc.name, starts[i]).Sub(starts[i])
			out[rc.router.name] = append(out[rc.router.name], d)
			out["all"] = append(out["all"], d)
		}
		return out
	}
	one := measure(cases, 1)
	// Back to blue, then the same rollouts, all aborted at once.
	for _, rc := range cases {
		c.setImage(t, ns, "rollout/"+rc.name, "blue")
	}
	many := measure(cases, n)

	fmt.Printf("\nabort patch -> router object at weight 0 (%d routed rollouts, watch-observed)\n", n)
	fmt.Printf("%-12s %-14s %5s %8s %8s %8s\n", "router", "aborts", "n", "p50", "p99", "max")
	names := []string{}
	for _, r := range routersUnderTest {
		names = append(names, r.name)
	}
	for _, name := range append(names, "all") {
		for _, run := range []struct {
			label string
			d     map[string][]time.Duration
		}{{"one at a time", one}, {"all at once", many}} {
			d := append([]time.Duration(nil), run.d[name]...)
			sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
			if len(d) == 0 {
				continue
			}
			fmt.Printf("%-12s %-14s %5d %8s %8s %8s\n", name, run.label, len(d), pct(d, 50), pct(d, 99), d[len(d)-1].Round(time.Millisecond))
		}
	}
}
