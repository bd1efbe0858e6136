package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vireo-dev/vireo/internal/testenv"
)

// mesh is an exporter standing in for Istio's telemetry: for each
// namespace, istio_requests_total and istio_request_duration_milliseconds
// of the workloads podinfo (the canary) and podinfo-primary, as the
// destination's sidecar reports them, 20 requests a second each. The test
// sets the canary's share of 5xx answers per namespace.
type mesh struct {
	mu        sync.Mutex
	last      time.Time
	errorRate map[string]float64            // namespace -> canary 5xx share
	counts    map[string]map[string]float64 // namespace/workload -> code -> requests
	addr      string
}

func startMesh(t *testing.T, namespaces ...string) *mesh {
	t.Helper()
	m := &mesh{last: time.Now(), errorRate: map[string]float64{}, counts: map[string]map[string]float64{}}
	for _, ns := range namespaces {
		for _, w := range []string{"podinfo", "podinfo-primary"} {
			m.counts[ns+"/"+w] = map[string]float64{"200": 0, "500": 0}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr = l.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		defer m.mu.Unlock()
		now := time.Now()
		n := 20 * now.Sub(m.last).Seconds()
		m.last = now
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintln(w, "# TYPE istio_requests_total counter")
		var hist strings.Builder
		fmt.Fprintln(&hist, "# TYPE istio_request_duration_milliseconds histogram")
		for key, codes := range m.counts {
			ns, workload, _ := strings.Cut(key, "/")
			rate := 0.0
			if workload == "podinfo" {
				rate = m.errorRate[ns]
			}
			codes["500"] += n * rate
			codes["200"] += n * (1 - rate)
			labels := fmt.Sprintf(`reporter="destination",destination_workload_namespace=%q,destination_workload=%q`, ns, workload)
			for code, v := range codes {
				fmt.Fprintf(w, "istio_requests_total{%s,response_code=%q} %f\n", labels, code, v)
			}
			total := codes["200"] + codes["500"]
			// Every request answers in 40 ms or less.
			for _, le := range []string{"25", "50", "100", "500", "+Inf"} {
				v := total
				if le == "25" {
					v = total / 2
				}
				fmt.Fprintf(&hist, "istio_request_duration_milliseconds_bucket{%s,le=%q} %f\n", labels, le, v)
			}
			fmt.Fprintf(&hist, "istio_request_duration_milliseconds_count{%s} %f\n", labels, total)
			fmt.Fprintf(&hist, "istio_request_duration_milliseconds_sum{%s} %f\n", labels, total*30)
		}
		fmt.Fprint(w, hist.String())
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return m
}

func (m *mesh) setErrorRate(ns string, r float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.errorRate[ns] = r
}

// loadtester stands in for flagger-loadtester: it accepts every webhook
// and records what it was sent.
type loadtester struct {
	mu    sync.Mutex
	calls []string
	url   string
}

func startLoadtester(t *testing.T) *loadtester {
	t.Helper()
	lt := &loadtester{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lt.url = "http://" + l.Addr().String() + "/"
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		_, _ = fmt.Fprint(&b, r.Method, " ")
		buf := make([]byte, 4096)
		n, _ := r.Body.Read(buf)
		b.Write(buf[:n])
		lt.mu.Lock()
		lt.calls = append(lt.calls, b.String())
		lt.mu.Unlock()
		_, _ = w.Write([]byte("ok"))
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return lt
}

func (lt *loadtester) seen(substr string) int {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	n := 0
	for _, c := range lt.calls {
		if strings.Contains(c, substr) {
			n++
		}
	}
	return n
}

func seed003File(t *testing.T, name string, replace ...string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "test", "e2e", "testdata", "seed003", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer(replace...).Replace(string(data))
}

// Seed 003 on the local control plane, with Istio's CRDs and a real
// Prometheus: the tutorial's Canary, HPA and MetricTemplate, then
// `kubectl set image deployment/podinfo podinfod=stefanprodan/podinfo:3.1.1`.
// In namespace test the new version is healthy: the VirtualService steps
// 90/10 to 50/50, the primary is promoted and the traffic returns 100/0. In
// test-fail the same update answers 5xx to 1 request in 4 and is rolled back
// after 5 failed checks. Both run side by side, at the tutorial's one-minute
// interval.
func TestSeed003FlaggerIstio(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.installRouterCRDs(t)
	good, bad := c.namespace(t, "test"), c.namespace(t, "test-fail")
	if _, err := c.kubectl("", "create", "namespace", "istio-system"); err != nil && !strings.Contains(err.Error(), "AlreadyExists") {
		t.Fatal(err)
	}
	m := startMesh(t, good, bad)
	prom := startPrometheus(t, m.addr)
	lt := startLoadtester(t)
	c.startController(t, "--flagger-metrics-server", prom)

	c.must(t, seed003File(t, "metric-template.yaml", "PROMETHEUS", prom), "apply", "-f", "-")
	for _, ns := range []string{good, bad} {
		c.must(t, seed003File(t, "podinfo.yaml"), "apply", "-n", ns, "-f", "-")
		c.must(t, seed003File(t, "canary.yaml", "LOADTESTER", lt.url, "namespace: test", "namespace: "+ns), "apply", "-f", "-")
	}
	for _, ns := range []string{good, bad} {
		eventually(t, 90*time.Second, ns+" initialized", func() error {
			if p := c.jsonpath(t, ns, "canary/podinfo", ".status.phase"); p != "Initialized" {
				return fmt.Errorf("phase %q", p)
			}
			return nil
		})
	}
	// What initialization made.
	for _, svc := range []string{"podinfo", "podinfo-primary", "podinfo-canary"} {
		if sel := c.jsonpath(t, good, "service/"+svc, ".spec.selector.app"); sel != map[string]string{"podinfo": "podinfo-primary", "podinfo-primary": "podinfo-primary", "podinfo-canary": "podinfo"}[svc] {
			t.Errorf("service %s selects app=%s", svc, sel)
		}
	}
	if r := c.jsonpath(t, good, "deployment/podinfo", ".spec.replicas"); r != "0" {
		t.Errorf("podinfo has %s replicas after initialization, want 0", r)
	}
	if h := c.jsonpath(t, good, "hpa/podinfo-primary", ".spec.scaleTargetRef.name"); h != "podinfo-primary" {
		t.Errorf("hpa/podinfo-primary scales %q", h)
	}
	c.must(t, "", "wait", "-n", good, "--for=condition=promoted", "--timeout=10s", "canary/podinfo")
	vsWeights := func(ns string) string {
		out, err := c.kubectl("", "get", "-n", ns, "virtualservice/podinfo", "-o", "jsonpath={.spec.http[0].route[0].weight}/{.spec.http[0].route[1].weight}")
		if err != nil {
			return "error: " + out
		}
		return out
	}
	if w := vsWeights(good); w != "100/0" {
		t.Errorf("VirtualService weights %s after initialization, want 100/0", w)
	}
	if gw := c.jsonpath(t, good, "virtualservice/podinfo", ".spec.gateways[0]"); gw != "public-gateway.istio-system.svc.cluster.local" {
		t.Errorf("VirtualService gateway %q", gw)
	}
	if dr := c.jsonpath(t, good, "destinationrule/podinfo-canary", ".spec.trafficPolicy.tls.mode"); dr != "DISABLE" {
		t.Errorf("DestinationRule podinfo-canary tls mode %q", dr)
	}

	m.setErrorRate(bad, 0.25)
	start := time.Now()
	for _, ns := range []string{good, bad} {
		c.must(t, "", "-n", ns, "set", "image", "deployment/podinfo", "podinfod=stefanprodan/podinfo:3.1.1")
	}
	var seen []string
	eventually(t, 12*time.Minute, "the healthy canary promoted and the failing one rolled back", func() error {
		if w := vsWeights(good); len(seen) == 0 || seen[len(seen)-1] != w {
			seen = append(seen, w)
			t.Logf("%5.0fs  test: VirtualService primary/canary %s, phase %s", time.Since(start).Seconds(), w, c.jsonpath(t, good, "canary/podinfo", ".status.phase"))
		}
		g, b := c.jsonpath(t, good, "canary/podinfo", ".status.phase"), c.jsonpath(t, bad, "canary/podinfo", ".status.phase")
		if g != "Succeeded" || b != "Failed" {
			return fmt.Errorf("test %s, test-fail %s", g, b)
		}
		return nil
	})
	t.Logf("both ended after %.0fs", time.Since(start).Seconds())
	if got := strings.Join(seen, " "); !strings.Contains(got, "90/10 80/20 70/30 60/40 50/50") || !strings.HasSuffix(got, "100/0") {
		t.Errorf("VirtualService weights went %s, want 90/10 80/20 70/30 60/40 50/50 and back to 100/0", got)
	}
	if img := c.jsonpath(t, good, "deployment/podinfo-primary", ".spec.template.spec.containers[0].image"); img != "stefanprodan/podinfo:3.1.1" {
		t.Errorf("podinfo-primary runs %s after the promotion", img)
	}
	c.must(t, "", "wait", "-n", good, "--for=condition=promoted", "--timeout=10s", "canary/podinfo")
	if w := vsWeights(bad); w != "100/0" {
		t.Errorf("test-fail VirtualService %s after the rollback, want 100/0", w)
	}
	if img := c.jsonpath(t, bad, "deployment/podinfo-primary", ".spec.template.spec.containers[0].image"); img != "stefanprodan/podinfo:3.1.0" {
		t.Errorf("test-fail podinfo-primary runs %s after the rollback", img)
	}
	if r := c.jsonpath(t, bad, "deployment/podinfo", ".spec.replicas"); r != "0" {
		t.Errorf("test-fail podinfo has %s replicas after the rollback, want 0", r)
	}
	// kubectl describe canary reads as the tutorial's.
	events := func(ns string) string {
		return c.must(t, "", "get", "events", "-n", ns, "--field-selector", "involvedObject.kind=Canary,involvedObject.name=podinfo",
			"-o", "custom-columns=TYPE:.type,REASON:.reason,FROM:.source.component,MESSAGE:.message", "--sort-by=.lastTimestamp")
	}
	got := events(good)
	// Every event has reason Synced, as Flagger's: past ten different ones
	// on one object in ten minutes, client-go's event correlator folds the
	// rest into one "(combined from similar events)" event, as the seed's
	// own `kubectl describe` shows for "Promotion completed!". So the last
	// steps (weight 50, the copy, the routing back) may be folded into it.
	for _, want := range []string{
		"all the metrics providers are available!",
		"Initialization done! podinfo.test",
		"New revision detected! Scaling up podinfo.test",
		"Starting canary analysis for podinfo.test",
		"Pre-rollout check acceptance-test passed",
		"Advance podinfo.test canary weight 10",
		"Advance podinfo.test canary weight 40",
		"Promotion completed! Scaling down podinfo.test",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no event %q in test:\n%s", want, got)
		}
	}
	if !strings.Contains(got, "Synced    flagger") && !strings.Contains(got, "Synced   flagger") {
		t.Errorf("events are not reason Synced from flagger:\n%s", got)
	}
	t.Logf("kubectl get events (test):\n%s", got)
	gotBad := events(bad)
	for _, want := range []string{
		"Halt podinfo.test-fail advancement success rate 75.00% < 99%",
		"Rolling back podinfo.test-fail failed checks threshold reached 5",
		"Canary failed! Scaling down podinfo.test-fail",
	} {
		if !strings.Contains(gotBad, want) {
			t.Errorf("no event %q in test-fail:\n%s", want, gotBad)
		}
	}
	if n := lt.seen(`"name":"acceptance-test"`); n != 0 {
		t.Logf("note: payload carries the hook's metadata, not its name")
	}
	if lt.seen(`"phase":"Progressing"`) == 0 || lt.seen(`"cmd":"hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/"`) == 0 {
		t.Errorf("the loadtester saw no load-test webhook: %v", lt.calls)
	}
	// kubectl get canaries shows Flagger's columns.
	table := c.must(t, "", "get", "canaries", "-n", good)
	if !strings.HasPrefix(table, "NAME") || !strings.Contains(table, "STATUS") || !strings.Contains(table, "WEIGHT") || !strings.Contains(table, "Succeeded") {
		t.Errorf("kubectl get canaries:\n%s", table)
	}
}
