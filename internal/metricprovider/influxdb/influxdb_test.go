package influxdb

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/metricprovider"
	"github.com/vireo-dev/vireo/internal/metricprovider/providertest"
)

const twoTables = `#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string
#group,false,false,true,true,false,false,true,true
#default,_result,,,,,,,
,result,table,_start,_stop,_time,_value,_field,_measurement
,,0,2026-11-21T10:00:00Z,2026-11-21T10:05:00Z,2026-11-21T10:05:00Z,0.99,rate,http
,,0,2026-11-21T10:00:00Z,2026-11-21T10:05:00Z,2026-11-21T10:05:00Z,0.97,rate,http

#datatype,string,long,dateTime:RFC3339,long,string
#group,false,false,false,false,true
#default,_result,,,,
,result,table,_time,_value,_field
,,1,2026-11-21T10:05:00Z,42,count
`

const failed = `#datatype,string,string
#group,true,true
#default,,
,error,reference
,"runtime error: column ""_vale"" does not exist",897
`

// fakeInflux answers /api/v2/query as InfluxDB 2 does: annotated CSV for a
// known Flux query, its JSON error otherwise.
func fakeInflux(t *testing.T, answers map[string]string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Token influx-token" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"code":"unauthorized","message":"unauthorized access"}`)
			return
		}
		var body struct {
			Query, Type string
			Dialect     struct{ Annotations []string }
		}
		if r.URL.Path != "/api/v2/query" || r.URL.Query().Get("org") != "shop" || json.NewDecoder(r.Body).Decode(&body) != nil ||
			body.Type != "flux" || len(body.Dialect.Annotations) != 3 {
			http.NotFound(w, r)
			return
		}
		csv, ok := answers[body.Query]
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"code":"invalid","message":"compilation failed: error at @1:1-1:4: undefined identifier bad"}`)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		fmt.Fprint(w, csv)
	}))
}

func TestQuery(t *testing.T) {
	srv := fakeInflux(t, map[string]string{"rates": twoTables, "empty": "\r\n", "failed": failed})
	defer srv.Close()
	secrets := providertest.Secrets{
		"vireo-system/influxdb": {"address": srv.URL, "authToken": "influx-token", "org": "shop"},
		"vireo-system/team-b":   {"address": srv.URL, "authToken": "wrong", "org": "shop"},
		"vireo-system/partial":  {"address": srv.URL},
	}
	p := Provider{Credentials: providertest.Credentials(secrets)}
	for _, c := range []struct {
		profile, query, cond, value string
		phase                       v1alpha1.AnalysisPhase
		msg                         string
	}{
		{"", "rates", "result[0] >= 0.95 && result[2] == 42", "[0.99,0.97,42]", v1alpha1.AnalysisPhaseSuccessful, ""},
		{"", "rates", "all(result[0:2], {# >= 0.98})", "[0.99,0.97,42]", v1alpha1.AnalysisPhaseFailed, ""},
		{"", "empty", "true", "", v1alpha1.AnalysisPhaseError, "no records"},
		{"", "failed", "true", "", v1alpha1.AnalysisPhaseError, `column "_vale" does not exist (reference 897)`},
		{"", "bad", "true", "", v1alpha1.AnalysisPhaseError, "invalid: compilation failed"},
		{"team-b", "rates", "true", "", v1alpha1.AnalysisPhaseError, "unauthorized access"},
		{"partial", "rates", "true", "", v1alpha1.AnalysisPhaseError, "credentials Secret partial has no authToken, org"},
		{"missing", "rates", "true", "", v1alpha1.AnalysisPhaseError, "Secret missing not found in namespace vireo-system"},
	} {
		m := metricprovider.Measure(context.Background(), p, &v1alpha1.Metric{Name: "m", SuccessCondition: c.cond,
			Provider: v1alpha1.MetricProvider{Influxdb: &v1alpha1.InfluxdbMetric{Profile: c.profile, Query: c.query}}}, time.Now)
		if m.Phase != c.phase || m.Value != c.value || !strings.Contains(m.Message, c.msg) {
			t.Errorf("%s %q: got %s %q %q", c.profile, c.query, m.Phase, m.Value, m.Message)
		}
	}
}

// FuzzValues feeds Values arbitrary answers: it returns values or an error,
// and never panics.
func FuzzValues(f *testing.F) {
	f.Add([]byte(twoTables))
	f.Add([]byte(failed))
	f.Add([]byte("#datatype,double\n,_value\n,x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Values(data)
	})
}
