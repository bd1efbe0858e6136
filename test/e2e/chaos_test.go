package e2e

import (
	"fmt"
	"math/rand"
	"sync"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// stepRecorder watches Rollouts and records, per rollout and pod-template
// hash, every currentStepIndex their status passes through.
type stepRecorder struct {
	mu    sync.Mutex
	steps map[string][]int32 // "name/hash" -> indices in order
}

func recordSteps(t *testing.T, wc client.WithWatch, ns string) *stepRecorder {
	t.Helper()
	r := &stepRecorder{steps: map[string][]int32{}}
	watchRollouts(t, wc, ns, func(ro *v1alpha1.Rollout) {
		if ro.Status.CurrentStepIndex == nil {
			return
		}
		key := ro.Name + "/" + ro.Status.CurrentPodHash
		r.mu.Lock()
		defer r.mu.Unlock()
		seq := r.steps[key]
		if len(seq) == 0 || seq[len(seq)-1] != *ro.Status.CurrentStepIndex {
			r.steps[key] = append(seq, *ro.Status.CurrentStepIndex)
		}
	})
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
	proc := c.startController(t)
	c.must(t, manyRollouts(n, "2"), "apply", "-n", ns, "-f", "-")
	eventually(t, 120*time.Second, "all rollouts Healthy on blue", c.allHealthy(t, ns, n, ":blue"))

	steps := recordSteps(t, c.watchClient(t), ns)
	for i := 0; i < n; i++ {
		c.setImage(t, ns, fmt.Sprintf("rollout/ro-%03d", i), "green")
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
	eventually(t, 180*time.Second, "all rollouts Healthy on green", c.allHealthy(t, ns, n, ":green"))

	for i := 0; i < n; i++ {
		name := fmt.Sprintf("ro-%03d", i)
		hash := c.jsonpath(t, ns, "rollout/"+name, ".status.currentPodHash")
		seq := steps.sequence(name, hash)
		want := []int32{0, 1, 2, 3, 4, 5, 6}
		if fmt.Sprint(seq) != fmt.Sprint(want) {
			t.Errorf("%s passed through steps %v, want %v (none skipped, none repeated)", name, seq, want)
		}
	}
}
