package e2e

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

var benchRollouts = flag.Int("bench-rollouts", 0, "run the rollout benchmark with this many rollouts (make bench uses 200)")

var benchReplicas = flag.Int("bench-replicas", 4, "with -bench-rollouts: replicas of each rollout (the scale profiles use 1)")

var benchNotify = flag.Bool("bench-notify", false, "with -bench-rollouts: every rollout subscribes to its step and completion notifications, sent to a local webhook")

// TestBenchRollouts is the rollout benchmark (make bench): N rollouts of 4
// replicas with steps setWeight 25, pause 5s, 50, pause 5s, 75, pause 5s; all
// Healthy, then every image changed at once. It prints a table; it asserts
// nothing about time. It runs only when -bench-rollouts is given.
func TestBenchRollouts(t *testing.T) {
	n := *benchRollouts
	if n == 0 {
		t.Skip("benchmark: run with -args -bench-rollouts=N (make bench)")
	}
	c := requireCluster(t)
	c.installDefault(t)
	metricsAddr := freeAddr(t)
	logLevel := "info"
	if os.Getenv("VIREO_BENCH_LOG") != "" {
		logLevel = "4" // every status patch, for finding writes to save
	}
	args := []string{"--metrics-bind-address", metricsAddr, "--log-level", logLevel}
	manifests := strings.ReplaceAll(manyRollouts(n, "5s"), "  replicas: 4\n", fmt.Sprintf("  replicas: %d\n", *benchReplicas))
	var notified atomic.Int64
	if *benchNotify {
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { notified.Add(1) }))
		t.Cleanup(hook.Close)
		ops := c.namespace(t, "bench-notify")
		c.must(t, fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata: {name: argo-rollouts-notification-configmap}
data:
  service.webhook.bench: "url: %s"
  template.step: |
    webhook:
      bench: {body: '{"rollout": "{{.rollout.metadata.name}}", "step": {{.rollout.status.currentStepIndex}}}'}
  template.completed: |
    webhook:
      bench: {body: '{"rollout": "{{.rollout.metadata.name}}", "image": "{{(index .rollout.spec.template.spec.containers 0).image}}"}'}
  trigger.on-rollout-step-completed: "- send: [step]"
  trigger.on-rollout-completed: "- send: [completed]"
`, hook.URL), "apply", "-n", ops, "-f", "-")
		args = append(args, "--credentials-namespace", ops)
		manifests = strings.ReplaceAll(manifests, "metadata: {name: ro-", `metadata: {annotations: {notifications.argoproj.io/subscribe.on-rollout-step-completed.webhook.bench: "", notifications.argoproj.io/subscribe.on-rollout-completed.webhook.bench: ""}, name: ro-`)
	}
	proc := c.startController(t, args...)
	if path := os.Getenv("VIREO_BENCH_LOG"); path != "" {
		t.Cleanup(func() { _ = os.WriteFile(path, []byte(proc.log()), 0o644) })
	}
	pid := proc.cmd.Process.Pid
	ns := c.namespace(t, "bench")

	start := time.Now()
	c.createInChunks(t, ns, manifests)
	eventually(t, 20*time.Minute, "all Healthy on blue", c.allHealthy(t, ns, n, ":blue"))
	created := time.Since(start)

	wc := c.watchClient(t)
	pauses := recordPauseExpiry(t, wc, ns)
	cpu0 := cpuSeconds(t, pid)
	t0 := time.Now()
	setImages(t, wc, ns, n, "green")
	eventually(t, 30*time.Minute, "all Healthy on green", c.allHealthy(t, ns, n, ":green"))
	updated := time.Since(t0)
	cpu := cpuSeconds(t, pid) - cpu0

	writes := c.auditWrites(t, func(e auditEvent) bool {
		return byPid(pid)(e) && e.ObjectRef.Namespace == ns && !e.StageTimestamp.Before(t0)
	})
	byKind, rejected := map[string]int{}, 0
	for _, w := range writes {
		if w.ResponseStatus.Code >= 300 {
			rejected++
		}
		k := w.ObjectRef.Resource
		if w.ObjectRef.Subresource != "" {
			k += "/" + w.ObjectRef.Subresource
		}
		byKind[w.Verb+" "+k]++
	}
	transitions := n * 7 // six steps and the promotion

	// Idle: a minute with nothing to do.
	time.Sleep(3 * time.Second)
	rec0, idleFrom := scrapeReconciles(t, metricsAddr), time.Now()
	time.Sleep(time.Minute)
	idleReconciles := scrapeReconciles(t, metricsAddr) - rec0
	idle := c.auditWrites(t, func(e auditEvent) bool {
		return byPid(pid)(e) && e.ObjectRef.Namespace == ns && !e.StageTimestamp.Before(idleFrom)
	})
	idleWrites := len(idle)
	idleByKind := map[string]int{}
	for _, w := range idle {
		idleByKind[w.Verb+" "+w.ObjectRef.Resource+"/"+w.ObjectRef.Subresource]++
	}

	delays := pauses.delays()
	var b strings.Builder
	notes := "off"
	if *benchNotify {
		notes = fmt.Sprintf("on (%d delivered to a local webhook)", notified.Load())
	}
	fmt.Fprintf(&b, "\nRollout benchmark: %d rollouts x %d replicas, steps 25 / pause 5s / 50 / pause 5s / 75 / pause 5s; controller defaults (QPS 100, burst 200, 10 workers); notifications %s\n", n, *benchReplicas, notes)
	fmt.Fprintf(&b, "| measure | value | target |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| time to create all and reach Healthy (first version) | %.1f s | |\n", created.Seconds())
	fmt.Fprintf(&b, "| wall time until all %d are Healthy on the new version | %.1f s | floor: 15 s of pauses |\n", n, updated.Seconds())
	fmt.Fprintf(&b, "| controller CPU during the update | %.1f s | |\n", cpu)
	fmt.Fprintf(&b, "| controller peak RSS | %.0f MiB | |\n", peakRSS(t, pid))
	fmt.Fprintf(&b, "| API writes during the update (events included; refused ones too) | %d (%d refused) | |\n", len(writes), rejected)
	fmt.Fprintf(&b, "| API writes per step transition (%d transitions) | %.2f | <= 3 |\n", transitions, float64(len(writes))/float64(transitions))
	fmt.Fprintf(&b, "| idle: reconciles per rollout per minute | %.3f | <= 1 |\n", idleReconciles/float64(n))
	fmt.Fprintf(&b, "| idle: writes per rollout per minute | %.3f %v | 0 |\n", float64(idleWrites)/float64(n), idleByKind)
	fmt.Fprintf(&b, "| pause expiry to next step's status write: p50 / p99 / max (%d pauses) | %s / %s / %s | p99 <= 1 s |\n",
		len(delays), pct(delays, 50), pct(delays, 99), pct(delays, 100))
	var kinds []string
	for k, v := range byKind {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(kinds)
	fmt.Fprintf(&b, "\nwrites by kind: %s\n", strings.Join(kinds, ", "))
	fmt.Print(b.String())
	if path := os.Getenv("VIREO_BENCH_OUT"); path != "" {
		_ = os.WriteFile(path, []byte(b.String()), 0o644)
	}
}

// setImages gives rollouts ro-000 .. of a namespace the demo image of a
// colour, 16 patches at a time (every rollout starts its update at once).
func setImages(t *testing.T, wc client.WithWatch, ns string, n int, color string) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ro := &v1alpha1.Rollout{}
			ro.Namespace, ro.Name = ns, fmt.Sprintf("ro-%03d", i)
			patch := client.RawPatch(types.JSONPatchType, fmt.Appendf(nil, `[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"argoproj/rollouts-demo:%s"}]`, color))
			if err := wc.Patch(context.Background(), ro, patch); err != nil {
				t.Errorf("patching %s: %v", ro.Name, err)
			}
		}()
	}
	wg.Wait()
}

// createInChunks creates a long multi-document manifest with kubectl, 200
// documents a call and 4 calls at once (10,000 rollouts in one apply take
// minutes).
func (c *cluster) createInChunks(t *testing.T, ns, manifests string) {
	t.Helper()
	docs := strings.Split(manifests, "---\n")
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for from := 0; from < len(docs); from += 200 {
		chunk := strings.Join(docs[from:min(from+200, len(docs))], "---\n")
		if strings.TrimSpace(chunk) == "" {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if out, err := c.kubectl(chunk, "create", "-n", ns, "-f", "-"); err != nil {
				t.Errorf("kubectl create: %v\n%s", err, out)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// pauseRecorder measures, for every timed pause, how long after its end
// (status start time + duration) the status showed the next step.
type pauseRecorder struct {
	mu      sync.Mutex
	started map[string]time.Time // rollout/step -> pause start in status
	delay   []time.Duration
}

func recordPauseExpiry(t *testing.T, wc client.WithWatch, ns string) *pauseRecorder {
	t.Helper()
	r := &pauseRecorder{started: map[string]time.Time{}}
	watchRollouts(t, wc, ns, func(ro *v1alpha1.Rollout) {
		if ro.Status.CurrentStepIndex == nil {
			return
		}
		seen := time.Now()
		idx := *ro.Status.CurrentStepIndex
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, pc := range ro.Status.PauseConditions {
			if pc.Reason == v1alpha1.PauseReasonCanaryPauseStep {
				r.started[fmt.Sprintf("%s/%d", ro.Name, idx)] = pc.StartTime.Time
			}
		}
		if start, ok := r.started[fmt.Sprintf("%s/%d", ro.Name, idx-1)]; ok && len(ro.Status.PauseConditions) == 0 {
			r.delay = append(r.delay, seen.Sub(start.Add(5*time.Second)))
			delete(r.started, fmt.Sprintf("%s/%d", ro.Name, idx-1))
		}
	})
	return r
}

func (r *pauseRecorder) delays() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]time.Duration(nil), r.delay...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func pct(d []time.Duration, p int) string {
	if len(d) == 0 {
		return "-"
	}
	i := (len(d)*p + 99) / 100
	if i > 0 {
		i--
	}
	return d[i].Round(10 * time.Millisecond).String()
}

// cpuSeconds is the user+system CPU a process has used, from /proc.
func cpuSeconds(t *testing.T, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100 // clock ticks; 100 per second on Linux
}

// peakRSS is a process's peak resident set, in MiB.
func peakRSS(t *testing.T, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// scrapeReconciles reads controller_runtime_reconcile_total for the rollout
// controller from the controller's metrics endpoint.
func scrapeReconciles(t *testing.T, addr string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var total float64
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "controller_runtime_reconcile_total{") && strings.Contains(line, `controller="rollout"`) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			total += v
		}
	}
	return total
}
