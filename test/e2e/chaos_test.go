package e2e

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/controller"
)

// watchClient is a client of the suite's cluster that can watch.
func (c *cluster) watchClient(t *testing.T) client.WithWatch {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 500, 1000 // the tests' own client must not be what is measured
	scheme, err := controller.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	wc, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return wc
}

// stepRecorder watches Rollouts and records, per rollout and pod-template
// hash, every currentStepIndex their status passes through.
type stepRecorder struct {
	mu    sync.Mutex
	steps map[string][]int32 // "name/hash" -> indices in order
}

func recordSteps(t *testing.T, wc client.WithWatch, ns string) *stepRecorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w, err := wc.Watch(ctx, &v1alpha1.RolloutList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	r := &stepRecorder{steps: map[string][]int32{}}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			ro, ok := ev.Object.(*v1alpha1.Rollout)
			if !ok || ro.Status.CurrentStepIndex == nil {
				continue
			}
			key := ro.Name + "/" + ro.Status.CurrentPodHash
			r.mu.Lock()
			seq := r.steps[key]
			if len(seq) == 0 || seq[len(seq)-1] != *ro.Status.CurrentStepIndex {
				r.steps[key] = append(seq, *ro.Status.CurrentStepIndex)
			}
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *stepRecorder) sequence(name, hash string) []int32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int32(nil), r.steps[name+"/"+hash]...)
}

// The controller is killed (SIGKILL) at random moments while 20 rollouts move
// through their steps, and started again each time. Every rollout must end
// Healthy on the new version having passed through every step exactly once:
// all state lives in status, so a new process continues where the last stopped.
func TestChaosKillDuringConcurrentRollouts(t *testing.T) {
	const n = 20
	c := requireCluster(t)
	c.installDefault(t)
	ns := c.namespace(t, "chaos")
	var manifests strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&manifests, `---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: ro-%02d}
spec:
  replicas: 4
  selector: {matchLabels: {app: ro-%02d}}
  template:
    metadata: {labels: {app: ro-%02d}}
    spec: {containers: [{name: app, image: argoproj/rollouts-demo:blue}]}
  strategy:
    canary:
      steps: [{setWeight: 25}, {pause: {duration: 2}}, {setWeight: 50}, {pause: {duration: 2}}, {setWeight: 75}, {pause: {duration: 2}}]
`, i, i, i)
	}
	proc := c.startController(t)
	c.must(t, manifests.String(), "apply", "-n", ns, "-f", "-")
	// allHealthy checks every rollout is Healthy, fully promoted, on the image.
	allHealthy := func(image string) func() error {
		return func() error {
			out := c.must(t, "", "get", "rollouts", "-n", ns, "-o",
				`jsonpath={range .items[*]}{.metadata.name}|{.status.phase}|{.spec.template.spec.containers[0].image}|{.status.stableRS}|{.status.currentPodHash}{" "}{end}`)
			rows := strings.Fields(out)
			var bad []string
			for _, row := range rows {
				f := strings.Split(row, "|")
				if len(f) != 5 || f[1] != "Healthy" || !strings.HasSuffix(f[2], image) || f[3] != f[4] {
					bad = append(bad, row)
				}
			}
			if len(rows) != n || len(bad) > 0 {
				return fmt.Errorf("%d rollouts; not Healthy on %s: %v", len(rows), image, bad)
			}
			return nil
		}
	}
	eventually(t, 120*time.Second, "all rollouts Healthy on blue", allHealthy(":blue"))

	steps := recordSteps(t, c.watchClient(t), ns)
	for i := 0; i < n; i++ {
		c.must(t, `[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"argoproj/rollouts-demo:green"}]`,
			"patch", fmt.Sprintf("rollout/ro-%02d", i), "-n", ns, "--type=json", "--patch-file=/dev/stdin")
	}

	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	kills := 0
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); kills++ {
		time.Sleep(time.Duration(500+rng.Intn(2500)) * time.Millisecond)
		if err := proc.stop(syscall.SIGKILL, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		proc = c.startController(t)
	}
	t.Logf("killed the controller %d times", kills)
	eventually(t, 180*time.Second, "all rollouts Healthy on green", allHealthy(":green"))

	for i := 0; i < n; i++ {
		name := fmt.Sprintf("ro-%02d", i)
		hash := c.jsonpath(t, ns, "rollout/"+name, ".status.currentPodHash")
		seq := steps.sequence(name, hash)
		want := []int32{0, 1, 2, 3, 4, 5, 6}
		if fmt.Sprint(seq) != fmt.Sprint(want) {
			t.Errorf("%s passed through steps %v, want %v (none skipped, none repeated)", name, seq, want)
		}
	}
}
