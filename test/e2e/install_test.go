package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vireo-dev/vireo/internal/testenv"
)

const (
	systemNamespace = "vireo-system"
	serviceAccount  = "system:serviceaccount:vireo-system:vireo-controller"
)

// config/default installs on the local control plane, and the controller runs
// with exactly the RBAC it installs: there is no container runtime here, so the
// Deployment is scaled to zero and the binary runs as a local process with a
// token of the vireo-controller ServiceAccount.
func TestInstallDefaultAndRunAsServiceAccount(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)

	t.Run("RBAC is least privilege", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"list", "secrets", "-A"}, "no"},
			{[]string{"watch", "secrets", "-A"}, "no"},
			{[]string{"get", "secrets", "-n", "default"}, "yes"},
			{[]string{"delete", "pods", "-n", "default"}, "no"},
			{[]string{"create", "pods", "--subresource=eviction", "-n", "default"}, "yes"},
			{[]string{"patch", "rollouts.argoproj.io", "--subresource=status", "-n", "default"}, "yes"},
			{[]string{"create", "leases.coordination.k8s.io", "-n", systemNamespace}, "yes"},
			{[]string{"create", "leases.coordination.k8s.io", "-n", "default"}, "no"},
			{[]string{"create", "clusterroles.rbac.authorization.k8s.io"}, "no"},
		} {
			out, _ := c.kubectl("", append([]string{"auth", "can-i", "--as", serviceAccount}, tc.args...)...)
			if got := lastWord(out); got != tc.want {
				t.Errorf("can the controller %s? %q, want %q", strings.Join(tc.args, " "), got, tc.want)
			}
		}
	})

	ctrl := c.startController(t, "--leader-elect", "--leader-election-namespace", systemNamespace)
	eventually(t, 30*time.Second, "leader-election Lease held", func() error {
		if h := c.jsonpath(t, systemNamespace, "lease/vireo-controller-leader", ".spec.holderIdentity"); h == "" || strings.HasPrefix(h, "error") {
			return fmt.Errorf("holder %q", h)
		}
		return nil
	})

	ns := c.namespace(t, "e2e-install")
	c.must(t, `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: broken}
spec:
  replicas: 3
  selector: {matchLabels: {app: broken}}
  template:
    metadata: {labels: {app: broken}}
    spec: {containers: [{name: app, image: demo:blue}]}
  strategy:
    canary:
      steps: [{setWeight: 120}, {pause: {duration: later}}]
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: good}
spec:
  replicas: 3
  selector: {matchLabels: {app: good}}
  template:
    metadata: {labels: {app: good}}
    spec: {containers: [{name: app, image: demo:blue}]}
  strategy:
    canary:
      steps: [{setWeight: 20}, {pause: {}}, {setWeight: 60}, {pause: {duration: 30s}}]
`, "apply", "-n", ns, "-f", "-")

	eventually(t, 30*time.Second, "broken rollout gets InvalidSpec", func() error {
		msg := c.jsonpath(t, ns, "rollout/broken", `.status.conditions[?(@.type=="InvalidSpec")].message`)
		if !strings.Contains(msg, "spec.strategy.canary.steps[0].setWeight") || !strings.Contains(msg, "spec.strategy.canary.steps[1].pause.duration") {
			return fmt.Errorf("InvalidSpec message %q", msg)
		}
		return nil
	})
	if p := c.jsonpath(t, ns, "rollout/broken", ".status.phase"); p != "Degraded" {
		t.Errorf("invalid rollout phase %q, want Degraded", p)
	}
	eventually(t, 30*time.Second, "good rollout observed", func() error {
		if g := c.jsonpath(t, ns, "rollout/good", ".status.observedGeneration"); g != "1" {
			return fmt.Errorf("observedGeneration %q", g)
		}
		return nil
	})

	t.Run("kubectl habits", func(t *testing.T) {
		header := firstLine(c.must(t, "", "get", "ro", "-n", ns))
		if strings.Join(strings.Fields(header), " ") != "NAME DESIRED CURRENT UP-TO-DATE AVAILABLE AGE" {
			t.Errorf("kubectl get ro columns: %q", header)
		}
		if out := c.must(t, "", "get", "all", "-n", ns); !strings.Contains(out, "rollout.argoproj.io/good") {
			t.Errorf("kubectl get all does not list rollouts:\n%s", out)
		}
		if out := c.must(t, "", "get", "argoproj", "-n", ns); !strings.Contains(out, "rollout.argoproj.io/broken") {
			t.Errorf("kubectl get argoproj does not list rollouts:\n%s", out)
		}
		// The scale subresource is what an HPA uses.
		c.must(t, "", "scale", "rollout/good", "-n", ns, "--replicas=5")
		if r := c.jsonpath(t, ns, "rollout/good", ".spec.replicas"); r != "5" {
			t.Errorf("after kubectl scale, spec.replicas = %q", r)
		}
		eventually(t, 30*time.Second, "new generation observed", func() error {
			if g := c.jsonpath(t, ns, "rollout/good", ".status.observedGeneration"); g != "2" {
				return fmt.Errorf("observedGeneration %q", g)
			}
			return nil
		})
	})

	// The installed RBAC was enough: nothing was forbidden.
	if log := ctrl.log(); strings.Contains(strings.ToLower(log), "forbidden") {
		t.Errorf("the controller hit RBAC denials; log:\n%s", log)
	}

	// A graceful stop releases the Lease so a successor takes over at once.
	if err := ctrl.stop(syscall.SIGTERM, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if h := c.jsonpath(t, systemNamespace, "lease/vireo-controller-leader", ".spec.holderIdentity"); h != "" {
		t.Errorf("Lease still held by %q after a graceful stop", h)
	}
}

// lastWord is the last word kubectl printed: `auth can-i` may print warnings
// before its answer.
func lastWord(out string) string {
	f := strings.Fields(out)
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

// config/namespaced installs into one namespace with a Role: the controller can
// act there and nowhere else.
func TestInstallNamespaced(t *testing.T) {
	c := requireCluster(t)
	c.must(t, "", "apply", "-k", filepath.Join(testenv.RepoRoot(), "config", "crd"))
	ns := c.namespace(t, "team-a")
	c.must(t, "", "apply", "-n", ns, "-k", filepath.Join(testenv.RepoRoot(), "config", "namespaced"))
	sa := "system:serviceaccount:" + ns + ":vireo-controller"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"patch", "rollouts.argoproj.io", "--subresource=status", "-n", ns}, "yes"},
		{[]string{"create", "replicasets.apps", "-n", ns}, "yes"},
		{[]string{"get", "secrets", "-n", ns}, "yes"},
		{[]string{"list", "secrets", "-n", ns}, "no"},
		{[]string{"get", "rollouts.argoproj.io", "-n", "default"}, "no"},
		{[]string{"create", "replicasets.apps", "-n", "default"}, "no"},
		{[]string{"get", "secrets", "-n", "default"}, "no"},
	} {
		out, _ := c.kubectl("", append([]string{"auth", "can-i", "--as", sa}, tc.args...)...)
		if got := lastWord(out); got != tc.want {
			t.Errorf("namespaced controller: can it %s? %q, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
	args := c.jsonpath(t, ns, "deployment/vireo-controller", ".spec.template.spec.containers[0].args")
	if !strings.Contains(args, "--namespace=$(POD_NAMESPACE)") {
		t.Errorf("namespaced controller args %s lack --namespace=$(POD_NAMESPACE)", args)
	}
}
