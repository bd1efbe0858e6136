// Package live runs seed 000's story on the live stack (hack/live/up): real
// HTTP requests from the load generator through Traefik to demo app processes,
// a real Prometheus measuring them, and Vireo's controller moving the weights.
// Each router gets a shortened scenario in `make test`; `make bench-live` runs
// the full-length one and prints a table of the measures.
package live

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/testenv"
)

// stack is the running live stack.
type stack struct {
	root       string
	dir        string // hack/live's state directory
	kubeconfig string // for this (host) side, through the forwarded port
	webURL     string // Traefik's web entry point, forwarded
	traefikURL string // Traefik's API, forwarded
	client     client.Client
}

var (
	theStack *stack
	setupErr error
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	root := testenv.RepoRoot()
	if _, err := os.Stat(filepath.Join(testenv.BinDir(), "kwok")); err != nil && os.Getenv("VIREO_REQUIRE_CLUSTER") == "" {
		fmt.Println("live: control plane not built; run `make test` to run this suite")
		return m.Run() // every test skips through need
	}
	if os.Getuid() != 0 {
		setupErr = fmt.Errorf("the live stack needs root to create its network namespace")
		return m.Run()
	}
	s, err := startStack(root)
	if err != nil {
		setupErr = err
		return m.Run()
	}
	theStack = s
	code := m.Run()
	if os.Getenv("VIREO_LIVE_KEEP") == "" {
		if out, err := exec.Command(filepath.Join(root, "hack/live/down")).CombinedOutput(); err != nil {
			fmt.Printf("live: hack/live/down: %v\n%s", err, out)
		}
	} else {
		fmt.Printf("live: stack kept: export KUBECONFIG=%s\n", s.kubeconfig)
	}
	return code
}

func startStack(root string) (*stack, error) {
	dir := filepath.Join(root, ".live")
	if os.Getenv("VIREO_LIVE_KEEP") == "" {
		// A stack left over from an interrupted run would carry old objects.
		_ = exec.Command(filepath.Join(root, "hack/live/down")).Run()
	}
	up := exec.Command(filepath.Join(root, "hack/live/up"))
	var out bytes.Buffer
	up.Stdout, up.Stderr = &out, &out
	start := time.Now()
	if err := up.Run(); err != nil {
		return nil, fmt.Errorf("hack/live/up: %v\n%s", err, out.String())
	}
	fmt.Printf("live: stack up in %.1fs\n", time.Since(start).Seconds())
	kubeconfig := filepath.Join(dir, "kubeconfig")
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 200, 400
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	base := 18080 // hack/live/env.sh's LIVE_PORT_BASE
	if v := os.Getenv("VIREO_LIVE_PORT_BASE"); v != "" {
		if _, err := fmt.Sscan(v, &base); err != nil {
			return nil, fmt.Errorf("VIREO_LIVE_PORT_BASE: %q is not a port", v)
		}
	}
	return &stack{root: root, dir: dir, kubeconfig: kubeconfig, client: c,
		webURL: fmt.Sprintf("http://127.0.0.1:%d", base), traefikURL: fmt.Sprintf("http://127.0.0.1:%d", base+1)}, nil
}

// need returns the live stack, or skips or fails the test without it.
func need(t *testing.T) *stack {
	t.Helper()
	if theStack != nil {
		return theStack
	}
	if setupErr != nil {
		t.Fatalf("live stack: %v", setupErr)
	}
	t.Skip("the live stack is not built; run `make test`")
	return nil
}

// kubectl runs kubectl against the live stack and fails the test on error.
func (s *stack) kubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(testenv.BinDir(), "kubectl"), append([]string{"--kubeconfig", s.kubeconfig}, args...)...)
	if stdin != "" {
		cmd.Stdin = bytes.NewBufferString(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %v: %v\n%s", args, err, out)
	}
	return string(out)
}
