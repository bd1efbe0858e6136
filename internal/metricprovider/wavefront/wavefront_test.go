package wavefront

import (
	"context"
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

// fakeWavefront answers /api/v2/chart/api as Wavefront does, from a table of
// query -> timeseries JSON.
func fakeWavefront(t *testing.T, answers map[string]string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer wf-token" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"status":{"result":"ERROR","message":"Unauthorized","code":401}}`)
			return
		}
		q := r.URL.Query()
		if r.URL.Path != "/api/v2/chart/api" || q.Get("s") != strconv.FormatInt(now.UnixMilli(), 10) || q.Get("g") != "s" {
			http.NotFound(w, r)
			return
		}
		series, ok := answers[q.Get("q")]
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"status":{"result":"ERROR","message":"Query syntax error: %s","code":400}}`, q.Get("q"))
			return
		}
		fmt.Fprintf(w, `{"name":%q,"query":%q,"granularity":1,"timeseries":%s}`, q.Get("q"), q.Get("q"), series)
	}))
}

func TestQuery(t *testing.T) {
	srv := fakeWavefront(t, map[string]string{
		"ts(requests.ok)":        `[{"label":"requests.ok","host":"a","data":[[1700000000,0.98]]}]`,
		"ts(requests.ok, app=*)": `[{"label":"requests.ok","host":"a","data":[[1700000000,0.98]]},{"label":"requests.ok","host":"b","data":[[1700000000,0.6]]}]`,
		"ts(nothing)":            `[]`,
	})
	defer srv.Close()
	p := Provider{Now: func() time.Time { return now },
		Credentials: providertest.Credentials(providertest.Secrets{"vireo-system/wavefront-api-tokens": {srv.URL: "wf-token", "other.wavefront.com": "x"}})}
	for _, c := range []struct {
		query, cond, value string
		phase              v1alpha1.AnalysisPhase
		msg                string
	}{
		{"ts(requests.ok)", "result >= 0.95", "0.98", v1alpha1.AnalysisPhaseSuccessful, ""},
		{"ts(requests.ok, app=*)", "all(result, {# >= 0.95})", "[0.98,0.6]", v1alpha1.AnalysisPhaseFailed, ""},
		{"ts(nothing)", "true", "", v1alpha1.AnalysisPhaseError, "gave no time series"},
		{"ts(", "true", "", v1alpha1.AnalysisPhaseError, "Query syntax error"},
	} {
		m := metricprovider.Measure(context.Background(), p, &v1alpha1.Metric{Name: "m", SuccessCondition: c.cond,
			Provider: v1alpha1.MetricProvider{Wavefront: &v1alpha1.WavefrontMetric{Address: srv.URL, Query: c.query}}}, time.Now)
		if m.Phase != c.phase || m.Value != c.value || !strings.Contains(m.Message, c.msg) {
			t.Errorf("%s: got %s %q %q", c.query, m.Phase, m.Value, m.Message)
		}
	}
	// An address the Secret has no token for is named.
	m := metricprovider.Measure(context.Background(), p, &v1alpha1.Metric{Name: "m", SuccessCondition: "true",
		Provider: v1alpha1.MetricProvider{Wavefront: &v1alpha1.WavefrontMetric{Address: "example.wavefront.com", Query: "ts(x)"}}}, time.Now)
	if m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, "no token for address example.wavefront.com") {
		t.Errorf("unknown address: %s %q", m.Phase, m.Message)
	}
}
