package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vireo-dev/vireo/internal/testenv"
)

// helm runs Helm (built by hack/cluster/build helm) against the cluster.
func (c *cluster) helm(t *testing.T, args ...string) string {
	t.Helper()
	bin := filepath.Join(testenv.BinDir(), "helm")
	cmd := exec.Command(bin, append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helm %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// `helm install` of charts/vireo gives a working controller: no container
// runtime runs here, so the release's Deployment is scaled to zero and the
// controller runs as a process with the release's ServiceAccount token and
// the chart's flags, as make demo does. It takes a Rollout to Healthy
// through an update; the suite's audit check then finds no write of it
// refused by the chart's RBAC.
func TestHelmInstall(t *testing.T) {
	c := requireCluster(t)
	release := c.namespace(t, "vireo-helm")
	c.helm(t, "install", "vireo", filepath.Join(testenv.RepoRoot(), "charts", "vireo"), "-n", release, "--wait=false")
	t.Cleanup(func() {
		_, _ = exec.Command(filepath.Join(testenv.BinDir(), "helm"), "--kubeconfig", c.kubeconfig, "uninstall", "vireo", "-n", release).CombinedOutput()
	})
	c.must(t, "", "wait", "--for=condition=Established", "crd/rollouts.argoproj.io", "crd/canaries.flagger.app", "--timeout=30s")
	args := c.must(t, "", "get", "deployment/vireo-controller", "-n", release, "-o", "jsonpath={.spec.template.spec.containers[0].args}")
	for _, want := range []string{"--leader-elect", "--flagger=auto"} {
		if !strings.Contains(args, want) {
			t.Fatalf("the release's controller args %s lack %s", args, want)
		}
	}
	c.must(t, "", "scale", "deployment/vireo-controller", "-n", release, "--replicas=0")
	probe := freeAddr(t)
	startProcess(t, "controller", filepath.Join(c.binDir, "vireo-controller"), "--kubeconfig", c.serviceAccountKubeconfigIn(t, release),
		"--leader-elect", "--leader-election-namespace", release, "--metrics-bind-address", "0", "--health-probe-bind-address", probe)
	waitHTTPOK(t, "http://"+probe+"/readyz", "the chart's controller /readyz")

	ns := c.namespace(t, "helm-app")
	c.must(t, manyRollouts(1, "1s"), "apply", "-n", ns, "-f", "-")
	eventually(t, 90*time.Second, "the Rollout Healthy under the chart's controller", c.allHealthy(t, ns, 1, ":blue"))
	c.setImage(t, ns, "rollout/ro-000", "green")
	eventually(t, 90*time.Second, "the update promoted", c.allHealthy(t, ns, 1, ":green"))
	holder := c.must(t, "", "get", "lease", "vireo-controller-leader", "-n", release, "-o", "jsonpath={.spec.holderIdentity}")
	if holder == "" {
		t.Error("no leader recorded in the release's namespace")
	}
	t.Logf("helm install: controller ran as system:serviceaccount:%s:vireo-controller, leader %s", release, holder)
}
