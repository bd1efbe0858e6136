package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/metricprovider"
)

func webMetric(w v1alpha1.WebMetric, success string) *v1alpha1.Metric {
	return &v1alpha1.Metric{Name: "web", SuccessCondition: success, Provider: v1alpha1.MetricProvider{Web: &w}}
}

// A real HTTP server: method, headers, body and jsonPath reach it and come
// back as the judged value.
func TestWebMeasurement(t *testing.T) {
	var gotMethod, gotAuth, gotBody, gotType string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotMethod, gotAuth, gotType = r.Method, r.Header.Get("Authorization"), r.Header.Get("Content-Type")
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		_, _ = w.Write([]byte(`{"data": {"ok": true, "rate": 0.97, "versions": ["1", "2"]}}`))
	}))
	defer srv.Close()
	now := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

	m := webMetric(v1alpha1.WebMetric{
		Method: "POST", URL: srv.URL + "/check", JSONPath: "{$.data.rate}",
		Headers:  []v1alpha1.WebMetricHeader{{Key: "Authorization", Value: "Bearer t0ken"}},
		JSONBody: &apiextv1.JSON{Raw: []byte(`{"service":"demo"}`)},
	}, "result >= 0.95")
	got := metricprovider.Measure(context.Background(), Provider{}, m, now)
	if got.Phase != v1alpha1.AnalysisPhaseSuccessful || got.Value != "0.97" {
		t.Errorf("measurement %+v", got)
	}
	if gotMethod != "POST" || gotAuth != "Bearer t0ken" || gotBody != `{"service":"demo"}` || gotType != "application/json" {
		t.Errorf("request: %s auth %q body %q type %q", gotMethod, gotAuth, gotBody, gotType)
	}

	whole := metricprovider.Measure(context.Background(), Provider{}, webMetric(v1alpha1.WebMetric{URL: srv.URL}, "result.data.ok == true"), now)
	if whole.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Errorf("whole answer without jsonPath: %+v", whole)
	}
	list := metricprovider.Measure(context.Background(), Provider{}, webMetric(v1alpha1.WebMetric{URL: srv.URL, JSONPath: "{$.data.versions[*]}"}, "len(result) == 2"), now)
	if list.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Errorf("a jsonPath selecting a list: %+v", list)
	}
}

func TestWebErrorsAreErrorMeasurements(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/down":
			http.Error(w, "no", http.StatusServiceUnavailable)
		case "/html":
			_, _ = w.Write([]byte("<html>"))
		case "/slow":
			time.Sleep(1500 * time.Millisecond)
			_, _ = w.Write([]byte(`1`))
		}
	}))
	defer srv.Close()
	now := time.Now
	for _, tc := range []struct {
		name string
		web  v1alpha1.WebMetric
		want string
	}{
		{"a 503", v1alpha1.WebMetric{URL: srv.URL + "/down"}, "503"},
		{"not JSON", v1alpha1.WebMetric{URL: srv.URL + "/html"}, "not JSON"},
		{"timeout", v1alpha1.WebMetric{URL: srv.URL + "/slow", TimeoutSeconds: 1}, "deadline"},
		{"jsonPath selects nothing", v1alpha1.WebMetric{URL: srv.URL + "/slow", JSONPath: "{$.missing}"}, "jsonPath"},
		{"no url", v1alpha1.WebMetric{}, "provider.web.url"},
	} {
		got := metricprovider.Measure(context.Background(), Provider{}, webMetric(tc.web, "result == 1"), now)
		if got.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(got.Message, tc.want) {
			t.Errorf("%s: %s %q, want an Error mentioning %q", tc.name, got.Phase, got.Message, tc.want)
		}
	}
}

// insecure skips TLS verification; without it a self-signed server is refused.
func TestWebInsecure(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true})
	}))
	defer srv.Close()
	secure := metricprovider.Measure(context.Background(), Provider{}, webMetric(v1alpha1.WebMetric{URL: srv.URL}, "result.ok"), time.Now)
	if secure.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(secure.Message, "certificate") {
		t.Errorf("self-signed certificate accepted without insecure: %+v", secure)
	}
	insecure := metricprovider.Measure(context.Background(), Provider{}, webMetric(v1alpha1.WebMetric{URL: srv.URL, Insecure: true}, "result.ok"), time.Now)
	if insecure.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Errorf("insecure: %+v", insecure)
	}
}

// An answer over httpquery.MaxBody is an Error measurement that says so;
// it is never read whole nor stored. One just under it is measured, and
// what is stored of it is bounded by the AnalysisRun planner.
func TestWebAnswerTooLarge(t *testing.T) {
	size := 8 << 20
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"ok": true, "pad": "` + strings.Repeat("x", size) + `"}`))
	}))
	defer srv.Close()
	now := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	got := metricprovider.Measure(context.Background(), Provider{}, webMetric(v1alpha1.WebMetric{URL: srv.URL}, "result.ok == true"), now)
	if got.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(got.Message, "larger than 1024 KiB") || len(got.Value) != 0 {
		t.Errorf("an 8 MiB answer: %s %q, value of %d bytes", got.Phase, got.Message, len(got.Value))
	}
	size = 512 << 10
	got = metricprovider.Measure(context.Background(), Provider{}, webMetric(v1alpha1.WebMetric{URL: srv.URL}, "result.ok == true"), now)
	if got.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Errorf("a 512 KiB answer: %s %q", got.Phase, got.Message)
	}
}

// A huge timeoutSeconds is clamped to MaxTimeout, not overflowed into a
// negative duration (which left the request with no deadline at all).
func TestWebTimeoutClamped(t *testing.T) {
	for secs, want := range map[int64]time.Duration{0: DefaultTimeout, 5: 5 * time.Second, 3600: MaxTimeout, 10_000_000_000: MaxTimeout, 1 << 62: MaxTimeout} {
		if got := timeoutOf(&v1alpha1.WebMetric{TimeoutSeconds: secs}); got != want {
			t.Errorf("timeoutSeconds %d: %s, want %s", secs, got, want)
		}
	}
}

// A request that fails names its URL without the query: API keys travel
// there, and the client's own error spelled the whole URL out.
func TestWebErrorKeepsTheQueryOut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	addr := srv.URL
	srv.Close() // nothing listens there now
	now := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	got := metricprovider.Measure(context.Background(), Provider{},
		webMetric(v1alpha1.WebMetric{URL: addr + "/q?api_key=K3Y-0f-T3NANT&x=1"}, "result == true"), now)
	if got.Phase != v1alpha1.AnalysisPhaseError || strings.Contains(got.Message, "K3Y") || !strings.Contains(got.Message, addr+"/q") {
		t.Errorf("%s %q", got.Phase, got.Message)
	}
}

// A template cannot make the controller fetch cloud metadata (credentials)
// and write it into status: link-local and metadata addresses are refused
// at dial time, before anything is sent.
func TestWebRefusesMetadataAddresses(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	for _, u := range []string{"http://169.254.169.254/latest/meta-data/iam/security-credentials/", "http://[fd00:ec2::254]/", "http://100.100.100.200/", "http://[fe80::1]:80/", "http://0.0.0.0:80/"} {
		got := metricprovider.Measure(context.Background(), Provider{}, webMetric(v1alpha1.WebMetric{URL: u, TimeoutSeconds: 2}, "true"), now)
		if got.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(got.Message, "metadata address") {
			t.Errorf("%s: %s %q", u, got.Phase, got.Message)
		}
	}
	// A redirect to one is refused the same way.
	srv := httptest.NewServer(http.RedirectHandler("http://169.254.169.254/latest/", http.StatusFound))
	defer srv.Close()
	got := metricprovider.Measure(context.Background(), Provider{}, webMetric(v1alpha1.WebMetric{URL: srv.URL, TimeoutSeconds: 2}, "true"), now)
	if got.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(got.Message, "metadata address") {
		t.Errorf("a redirect to the metadata address: %s %q", got.Phase, got.Message)
	}
}
