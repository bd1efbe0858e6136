package prometheus

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/metricprovider"
)

// fakePrometheus answers /api/v1/query and /api/v1/query_range as Prometheus
// does, from a table of query -> (resultType, result JSON).
func fakePrometheus(t *testing.T, answers map[string][2]string, seen *[]http.Request) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		if seen != nil {
			*seen = append(*seen, *r)
		}
		if r.URL.Path != "/api/v1/query" && r.URL.Path != "/api/v1/query_range" {
			http.NotFound(w, r)
			return
		}
		q := r.Form.Get("query")
		a, ok := answers[q]
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": parse error at char 1: %s"}`, "unexpected")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":%q,"result":%s}}`, a[0], a[1])
	}))
}

func metric(address, query, success string) *v1alpha1.Metric {
	return &v1alpha1.Metric{Name: "m", SuccessCondition: success,
		Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{Address: address, Query: query}}}
}

func TestQueryResults(t *testing.T) {
	srv := fakePrometheus(t, map[string][2]string{
		"vector":  {"vector", `[{"metric":{"pod":"a"},"value":[1700000000.1,"0.97"]},{"metric":{"pod":"b"},"value":[1700000000.1,"0.5"]}]`},
		"empty":   {"vector", `[]`},
		"scalar":  {"scalar", `[1700000000.1,"42"]`},
		"nan":     {"vector", `[{"metric":{},"value":[1700000000.1,"NaN"]}]`},
		"inf":     {"scalar", `[1700000000.1,"+Inf"]`},
		"matrix":  {"matrix", `[{"metric":{},"values":[[1,"1"],[2,"2"]]},{"metric":{},"values":[[1,"3"]]}]`},
		"strange": {"histogram", `[]`},
	}, nil)
	defer srv.Close()
	p := Provider{}
	for _, tc := range []struct {
		query, success string
		phase          v1alpha1.AnalysisPhase
		value          string
	}{
		{"vector", "result[0] > 0.90", v1alpha1.AnalysisPhaseSuccessful, "[0.97,0.5]"},
		{"vector", "result[1] > 0.90", v1alpha1.AnalysisPhaseFailed, "[0.97,0.5]"},
		{"vector", "len(result) == 2 && all(result, {# > 0.4})", v1alpha1.AnalysisPhaseSuccessful, "[0.97,0.5]"},
		{"empty", "result[0] > 0.9", v1alpha1.AnalysisPhaseError, "[]"},
		{"empty", "default(result, 1) == 1", v1alpha1.AnalysisPhaseSuccessful, "[]"},
		{"scalar", "result == 42", v1alpha1.AnalysisPhaseSuccessful, "42"},
		{"nan", "isNaN(result[0])", v1alpha1.AnalysisPhaseSuccessful, "[NaN]"},
		{"inf", "isInf(result)", v1alpha1.AnalysisPhaseSuccessful, "+Inf"},
		{"matrix", "len(result) == 3 && result[2] == 3", v1alpha1.AnalysisPhaseSuccessful, "[1,2,3]"},
		{"strange", "true", v1alpha1.AnalysisPhaseError, ""},
		{"sum(rate(", "true", v1alpha1.AnalysisPhaseError, ""},
	} {
		m := metricprovider.Measure(context.Background(), p, metric(srv.URL, tc.query, tc.success), time.Now)
		if m.Phase != tc.phase || m.Value != tc.value {
			t.Errorf("%s / %s: phase %s value %q (%s), want %s %q", tc.query, tc.success, m.Phase, m.Value, m.Message, tc.phase, tc.value)
		}
	}
	m := metricprovider.Measure(context.Background(), p, metric(srv.URL, "sum(rate(", "true"), time.Now)
	if !strings.Contains(m.Message, "bad_data") || !strings.Contains(m.Message, "parse error") {
		t.Errorf("a bad query's error should carry Prometheus' explanation: %q", m.Message)
	}
}

func TestRangeQueryAndAuthentication(t *testing.T) {
	var seen []http.Request
	srv := fakePrometheus(t, map[string][2]string{"up": {"matrix", `[{"metric":{},"values":[[1,"1"]]}]`}}, &seen)
	defer srv.Close()
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	m := metric(srv.URL+"/", "up", "result[0] == 1")
	pm := m.Provider.Prometheus
	pm.RangeQuery = &v1alpha1.PrometheusRangeQueryArgs{Start: `now() - duration("10m")`, End: "now()", Step: "1m"}
	pm.Headers = []v1alpha1.WebMetricHeader{{Key: "X-Scope-OrgID", Value: "tenant-1"}}
	pm.Authentication.BasicAuth = v1alpha1.BasicAuth{Username: "ops", Password: "pw"}
	pm.Timeout = ptr.To[int64](5)
	got := metricprovider.Measure(context.Background(), Provider{Now: func() time.Time { return now }}, m, time.Now)
	if got.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Fatalf("range query: %s %s", got.Phase, got.Message)
	}
	r := seen[0]
	if r.URL.Path != "/api/v1/query_range" || r.Form.Get("step") != "1m" {
		t.Errorf("range query sent to %s with step %q", r.URL.Path, r.Form.Get("step"))
	}
	start, _ := strconv.ParseFloat(r.Form.Get("start"), 64)
	end, _ := strconv.ParseFloat(r.Form.Get("end"), 64)
	if int64(end) != now.Unix() || int64(start) != now.Add(-10*time.Minute).Unix() {
		t.Errorf("start %v end %v", start, end)
	}
	if u, p, ok := r.BasicAuth(); !ok || u != "ops" || p != "pw" || r.Header.Get("X-Scope-OrgID") != "tenant-1" {
		t.Errorf("credentials not sent: basic %v %q, header %q", ok, u, r.Header.Get("X-Scope-OrgID"))
	}

	pm.RangeQuery.Start = "now() - 'ten minutes'"
	got = metricprovider.Measure(context.Background(), Provider{}, m, time.Now)
	if got.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(got.Message, "rangeQuery.start") {
		t.Errorf("a bad start: %s %q", got.Phase, got.Message)
	}
	// One that would exhaust the controller's memory is refused unrun.
	pm.RangeQuery.Start = "now() - duration(reduce(1..64, #acc + #acc, '1') + 's')"
	got = metricprovider.Measure(context.Background(), Provider{}, m, time.Now)
	if got.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(got.Message, "rangeQuery.start") || !strings.Contains(got.Message, "reduce") {
		t.Errorf("a hostile start: %s %q", got.Phase, got.Message)
	}
}

func TestOAuth2AndTimeout(t *testing.T) {
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if id, secret, _ := r.BasicAuth(); id != "vireo" || secret != "sh" || r.Form.Get("grant_type") != "client_credentials" || r.Form.Get("scope") != "read" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"access_token":"tok-1","token_type":"bearer"}`)
	}))
	defer tokens.Close()
	slow := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok-1" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_ = r.ParseForm()
		if r.Form.Get("query") == "slow" {
			select {
			case <-slow:
			case <-r.Context().Done():
			}
		}
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}`)
	}))
	defer srv.Close()
	defer close(slow)
	m := metric(srv.URL, "one", "result == 1")
	m.Provider.Prometheus.Authentication.OAuth2 = v1alpha1.OAuth2Config{TokenURL: tokens.URL, ClientID: "vireo", ClientSecret: "sh", Scopes: []string{"read"}}
	if got := metricprovider.Measure(context.Background(), Provider{}, m, time.Now); got.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Errorf("oauth2: %s %s", got.Phase, got.Message)
	}
	m.Provider.Prometheus.Query = "slow"
	m.Provider.Prometheus.Timeout = ptr.To[int64](1)
	got := metricprovider.Measure(context.Background(), Provider{}, m, time.Now)
	if got.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(got.Message, "deadline exceeded") {
		t.Errorf("timeout: %s %q", got.Phase, got.Message)
	}
	_ = math.NaN
}
