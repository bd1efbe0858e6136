package datadog

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/metricprovider"
	"github.com/vireo-dev/vireo/internal/metricprovider/providertest"
)

var now = time.Unix(1_700_000_000, 0)

// fakeDatadog speaks the v1 query API and the v2 scalar API. v1 answers
// from series (query -> pointlist JSON); v2 from scalars (formula -> values
// JSON), after checking the request is well formed.
type fakeDatadog struct {
	t        *testing.T
	series   map[string]string
	scalars  map[string]string
	lastV1   map[string]string
	lastV2   v2Request
	apiKey   string
	appKey   string
	requests int
}

func (f *fakeDatadog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests++
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("DD-API-KEY") != f.apiKey || r.Header.Get("DD-APPLICATION-KEY") != f.appKey {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"errors":["Forbidden"]}`)
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/query":
		q := r.URL.Query()
		f.lastV1 = map[string]string{"query": q.Get("query"), "from": q.Get("from"), "to": q.Get("to")}
		points, ok := f.series[q.Get("query")]
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"status":"error","error":"Error parsing query: unable to parse %s"}`, q.Get("query"))
			return
		}
		if points == "" {
			fmt.Fprint(w, `{"status":"ok","res_type":"time_series","series":[]}`)
			return
		}
		fmt.Fprintf(w, `{"status":"ok","res_type":"time_series","series":[{"metric":"m","pointlist":%s}]}`, points)
	case r.Method == http.MethodPost && r.URL.Path == "/api/v2/query/scalar":
		var req v2Request
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Data.Type != "scalar_request" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"errors":["malformed request"]}`)
			return
		}
		f.lastV2 = req
		formula := req.Data.Attributes.Formulas[0]["formula"]
		values, ok := f.scalars[formula]
		if !ok {
			fmt.Fprintf(w, `{"data":{"type":"scalar_response","attributes":{"columns":[]}},"errors":"Error parsing formula %s"}`, formula)
			return
		}
		fmt.Fprintf(w, `{"data":{"type":"scalar_response","attributes":{"columns":[{"name":"service","type":"group","values":[["a"]]},{"name":"%s","type":"number","values":%s,"meta":{"unit":null}}]}}}`, formula, values)
	default:
		http.NotFound(w, r)
	}
}

func setup(t *testing.T) (*fakeDatadog, *httptest.Server, Provider) {
	f := &fakeDatadog{t: t, apiKey: "api-1234", appKey: "app-5678", series: map[string]string{}, scalars: map[string]string{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	creds := providertest.Credentials(providertest.Secrets{
		"vireo-system/datadog": {"address": srv.URL, "api-key": "api-1234", "app-key": "app-5678"},
	})
	return f, srv, Provider{Credentials: creds, Namespace: "shop", Now: func() time.Time { return now }}
}

func measure(p Provider, dd *v1alpha1.DatadogMetric, success string) v1alpha1.Measurement {
	m := &v1alpha1.Metric{Name: "error-rate", SuccessCondition: success, Provider: v1alpha1.MetricProvider{Datadog: dd}}
	return metricprovider.Measure(context.Background(), p, m, func() time.Time { return now })
}

func TestV1LastPointOfFirstSeries(t *testing.T) {
	f, _, p := setup(t)
	f.series["sum:requests.error.rate{service:shop}"] = `[[1699999700000,0.5],[1699999940000,0.004]]`
	m := measure(p, &v1alpha1.DatadogMetric{Query: "sum:requests.error.rate{service:shop}"}, "result <= 0.01")
	if m.Phase != v1alpha1.AnalysisPhaseSuccessful || m.Value != "0.004" {
		t.Fatalf("got %s %q: %s", m.Phase, m.Value, m.Message)
	}
	if f.lastV1["from"] != strconv.FormatInt(now.Unix()-300, 10) || f.lastV1["to"] != strconv.FormatInt(now.Unix(), 10) {
		t.Errorf("window %v, want the last 5 minutes", f.lastV1)
	}
	measure(p, &v1alpha1.DatadogMetric{Query: "sum:requests.error.rate{service:shop}", Interval: "10m"}, "result <= 0.01")
	if f.lastV1["from"] != strconv.FormatInt(now.Unix()-600, 10) {
		t.Errorf("interval 10m: from %s", f.lastV1["from"])
	}
}

func TestV1NoDataIsNil(t *testing.T) {
	f, _, p := setup(t)
	f.series["q"] = ""
	f.series["nulls"] = `[[1699999940000,null]]`
	for _, q := range []string{"q", "nulls"} {
		m := measure(p, &v1alpha1.DatadogMetric{Query: q}, "default(result, 0) <= 0.01")
		if m.Phase != v1alpha1.AnalysisPhaseSuccessful || m.Value != "null" {
			t.Errorf("%s: got %s %q: %s", q, m.Phase, m.Value, m.Message)
		}
	}
}

func TestV1BadQueryIsAnError(t *testing.T) {
	_, _, p := setup(t)
	m := measure(p, &v1alpha1.DatadogMetric{Query: "sum:nope{"}, "result < 1")
	if m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, "Error parsing query") {
		t.Fatalf("got %s: %s", m.Phase, m.Message)
	}
}

func TestV2Query(t *testing.T) {
	f, _, p := setup(t)
	f.scalars["query"] = `[0.02]`
	m := measure(p, &v1alpha1.DatadogMetric{ApiVersion: "v2", Query: "sum:requests.error.rate{service:shop}"}, "result <= 0.01")
	if m.Phase != v1alpha1.AnalysisPhaseFailed || m.Value != "0.02" {
		t.Fatalf("got %s %q: %s", m.Phase, m.Value, m.Message)
	}
	a := f.lastV2.Data.Attributes
	if a.From != (now.Unix()-300)*1000 || a.To != now.Unix()*1000 {
		t.Errorf("window %d..%d, want milliseconds over the last 5 minutes", a.From, a.To)
	}
	want := v2Query{DataSource: "metrics", Query: "sum:requests.error.rate{service:shop}", Name: "query", Aggregator: "last"}
	if len(a.Queries) != 1 || a.Queries[0] != want {
		t.Errorf("queries %+v, want %+v", a.Queries, want)
	}
}

func TestV2QueriesAndFormula(t *testing.T) {
	f, _, p := setup(t)
	f.scalars["errors / total"] = `[0.005]`
	dd := &v1alpha1.DatadogMetric{ApiVersion: "v2", Aggregator: "sum", Formula: "errors / total",
		Queries: map[string]string{"total": "sum:requests{service:shop}.as_count()", "errors": "sum:requests.errors{service:shop}.as_count()"}}
	m := measure(p, dd, "result <= 0.01")
	if m.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Fatalf("got %s %q: %s", m.Phase, m.Value, m.Message)
	}
	q := f.lastV2.Data.Attributes.Queries
	if len(q) != 2 || q[0].Name != "errors" || q[1].Name != "total" || q[0].Aggregator != "sum" {
		t.Errorf("queries %+v", q)
	}
}

func TestV2NoDataAndErrors(t *testing.T) {
	f, _, p := setup(t)
	f.scalars["query"] = `[]`
	m := measure(p, &v1alpha1.DatadogMetric{ApiVersion: "v2", Query: "avg:cpu{*}"}, "default(result, 0) < 1")
	if m.Phase != v1alpha1.AnalysisPhaseSuccessful || m.Value != "null" {
		t.Errorf("no data: got %s %q: %s", m.Phase, m.Value, m.Message)
	}
	m = measure(p, &v1alpha1.DatadogMetric{ApiVersion: "v2", Formula: "a +", Queries: map[string]string{"a": "avg:cpu{*}"}}, "result < 1")
	if m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, "Error parsing formula a +") {
		t.Errorf("bad formula: got %s: %s", m.Phase, m.Message)
	}
}

func TestSpecErrorsNameTheField(t *testing.T) {
	f, _, p := setup(t)
	for _, c := range []struct {
		dd   v1alpha1.DatadogMetric
		want string
	}{
		{v1alpha1.DatadogMetric{Queries: map[string]string{"a": "x"}}, "queries and formula need apiVersion v2"},
		{v1alpha1.DatadogMetric{}, "provider.datadog.query is required"},
		{v1alpha1.DatadogMetric{ApiVersion: "v2", Query: "x", Queries: map[string]string{"a": "x"}}, "set query or queries, not both"},
		{v1alpha1.DatadogMetric{ApiVersion: "v2", Queries: map[string]string{"a": "x", "b": "y"}}, "provider.datadog.formula is required"},
		{v1alpha1.DatadogMetric{ApiVersion: "v3", Query: "x"}, `apiVersion "v3"`},
		{v1alpha1.DatadogMetric{Query: "x", Interval: "soon"}, "provider.datadog.interval"},
	} {
		m := measure(p, &c.dd, "result < 1")
		if m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, c.want) {
			t.Errorf("%+v: got %s %q, want an error with %q", c.dd, m.Phase, m.Message, c.want)
		}
	}
	if f.requests != 0 {
		t.Errorf("%d requests sent for invalid metrics", f.requests)
	}
}

func TestCredentials(t *testing.T) {
	f, srv, p := setup(t)
	f.series["q"] = `[[1,1]]`

	// secretRef.namespaced reads the run's namespace.
	p.Credentials = providertest.Credentials(providertest.Secrets{
		"shop/dd-team": {"address": srv.URL, "api-key": "api-1234", "app-key": "app-5678"},
	})
	ref := v1alpha1.SecretRef{Name: "dd-team", Namespaced: true}
	if m := measure(p, &v1alpha1.DatadogMetric{Query: "q", SecretRef: ref}, "result == 1"); m.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Errorf("namespaced secretRef: %s: %s", m.Phase, m.Message)
	}
	// Without namespaced, the same name is looked for beside the controller.
	ref.Namespaced = false
	if m := measure(p, &v1alpha1.DatadogMetric{Query: "q", SecretRef: ref}, "result == 1"); !strings.Contains(m.Message, "Secret dd-team not found in namespace vireo-system") {
		t.Errorf("controller secretRef: %s: %s", m.Phase, m.Message)
	}
	// The environment serves when no secretRef is given.
	env := map[string]string{"DD_API_KEY": "api-1234", "DD_APP_KEY": "app-5678", "DD_ADDRESS": srv.URL}
	p.Credentials.LookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if m := measure(p, &v1alpha1.DatadogMetric{Query: "q"}, "result == 1"); m.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Errorf("environment: %s: %s", m.Phase, m.Message)
	}
	// A Secret without keys is named, and its values are not.
	p.Credentials = providertest.Credentials(providertest.Secrets{"vireo-system/datadog": {"address": srv.URL, "api-key": "api-1234"}})
	m := measure(p, &v1alpha1.DatadogMetric{Query: "q"}, "result == 1")
	if m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, "credentials Secret datadog has no app-key") || strings.Contains(m.Message, "api-1234") {
		t.Errorf("missing key: %s: %s", m.Phase, m.Message)
	}
	// Wrong keys: Datadog's 403, without the keys in the message.
	p.Credentials = providertest.Credentials(providertest.Secrets{"vireo-system/datadog": {"address": srv.URL, "api-key": "wrong-key", "app-key": "app-5678"}})
	m = measure(p, &v1alpha1.DatadogMetric{Query: "q"}, "result == 1")
	if m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, "403") || strings.Contains(m.Message, "wrong-key") {
		t.Errorf("forbidden: %s: %s", m.Phase, m.Message)
	}
}
