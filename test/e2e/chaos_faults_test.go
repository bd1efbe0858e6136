package e2e

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/testenv"
)

var (
	chaosRollouts = flag.Int("chaos-rollouts", 12, "rollouts updated through each fault of the chaos suite (make bench-chaos: 50)")
	chaosKills    = flag.Int("chaos-kills", 3, "controller SIGKILLs at random moments in the chaos suite's kill round (make bench-chaos: 100)")
)

// restartDaemon kills one of the local control plane's daemons (SIGKILL)
// and starts it again with hack/cluster/up, which starts what is not
// running and waits until the API server answers.
func (c *cluster) restartDaemon(t *testing.T, name string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(c.dir, "pids", name+".pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if name == "kube-apiserver" {
		apiserverRestarts.add(time.Now())
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for deadline := time.Now().Add(10 * time.Second); syscall.Kill(pid, 0) == nil; {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) did not die", name, pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, err := exec.Command(filepath.Join(testenv.RepoRoot(), "hack/cluster/up")).CombinedOutput(); err != nil {
		t.Fatalf("hack/cluster/up after killing %s: %v\n%s", name, err, out)
	}
	if name == "kube-apiserver" {
		apiserverRestarts.add(time.Now())
	}
}

// apiserverRestarts are the moments the API server was killed and was back.
// Until its RBAC informers have synced, a restarted API server refuses
// requests that RBAC allows; the suite's check of RBAC denials leaves out
// those of the first 30 s after a restart.
var apiserverRestarts restartLog

type restartLog struct {
	mu sync.Mutex
	at []time.Time
}

func (r *restartLog) add(at time.Time) {
	r.mu.Lock()
	r.at = append(r.at, at)
	r.mu.Unlock()
}

// justRestarted says whether at falls between a kill and 30 s after the
// API server was back.
func (r *restartLog) justRestarted(at time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := 0; i+1 < len(r.at); i += 2 {
		if !at.Before(r.at[i]) && at.Before(r.at[i+1].Add(30*time.Second)) {
			return true
		}
	}
	return false
}

// replicaSet is a set of controller processes with leader election, kept
// at its size.
type replicaSet struct {
	c     *cluster
	size  int
	args  []string
	procs map[int]*controllerProcess // by pid
}

func newReplicaSet(c *cluster, t *testing.T, size int, args ...string) *replicaSet {
	r := &replicaSet{c: c, size: size, args: args, procs: map[int]*controllerProcess{}}
	r.refill(t)
	return r
}

// refill forgets the replicas that exited and starts new ones up to size.
func (r *replicaSet) refill(t *testing.T) {
	t.Helper()
	for pid, p := range r.procs {
		select {
		case <-p.exited:
			p.done = true
			delete(r.procs, pid)
		default:
		}
	}
	for len(r.procs) < r.size {
		p := r.c.startController(t, r.args...)
		r.procs[p.cmd.Process.Pid] = p
	}
}

// leader is the pid the leader-election Lease names, 0 if none alive.
func (r *replicaSet) leader(t *testing.T) int {
	h := r.c.jsonpath(t, systemNamespace, "lease/vireo-controller-leader", ".spec.holderIdentity")
	if m := pidInIdentity.FindStringSubmatch(h); m != nil {
		pid, _ := strconv.Atoi(m[1])
		if r.procs[pid] != nil {
			return pid
		}
	}
	return 0
}

// killLeader SIGKILLs the leader (waiting until there is one) and starts a
// new standby in its place.
func (r *replicaSet) killLeader(t *testing.T) {
	t.Helper()
	var pid int
	eventually(t, 60*time.Second, "a live leader", func() error {
		if pid = r.leader(t); pid == 0 {
			return fmt.Errorf("no live replica holds the Lease")
		}
		return nil
	})
	if err := r.procs[pid].stop(syscall.SIGKILL, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	delete(r.procs, pid)
	r.refill(t)
}

// changeRecorder keeps, per rollout, when each new status of it was seen.
type changeRecorder struct {
	mu   sync.Mutex
	seen map[string][]time.Time
}

func recordChanges(t *testing.T, wc client.WithWatch, ns string) *changeRecorder {
	r := &changeRecorder{seen: map[string][]time.Time{}}
	watchRollouts(t, wc, ns, func(ro *v1alpha1.Rollout) {
		r.mu.Lock()
		r.seen[ro.Name] = append(r.seen[ro.Name], time.Now())
		r.mu.Unlock()
	})
	return r
}

// firstAfter is when rollout name was first seen changed after at.
func (r *changeRecorder) firstAfter(name string, at time.Time) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.seen[name] {
		if s.After(at) {
			return s, true
		}
	}
	return time.Time{}, false
}

// The chaos suite: n rollouts (4 replicas, steps 25/pause 2s/50/pause
// 2s/75/pause 2s) are updated together, and mid-update one fault strikes:
// the API server is killed and restarted, then etcd, then the controller is
// killed at random moments, then their Prometheus answers slowly, with
// 500s, or not at all. Every rollout must end Healthy on the new version
// (or, for a failing analysis, aborted with no canary weight left), through
// every step exactly once. For each fault it reports how long after the
// faulty part was back each rollout moved again: p50, p99 and max.
func TestChaosFaults(t *testing.T) {
	n := *chaosRollouts
	c := requireCluster(t)
	c.installDefault(t)
	ns := c.namespace(t, "chaos-faults")

	// The Prometheus of the analysis round: what it does is set per round.
	var promMode sync.Map // "mode" -> string
	promMode.Store("mode", "ok")
	released := make(chan struct{}) // lets hanging answers go at the end
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mode, _ := promMode.Load("mode")
		switch mode {
		case "slow":
			time.Sleep(4 * time.Second)
		case "500":
			http.Error(w, "overloaded", http.StatusInternalServerError)
			return
		case "hang":
			select {
			case <-r.Context().Done():
			case <-released:
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"1"]}]}}`)
	}))
	t.Cleanup(prom.Close)
	t.Cleanup(func() { close(released) }) // runs first
	c.must(t, fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: prom}
spec:
  metrics:
  - name: ok
    interval: 1s
    count: 3
    failureLimit: 0
    consecutiveErrorLimit: 2
    successCondition: result[0] == 1
    provider:
      prometheus: {address: %q, query: up, timeout: 2}
`, prom.URL), "apply", "-n", ns, "-f", "-")

	// Three replicas with leader election, as a production install runs.
	replicas := newReplicaSet(c, t, 3, "--leader-elect", "--leader-election-namespace", systemNamespace)
	c.createInChunks(t, ns, manyRollouts(n, "2"))
	eventually(t, 3*time.Minute, "all Healthy on blue", c.allHealthy(t, ns, n, ":blue"))
	wc := c.watchClient(t)
	changes := recordChanges(t, wc, ns)

	setAll := func(color string) { setImages(t, wc, ns, n, color) }
	analysisOn := func(on bool) {
		// For the Prometheus rounds, the first pause becomes an analysis
		// step: the rollout waits for its verdict, so a failing Prometheus
		// aborts it whatever the timing.
		op := `[{"op":"replace","path":"/spec/strategy/canary/steps/1","value":{"pause":{"duration":"2"}}}]`
		if on {
			op = `[{"op":"replace","path":"/spec/strategy/canary/steps/1","value":{"analysis":{"templates":[{"templateName":"prom"}]}}}]`
		}
		for i := range n {
			ro := &v1alpha1.Rollout{}
			ro.Namespace, ro.Name = ns, fmt.Sprintf("ro-%03d", i)
			if err := wc.Patch(context.Background(), ro, client.RawPatch(types.JSONPatchType, []byte(op))); err != nil {
				t.Fatalf("analysis on %s: %v", ro.Name, err)
			}
		}
	}

	type round struct {
		name   string
		inject func() // strikes mid-update; returns once the faulty part is back
		// gap: the fault cuts the test's own watch (the API server is
		// down), so steps passed meanwhile are not seen; then a step may
		// be unobserved, but none may repeat.
		gap bool
		// aborted: the fault fails the analysis, so each rollout must end
		// aborted, back on the old version with no canary weight.
		aborted bool
		mode    string // the Prometheus's behaviour in the round
	}
	rounds := []round{
		{name: "kube-apiserver killed and restarted", gap: true, inject: func() { c.restartDaemon(t, "kube-apiserver") }},
		{name: "etcd killed and restarted", gap: true, inject: func() { c.restartDaemon(t, "etcd") }},
		{name: fmt.Sprintf("the leader SIGKILLed %d times at random moments (3 replicas; a standby takes over once the Lease expires)", *chaosKills), inject: func() {
			for k := range *chaosKills {
				time.Sleep(time.Duration(200+(k*7919)%1800) * time.Millisecond)
				replicas.killLeader(t)
			}
		}},
		{name: "Prometheus answering in 4 s for 2 s (timeout 2 s: an error under the limit, then answers)", mode: "slow", inject: func() {
			time.Sleep(2 * time.Second)
			promMode.Store("mode", "ok")
		}},
		{name: "Prometheus answering 500", mode: "500", aborted: true, inject: func() {}},
		{name: "Prometheus hanging", mode: "hang", aborted: true, inject: func() {}},
	}
	var table strings.Builder
	fmt.Fprintf(&table, "\n| fault (%d rollouts updated together) | outcome | moved again after the fault ended: p50 / p99 / max (rollouts still moving) | all done after the fault ended | steps skipped or repeated |\n|---|---|---|---|---|\n", n)
	color, old := "blue", ""
	for i, r := range rounds {
		if r.mode != "" && (i == 0 || rounds[i-1].mode == "") {
			analysisOn(true)
		}
		promMode.Store("mode", "ok")
		if r.mode != "" {
			promMode.Store("mode", r.mode)
		}
		old, color = color, map[string]string{"blue": "green", "green": "blue"}[color]
		steps := recordSteps(t, wc, ns) // each round's own: blue's hash comes back every other round
		setAll(color)
		time.Sleep(1500 * time.Millisecond) // mid-update: in the first pause
		r.inject()
		ended := time.Now()
		outcome := "all Healthy on the new version"
		if r.aborted {
			outcome = "all aborted, back on the old version, canary weight 0"
			eventually(t, 4*time.Minute, r.name+": all aborted", c.allAborted(t, ns, n, ":"+old))
			// Back to the image the stable runs: the next round starts Healthy.
			promMode.Store("mode", "ok")
			setAll(old)
			color = old
			eventually(t, 3*time.Minute, r.name+": Healthy again on "+old, c.allHealthy(t, ns, n, ":"+old))
		} else {
			eventually(t, 4*time.Minute, r.name+": all Healthy on "+color, c.allHealthy(t, ns, n, ":"+color))
		}
		done := time.Since(ended)
		replicas.refill(t) // a replica deposed by the fault (its Lease not renewed in time) exits: start another
		var moved []time.Duration
		bad, unseen := 0, 0
		for k := range n {
			name := fmt.Sprintf("ro-%03d", k)
			if at, ok := changes.firstAfter(name, ended); ok {
				moved = append(moved, at.Sub(ended))
			}
			if r.aborted {
				continue
			}
			hash := c.jsonpath(t, ns, "rollout/"+name, ".status.currentPodHash")
			seq := steps.sequence(name, hash)
			if fmt.Sprint(seq) == fmt.Sprint([]int32{0, 1, 2, 3, 4, 5, 6}) {
				continue
			}
			increasing := len(seq) > 0 && seq[len(seq)-1] == 6 && slices.IsSorted(seq) && len(slices.Compact(slices.Clone(seq))) == len(seq)
			if r.gap && increasing {
				unseen++ // some steps passed while the watch was cut
				continue
			}
			if bad++; bad <= 3 {
				t.Errorf("%s: %s passed through steps %v (none skipped, none repeated)", r.name, name, seq)
			}
		}
		sort.Slice(moved, func(i, j int) bool { return moved[i] < moved[j] })
		stepsNote := fmt.Sprint(bad)
		if unseen > 0 {
			stepsNote += fmt.Sprintf(" (%d with steps passed while the test's watch was cut: in order, none repeated)", unseen)
		}
		fmt.Fprintf(&table, "| %s | %s | %s / %s / %s (%d) | %.1fs | %s |\n", r.name, outcome, pct(moved, 50), pct(moved, 99), pct(moved, 100), len(moved), done.Seconds(), stepsNote)
		if r.mode != "" && (i+1 == len(rounds) || rounds[i+1].mode == "") {
			analysisOn(false)
		}
	}
	t.Log(table.String())
	if path := os.Getenv("VIREO_CHAOS_OUT"); path != "" {
		_ = os.WriteFile(path, []byte(table.String()), 0o644)
	}
}

// allAborted checks that the namespace's n Rollouts are all aborted
// (Degraded), back on the image ending in suffix, with no canary weight.
func (c *cluster) allAborted(t *testing.T, ns string, n int, suffix string) func() error {
	return func() error {
		out := c.must(t, "", "get", "rollouts", "-n", ns, "-o",
			`jsonpath={range .items[*]}{.metadata.name}|{.status.abort}|{.status.phase}|{.status.canary.weights.canary.weight}|{.status.stableRS}{" "}{end}`)
		var bad []string
		rows := strings.Fields(out)
		for _, row := range rows {
			f := strings.Split(row, "|")
			if len(f) != 5 || f[1] != "true" || f[2] != "Degraded" || (f[3] != "" && f[3] != "0") {
				bad = append(bad, row)
			}
		}
		if len(rows) != n || len(bad) > 0 {
			return fmt.Errorf("%d rollouts, not aborted yet: %v", len(rows), bad)
		}
		images := c.must(t, "", "get", "rs", "-n", ns, "-o", `jsonpath={range .items[?(@.spec.replicas>0)]}{.spec.template.spec.containers[0].image}{" "}{end}`)
		for _, img := range strings.Fields(images) {
			if !strings.HasSuffix(img, suffix) {
				return fmt.Errorf("a ReplicaSet with replicas still runs %s", img)
			}
		}
		return nil
	}
}
