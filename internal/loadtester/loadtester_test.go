package loadtester

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

func post(t *testing.T, url string, p Payload) (int, string) {
	t.Helper()
	body, _ := json.Marshal(p)
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(out))
}

func payload(ns string, meta map[string]string) Payload {
	return Payload{Name: "podinfo", Namespace: ns, Phase: "Progressing", Metadata: meta}
}

// The tasks and gates against real shells and a real HTTP server standing
// in for podinfo.
func TestTasks(t *testing.T) {
	podinfo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" && r.Method == http.MethodPost {
			fmt.Fprint(w, `{"token":"abc","expires_at":"2026-12-06T10:00:00Z"}`)
			return
		}
		http.NotFound(w, r)
	}))
	defer podinfo.Close()
	s := &Server{Timeout: 2 * time.Second, MaxRunning: 4, Namespaces: regexp.MustCompile(`^(test|demo)$`), Log: logr.Discard()}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	t.Run("the seed's acceptance test passes against podinfo", func(t *testing.T) {
		code, _ := post(t, srv.URL, payload("test", map[string]string{"type": "bash",
			"cmd": "curl -sd 'test' " + podinfo.URL + "/token | grep token"}))
		if code != http.StatusOK {
			t.Errorf("status %d, want 200", code)
		}
		code, body := post(t, srv.URL, payload("test", map[string]string{"type": "bash",
			"cmd": "curl -sd 'test' " + podinfo.URL + "/nothing | grep token"}))
		if code != http.StatusInternalServerError || !strings.Contains(body, "failed") {
			t.Errorf("a failing check: %d %q, want 500 saying it failed", code, body)
		}
	})
	t.Run("returnCmdOutput returns the output", func(t *testing.T) {
		code, body := post(t, srv.URL, payload("test", map[string]string{"type": "bash", "cmd": "echo hello", "returnCmdOutput": "true"}))
		if code != http.StatusOK || body != "hello" {
			t.Errorf("got %d %q, want 200 hello", code, body)
		}
	})
	t.Run("a command past the timeout fails", func(t *testing.T) {
		start := time.Now()
		code, body := post(t, srv.URL, payload("test", map[string]string{"type": "bash", "cmd": "sleep 30"}))
		if code != http.StatusInternalServerError || !strings.Contains(body, "timed out") || time.Since(start) > 10*time.Second {
			t.Errorf("got %d %q after %s, want 500 timed out after about 2s", code, body, time.Since(start))
		}
	})
	t.Run("a background command runs once at a time per canary", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "runs")
		cmd := fmt.Sprintf("echo run >> %s; sleep 1", file)
		for range 3 {
			if code, _ := post(t, srv.URL, payload("demo", map[string]string{"cmd": cmd})); code != http.StatusAccepted {
				t.Fatalf("status %d, want 202", code)
			}
		}
		s.Wait()
		data, _ := os.ReadFile(file)
		if n := strings.Count(string(data), "run"); n != 1 {
			t.Errorf("the command ran %d times, want once", n)
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		for _, tc := range []struct {
			p    Payload
			code int
			says string
		}{
			{payload("other", map[string]string{"cmd": "true"}), http.StatusForbidden, "Forbidden"},
			{payload("test", nil), http.StatusBadRequest, "metadata not found"},
			{payload("test", map[string]string{"type": "bash"}), http.StatusBadRequest, "cmd not found"},
			{payload("test", map[string]string{"type": "kubectl", "cmd": "rm -rf /tmp/x"}), http.StatusBadRequest, `must start with "kubectl "`},
			{payload("test", map[string]string{"type": "ngrinder", "cmd": "x"}), http.StatusBadRequest, "unknown task type ngrinder"},
		} {
			code, body := post(t, srv.URL, tc.p)
			if code != tc.code || !strings.Contains(body, tc.says) {
				t.Errorf("%+v: got %d %q, want %d saying %q", tc.p.Metadata, code, body, tc.code, tc.says)
			}
		}
	})
	t.Run("gates", func(t *testing.T) {
		p := payload("test", nil)
		check := func(path string) int { c, _ := post(t, srv.URL+path, p); return c }
		if c := check("/gate/check"); c != http.StatusForbidden {
			t.Errorf("a closed gate answered %d", c)
		}
		if c := check("/gate/open"); c != http.StatusAccepted {
			t.Errorf("open: %d", c)
		}
		if c := check("/gate/check"); c != http.StatusOK {
			t.Errorf("an open gate answered %d", c)
		}
		if c := check("/rollback/check"); c != http.StatusForbidden {
			t.Errorf("the rollback gate is apart from the promotion gate, answered %d", c)
		}
		check("/gate/close")
		if c := check("/gate/check"); c != http.StatusForbidden {
			t.Errorf("a closed gate answered %d", c)
		}
		if c := check("/gate/approve"); c != http.StatusOK {
			t.Errorf("approve: %d", c)
		}
		if c := check("/gate/halt"); c != http.StatusForbidden {
			t.Errorf("halt: %d", c)
		}
	})
	t.Run("metrics count the tasks", func(t *testing.T) {
		resp, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, want := range []string{`vireo_loadtester_tasks_total{result="ok",type="bash"}`, `vireo_loadtester_tasks_total{result="skipped",type="cmd"} 2`} {
			if !strings.Contains(string(body), want) {
				t.Errorf("metrics lack %s:\n%s", want, body)
			}
		}
	})
}

// Synchronous tasks beyond MaxRunning are turned away, not queued without
// bound.
func TestMaxRunning(t *testing.T) {
	s := &Server{Timeout: 5 * time.Second, MaxRunning: 1, Log: logr.Discard()}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		post(t, srv.URL, payload("test", map[string]string{"type": "bash", "cmd": "sleep 1"}))
	}()
	time.Sleep(300 * time.Millisecond)
	code, body := post(t, srv.URL, payload("test", map[string]string{"type": "bash", "cmd": "true"}))
	if code != http.StatusServiceUnavailable {
		t.Errorf("a second task while one runs: %d %q, want 503", code, body)
	}
	wg.Wait()
}
