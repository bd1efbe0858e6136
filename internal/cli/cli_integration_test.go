package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/testenv"
)

// cliRun runs kubectl-vireo with args against a kubeconfig, as a user would.
func argValues(args []v1alpha1.Argument) map[string]string {
	out := map[string]string{}
	for _, a := range args {
		if a.Value != nil {
			out[a.Name] = *a.Value
		}
	}
	return out
}

func cliRun(t *testing.T, ctx context.Context, kubeconfig string, args ...string) (code int, out, errOut string) {
	t.Helper()
	var o, e bytes.Buffer
	code = Main(ctx, append(args, "--kubeconfig", kubeconfig), genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: &o, ErrOut: &e})
	return code, o.String(), e.String()
}

// The commands against a real API server, without a controller: each
// changes the fields it should, reads what it should, and fails with a
// message naming the object when it cannot.
func TestCommandsAgainstAPIServer(t *testing.T) {
	env := testenv.Start(t)
	c := env.Client
	ctx := context.Background()
	ns := "shop"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	kc := env.Kubeconfig(t, ns)
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rollouts-demo"},
		Spec: v1alpha1.RolloutSpec{Replicas: ptr.To[int32](5),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "demo"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "demo"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "rollouts-demo", Image: "argoproj/rollouts-demo:blue"}, {Name: "sidecar", Image: "envoy:1"}}}},
			Strategy: canarySteps(),
		}}
	if err := c.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: ns, Name: ro.Name}
	read := func() *v1alpha1.Rollout {
		t.Helper()
		got := &v1alpha1.Rollout{}
		if err := c.Get(ctx, key, got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	setStatus := func(st v1alpha1.RolloutStatus) {
		t.Helper()
		cur := read()
		cur.Status = st
		if err := c.Status().Update(ctx, cur); err != nil {
			t.Fatal(err)
		}
	}
	ok := func(args ...string) string {
		t.Helper()
		code, out, errOut := cliRun(t, ctx, kc, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		return out
	}
	setStatus(v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutPhasePaused, Message: "CanaryPauseStep", CurrentStepIndex: ptr.To[int32](1),
		PauseConditions: []v1alpha1.PauseCondition{{Reason: "CanaryPauseStep", StartTime: metav1.Now()}}})

	// Reading.
	out := ok("get", "rollout", "rollouts-demo")
	for _, want := range []string{"Status:         ॥ Paused", "Step:         1/8", "SetWeight:    20", "⟳ rollouts-demo"} {
		if !strings.Contains(out, want) {
			t.Errorf("get rollout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("colour when not writing to a terminal")
	}
	// A message from the cluster cannot drive the terminal (OSC 52 writes
	// the clipboard): it is shown escaped.
	setStatus(v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutPhaseDegraded, Message: "bad \x1b]52;c;aGVsbG8=\x07 news"})
	for _, args := range [][]string{{"get", "rollout", "rollouts-demo"}} {
		out := ok(args...)
		if strings.Contains(out, "\x1b]") || strings.Contains(out, "\a") || !strings.Contains(out, `\x1b]52;c;aGVsbG8=\x07`) {
			t.Errorf("%v shows the message raw:\n%q", args, out)
		}
	}
	setStatus(v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutPhasePaused, Message: "CanaryPauseStep", CurrentStepIndex: ptr.To[int32](1),
		PauseConditions: []v1alpha1.PauseCondition{{Reason: "CanaryPauseStep", StartTime: metav1.Now()}}})
	out = ok("list", "rollouts")
	if !strings.Contains(out, "rollouts-demo") || !strings.Contains(out, "॥ Paused") || !strings.Contains(out, "1/8") {
		t.Errorf("list rollouts:\n%s", out)
	}
	if out = ok("list", "rollouts", "-A"); !strings.HasPrefix(out, "NAMESPACE") || !strings.Contains(out, "shop") {
		t.Errorf("list rollouts -A:\n%s", out)
	}
	if out = ok("list", "rollouts", "-n", "default"); !strings.Contains(out, "No rollouts in namespace default") {
		t.Errorf("list rollouts in an empty namespace:\n%s", out)
	}

	// Acting: each command changes what Argo's plugin changes.
	ok("promote", "rollouts-demo")
	if got := read(); len(got.Status.PauseConditions) != 0 {
		t.Errorf("promote left pause conditions %v", got.Status.PauseConditions)
	}
	ok("promote", "rollouts-demo", "--full")
	if !read().Status.PromoteFull {
		t.Error("promote --full did not set status.promoteFull")
	}
	ok("pause", "rollouts-demo")
	if !read().Spec.Paused {
		t.Error("pause did not set spec.paused")
	}
	ok("abort", "rollouts-demo")
	if !read().Status.Abort {
		t.Error("abort did not set status.abort")
	}
	ok("retry", "rollout", "rollouts-demo")
	if read().Status.Abort {
		t.Error("retry did not clear status.abort")
	}
	before := time.Now().Add(-time.Second)
	ok("restart", "rollouts-demo", "--in", "1h")
	if at := read().Spec.RestartAt; at == nil || at.Time.Before(before.Add(time.Hour)) {
		t.Errorf("restart --in 1h: restartAt %v", at)
	}
	if out = ok("set", "image", "rollouts-demo", "rollouts-demo=argoproj/rollouts-demo:yellow"); out != "rollout 'rollouts-demo' image updated\n" {
		t.Errorf("set image printed %q", out)
	}
	if got := read().Spec.Template.Spec.Containers; got[0].Image != "argoproj/rollouts-demo:yellow" || got[1].Image != "envoy:1" {
		t.Errorf("set image: %v", got)
	}
	ok("set", "image", "rollouts-demo", "*=argoproj/rollouts-demo:green")
	if got := read().Spec.Template.Spec.Containers; got[0].Image != "argoproj/rollouts-demo:green" || got[1].Image != "argoproj/rollouts-demo:green" {
		t.Errorf("set image *: %v", got)
	}

	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rollouts-demo-2-1"},
		Spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{{Name: "m", Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://127.0.0.1:1/"}}}}}}
	if err := c.Create(ctx, run); err != nil {
		t.Fatal(err)
	}
	if out = ok("terminate", "analysisrun", "rollouts-demo-2-1"); out != "analysisrun 'rollouts-demo-2-1' terminated\n" {
		t.Errorf("terminate printed %q", out)
	}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: run.Name}, run); err != nil || !run.Spec.Terminate {
		t.Errorf("terminate did not set spec.terminate: %v", err)
	}

	// create -f, then create analysisrun from what it created.
	manifest := filepath.Join(t.TempDir(), "templates.yaml")
	if err := os.WriteFile(manifest, []byte(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  args: [{name: service-name}, {name: threshold, value: "0.95"}]
  metrics:
  - name: success-rate
    successCondition: result >= {{args.threshold}}
    provider: {web: {url: "http://{{args.service-name}}/rate", jsonPath: "{$.rate}"}}
---
apiVersion: argoproj.io/v1alpha1
kind: ClusterAnalysisTemplate
metadata: {name: always-up}
spec:
  metrics: [{name: up, provider: {web: {url: "http://127.0.0.1:1/"}}}]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out = ok("create", "-f", manifest); out != "analysistemplate/success-rate created\nclusteranalysistemplate/always-up created\n" {
		t.Errorf("create -f printed %q", out)
	}
	if out = ok("create", "analysisrun", "--from", "success-rate", "-a", "service-name=rollouts-demo", "--name", "check-1"); out != "analysisrun.argoproj.io/check-1 created\n" {
		t.Errorf("create analysisrun printed %q", out)
	}
	created := &v1alpha1.AnalysisRun{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "check-1"}, created); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(argValues(created.Spec.Args)); got != "map[service-name:rollouts-demo threshold:0.95]" || len(created.Spec.Metrics) != 1 {
		t.Errorf("created run: args %s, metrics %v", got, created.Spec.Metrics)
	}
	if out = ok("create", "analysisrun", "--from", "always-up", "--global"); !strings.HasPrefix(out, "analysisrun.argoproj.io/always-up-") {
		t.Errorf("create analysisrun --global printed %q", out)
	}

	// Failing clearly, with a non-zero exit.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"promote", "nope"}, `rollout "nope" in namespace "shop": not found`},
		{[]string{"get", "rollout", "nope"}, "rollout nope not found in namespace shop"},
		{[]string{"status", "nope"}, "rollout nope not found in namespace shop"},
		{[]string{"set", "image", "rollouts-demo", "web=x"}, `rollout rollouts-demo has no container "web" (it has rollouts-demo, sidecar)`},
		{[]string{"set", "image", "rollouts-demo", "web"}, `"web" is not CONTAINER=IMAGE`},
		{[]string{"undo", "rollouts-demo", "--to-revision", "7"}, "revision 7"},
		{[]string{"restart", "rollouts-demo", "--in", "-5m"}, "--in -5m0s: give a duration from now"},
		{[]string{"get", "rollout", "a", "b"}, "one rollout name, got 2 arguments"},
		{[]string{"terminate", "analysisrun", "nope"}, `AnalysisRun "nope" in namespace "shop": not found`},
		{[]string{"create", "analysisrun", "--from", "success-rate"}, "args.service-name: the template declares it without a value and none was given (give args as -a NAME=VALUE)"},
		{[]string{"create", "analysisrun", "--from", "nope"}, "nope"},
		{[]string{"create", "analysisrun", "--from", "success-rate", "-a", "oops"}, `-a "oops": give NAME=VALUE`},
		{[]string{"create", "-f", "/nonexistent.yaml"}, "reading /nonexistent.yaml"},
	} {
		code, _, errOut := cliRun(t, ctx, kc, tc.args...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q; want %q", tc.args, code, errOut, tc.want)
		}
	}

	// status: its exit code says Healthy, Degraded, or still waiting.
	setStatus(v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutPhaseDegraded, Message: "RolloutAborted: aborted by the user", Abort: true})
	if code, out, errOut := cliRun(t, ctx, kc, "status", "rollouts-demo"); code != 1 || !strings.Contains(out, "Degraded - RolloutAborted") || !strings.Contains(errOut, "is Degraded") {
		t.Errorf("status of a Degraded rollout: exit %d, %q %q", code, out, errOut)
	}
	setStatus(v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutPhaseProgressing, Message: "more replicas need to be updated"})
	if code, _, errOut := cliRun(t, ctx, kc, "status", "rollouts-demo", "--watch", "--timeout", "1s"); code != 1 || !strings.Contains(errOut, "still Progressing - more replicas need to be updated after 1s") {
		t.Errorf("status --watch --timeout: exit %d, %q", code, errOut)
	}
	go func() {
		time.Sleep(500 * time.Millisecond)
		cur := &v1alpha1.Rollout{}
		if err := c.Get(ctx, key, cur); err != nil {
			t.Error(err)
			return
		}
		cur.Status = v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutPhaseHealthy}
		if err := c.Status().Update(ctx, cur); err != nil {
			t.Error(err)
		}
	}()
	code, out, errOut := cliRun(t, ctx, kc, "status", "rollouts-demo", "--watch", "--timeout", "30s")
	if code != 0 || out != "Progressing - more replicas need to be updated\nHealthy\n" {
		t.Errorf("status --watch until Healthy: exit %d, %q %q", code, out, errOut)
	}
}
