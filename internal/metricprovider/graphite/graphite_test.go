package graphite

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/metricprovider"
)

// fakeGraphite answers /render?format=json as graphite-web does, from a
// table of target -> series JSON.
func fakeGraphite(t *testing.T, answers map[string]string, from *string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/render" || q.Get("format") != "json" {
			http.NotFound(w, r)
			return
		}
		*from = q.Get("from")
		series, ok := answers[q.Get("target")]
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "Invalid target %s", q.Get("target"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, series)
	}))
}

func TestQuery(t *testing.T) {
	var from string
	// Whitespace runs, newlines included, reach Graphite as single spaces.
	rate := "summarize( asPercent( sumSeries(app.ok.count), sumSeries(app.all.count) ), '5min', 'avg' )"
	srv := fakeGraphite(t, map[string]string{
		rate:      `[{"target":"rate","tags":{},"datapoints":[[99.5,1700000000],[null,1700000060],[97,1700000120]]}]`,
		"nothing": `[]`,
	}, &from)
	defer srv.Close()
	multiline := "target=summarize(\n  asPercent(\n    sumSeries(app.ok.count),\n    sumSeries(app.all.count)\n  ),\n  '5min',\n  'avg'\n)&from=-5min"
	for _, c := range []struct {
		query, cond, value string
		phase              v1alpha1.AnalysisPhase
		msg                string
	}{
		{multiline, "all(result, {# >= 95})", "[99.5,97]", v1alpha1.AnalysisPhaseSuccessful, ""},
		{multiline, "result[len(result)-1] >= 98", "[99.5,97]", v1alpha1.AnalysisPhaseFailed, ""},
		{"target=nothing", "true", "", v1alpha1.AnalysisPhaseError, "matched no series"},
		{"target=broken(", "true", "", v1alpha1.AnalysisPhaseError, "Invalid target broken("},
		{"from=-5min", "true", "", v1alpha1.AnalysisPhaseError, "no target= parameter"},
	} {
		m := metricprovider.Measure(context.Background(), Provider{}, &v1alpha1.Metric{Name: "m", SuccessCondition: c.cond,
			Provider: v1alpha1.MetricProvider{Graphite: &v1alpha1.GraphiteMetric{Address: srv.URL, Query: c.query}}}, time.Now)
		if m.Phase != c.phase || m.Value != c.value || !strings.Contains(m.Message, c.msg) {
			t.Errorf("%q: got %s %q %q", c.query, m.Phase, m.Value, m.Message)
		}
		if c.query == multiline && from != "-5min" {
			t.Errorf("from=%q, want the query's -5min passed on", from)
		}
	}
	m := metricprovider.Measure(context.Background(), Provider{}, &v1alpha1.Metric{Name: "m", SuccessCondition: "true",
		Provider: v1alpha1.MetricProvider{Graphite: &v1alpha1.GraphiteMetric{Address: "graphite:8080", Query: "target=x"}}}, time.Now)
	if !strings.Contains(m.Message, `provider.graphite.address "graphite:8080"`) {
		t.Errorf("bad address: %q", m.Message)
	}
}
