package demoapp

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func post(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestColorAnswersWithTheVersionsColour(t *testing.T) {
	srv := httptest.NewServer(New("green", &MemoryStore{}).Handler())
	defer srv.Close()
	resp, body := get(t, srv.URL+"/color")
	var a Answer
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || a.Color != "green" || resp.Header.Get(ColorHeader) != "green" {
		t.Fatalf("got %d %q header %q", resp.StatusCode, body, resp.Header.Get(ColorHeader))
	}
	if resp, body := get(t, srv.URL+"/"); resp.StatusCode != 200 || !strings.Contains(body, "/color") {
		t.Fatalf("page: %d", resp.StatusCode)
	}
}

// Faults set through one process reach every process sharing the directory,
// and only the version they name.
func TestFaultsReachEveryProcessOfTheVersion(t *testing.T) {
	store := DirStore{Dir: t.TempDir()}
	yellowA := httptest.NewServer(New("yellow", store).Handler())
	defer yellowA.Close()
	yellowB := httptest.NewServer(New("yellow", store).Handler())
	defer yellowB.Close()
	green := httptest.NewServer(New("green", store).Handler())
	defer green.Close()

	if code, body := post(t, green.URL+"/config?color=yellow&error=100"); code != 200 {
		t.Fatalf("setting faults: %d %s", code, body)
	}
	for _, srv := range []*httptest.Server{yellowA, yellowB} {
		resp, body := get(t, srv.URL+"/color")
		if resp.StatusCode != 500 || resp.Header.Get(ColorHeader) != "yellow" || !strings.Contains(body, "injected error (100%)") {
			t.Fatalf("yellow with 100%% errors answered %d %s", resp.StatusCode, body)
		}
	}
	if resp, _ := get(t, green.URL+"/color"); resp.StatusCode != 200 {
		t.Fatalf("green answered %d, want 200: faults are per version", resp.StatusCode)
	}
	_, body := get(t, yellowA.URL+"/config")
	if strings.TrimSpace(body) != `{"errorPercent":100,"latencyMillis":0}` {
		t.Fatalf("config of yellow: %s", body)
	}
	_, metrics := get(t, yellowA.URL+"/metrics")
	if !strings.Contains(metrics, `vireo_demo_requests_total{code="500",color="yellow"} 1`) {
		t.Fatalf("metrics lack the failed request:\n%s", metrics)
	}
}

func TestHalfTheRequestsFailAtFiftyPercent(t *testing.T) {
	store := &MemoryStore{}
	srv := httptest.NewServer(New("yellow", store).Handler())
	defer srv.Close()
	if code, body := post(t, srv.URL+"/config?error=50"); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	failed := 0
	const n = 1000
	for i := 0; i < n; i++ {
		if resp, _ := get(t, srv.URL+"/color"); resp.StatusCode == 500 {
			failed++
		}
	}
	// 1000 draws at p=0.5: 400..600 holds with a chance of failure below 1e-9.
	if failed < 400 || failed > 600 {
		t.Fatalf("%d of %d failed at 50%%", failed, n)
	}
}

func TestBadConfigNamesTheField(t *testing.T) {
	srv := httptest.NewServer(New("blue", &MemoryStore{}).Handler())
	defer srv.Close()
	for query, want := range map[string]string{
		"error=150":          "error: 150 is not a percentage",
		"error=lots":         `error: "lots" is not a number`,
		"latency=-1":         "latency: -1 is not between 0 and 10000",
		"color=Bad!&error=1": "color: \"Bad!\" is not a version's colour",
	} {
		code, body := post(t, srv.URL+"/config?"+query)
		if code != 400 || !strings.Contains(body, want) {
			t.Errorf("%s: got %d %q, want 400 with %q", query, code, body, want)
		}
	}
	// A refused setting changes nothing.
	if _, body := get(t, srv.URL+"/config"); strings.TrimSpace(body) != `{"errorPercent":0,"latencyMillis":0}` {
		t.Fatalf("faults after refused settings: %s", body)
	}
}
