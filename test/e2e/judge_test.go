package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// versions is an exporter of two versions' request counters,
// app_requests_total{version, code}, at 10 requests a second for the canary
// and 40 for the stable (a 20% canary weight), each with an error rate the
// test sets.
type versions struct {
	mu    sync.Mutex
	last  time.Time
	rates map[string]float64 // version -> error rate
	ok    map[string]float64
	fail  map[string]float64
	addr  string
}

func startVersions(t *testing.T, canaryErrors, stableErrors float64) *versions {
	t.Helper()
	v := &versions{last: time.Now(), rates: map[string]float64{"canary": canaryErrors, "stable": stableErrors},
		ok: map[string]float64{}, fail: map[string]float64{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	v.addr = l.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.mu.Lock()
		defer v.mu.Unlock()
		now := time.Now()
		elapsed := now.Sub(v.last).Seconds()
		v.last = now
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintln(w, "# TYPE app_requests_total counter")
		for version, rps := range map[string]float64{"canary": 10, "stable": 40} {
			n := rps * elapsed
			v.fail[version] += n * v.rates[version]
			v.ok[version] += n * (1 - v.rates[version])
			fmt.Fprintf(w, "app_requests_total{version=%q,code=\"200\"} %f\n", version, v.ok[version])
			fmt.Fprintf(w, "app_requests_total{version=%q,code=\"500\"} %f\n", version, v.fail[version])
		}
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return v
}

func judgeRun(name, prometheus string, count int) string {
	q := func(version, filter string) string {
		return fmt.Sprintf(`sum(app_requests_total{version="%s"%s})`, version, filter)
	}
	return fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {name: %s}
spec:
  metrics:
  - name: judge
    interval: 2s
    count: %d
    provider:
      plugin:
        vireo.dev/judge:
          prometheus: {address: %q}
          canary: {requests: '%s', errors: '%s'}
          stable: {requests: '%s', errors: '%s'}
`, name, count, prometheus, q("canary", ""), q("canary", `,code="500"`), q("stable", ""), q("stable", `,code="500"`))
}

// The judge against a real Prometheus scraping two versions: a canary with
// the stable's error rate passes; one failing twenty times as often fails,
// saying why, long before its run would end.
func TestJudgeAgainstPrometheus(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	ns := c.namespace(t, "judge")

	same := startVersions(t, 0.01, 0.01)
	worse := startVersions(t, 0.2, 0.01)
	c.must(t, judgeRun("same", startPrometheus(t, same.addr), 8)+"---\n"+judgeRun("worse", startPrometheus(t, worse.addr), 60), "apply", "-n", ns, "-f", "-")

	phase := func(run string) string { return c.jsonpath(t, ns, "analysisrun/"+run, ".status.phase") }
	eventually(t, 90*time.Second, "the worse canary judged", func() error {
		if p := phase("worse"); p != "Failed" {
			return fmt.Errorf("worse: %s", p)
		}
		return nil
	})
	msg := c.jsonpath(t, ns, "analysisrun/worse", ".status.metricResults[0].measurements[-1:].message")
	if !strings.Contains(msg, "beyond the tolerance") || !strings.Contains(msg, "e-value") {
		t.Errorf("the failing measurement says %q", msg)
	}
	looks := c.jsonpath(t, ns, "analysisrun/worse", ".status.metricResults[0].count")
	t.Logf("a canary at 20%% errors against the stable's 1%% (10 and 40 requests/s): Failed after %s looks: %s", looks, msg)

	eventually(t, 90*time.Second, "the equal canary passed", func() error {
		if p := phase("same"); p != "Successful" {
			return fmt.Errorf("same: %s (%s)", p, c.jsonpath(t, ns, "analysisrun/same", ".status.metricResults[0].measurements[-1:].message"))
		}
		return nil
	})
}
