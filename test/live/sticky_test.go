package live

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
	"github.com/vireo-dev/vireo/internal/demoapp"
)

// Session affinity through Traefik's Gateway API, with real requests:
// while the canary holds 20% of the traffic, every request that shows the
// canary cookie (from the Canary's status) is answered by the canary,
// requests without it are split, and a wrong cookie value is not pinned.
// After the promotion the sticky rule answers the old cookie with a
// Set-Cookie that drops it.
//
// Traefik (v3.6) applies an HTTPRoute's filters per rule, not per
// backendRef, so it does not add the Set-Cookie Vireo writes on the
// weighted rule's canary backend (Gateway API's extended backend filters):
// through Traefik a browser gets the cookie only from the application.
// The test reports whether it saw one.
func TestLiveCanarySessionAffinity(t *testing.T) {
	s := need(t)
	s.resetCanary(t)
	t.Cleanup(func() { s.resetCanary(t) })
	manifests := strings.Replace(canaryManifests("gatewayapi:v1"), "    stepWeight: 20\n    maxWeight: 80\n",
		"    stepWeight: 20\n    maxWeight: 40\n    sessionAffinity: {cookieName: vireo-canary, maxAge: 600}\n", 1)
	if !strings.Contains(manifests, "sessionAffinity") {
		t.Fatal("the Canary manifest changed shape; sessionAffinity was not added")
	}
	manifests = strings.Replace(manifests, "interval: 10s", "interval: 20s", 1)
	s.kubectl(t, manifests, "apply", "-f", "-")
	s.waitPhase(t, 90*time.Second, v1beta1.PhaseInitialized)
	s.waitServing(t, "blue")

	s.kubectl(t, "", "set", "image", "deployment/canary-demo", "canary-demo=vireo-demo:green")
	deadline := time.Now().Add(2 * time.Minute)
	var cookie string
	for cookie == "" {
		cn := s.canary(t)
		if cn.Status.Phase == v1beta1.PhaseSucceeded || cn.Status.Phase == v1beta1.PhaseFailed || time.Now().After(deadline) {
			t.Fatalf("no canary cookie in status while progressing (phase %s)", cn.Status.Phase)
		}
		if cn.Status.CanaryWeight > 0 {
			cookie = cn.Status.SessionAffinityCookie
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The route is written before the status: give Traefik a moment.
	time.Sleep(2 * time.Second)
	name, value, _ := strings.Cut(cookie, "=")
	const n = 60
	pinned := s.colors(t, n, "theme=dark; "+cookie)
	unpinned := s.colors(t, n, "")
	wrong := s.colors(t, n, name+"=x"+value[1:])
	setCookies := 0
	for _, c := range unpinned.setCookies {
		if strings.HasPrefix(c, cookie) {
			setCookies++
		}
	}
	t.Logf("cookie %s: with it %v; without %v (%d answers set it); with a wrong value %v", cookie, pinned.by, unpinned.by, setCookies, wrong.by)
	if pinned.by["green"] != n {
		t.Errorf("with the canary cookie, %d of %d requests were answered by the canary: %v", pinned.by["green"], n, pinned.by)
	}
	if unpinned.by["blue"] == 0 || unpinned.by["green"] == 0 {
		t.Errorf("without a cookie the requests were not split: %v", unpinned.by)
	}
	if wrong.by["blue"] == 0 {
		t.Errorf("a wrong cookie value was pinned to the canary: %v", wrong.by)
	}

	s.waitPhase(t, 3*time.Minute, v1beta1.PhaseSucceeded)
	if prev := s.canary(t).Status.PreviousSessionAffinityCookie; prev != cookie {
		t.Errorf("previousSessionAffinityCookie %q, want %q", prev, cookie)
	}
	time.Sleep(2 * time.Second)
	after := s.colors(t, 5, cookie)
	expired := 0
	for _, c := range after.setCookies {
		if strings.HasPrefix(c, cookie+"; Max-Age=-1") {
			expired++
		}
	}
	t.Logf("after the promotion, with the old cookie: %v, %d of 5 answers drop it", after.by, expired)
	if after.by["green"] != 5 || expired != 5 {
		t.Errorf("after the promotion the old cookie got %v and %d of 5 answers dropping it", after.by, expired)
	}
}

// colorCount is who answered a batch of requests, and the Set-Cookie
// values the answers carried.
type colorCount struct {
	by         map[string]int
	setCookies []string
}

// colors sends n requests for /color through Traefik with the Cookie
// header given ("" for none).
func (s *stack) colors(t *testing.T, n int, cookie string) colorCount {
	t.Helper()
	out := colorCount{by: map[string]int{}}
	client := &http.Client{Timeout: 5 * time.Second}
	for range n {
		req, err := http.NewRequest(http.MethodGet, s.webURL+"/color", nil)
		if err != nil {
			t.Fatal(err)
		}
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET /color: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		color := resp.Header.Get(demoapp.ColorHeader)
		if resp.StatusCode != http.StatusOK {
			color = fmt.Sprintf("%s:%d", color, resp.StatusCode)
		}
		out.by[color]++
		out.setCookies = append(out.setCookies, resp.Header.Values("Set-Cookie")...)
	}
	return out
}
