package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The controller's default egress policy: a template author cannot make it
// call a loopback address (a sidecar, the node's own services). A web
// metric pointed at one is an Error that names --allow-loopback, and the
// server never hears from it.
func TestLoopbackRefusedByDefault(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	probe := freeAddr(t)
	startProcess(t, "controller", filepath.Join(c.binDir, "vireo-controller"), "--kubeconfig", c.serviceAccountKubeconfig(t),
		"--metrics-bind-address", "0", "--health-probe-bind-address", probe)
	waitHTTPOK(t, "http://"+probe+"/readyz", "controller /readyz")
	url, arrivals := webServerFunc(t, func() string { return `{"ok": 1}` })
	ns := c.namespace(t, "egress")
	c.must(t, fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {name: loopback}
spec:
  metrics:
  - name: sidecar
    count: 1
    successCondition: result == 1
    provider:
      web: {url: %q, jsonPath: "{$.ok}"}
`, url), "apply", "-n", ns, "-f", "-")
	eventually(t, 60*time.Second, "the measurement refused", func() error {
		msg := c.jsonpath(t, ns, "analysisrun/loopback", ".status.metricResults[0].measurements[0].message")
		if !strings.Contains(msg, "--allow-loopback") {
			return fmt.Errorf("message %q", msg)
		}
		return nil
	})
	if n := len(arrivals()); n != 0 {
		t.Errorf("the loopback server got %d requests", n)
	}
}
