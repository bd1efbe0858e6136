package e2e

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vireo-dev/vireo/internal/testenv"
)

func pids(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "pids", "*.pid"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no pid files in %s: %v", dir, err)
	}
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = strings.TrimSpace(string(b))
	}
	return out
}

func runScript(t *testing.T, env []string, script string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(testenv.RepoRoot(), "hack", "cluster", script))
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("hack/cluster/%s: %v\n%s", script, err, out)
	}
	return string(out)
}

// Running up on a running cluster changes nothing and still prints the
// kubeconfig export as its last line.
func TestClusterUpTwiceIsHarmless(t *testing.T) {
	c := requireCluster(t)
	before := pids(t, c.dir)
	out := runScript(t, nil, "up")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := lines[len(lines)-1]; last != "export KUBECONFIG="+c.kubeconfig {
		t.Errorf("last line of up = %q", last)
	}
	if after := pids(t, c.dir); !maps.Equal(before, after) {
		t.Errorf("second up restarted daemons: %v -> %v", before, after)
	}
	c.must(t, "", "get", "nodes")
}

// A second cluster with its own state directory and ports runs beside the
// first, and taking it down leaves the first untouched.
func TestTwoClustersSideBySide(t *testing.T) {
	c := requireCluster(t)
	dir := filepath.Join(t.TempDir(), "second")
	env := []string{"VIREO_CLUSTER_DIR=" + dir, "VIREO_CLUSTER_PORT_BASE=16640", "VIREO_CLUSTER_NODES=1"}
	t.Cleanup(func() { runScript(t, env, "down") })
	runScript(t, env, "up")

	second := &cluster{dir: dir, kubeconfig: filepath.Join(dir, "kubeconfig"), kubectlBin: c.kubectlBin}
	if out := second.must(t, "", "get", "nodes", "-o", "name"); strings.TrimSpace(out) != "node/kwok-node-0" {
		t.Errorf("second cluster nodes: %q", out)
	}
	second.must(t, "", "create", "namespace", "only-in-second")
	if _, err := c.kubectl("", "get", "namespace", "only-in-second"); err == nil {
		t.Error("the two clusters share state")
	}
	runScript(t, env, "down")
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("down left %s behind", dir)
	}
	for name, pid := range pids(t, c.dir) {
		if _, err := os.Stat("/proc/" + pid); err != nil {
			t.Errorf("taking the second cluster down stopped the first one's %s", name)
		}
	}
	c.must(t, "", "get", "nodes")
}
