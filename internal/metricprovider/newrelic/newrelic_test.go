package newrelic

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/metricprovider"
	"github.com/vireo-dev/vireo/internal/metricprovider/providertest"
)

// fakeNerdGraph answers NerdGraph's nrql field from a table of NRQL -> the
// results list; an unknown query gets a GraphQL error, as New Relic gives
// for a syntax error.
func fakeNerdGraph(t *testing.T, results map[string]string, vars *map[string]any) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method != http.MethodPost || r.Header.Get("API-Key") != "NRAK-secret" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errors":[{"message":"Invalid API key"}]}`)
			return
		}
		var body struct {
			Query     string         `json:"query"`
			Variables map[string]any `json:"variables"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || !strings.Contains(body.Query, "nrql(query: $nrql") {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		*vars = body.Variables
		res, ok := results[body.Variables["nrql"].(string)]
		if !ok {
			fmt.Fprint(w, `{"data":{"actor":{"account":{"nrql":null}}},"errors":[{"message":"NRQL Syntax Error: Error at line 1 position 5"}]}`)
			return
		}
		fmt.Fprintf(w, `{"data":{"actor":{"account":{"nrql":{"results":%s}}}}}`, res)
	}))
}

func measure(p Provider, nr *v1alpha1.NewRelicMetric, success string) v1alpha1.Measurement {
	m := &v1alpha1.Metric{Name: "success-rate", SuccessCondition: success, Provider: v1alpha1.MetricProvider{NewRelic: nr}}
	return metricprovider.Measure(context.Background(), p, m, time.Now)
}

func TestQuery(t *testing.T) {
	var vars map[string]any
	srv := fakeNerdGraph(t, map[string]string{
		"FROM Transaction SELECT percentage(count(*), WHERE httpResponseCode != 500) as successRate": `[{"successRate":97.5}]`,
		"SELECT average(duration) FROM Transaction":                                                  `[{"average.duration":0.21}]`,
		"SELECT count(*) FROM Transaction FACET appName":                                             `[{"appName":"a","count":3},{"appName":"b","count":0}]`,
		"SELECT count(*) FROM Nothing":                                                               `[]`,
	}, &vars)
	defer srv.Close()
	p := Provider{Credentials: providertest.Credentials(providertest.Secrets{
		"vireo-system/newrelic": {"personal-api-key": "NRAK-secret", "account-id": "1234567", "base-url-nerdgraph": srv.URL},
	})}

	m := measure(p, &v1alpha1.NewRelicMetric{Query: "FROM Transaction SELECT percentage(count(*), WHERE httpResponseCode != 500) as successRate"}, "result.successRate >= 95")
	if m.Phase != v1alpha1.AnalysisPhaseSuccessful || m.Value != `{"successRate":97.5}` {
		t.Errorf("one row: %s %q: %s", m.Phase, m.Value, m.Message)
	}
	if vars["accountId"] != float64(1234567) || vars["timeout"] != float64(DefaultTimeout) {
		t.Errorf("variables %v", vars)
	}
	m = measure(p, &v1alpha1.NewRelicMetric{Query: "SELECT average(duration) FROM Transaction", Timeout: ptr.To[int64](30)}, "result['average.duration'] < 0.5")
	if m.Phase != v1alpha1.AnalysisPhaseSuccessful || vars["timeout"] != float64(30) {
		t.Errorf("dotted column: %s %q: %s (timeout %v)", m.Phase, m.Value, m.Message, vars["timeout"])
	}
	m = measure(p, &v1alpha1.NewRelicMetric{Query: "SELECT count(*) FROM Transaction FACET appName"}, "all(result, {.count > 0})")
	if m.Phase != v1alpha1.AnalysisPhaseFailed {
		t.Errorf("several rows: %s %q: %s", m.Phase, m.Value, m.Message)
	}
	m = measure(p, &v1alpha1.NewRelicMetric{Query: "SELECT count(*) FROM Nothing"}, "true")
	if m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, "no results") {
		t.Errorf("no rows: %s: %s", m.Phase, m.Message)
	}
	m = measure(p, &v1alpha1.NewRelicMetric{Query: "SELEC oops"}, "true")
	if m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, "NRQL Syntax Error") {
		t.Errorf("syntax error: %s: %s", m.Phase, m.Message)
	}
}

func TestProfilesAndCredentials(t *testing.T) {
	var vars map[string]any
	srv := fakeNerdGraph(t, map[string]string{"q": `[{"x":1}]`}, &vars)
	defer srv.Close()
	secrets := providertest.Secrets{
		"vireo-system/team-b":    {"personal-api-key": "NRAK-secret", "account-id": "42", "base-url-nerdgraph": srv.URL},
		"vireo-system/bad-id":    {"personal-api-key": "NRAK-secret", "account-id": "forty-two"},
		"vireo-system/no-key":    {"account-id": "42"},
		"vireo-system/bad-reg":   {"personal-api-key": "NRAK-secret", "account-id": "42", "region": "mars"},
		"vireo-system/wrong-key": {"personal-api-key": "NRAK-other", "account-id": "42", "base-url-nerdgraph": srv.URL},
	}
	p := Provider{Credentials: providertest.Credentials(secrets)}
	if m := measure(p, &v1alpha1.NewRelicMetric{Profile: "team-b", Query: "q"}, "result.x == 1"); m.Phase != v1alpha1.AnalysisPhaseSuccessful || vars["accountId"] != float64(42) {
		t.Errorf("profile: %s: %s", m.Phase, m.Message)
	}
	for profile, want := range map[string]string{
		"":          "Secret newrelic not found in namespace vireo-system",
		"bad-id":    "account-id is not a number",
		"no-key":    "has no personal-api-key",
		"bad-reg":   `region "mars"`,
		"wrong-key": "401",
	} {
		m := measure(p, &v1alpha1.NewRelicMetric{Profile: profile, Query: "q"}, "true")
		if m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, want) || strings.Contains(m.Message, "NRAK") {
			t.Errorf("profile %q: %s: %s, want %q", profile, m.Phase, m.Message, want)
		}
	}
}
