package e2e

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

var (
	benchAnalysis = flag.Int("bench-analysis", 0, "run the analysis benchmark with this many rollouts whose analysis fails (make bench uses 50)")
	benchSchedule = flag.Duration("bench-schedule", 0, "measure an AnalysisRun's schedule for this long (make bench uses 10m)")
)

// webServer answers every request with body and records when each came.
func webServer(t *testing.T, body string) (url string, arrivals func() []time.Time) {
	t.Helper()
	return webServerFunc(t, func() string { return body })
}

// webServerFunc is webServer with a body made for each request.
func webServerFunc(t *testing.T, body func() string) (url string, arrivals func() []time.Time) {
	t.Helper()
	var mu sync.Mutex
	var at []time.Time
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		fmt.Fprint(w, body())
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String(), func() []time.Time {
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Time(nil), at...)
	}
}

// TestBenchAnalysis (make bench) measures how soon a rollout is aborted once
// its analysis run has failed, over N rollouts failing at once, and, with
// -bench-schedule, how far a run's measurements fall from their schedule in
// real time. It prints a table and asserts nothing about time.
func TestBenchAnalysis(t *testing.T) {
	n, span := *benchAnalysis, *benchSchedule
	if n == 0 && span == 0 {
		t.Skip("benchmark: run with -args -bench-analysis=N -bench-schedule=10m (make bench)")
	}
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t, "--log-level", "info")
	ns := c.namespace(t, "bench-analysis")
	wc := c.watchClient(t)
	var b strings.Builder
	fmt.Fprintf(&b, "\nAnalysis benchmark\n| measure | value | target |\n|---|---|---|\n")

	if n > 0 {
		url, _ := webServer(t, `{"ok": false}`)
		c.must(t, fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: smoke}
spec:
  metrics:
  - name: ok
    successCondition: result == true
    provider:
      web: {url: %q, jsonPath: "{$.ok}"}
`, url), "apply", "-n", ns, "-f", "-")
		failedAt, abortedAt := map[string]time.Time{}, map[string]time.Time{}
		var mu sync.Mutex
		watchRollouts(t, wc, ns, func(ro *v1alpha1.Rollout) {
			mu.Lock()
			defer mu.Unlock()
			if _, seen := abortedAt[ro.Name]; ro.Status.Abort && !seen {
				abortedAt[ro.Name] = time.Now()
			}
		})
		watchRuns(t, wc, ns, func(r *v1alpha1.AnalysisRun) {
			mu.Lock()
			defer mu.Unlock()
			owner := metav1.GetControllerOf(r)
			if owner == nil || r.Status.Phase != v1alpha1.AnalysisPhaseFailed {
				return
			}
			if _, seen := failedAt[owner.Name]; !seen {
				failedAt[owner.Name] = time.Now()
			}
		})
		manifest := strings.ReplaceAll(manyRollouts(n, "1s"), "{pause: {duration: 1s}}", "{analysis: {templates: [{templateName: smoke}]}}")
		c.must(t, manifest, "apply", "-n", ns, "-f", "-")
		eventually(t, 10*time.Minute, "all Healthy on blue", c.allHealthy(t, ns, n, ":blue"))
		for i := 0; i < n; i++ {
			c.setImage(t, ns, fmt.Sprintf("rollout/ro-%03d", i), "green")
		}
		eventually(t, 10*time.Minute, "every rollout aborted", func() error {
			mu.Lock()
			defer mu.Unlock()
			if len(abortedAt) < n {
				return fmt.Errorf("%d of %d aborted", len(abortedAt), n)
			}
			return nil
		})
		var d []time.Duration
		mu.Lock()
		for name, a := range abortedAt {
			if f, ok := failedAt[name]; ok {
				d = append(d, max(a.Sub(f), 0))
			}
		}
		mu.Unlock()
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		fmt.Fprintf(&b, "| AnalysisRun Failed seen to rollout abort seen: p50 / p99 / max (%d rollouts failing at once) | %s / %s / %s | p99 <= 1 s |\n",
			len(d), pct(d, 50), pct(d, 99), pct(d, 100))
	}

	if span > 0 {
		url, arrivals := webServer(t, `{"ok": true}`)
		count := int(span / (10 * time.Second))
		c.must(t, fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {name: schedule}
spec:
  metrics:
  - name: ok
    interval: 10s
    count: %d
    successCondition: result == true
    provider:
      web: {url: %q, jsonPath: "{$.ok}"}
`, count, url), "apply", "-n", ns, "-f", "-")
		eventually(t, span+2*time.Minute, "schedule run Successful", func() error {
			if p := c.jsonpath(t, ns, "analysisrun/schedule", ".status.phase"); p != "Successful" {
				return fmt.Errorf("phase %q", p)
			}
			return nil
		})
		started, err := time.Parse(time.RFC3339, c.jsonpath(t, ns, "analysisrun/schedule", ".status.startedAt"))
		if err != nil {
			t.Fatal(err)
		}
		var errs []time.Duration
		for k, at := range arrivals() {
			e := at.Sub(started.Add(time.Duration(k) * 10 * time.Second))
			errs = append(errs, max(e, -e))
		}
		sort.Slice(errs, func(i, j int) bool { return errs[i] < errs[j] })
		fmt.Fprintf(&b, "| measurement schedule error over %s of real time, interval 10s: p50 / p99 / max (%d measurements) | %s / %s / %s | within 1 s |\n",
			span, len(errs), pct(errs, 50), pct(errs, 99), pct(errs, 100))
	}
	fmt.Print(b.String())
	if path := os.Getenv("VIREO_BENCH_ANALYSIS_OUT"); path != "" {
		_ = os.WriteFile(path, []byte(b.String()), 0o644)
	}
}

// watchRuns calls fn with every version of every AnalysisRun in a namespace.
func watchRuns(t *testing.T, wc client.WithWatch, ns string, fn func(*v1alpha1.AnalysisRun)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		for ctx.Err() == nil {
			w, err := wc.Watch(ctx, &v1alpha1.AnalysisRunList{}, client.InNamespace(ns))
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				if r, ok := ev.Object.(*v1alpha1.AnalysisRun); ok && ev.Type != watch.Bookmark {
					fn(r)
				}
			}
		}
	}()
}
