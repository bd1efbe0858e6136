// Package e2e runs Vireo against the whole local control plane that
// hack/cluster/up starts: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and kwok, with the controller as a separate process.
package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vireo-dev/vireo/internal/testenv"
)

// cluster is the local control plane the suite runs against.
type cluster struct {
	dir        string // hack/cluster state directory
	kubeconfig string
	kubectlBin string
	binDir     string // binaries built for the suite
}

var (
	theCluster *cluster
	setupErr   error
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	root := testenv.RepoRoot()
	if _, err := os.Stat(filepath.Join(testenv.BinDir(), "kwok")); err != nil && os.Getenv("VIREO_REQUIRE_CLUSTER") == "" {
		fmt.Println("e2e: control plane not built; run `make test` (or hack/cluster/build) to run this suite")
		return m.Run() // every test skips through requireCluster
	}
	c, err := startCluster(root)
	if err != nil {
		setupErr = err
		return m.Run()
	}
	theCluster = c
	code := m.Run()
	// The RBAC shipped in config/ covers every write the suite's controllers
	// made: the API server's audit log shows none refused by it.
	if denied := c.rbacDenials(); len(denied) > 0 {
		fmt.Printf("e2e: writes of Vireo's ServiceAccounts refused by RBAC (config/rbac lacks them):\n  %s\n", strings.Join(denied, "\n  "))
		if code == 0 {
			code = 1
		}
	}
	if os.Getenv("VIREO_E2E_KEEP") == "" {
		if out, err := exec.Command(filepath.Join(root, "hack/cluster/down")).CombinedOutput(); err != nil {
			fmt.Printf("e2e: hack/cluster/down: %v\n%s", err, out)
		}
	} else {
		fmt.Printf("e2e: cluster kept: export KUBECONFIG=%s\n", c.kubeconfig)
	}
	return code
}

// startCluster brings up a control plane of its own (state directory and ports
// apart from `make demo`'s) and builds the controller and CLI binaries for the suite.
func startCluster(root string) (*cluster, error) {
	dir := os.Getenv("VIREO_E2E_CLUSTER_DIR")
	if dir == "" {
		dir = filepath.Join(root, ".cache", "e2e-cluster")
	}
	if os.Getenv("VIREO_CLUSTER_PORT_BASE") == "" {
		os.Setenv("VIREO_CLUSTER_PORT_BASE", "16540")
	}
	os.Setenv("VIREO_CLUSTER_DIR", dir)
	// A cluster left over from an interrupted run would carry old objects.
	_ = exec.Command(filepath.Join(root, "hack/cluster/down")).Run()
	up := exec.Command(filepath.Join(root, "hack/cluster/up"))
	var out bytes.Buffer
	up.Stdout, up.Stderr = &out, &out
	start := time.Now()
	if err := up.Run(); err != nil {
		return nil, fmt.Errorf("hack/cluster/up: %v\n%s", err, out.String())
	}
	fmt.Printf("e2e: control plane up in %.1fs\n", time.Since(start).Seconds())

	binDir := filepath.Join(dir, "bin")
	for _, cmd := range []string{"vireo-controller", "kubectl-vireo"} {
		build := exec.Command("go", "build", "-o", filepath.Join(binDir, cmd), "./cmd/"+cmd)
		build.Dir = root
		if b, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building %s: %v\n%s", cmd, err, b)
		}
	}
	return &cluster{
		dir:        dir,
		kubeconfig: filepath.Join(dir, "kubeconfig"),
		kubectlBin: filepath.Join(testenv.BinDir(), "kubectl"),
		binDir:     binDir,
	}, nil
}

// requireCluster returns the suite's cluster, skipping or failing the test
// when there is none.
func requireCluster(t *testing.T) *cluster {
	t.Helper()
	if setupErr != nil {
		t.Fatalf("local control plane: %v", setupErr)
	}
	if theCluster == nil {
		if os.Getenv("VIREO_REQUIRE_CLUSTER") != "" {
			t.Fatal("local control plane not available")
		}
		t.Skip("local control plane not built; run `make test`")
	}
	return theCluster
}

// kubectl runs kubectl against the cluster and returns its combined output.
func (c *cluster) kubectl(stdin string, args ...string) (string, error) {
	cmd := exec.Command(c.kubectlBin, append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// must runs kubectl and fails the test on error.
func (c *cluster) must(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := c.kubectl(stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// eventually retries check until it returns nil, for at most timeout.
func eventually(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if last = check(); last == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, last)
}

// jsonpath reads one field of an object.
func (c *cluster) jsonpath(t *testing.T, ns, obj, path string) string {
	t.Helper()
	args := []string{"get", obj, "-o", "jsonpath={" + path + "}"}
	if ns != "" {
		args = append(args, "-n", ns)
	}
	out, err := c.kubectl("", args...)
	if err != nil {
		return "error: " + out
	}
	return out
}

// namespace creates a namespace for one test and deletes it afterwards.
func (c *cluster) namespace(t *testing.T, name string) string {
	t.Helper()
	c.must(t, "", "create", "namespace", name)
	t.Cleanup(func() { _, _ = c.kubectl("", "delete", "namespace", name, "--wait=false") })
	return name
}
