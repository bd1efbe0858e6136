package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/apischeme"
	"github.com/vireo-dev/vireo/internal/rolloutview"
	"github.com/vireo-dev/vireo/internal/testenv"
)

// The dashboard's server against a real API server: the token, the host
// check, the JSON, the live stream and the actions. (The page itself is
// tested in a real browser in test/e2e.)
func TestServerOnARealAPIServer(t *testing.T) {
	env := testenv.Start(t)
	scheme, err := apischeme.New()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewWithWatch(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	ro := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:2"}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{
				{SetWeight: ptr.To[int32](20)}, {Pause: &v1alpha1.RolloutPause{}}, {SetWeight: ptr.To[int32](60)}}}},
		},
	}
	if err := c.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	ro.Status = v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutPhasePaused, Message: "CanaryPauseStep", CurrentStepIndex: ptr.To[int32](1),
		CurrentPodHash: "new", StableRS: "old",
		PauseConditions: []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep, StartTime: metav1.Now()}}}
	if err := c.Status().Update(ctx, ro); err != nil {
		t.Fatal(err)
	}

	s := &Server{Client: c, Namespace: "shop", Token: "s3cret", Loopback: true, MinInterval: 10 * time.Millisecond}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	t.Run("refused without the token, or with a wrong one", func(t *testing.T) {
		for _, path := range []string{"/", "/api/namespaces/shop/rollouts", "/app.js", "/?token=wrong"} {
			resp, err := plain.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "Access token needed") {
				t.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
			}
		}
	})
	t.Run("refused for a host name that is not loopback", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/?token=s3cret", nil)
		req.Host = "evil.example:3100"
		resp, err := plain.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("Host evil.example: %d", resp.StatusCode)
		}
	})

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	t.Run("the token in the URL becomes a cookie, and the page loads", func(t *testing.T) {
		resp, err := browser.Get(srv.URL + "/?token=s3cret")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Request.URL.RawQuery != "" || !strings.Contains(string(body), `<div id="app">`) {
			t.Errorf("%d at %s:\n%s", resp.StatusCode, resp.Request.URL, body)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("Content-Security-Policy %q", csp)
		}
	})
	t.Run("list and detail", func(t *testing.T) {
		var list []rolloutview.Rollout
		getJSON(t, browser, srv.URL+"/api/namespaces/shop/rollouts", http.StatusOK, &list)
		if len(list) != 1 || list[0].Name != "web" || list[0].Status != "Paused" || list[0].Step != 1 {
			t.Errorf("list: %+v", list)
		}
		var one rolloutview.Rollout
		getJSON(t, browser, srv.URL+"/api/namespaces/shop/rollouts/web", http.StatusOK, &one)
		if got := strings.Join(one.StepList, "; "); got != "setWeight 20; pause (until promoted); setWeight 60" {
			t.Errorf("steps %q", got)
		}
		var missing map[string]string
		getJSON(t, browser, srv.URL+"/api/namespaces/shop/rollouts/nope", http.StatusNotFound, &missing)
		if !strings.Contains(missing["error"], "nope") {
			t.Errorf("missing rollout: %v", missing)
		}
		var cfg map[string]string
		getJSON(t, browser, srv.URL+"/api/config", http.StatusOK, &cfg)
		if cfg["namespace"] != "shop" {
			t.Errorf("config %v", cfg)
		}
	})
	t.Run("an action needs the dashboard's header", func(t *testing.T) {
		resp, err := browser.Post(srv.URL+"/api/namespaces/shop/rollouts/web/promote", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST without the header: %d", resp.StatusCode)
		}
		if len(read(t, c, ro).Status.PauseConditions) == 0 {
			t.Error("the refused promote changed the rollout")
		}
	})

	t.Run("the stream sends the rollout, then its changes; promote is the CLI's patch", func(t *testing.T) {
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		req, _ := http.NewRequestWithContext(sctx, http.MethodGet, srv.URL+"/api/namespaces/shop/events?rollout=web", nil)
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("Content-Type %q", ct)
		}
		events := make(chan [2]string, 16)
		go func() {
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(nil, 1<<20)
			var name string
			for sc.Scan() {
				line := sc.Text()
				if v, ok := strings.CutPrefix(line, "event: "); ok {
					name = v
				}
				if v, ok := strings.CutPrefix(line, "data: "); ok {
					events <- [2]string{name, v}
				}
			}
			close(events)
		}()
		next := func(want string) rolloutview.Rollout {
			t.Helper()
			for {
				select {
				case e, ok := <-events:
					if !ok {
						t.Fatalf("stream ended waiting for %s", want)
					}
					if e[0] != want {
						continue
					}
					var v rolloutview.Rollout
					if err := json.Unmarshal([]byte(e[1]), &v); err != nil {
						t.Fatal(err)
					}
					return v
				case <-time.After(10 * time.Second):
					t.Fatalf("no %s event in 10s", want)
				}
			}
		}
		if v := next("rollout"); v.Status != "Paused" {
			t.Errorf("first event: %s", v.Status)
		}

		req, _ = http.NewRequest(http.MethodPost, srv.URL+"/api/namespaces/shop/rollouts/web/promote", nil)
		req.Header.Set("X-Vireo-Dashboard", "1")
		presp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(presp.Body)
		presp.Body.Close()
		if presp.StatusCode != http.StatusOK || !strings.Contains(string(body), "promote done") {
			t.Fatalf("promote: %d %s", presp.StatusCode, body)
		}
		if got := read(t, c, ro); len(got.Status.PauseConditions) != 0 {
			t.Errorf("promote left pause conditions %v", got.Status.PauseConditions)
		}
		// What the controller would do next, seen through the stream.
		got := read(t, c, ro)
		got.Status.Phase, got.Status.Message, got.Status.CurrentStepIndex = v1alpha1.RolloutPhaseProgressing, "more replicas need to be updated", ptr.To[int32](2)
		if err := c.Status().Update(ctx, got); err != nil {
			t.Fatal(err)
		}
		for {
			v := next("rollout")
			if v.Status == "Progressing" && v.Step == 2 {
				break
			}
		}
	})
	t.Run("an action on a missing rollout is a 404", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/namespaces/shop/rollouts/nope/abort", nil)
		req.Header.Set("X-Vireo-Dashboard", "1")
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&body)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(body["error"], `"nope"`) {
			t.Errorf("%d %v", resp.StatusCode, body)
		}
	})
	t.Run("canaries are listed, and promoted or aborted as the CLI does", func(t *testing.T) {
		cn := &v1beta1.Canary{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "podinfo"},
			Spec: v1beta1.CanarySpec{TargetRef: v1beta1.TargetReference{Name: "podinfo"},
				Analysis: &v1beta1.CanaryAnalysis{Interval: "1m", Threshold: 5, StepWeight: 10, MaxWeight: 50}}}
		if err := c.Create(ctx, cn); err != nil {
			t.Fatal(err)
		}
		cn.Status = v1beta1.CanaryStatus{Phase: v1beta1.PhaseProgressing, CanaryWeight: 20, FailedChecks: 1,
			Checks: []v1beta1.CanaryCheck{{Name: "request-success-rate", Kind: "metric", Value: "99.2", Passed: true, Time: metav1.Now()}}}
		if err := c.Status().Update(ctx, cn); err != nil {
			t.Fatal(err)
		}
		var list []Canary
		getJSON(t, browser, srv.URL+"/api/namespaces/shop/canaries", http.StatusOK, &list)
		if len(list) != 1 || list[0].Name != "podinfo" || list[0].Status != "Progressing" || list[0].Weight != 20 ||
			list[0].MaxWeight != 50 || list[0].Threshold != 5 || len(list[0].Checks) != 1 {
			t.Errorf("canaries %+v", list)
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/namespaces/shop/canaries/podinfo/abort", nil)
		req.Header.Set("X-Vireo-Dashboard", "1")
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var got v1beta1.Canary
		if err := c.Get(ctx, client.ObjectKeyFromObject(cn), &got); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || !got.Status.Abort {
			t.Errorf("abort: %d, status.abort %v", resp.StatusCode, got.Status.Abort)
		}
	})

	t.Run("an unknown action is refused by name", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/namespaces/shop/rollouts/web/explode", nil)
		req.Header.Set("X-Vireo-Dashboard", "1")
		var body map[string]string
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(&body)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(body["error"], `"explode"`) {
			t.Errorf("%d %v", resp.StatusCode, body)
		}
	})
}

func getJSON(t *testing.T, c *http.Client, url string, code int, into any) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != code {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d, want %d: %s", url, resp.StatusCode, code, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func read(t *testing.T, c client.Client, ro *v1alpha1.Rollout) *v1alpha1.Rollout {
	t.Helper()
	var got v1alpha1.Rollout
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(ro), &got); err != nil {
		t.Fatal(err)
	}
	return &got
}
