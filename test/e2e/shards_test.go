package e2e

import (
	"flag"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vireo-dev/vireo/internal/controller/shard"
)

var shardRollouts = flag.Int("shard-rollouts", 60, "rollouts in the shard failover test (make bench-scale: 1000)")

// startControllers starts n controller processes at once, as a
// Deployment's pods start, and waits until each is ready.
func (c *cluster) startControllers(t *testing.T, n int, args ...string) []*controllerProcess {
	t.Helper()
	var procs []*controllerProcess
	var probes []string
	for range n {
		probe := freeAddr(t)
		all := append([]string{"--kubeconfig", c.serviceAccountKubeconfig(t), "--metrics-bind-address", "0",
			"--health-probe-bind-address", probe, "--log-level", "info", "--allow-loopback"}, args...)
		procs = append(procs, startProcess(t, fmt.Sprintf("controller-%d", len(procs)), filepath.Join(c.binDir, "vireo-controller"), all...))
		probes = append(probes, probe)
	}
	for _, probe := range probes {
		waitHTTPOK(t, "http://"+probe+"/readyz", "controller /readyz")
	}
	return procs
}

var pidInIdentity = regexp.MustCompile(`_(\d+)_`)

// Three replicas with --shards 3 share 60 rollouts (1,000 in make
// bench-shards). Mid-update, the replica holding shard 0 is killed; another
// takes shard 0 over and every rollout finishes, each through every step
// once. The audit log shows each rollout written by the replica holding its
// shard, and never by two replicas at once.
func TestShardsFailover(t *testing.T) {
	const replicas, shards = 3, 3
	n := *shardRollouts
	c := requireCluster(t)
	c.installDefault(t)
	procs := c.startControllers(t, replicas, "--shards", strconv.Itoa(shards), "--leader-election-namespace", systemNamespace)
	alive := map[int]*controllerProcess{}
	for _, p := range procs {
		alive[p.cmd.Process.Pid] = p
	}
	// holders maps each shard to the pid of the replica whose Lease it is.
	holders := func() map[int]int {
		out := map[int]int{}
		for k := range shards {
			h := c.jsonpath(t, systemNamespace, "lease/"+shard.LeaseName(k), ".spec.holderIdentity")
			if m := pidInIdentity.FindStringSubmatch(h); m != nil {
				out[k], _ = strconv.Atoi(m[1])
			}
		}
		return out
	}
	var owners map[int]int
	eventually(t, 60*time.Second, "every shard held, one by each replica", func() error {
		owners = holders()
		pids := map[int]bool{}
		for _, pid := range owners {
			if alive[pid] != nil {
				pids[pid] = true
			}
		}
		if len(owners) != shards || len(pids) != replicas {
			return fmt.Errorf("holders by shard %v", owners)
		}
		return nil
	})

	ns := c.namespace(t, "shards")
	// 4 replicas each, so that every step scales and shows in status.
	c.createInChunks(t, ns, manyRollouts(n, "5s"))
	eventually(t, 10*time.Minute, "all Healthy on blue", c.allHealthy(t, ns, n, ":blue"))

	wc := c.watchClient(t)
	steps := recordSteps(t, wc, ns)
	start := time.Now()
	setImages(t, wc, ns, n, "green")

	// Mid-update (in the first 5 s pause), the holder of shard 0 dies.
	time.Sleep(3 * time.Second)
	victim := owners[0]
	killed := time.Now()
	if err := alive[victim].stop(syscall.SIGKILL, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	delete(alive, victim)
	var handover time.Duration
	successor := 0
	eventually(t, 90*time.Second, "shard 0 taken over by a live replica", func() error {
		h := holders()
		if alive[h[0]] == nil {
			return fmt.Errorf("shard 0 held by pid %d", h[0])
		}
		handover, successor = time.Since(killed), h[0]
		return nil
	})
	eventually(t, 10*time.Minute, "all Healthy on green", c.allHealthy(t, ns, n, ":green"))
	took := time.Since(start)

	// Each rollout went through every step once.
	want := fmt.Sprint([]int32{0, 1, 2, 3, 4, 5, 6})
	bad := 0
	for i := range n {
		name := fmt.Sprintf("ro-%03d", i)
		hash := c.jsonpath(t, ns, "rollout/"+name, ".status.currentPodHash")
		if seq := steps.sequence(name, hash); fmt.Sprint(seq) != want {
			if bad++; bad <= 5 {
				t.Errorf("%s passed through steps %v, want %s (none skipped, none repeated)", name, seq, want)
			}
		}
	}

	// The audit log: each rollout's status written, in turn, by one replica
	// at a time: the holder of its shard, then (shard 0) its successor.
	writes := c.auditWrites(t, func(e auditEvent) bool {
		return e.ObjectRef.Namespace == ns && e.ObjectRef.Resource == "rollouts" && e.ObjectRef.Subresource == "status" &&
			strings.Contains(e.UserAgent, "(pid ") && !e.StageTimestamp.Before(start)
	})
	sort.SliceStable(writes, func(i, j int) bool { return writes[i].StageTimestamp.Before(writes[j].StageTimestamp) })
	writers := map[string][]int{} // rollout -> pids in turn
	perPid := map[int]int{}
	for _, w := range writes {
		m := regexp.MustCompile(`\(pid (\d+)\)`).FindStringSubmatch(w.UserAgent)
		pid, _ := strconv.Atoi(m[1])
		perPid[pid]++
		seq := writers[w.ObjectRef.Name]
		if len(seq) == 0 || seq[len(seq)-1] != pid {
			writers[w.ObjectRef.Name] = append(seq, pid)
		}
	}
	interleaved, strangers := 0, 0
	for name, seq := range writers {
		k := shard.Of(ns, name, nil, shards)
		seen := map[int]bool{}
		for _, pid := range seq {
			if seen[pid] {
				if interleaved++; interleaved <= 5 {
					t.Errorf("%s (shard %d) written by replicas in turn %v: two replicas at once", name, k, seq)
				}
			}
			seen[pid] = true
		}
		allowed := map[int]bool{owners[k]: true}
		if k == 0 {
			allowed[successor] = true
		}
		if slices.ContainsFunc(seq, func(pid int) bool { return !allowed[pid] }) {
			if strangers++; strangers <= 5 {
				t.Errorf("%s (shard %d, held by pid %d) written by %v", name, k, owners[k], seq)
			}
		}
	}
	if len(writers) != n {
		t.Errorf("status writes seen for %d of %d rollouts", len(writers), n)
	}
	t.Logf("\n| rollouts | replicas | shards | shard 0's holder killed, handover | update wall time | status writes by replica (pid: writes) | interleaved | written outside their shard |\n"+
		"|---|---|---|---|---|---|---|---|\n| %d | %d | %d | %.1fs | %.1fs | %v | %d | %d |",
		n, replicas, shards, handover.Seconds(), took.Seconds(), perPid, interleaved, strangers)
}
