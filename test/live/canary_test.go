package live

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
)

// A Flagger Canary through Traefik, with real requests: a healthy release
// stepped 20, 40, 60, 80% and promoted without a failed request, then a
// canary failing half its requests, rolled back by the built-in success
// rate, with no request answered by it once the proxy serves it nothing.

func TestLiveCanaryTraefik(t *testing.T) { testLiveCanary(t, "traefik") }

func TestLiveCanaryGatewayAPI(t *testing.T) { testLiveCanary(t, "gatewayapi:v1") }

// canaryManifests are the Deployment, the route objects the user writes
// and the Canary. With traefik the user's IngressRoute sends to the
// TraefikService the Canary makes; with the Gateway API the Canary makes the
// HTTPRoute on the stack's Gateway. The traefik Canary uses the built-in
// request-success-rate (Flagger's query over Traefik's metrics); the
// Gateway API's built-in reads the app's own metrics, so that Canary asks
// Traefik's through a MetricTemplate.
func canaryManifests(provider string) string {
	var b strings.Builder
	b.WriteString(`apiVersion: apps/v1
kind: Deployment
metadata: {name: canary-demo}
spec:
  replicas: 1
  selector: {matchLabels: {app: canary-demo}}
  template:
    metadata: {labels: {app: canary-demo}}
    spec:
      containers:
      - name: canary-demo
        image: vireo-demo:blue
        ports: [{name: http, containerPort: 8080, protocol: TCP}]
        resources: {requests: {cpu: 5m, memory: 32Mi}}
---
`)
	metric := `    - name: request-success-rate
      thresholdRange: {min: 90}
      interval: 15s`
	switch provider {
	case "traefik":
		b.WriteString(`apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: canary-demo}
spec:
  entryPoints: [web]
  routes:
  - match: PathPrefix(` + "`/`" + `)
    kind: Rule
    services: [{name: canary-demo, kind: TraefikService}]
---
`)
	default:
		b.WriteString(`apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: traefik-success-rate}
spec:
  provider: {type: prometheus, address: "http://127.0.0.1:9090"}
  query: |
    sum(rate(traefik_service_requests_total{service=~"{{ namespace }}-{{ target }}-canary-.*",code!~"5.."}[{{ interval }}]))
    /
    sum(rate(traefik_service_requests_total{service=~"{{ namespace }}-{{ target }}-canary-.*"}[{{ interval }}])) * 100
---
`)
		metric = `    - name: success-rate
      templateRef: {name: traefik-success-rate}
      thresholdRange: {min: 90}
      interval: 15s`
	}
	fmt.Fprintf(&b, `apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: canary-demo}
spec:
  provider: %q
  metricsServer: http://127.0.0.1:9090
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: canary-demo}
  service:
    port: 80
    targetPort: http
    gatewayRefs: [{name: live}]
  analysis:
    interval: 10s
    threshold: 2
    stepWeight: 20
    maxWeight: 80
    metrics:
%s
`, provider, metric)
	return b.String()
}

func (s *stack) resetCanary(t *testing.T) {
	t.Helper()
	s.reset(t)
	s.kubectl(t, "", "delete", "service", "canary-demo", "canary-demo-canary", "--ignore-not-found")
	s.kubectl(t, "", "delete", "metrictemplate.flagger.app", "traefik-success-rate", "--ignore-not-found")
	s.kubectl(t, "", "wait", "--for=delete", "pod", "-l", "app in (canary-demo, canary-demo-primary)", "--timeout=60s")
}

func (s *stack) canary(t *testing.T) *v1beta1.Canary {
	t.Helper()
	out := s.kubectl(t, "", "get", "canary.flagger.app", "canary-demo", "-o", "yaml")
	var cn v1beta1.Canary
	if err := yaml.Unmarshal([]byte(out), &cn); err != nil {
		t.Fatal(err)
	}
	return &cn
}

// waitPhase polls the Canary until its phase is one of want.
func (s *stack) waitPhase(t *testing.T, limit time.Duration, want ...v1beta1.CanaryPhase) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		cn := s.canary(t)
		for _, w := range want {
			if cn.Status.Phase == w {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("canary-demo is %s after %s, want %v", cn.Status.Phase, limit, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// canaryProxyWeight is the weight Traefik serves canary-demo-canary with:
// 0 when the weighted service lists only the primary (the traefik
// provider drops the canary's entry at weight 0).
func canaryProxyWeight(client *http.Client, apiURL string) (int32, bool) {
	services, ok := weightedServices(client, apiURL)
	if !ok {
		return 0, false
	}
	for _, entries := range services {
		primary := false
		for _, e := range entries {
			primary = primary || strings.Contains(e.Name, "canary-demo-primary")
			if strings.Contains(e.Name, "canary-demo-canary") && e.Weight != nil {
				return *e.Weight, true
			}
		}
		if primary {
			return 0, true
		}
	}
	return 0, false
}

// canaryResult is what one Canary scenario measured.
type canaryResult struct {
	provider     string
	releaseTook  time.Duration
	requests     int
	failed       int
	shares       []stepShare // green's share of the requests at each proxy weight
	badFailed    int         // failed requests before the rollback
	badServed    time.Duration
	yellowAfter  int
	afterRequest int
}

func testLiveCanary(t *testing.T, provider string) {
	s := need(t)
	res := runCanaryScenario(t, s, provider)
	t.Logf("%s: healthy release in %.0fs, %d requests, %d failed", provider, res.releaseTook.Seconds(), res.requests, res.failed)
	var seen []int32
	for _, st := range res.shares {
		seen = append(seen, st.weight)
		t.Logf("  proxy weight %3d: green answered %5.1f%% of %d requests", st.weight, st.percent(), st.requests)
	}
	t.Logf("%s: bad canary back to weight 0 in the proxy %.1fs after it was first served; %d failed requests before, %d of %d after from yellow",
		provider, res.badServed.Seconds(), res.badFailed, res.yellowAfter, res.afterRequest)
	if res.failed > 0 {
		t.Errorf("%d requests failed during the healthy release", res.failed)
	}
	if fmt.Sprint(seen) != "[20 40 60 80]" {
		t.Errorf("the proxy served the canary at %v, want 20 40 60 80", seen)
	}
	if res.badFailed == 0 {
		t.Error("no request failed with the bad canary: the scenario measured nothing")
	}
	if res.yellowAfter > 0 {
		t.Errorf("%d requests reached the bad canary after its weight was 0 in the proxy", res.yellowAfter)
	}
	if res.afterRequest == 0 {
		t.Error("no requests measured after the rollback")
	}
}

// runCanaryScenario plays a healthy release (blue to green) and a bad one
// (yellow failing half its requests) of the Canary through the provider.
func runCanaryScenario(t *testing.T, s *stack, provider string) canaryResult {
	res := canaryResult{provider: provider}
	s.resetCanary(t)
	// The scenarios after this one start from a namespace without it.
	t.Cleanup(func() { s.resetCanary(t) })
	s.kubectl(t, canaryManifests(provider), "apply", "-f", "-")
	s.waitPhase(t, 90*time.Second, v1beta1.PhaseInitialized)
	s.waitServing(t, "blue")

	watch := watchProxyWith(canaryProxyWeight, s.traefikURL)
	start := time.Now()
	s.kubectl(t, "", "set", "image", "deployment/canary-demo", "canary-demo=vireo-demo:green")
	s.waitPhase(t, 4*time.Minute, v1beta1.PhaseSucceeded)
	time.Sleep(time.Second)
	end := time.Now()
	events := watch.Stop()
	time.Sleep(300 * time.Millisecond)
	load := s.load(t, start, end)
	res.releaseTook, res.requests, res.failed = end.Sub(start), len(load), count(load, answer.failed)
	for i, e := range events {
		if e.weight == 0 {
			continue
		}
		to := end
		if i+1 < len(events) {
			to = events[i+1].at
		}
		in := within(load, e.at.Add(300*time.Millisecond), to)
		res.shares = append(res.shares, stepShare{weight: e.weight, requests: len(in),
			canary: count(in, func(a answer) bool { return a.color == "green" })})
	}
	s.waitServing(t, "green")

	s.setFaults(t, "yellow", 50)
	watch = watchProxyWith(canaryProxyWeight, s.traefikURL)
	bad := time.Now()
	s.kubectl(t, "", "set", "image", "deployment/canary-demo", "canary-demo=vireo-demo:yellow")
	s.waitPhase(t, 3*time.Minute, v1beta1.PhaseFailed)
	time.Sleep(3 * time.Second)
	end = time.Now()
	events = watch.Stop()
	var up, zero time.Time
	for _, e := range events {
		if e.weight > 0 && up.IsZero() {
			up = e.at
		}
		if e.weight == 0 && !up.IsZero() && zero.IsZero() {
			zero = e.at
		}
	}
	if zero.IsZero() {
		t.Fatalf("the proxy never took the bad canary's weight back to 0: %v", events)
	}
	time.Sleep(300 * time.Millisecond)
	load = s.load(t, bad, end)
	before, after := within(load, bad, zero), within(load, zero, end)
	res.badServed = zero.Sub(up)
	res.badFailed = count(before, answer.failed)
	res.yellowAfter = count(after, func(a answer) bool { return a.color == "yellow" })
	res.afterRequest = len(after)
	return res
}
