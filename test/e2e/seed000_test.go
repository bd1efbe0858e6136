package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// applySeed000 applies seed 000's Services, AnalysisTemplate (pointed at the
// test's Prometheus) and Rollout.
func (c *cluster) applySeed000(t *testing.T, ns, prometheus string) {
	t.Helper()
	dir := filepath.Join("testdata", "seed000")
	c.must(t, "", "apply", "-n", ns, "-f", filepath.Join(dir, "canary-demo-service.yaml"))
	tmpl, err := os.ReadFile(filepath.Join(dir, "analysis-success.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c.must(t, strings.ReplaceAll(string(tmpl), "PROMETHEUS_ADDRESS", prometheus), "apply", "-n", ns, "-f", "-")
	c.must(t, "", "apply", "-n", ns, "-f", filepath.Join(dir, "canary-demo.yaml"))
}

// TestSeed000AnalysisWithPrometheus runs seed 000 against a real Prometheus
// scraping an exporter: with a healthy canary the analysis passes and the
// rollout is promoted; with half the requests failing it is aborted and
// everything returns to stable.
func TestSeed000AnalysisWithPrometheus(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	exp := startExporter(t)
	prom := startPrometheus(t, exp.addr)
	ns := c.namespace(t, "seed000")
	c.applySeed000(t, ns, prom)
	ro := "rollout/canary-demo"
	c.waitRolloutNamed(t, ns, "canary-demo", "Healthy", "", 60*time.Second)
	c.expectPods(t, ns, map[string]int{"blue": 5})

	// A healthy canary: every measurement passes; the rollout is promoted and
	// the background run is stopped, Successful.
	start := time.Now()
	c.setImage(t, ns, ro, "yellow")
	c.waitRolloutNamed(t, ns, "canary-demo", "Healthy", "", 150*time.Second)
	c.expectPods(t, ns, map[string]int{"yellow": 5})
	t.Logf("healthy canary promoted in %s", time.Since(start).Round(time.Second))
	wc := c.watchClient(t)
	var runs v1alpha1.AnalysisRunList
	if err := wc.List(context.Background(), &runs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(runs.Items) != 1 {
		t.Fatalf("%d analysis runs after the healthy canary, want 1", len(runs.Items))
	}
	first := runs.Items[0]
	if first.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || first.Labels["rollout-type"] != "Background" ||
		first.Status.MetricResults[0].Successful == 0 || first.Status.MetricResults[0].Failed != 0 {
		t.Errorf("healthy run %s: labels %v status %+v", first.Name, first.Labels, first.Status)
	}

	// Half the requests fail from the moment the canary comes: the fourth
	// failed measurement (failureLimit 3) fails the run, and the rollout aborts.
	var mu sync.Mutex
	var abortSeen time.Time
	watchRollouts(t, wc, ns, func(r *v1alpha1.Rollout) {
		mu.Lock()
		defer mu.Unlock()
		if r.Status.Abort && abortSeen.IsZero() {
			abortSeen = time.Now()
		}
	})
	c.setImage(t, ns, ro, "red")
	exp.setErrorRate(0.5)
	eventually(t, 150*time.Second, "rollout Degraded", func() error {
		if p := c.jsonpath(t, ns, ro, ".status.phase"); p != "Degraded" {
			return fmt.Errorf("phase %s", p)
		}
		return nil
	})
	msg := c.jsonpath(t, ns, ro, ".status.message")
	if !strings.Contains(msg, "RolloutAborted") || !strings.Contains(msg, `metric "success-rate" assessed Failed`) {
		t.Errorf("abort message %q should say the analysis failed", msg)
	}
	c.expectPods(t, ns, map[string]int{"yellow": 5})
	if err := wc.List(context.Background(), &runs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var failed *v1alpha1.AnalysisRun
	for i := range runs.Items {
		if runs.Items[i].Status.Phase == v1alpha1.AnalysisPhaseFailed {
			failed = &runs.Items[i]
		}
	}
	if failed == nil {
		t.Fatalf("no Failed analysis run among %d", len(runs.Items))
	}
	res := failed.Status.MetricResults[0]
	if res.Failed != 4 {
		t.Errorf("failed run counted %d failures, want 4 (failureLimit 3)", res.Failed)
	}
	// The first failing measurement still kept, and when the abort was written.
	var firstFail time.Time
	for _, m := range res.Measurements {
		if m.Phase == v1alpha1.AnalysisPhaseFailed && m.FinishedAt != nil {
			firstFail = m.FinishedAt.Time
			break
		}
	}
	var lastFail time.Time
	if n := len(res.Measurements); n > 0 && res.Measurements[n-1].FinishedAt != nil {
		lastFail = res.Measurements[n-1].FinishedAt.Time
	}
	mu.Lock()
	seen := abortSeen
	mu.Unlock()
	t.Logf("failing canary: first failing measurement %s, run failed (4th failure) %s, abort written %s: %s from the first failure, %s from the run failing (measurement times are stored to the second)",
		firstFail.Format(time.TimeOnly), lastFail.Format(time.TimeOnly), seen.Format("15:04:05.000"),
		seen.Sub(firstFail).Round(10*time.Millisecond), seen.Sub(lastFail).Round(10*time.Millisecond))
}
