package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vireo-dev/vireo/internal/testenv"
)

// controllerProcess is vireo-controller running as a separate process with the
// vireo-controller ServiceAccount's token: exactly the RBAC config/ installs.
type controllerProcess struct {
	cmd     *exec.Cmd
	logPath string
	exited  chan error
	done    bool
}

// installDefault applies config/default and scales its Deployment to zero: no
// container runtime runs here, so tests run the binary as a process instead.
func (c *cluster) installDefault(t *testing.T) {
	t.Helper()
	c.must(t, "", "apply", "-k", filepath.Join(testenv.RepoRoot(), "config", "default"))
	c.must(t, "", "wait", "--for=condition=Established", "crd", "--all", "--timeout=30s")
	c.must(t, "", "scale", "deployment/vireo-controller", "-n", systemNamespace, "--replicas=0")
}

// startController runs the controller until the test ends, and waits until it
// is ready. Its log is printed if the test fails.
func (c *cluster) startController(t *testing.T, args ...string) *controllerProcess {
	t.Helper()
	probe := freeAddr(t)
	// --allow-loopback: the tests' metric services, webhooks and receivers
	// listen on loopback, which the controller refuses by default.
	all := append([]string{"--kubeconfig", c.serviceAccountKubeconfig(t), "--metrics-bind-address", "0",
		"--health-probe-bind-address", probe, "--log-level", "debug", "--allow-loopback"}, args...)
	p := startProcess(t, "controller", filepath.Join(c.binDir, "vireo-controller"), all...)
	waitHTTPOK(t, "http://"+probe+"/readyz", "controller /readyz")
	return p
}

// startProcess runs a controller binary until it is stopped or the test
// ends (then killed); the end of its log is printed if the test fails.
func startProcess(t *testing.T, name, bin string, args ...string) *controllerProcess {
	t.Helper()
	p := &controllerProcess{logPath: filepath.Join(t.TempDir(), name+".log"), exited: make(chan error, 1)}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait(); logFile.Close() }()
	t.Cleanup(func() {
		if !p.done {
			_ = p.stop(syscall.SIGKILL, 10*time.Second)
		}
		if t.Failed() {
			log := p.log()
			if len(log) > 200000 {
				log = "...\n" + log[len(log)-200000:]
			}
			t.Logf("%s log:\n%s", name, log)
		}
	})
	return p
}

// setTemplate gives a Rollout's pod template a new image and the
// simulated pods' readiness delay (kwok's sim.vireo.dev/ready-after).
func (c *cluster) setTemplate(t *testing.T, ns, name, image, readyAfter string) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"sim.vireo.dev/ready-after":%q}},"spec":{"containers":[{"name":"app","image":"argoproj/rollouts-demo:%s"}]}}}}`, readyAfter, image)
	c.must(t, patch, "patch", "rollout/"+name, "-n", ns, "--type=merge", "--patch-file=/dev/stdin")
}

// waitHTTPOK waits until a URL answers 200.
func waitHTTPOK(t *testing.T, url, what string) {
	t.Helper()
	eventually(t, 30*time.Second, what, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

// stop signals the controller and waits for it to exit; after SIGTERM it must
// exit cleanly.
func (p *controllerProcess) stop(sig syscall.Signal, timeout time.Duration) error {
	if p.done {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return err
	}
	select {
	case err := <-p.exited:
		p.done = true
		if sig == syscall.SIGTERM && err != nil {
			return fmt.Errorf("controller exited with %v after SIGTERM", err)
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("controller did not stop within %s of %v", timeout, sig)
	}
}

func (p *controllerProcess) log() string {
	data, _ := os.ReadFile(p.logPath)
	return string(data)
}

// serviceAccountKubeconfig writes a kubeconfig that authenticates as the
// vireo-controller ServiceAccount with a short-lived token.
func (c *cluster) serviceAccountKubeconfig(t *testing.T) string {
	t.Helper()
	return c.serviceAccountKubeconfigIn(t, systemNamespace)
}

// serviceAccountKubeconfigIn is serviceAccountKubeconfig for the
// vireo-controller ServiceAccount of another namespace (a Helm release's).
func (c *cluster) serviceAccountKubeconfigIn(t *testing.T, ns string) string {
	t.Helper()
	token := strings.TrimSpace(c.must(t, "", "create", "token", "vireo-controller", "-n", ns, "--duration=1h"))
	server := c.must(t, "", "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}")
	ca := c.must(t, "", "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.certificate-authority}")
	path := filepath.Join(t.TempDir(), "controller.kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: %q, certificate-authority: %q}}]
users: [{name: vireo-controller, user: {token: %q}}]
contexts: [{name: vireo-controller, context: {cluster: local, user: vireo-controller}}]
current-context: vireo-controller
`, server, ca, token)
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// setImage changes the image of an object's first container (a Rollout, or a
// Deployment a workloadRef names), as a user's `kubectl set image` would.
func (c *cluster) setImage(t *testing.T, ns, obj, color string) {
	t.Helper()
	c.must(t, fmt.Sprintf(`[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"argoproj/rollouts-demo:%s"}]`, color),
		"patch", obj, "-n", ns, "--type=json", "--patch-file=/dev/stdin")
}

// manyRollouts is n canary Rollouts ro-000.. of 4 replicas, with steps
// setWeight 25, pause, 50, pause, 75, pause.
func manyRollouts(n int, pause string) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: ro-%03d}
spec:
  replicas: 4
  selector: {matchLabels: {app: ro-%03d}}
  template:
    metadata: {labels: {app: ro-%03d}}
    spec: {containers: [{name: app, image: argoproj/rollouts-demo:blue}]}
  strategy:
    canary:
      steps: [{setWeight: 25}, {pause: {duration: %s}}, {setWeight: 50}, {pause: {duration: %s}}, {setWeight: 75}, {pause: {duration: %s}}]
`, i, i, i, pause, pause, pause)
	}
	return b.String()
}

// allHealthy checks that the namespace's n Rollouts are all Healthy and fully
// promoted on an image ending in suffix.
func (c *cluster) allHealthy(t *testing.T, ns string, n int, suffix string) func() error {
	return func() error {
		out := c.must(t, "", "get", "rollouts", "-n", ns, "-o",
			`jsonpath={range .items[*]}{.metadata.name}|{.status.phase}|{.spec.template.spec.containers[0].image}|{.status.stableRS}|{.status.currentPodHash}{" "}{end}`)
		rows := strings.Fields(out)
		var bad []string
		for _, row := range rows {
			f := strings.Split(row, "|")
			if len(f) != 5 || f[1] != "Healthy" || !strings.HasSuffix(f[2], suffix) || f[3] != f[4] {
				bad = append(bad, row)
			}
		}
		if len(rows) != n || len(bad) > 0 {
			if len(bad) > 5 {
				bad = append(bad[:5], "...")
			}
			return fmt.Errorf("%d rollouts; %d not Healthy on %s: %v", len(rows), len(bad), suffix, bad)
		}
		return nil
	}
}
