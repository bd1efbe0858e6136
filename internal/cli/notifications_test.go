package cli

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The notifications commands on files: list and print templates and
// triggers, evaluate a trigger with a Rollout, and send a template to a
// local webhook; bad arguments are named and exit non-zero.
func TestNotificationsCommands(t *testing.T) {
	var mu sync.Mutex
	var got []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Header.Get("X-Token")+" "+string(b))
		mu.Unlock()
	}))
	defer hook.Close()
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cm := write("cm.yaml", `apiVersion: v1
kind: ConfigMap
metadata: {name: argo-rollouts-notification-configmap}
data:
  service.webhook.ci: |
    url: `+hook.URL+`
    headers: [{name: X-Token, value: $token}]
  template.rollout-completed: |
    message: Rollout {{.rollout.metadata.name}} has been completed.
    webhook:
      ci: {body: 'completed {{.rollout.metadata.name}}'}
  trigger.on-rollout-completed: |
    - send: [rollout-completed]
  trigger.on-big-step: |
    - when: rollout.status.currentStepIndex >= 2
      send: [rollout-completed]
  defaultTriggers: |
    - on-rollout-completed
`)
	secret := write("secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: argo-rollouts-notification-secret}\nstringData: {token: tok-123}\n")
	ro := write("rollout.yaml", "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: demo}\nstatus: {currentStepIndex: 3}\n")
	files := []string{"notifications", "--config-map", cm, "--secret", secret}
	cli := func(args ...string) (int, string, string) {
		return runCLI(t, "", append(append([]string{}, files...), args...)...)
	}

	if code, out, errOut := cli("template", "get"); code != 0 || !strings.Contains(out, "rollout-completed") || !strings.Contains(out, "webhook") {
		t.Errorf("template get: %d %q %q", code, out, errOut)
	}
	if code, out, _ := cli("template", "get", "rollout-completed"); code != 0 || !strings.Contains(out, "has been completed") {
		t.Errorf("template get NAME: %d %q", code, out)
	}
	if code, out, _ := cli("trigger", "get"); code != 0 || !strings.Contains(out, "on-big-step") || !strings.Contains(out, "true") {
		t.Errorf("trigger get: %d %q", code, out)
	}
	if code, out, errOut := cli("trigger", "run", "on-big-step", ro); code != 0 || !strings.Contains(out, "true") {
		t.Errorf("trigger run: %d %q %q", code, out, errOut)
	}
	if code, out, errOut := cli("template", "notify", "rollout-completed", ro, "--recipient", "webhook.ci:"); code != 0 || !strings.Contains(out, "sent rollout-completed") {
		t.Fatalf("template notify: %d %q %q", code, out, errOut)
	}
	mu.Lock()
	if len(got) != 1 || got[0] != "tok-123 completed demo" {
		t.Errorf("the webhook received %q", got)
	}
	mu.Unlock()

	for args, want := range map[string]string{
		"template get missing":                                             "no template.missing",
		"trigger run nope " + ro:                                           "no trigger.nope",
		"template notify rollout-completed " + ro:                          "--recipient",
		"template notify rollout-completed " + ro + " --recipient slack":   `--recipient "slack"`,
		"template notify rollout-completed " + ro + " --recipient other:x": "no service.other",
	} {
		if code, _, errOut := cli(strings.Fields(args)...); code == 0 || !strings.Contains(errOut, want) {
			t.Errorf("%s: exit %d, %q; want it to name %s", args, code, errOut, want)
		}
	}
}
