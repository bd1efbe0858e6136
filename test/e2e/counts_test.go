package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

const countsManifest = `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: counts}
spec:
  replicas: 4
  selector: {matchLabels: {app: counts}}
  template:
    metadata:
      labels: {app: counts}
      annotations: {sim.vireo.dev/ready-after: "5s"}
    spec: {containers: [{name: app, image: argoproj/rollouts-demo:blue}]}
  strategy:
    canary:
      maxUnavailable: "75%"
      steps: [{setWeight: 25}, {pause: {}}]
`

// Replica counts in status are current, as Argo writes them: the pass that
// sees a ReplicaSet's counts change writes them, and a watch sees a drop
// before the pods recover.
func TestReplicaCountsAreCurrent(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	ns := c.namespace(t, "counts")
	c.must(t, countsManifest, "apply", "-n", ns, "-f", "-")
	c.waitRolloutNamed(t, ns, "counts", "Healthy", "", 60*time.Second)
	c.setImage(t, ns, "rollout/counts", "green")
	c.waitRolloutNamed(t, ns, "counts", "Paused", "CanaryPauseStep", 60*time.Second)

	type counts struct{ replicas, updated, ready, available int32 }
	var mu sync.Mutex
	var seen []counts
	var sawZero bool
	watchRollouts(t, c.watchClient(t), ns, func(ro *v1alpha1.Rollout) {
		mu.Lock()
		defer mu.Unlock()
		st := ro.Status
		seen = append(seen, counts{st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas})
		sawZero = sawZero || st.AvailableReplicas == 0
	})
	restart := func() time.Time {
		at := time.Now().UTC().Format(time.RFC3339)
		c.must(t, fmt.Sprintf(`{"spec":{"restartAt":%q}}`, at), "patch", "rollout/counts", "-n", ns, "--type=merge", "--patch-file=/dev/stdin")
		return time.Now()
	}

	// 1 canary and 3 stable pods; maxUnavailable 75% lets 3 go at once, and
	// the new ones take 5s to be ready: within 2s the status says so.
	began := restart()
	eventually(t, 2*time.Second, "status replicas 4, updated 1, ready 1, available 1", func() error {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range seen {
			if s == (counts{4, 1, 1, 1}) {
				return nil
			}
		}
		return fmt.Errorf("seen %v", seen)
	})
	t.Logf("counts 4/1/1/1 seen %v after the restart", time.Since(began).Round(10*time.Millisecond))
	c.waitRolloutNamed(t, ns, "counts", "Paused", "CanaryPauseStep", 60*time.Second)

	// With maxUnavailable 100%, every pod goes at once: a watch sees
	// availableReplicas 0 before they recover.
	c.must(t, `{"spec":{"strategy":{"canary":{"maxUnavailable":"100%"}}}}`, "patch", "rollout/counts", "-n", ns, "--type=merge", "--patch-file=/dev/stdin")
	mu.Lock()
	sawZero = false
	mu.Unlock()
	time.Sleep(1100 * time.Millisecond) // restartAt has a one-second resolution
	restart()
	eventually(t, 10*time.Second, "availableReplicas 0 in a watch", func() error {
		mu.Lock()
		defer mu.Unlock()
		if !sawZero {
			return fmt.Errorf("no version with availableReplicas 0 yet")
		}
		return nil
	})
}

const scaledManifest = `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: scaled}
spec:
  replicas: 4
  selector: {matchLabels: {app: scaled}}
  template:
    metadata: {labels: {app: scaled}}
    spec: {containers: [{name: app, image: argoproj/rollouts-demo:blue}]}
  strategy:
    canary: {maxSurge: 2, maxUnavailable: 0}
`

// spec.replicas changed mid-update (kubectl scale, as an HPA does) keeps the
// pods within replicas + maxSurge, as Argo: with a canary that never becomes
// ready, (canary, stable) goes (2,4), then (6,4) at 8 replicas, then (2,4)
// again at 4.
func TestScaledMidUpdate(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	ns := c.namespace(t, "scaled")
	c.must(t, scaledManifest, "apply", "-n", ns, "-f", "-")
	c.waitRolloutNamed(t, ns, "scaled", "Healthy", "", 60*time.Second)
	stable := c.jsonpath(t, ns, "rollout/scaled", ".status.stableRS")
	// The new version's pods never become ready.
	c.setTemplate(t, ns, "scaled", "green", "1h")
	expect := func(canary, stableN int) {
		t.Helper()
		eventually(t, 30*time.Second, fmt.Sprintf("(canary, stable) = (%d, %d)", canary, stableN), func() error {
			current := c.jsonpath(t, ns, "rollout/scaled", ".status.currentPodHash")
			if current == stable {
				return fmt.Errorf("no new version yet")
			}
			got := [2]string{c.jsonpath(t, ns, "rs/scaled-"+current, ".spec.replicas"), c.jsonpath(t, ns, "rs/scaled-"+stable, ".spec.replicas")}
			if want := [2]string{fmt.Sprint(canary), fmt.Sprint(stableN)}; got != want {
				return fmt.Errorf("(canary, stable) = (%s, %s)", got[0], got[1])
			}
			return nil
		})
	}
	expect(2, 4)
	c.must(t, "", "scale", "rollout/scaled", "-n", ns, "--replicas=8")
	expect(6, 4)
	c.must(t, "", "scale", "rollout/scaled", "-n", ns, "--replicas=4")
	expect(2, 4)
}
