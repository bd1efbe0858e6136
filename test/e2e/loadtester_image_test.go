package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The loadtester's image, built without a container engine, runs under
// runc as its own user and answers Flagger's webhooks with the tools they
// call: seed 003's acceptance test (curl | grep token) against a podinfo
// stand-in, a bash test, a hey load test whose requests the server counts,
// and kubectl and helm, each from the image's PATH.
func TestLoadtesterImageRunsUnderRunc(t *testing.T) {
	runc := runcPath(t)
	img := buildImage(t, "vireo-loadtester", t.TempDir())
	if img.user != "65532:65532" || len(img.entry) != 1 || img.entry[0] != "/vireo-loadtester" {
		t.Fatalf("the image config: user %q, entrypoint %v", img.user, img.entry)
	}

	// podinfo's /token and /, on the host's loopback.
	var hits atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/token" {
			_, _ = io.WriteString(w, `{"token":"eyJhbGciOi","expires_at":"2026-12-06T00:00:00Z"}`)
			return
		}
		_, _ = io.WriteString(w, `{"hostname":"podinfo"}`)
	})}
	go func() { _ = app.Serve(ln) }()
	t.Cleanup(func() { _ = app.Close() })
	appURL := "http://" + ln.Addr().String()

	addr := freeAddr(t)
	runImage(t, runc, img, []string{"--listen-address", addr})
	waitHTTPOK(t, "http://"+addr+"/healthz", "the image's loadtester /healthz")

	hook := func(metadata map[string]string) (int, string) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"name": "podinfo", "namespace": "test", "phase": "Progressing", "checksum": "1", "metadata": metadata})
		resp, err := (&http.Client{Timeout: 60 * time.Second}).Post("http://"+addr+"/", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatalf("webhook %v: %v", metadata, err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	for _, tc := range []struct {
		metadata map[string]string
		want     string // in the output
	}{
		// Seed 003's pre-rollout acceptance test, type bash.
		{map[string]string{"type": "bash", "cmd": fmt.Sprintf("curl -sd 'test' %s/token | grep token", appURL), "returnCmdOutput": "true"}, `"token"`},
		{map[string]string{"type": "bash", "cmd": "[[ $(echo ok | tr a-z A-Z) == OK ]] && echo bash works", "returnCmdOutput": "true"}, "bash works"},
		{map[string]string{"type": "bash", "cmd": fmt.Sprintf("hey -n 40 -c 4 %s/", appURL), "returnCmdOutput": "true"}, "[200]\t40 responses"},
		{map[string]string{"type": "kubectl", "cmd": "kubectl version --client", "returnCmdOutput": "true"}, "Client Version"},
		{map[string]string{"type": "helm", "cmd": "helm version --short", "returnCmdOutput": "true"}, "v4."}, // hack/cluster/versions.sh
	} {
		code, out := hook(tc.metadata)
		if code != http.StatusOK || !strings.Contains(out, tc.want) {
			t.Errorf("%s: %d %q, want 200 with %q", tc.metadata["cmd"], code, out, tc.want)
		}
	}
	// A failing command fails the webhook.
	if code, out := hook(map[string]string{"type": "bash", "cmd": fmt.Sprintf("curl -s %s/token | grep nothing-like-this", appURL)}); code == http.StatusOK {
		t.Errorf("a failing acceptance test answered 200: %q", out)
	}
	if n := hits.Load(); n < 42 {
		t.Errorf("podinfo saw %d requests, want at least 42 (2 curls and hey's 40)", n)
	}
	t.Logf("image %s (layer %.1f MiB compressed): curl, bash, hey (%d requests reached the app), kubectl and helm ran as uid 65532", img.digest, float64(img.size)/(1<<20), hits.Load())
}
