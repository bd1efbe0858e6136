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
	// slow is the versions' latency: true for a tail three times as heavy
	// past 250 ms; buckets are the histogram's cumulative counts by le.
	slow    map[string]bool
	buckets map[string]map[string]float64
}

// The latency distributions, as the share of requests at or below each
// boundary: a fast version's, and a slow one's (three times as many
// requests over 250 ms).
var (
	fastLatency = map[string]float64{"0.1": 0.6, "0.25": 0.9, "1": 0.99, "+Inf": 1}
	slowLatency = map[string]float64{"0.1": 0.4, "0.25": 0.7, "1": 0.97, "+Inf": 1}
)

func startVersions(t *testing.T, canaryErrors, stableErrors float64) *versions {
	t.Helper()
	v := &versions{last: time.Now(), rates: map[string]float64{"canary": canaryErrors, "stable": stableErrors},
		ok: map[string]float64{}, fail: map[string]float64{}, slow: map[string]bool{},
		buckets: map[string]map[string]float64{"canary": {}, "stable": {}}}
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
		var hist strings.Builder
		for version, rps := range map[string]float64{"canary": 10, "stable": 40} {
			n := rps * elapsed
			v.fail[version] += n * v.rates[version]
			v.ok[version] += n * (1 - v.rates[version])
			fmt.Fprintf(w, "app_requests_total{version=%q,code=\"200\"} %f\n", version, v.ok[version])
			fmt.Fprintf(w, "app_requests_total{version=%q,code=\"500\"} %f\n", version, v.fail[version])
			cdf := fastLatency
			if v.slow[version] {
				cdf = slowLatency
			}
			for le, share := range cdf {
				v.buckets[version][le] += n * share
				fmt.Fprintf(&hist, "app_request_duration_seconds_bucket{version=%q,le=%q} %f\n", version, le, v.buckets[version][le])
			}
		}
		fmt.Fprintf(w, "# TYPE app_request_duration_seconds histogram\n%s", hist.String())
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

func latencyRun(name, prometheus string, count int) string {
	q := func(version string) string {
		return fmt.Sprintf(`sum by (le) (app_request_duration_seconds_bucket{version="%s"})`, version)
	}
	return fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {name: %s}
spec:
  metrics:
  - name: latency
    interval: 2s
    count: %d
    provider:
      plugin:
        vireo.dev/judge:
          kind: latency
          prometheus: {address: %q}
          canary: {buckets: '%s'}
          stable: {buckets: '%s'}
`, name, count, prometheus, q("canary"), q("stable"))
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

	// Each measurement records where the test stands.
	for _, key := range []string{"judge\\.eValue", "judge\\.ratioLow", "judge\\.ratioHigh", "judge\\.counts", "judge\\.state"} {
		if v := c.jsonpath(t, ns, "analysisrun/worse", ".status.metricResults[0].measurements[-1:].metadata."+key); v == "" {
			t.Errorf("the failed measurement has no %s", key)
		}
	}

	eventually(t, 90*time.Second, "the equal canary passed", func() error {
		if p := phase("same"); p != "Successful" {
			return fmt.Errorf("same: %s (%s)", p, c.jsonpath(t, ns, "analysisrun/same", ".status.metricResults[0].measurements[-1:].message"))
		}
		return nil
	})
}

// The latency judge against a real Prometheus scraping two versions'
// histograms: equal distributions pass; a canary with three times the
// stable's share of requests over 250 ms fails, naming the boundary.
func TestLatencyJudgeAgainstPrometheus(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	ns := c.namespace(t, "judge-latency")

	same := startVersions(t, 0.01, 0.01)
	slower := startVersions(t, 0.01, 0.01)
	slower.mu.Lock()
	slower.slow["canary"] = true
	slower.mu.Unlock()
	c.must(t, latencyRun("same", startPrometheus(t, same.addr), 8)+"---\n"+latencyRun("slower", startPrometheus(t, slower.addr), 60), "apply", "-n", ns, "-f", "-")

	phase := func(run string) string { return c.jsonpath(t, ns, "analysisrun/"+run, ".status.phase") }
	eventually(t, 120*time.Second, "the slower canary judged", func() error {
		if p := phase("slower"); p != "Failed" {
			return fmt.Errorf("slower: %s", p)
		}
		return nil
	})
	msg := c.jsonpath(t, ns, "analysisrun/slower", ".status.metricResults[0].measurements[-1:].message")
	if !strings.Contains(msg, "latency is worse") || !strings.Contains(msg, "slower than") {
		t.Errorf("the failing measurement says %q", msg)
	}
	t.Logf("a canary with 3x the tail past 250 ms (10 and 40 requests/s): Failed after %s looks: %s",
		c.jsonpath(t, ns, "analysisrun/slower", ".status.metricResults[0].count"), msg)
	eventually(t, 90*time.Second, "the equal latency passed", func() error {
		if p := phase("same"); p != "Successful" {
			return fmt.Errorf("same: %s (%s)", p, c.jsonpath(t, ns, "analysisrun/same", ".status.metricResults[0].measurements[-1:].message"))
		}
		return nil
	})
}
