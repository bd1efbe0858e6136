package canary

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
	planner "github.com/vireo-dev/vireo/internal/canary"
)

// MetricTemplates of each provider Vireo serves, against local servers that
// answer as the services do: Flagger's Secret keys reach each service as it
// expects them, and one number comes back.
func TestMetricTemplateProviders(t *testing.T) {
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method+" "+r.URL.Path)
		switch r.URL.Path {
		case "/api/v1/query": // Datadog
			if r.Header.Get("Dd-Api-Key") != "api" || r.Header.Get("Dd-Application-Key") != "app" {
				http.Error(w, "forbidden", http.StatusForbidden)
				return
			}
			fmt.Fprint(w, `{"status":"ok","series":[{"pointlist":[[1,1.5],[2,2.5]]}]}`)
		case "/api/v2/query": // InfluxDB
			if r.Header.Get("Authorization") != "Token tok" || r.URL.Query().Get("org") != "acme" {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			fmt.Fprint(w, "#datatype,string,long,double\n#group,false,false,false\n#default,_result,,\n,result,table,_value\n,,0,7.25\n\n")
		case "/v1/accounts/42/query": // New Relic Insights
			if r.Header.Get("X-Query-Key") != "nrkey" || r.URL.Query().Get("nrql") != "SELECT percentage(count(*), WHERE httpResponseCode != '500') FROM Transaction SINCE 60 seconds ago" {
				http.Error(w, "forbidden "+r.URL.Query().Get("nrql"), http.StatusForbidden)
				return
			}
			fmt.Fprint(w, `{"results":[{"result":99.25}]}`)
		case "/api/v2/metrics/query": // Dynatrace
			q := r.URL.Query()
			if r.Header.Get("Authorization") != "Api-Token dt0c01.x" || q.Get("resolution") != "Inf" || q.Get("metricSelector") != "builtin:service.errors.total.rate" {
				http.Error(w, "forbidden", http.StatusForbidden)
				return
			}
			from, _ := strconv.ParseInt(q.Get("from"), 10, 64)
			to, _ := strconv.ParseInt(q.Get("to"), 10, 64)
			if to-from != 600000 {
				http.Error(w, "window "+fmt.Sprint(to-from), http.StatusBadRequest)
				return
			}
			fmt.Fprint(w, `{"totalCount":2,"result":[{"metricId":"builtin:service.errors.total.rate","data":[{"values":[0.5]},{"values":[1.75]}]}]}`)
		case "/render": // Graphite
			fmt.Fprint(w, `[{"target":"errors","datapoints":[[3.5,1],[null,2]]}]`)
		case "/prom/api/v1/query":
			if r.Header.Get("Authorization") != "Basic dTpw" {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	secrets := fake.NewClientBuilder().WithObjects(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "dd"}, Data: map[string][]byte{"datadog_api_key": []byte("api"), "datadog_application_key": []byte("app")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "influx"}, Data: map[string][]byte{"token": []byte("tok"), "org": []byte("acme")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "prom"}, Data: map[string][]byte{"username": []byte("u"), "password": []byte("p")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "dt"}, Data: map[string][]byte{"dynatrace_token": []byte("dt0c01.x")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "nr"}, Data: map[string][]byte{"newrelic_account_id": []byte("42"), "newrelic_query_key": []byte("nrkey")}},
	).Build()
	k := &Checker{Reader: secrets}
	for _, tc := range []struct {
		typ, address, secret, query string
		want                        planner.Result
	}{
		{"datadog", srv.URL, "dd", "avg:errors{*}", planner.Result{OK: true, Value: 2.5}},
		{"influxdb", srv.URL, "influx", `from(bucket:"b") |> range(start: -1m)`, planner.Result{OK: true, Value: 7.25}},
		{"graphite", srv.URL, "", "target=errors&from=-1min", planner.Result{OK: true, Value: 3.5}},
		{"newrelic", srv.URL, "nr", "SELECT percentage(count(*), WHERE httpResponseCode != '500') FROM Transaction", planner.Result{OK: true, Value: 99.25}},
		{"prometheus", srv.URL + "/prom", "prom", "up", planner.Result{NoValues: true, Err: "no values found"}},
		{"dynatrace", srv.URL, "dt", "builtin:service.errors.total.rate", planner.Result{OK: true, Value: 1.75}},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			p := v1beta1.MetricTemplateProvider{Type: tc.typ, Address: tc.address}
			if tc.secret != "" {
				p.SecretRef = &v1beta1.SecretReference{Name: tc.secret}
			}
			got := k.metric(context.Background(), &planner.MetricQuery{Name: "m", Query: tc.query, Provider: p, Namespace: "test", Interval: "1m"})
			if got != tc.want {
				t.Errorf("got %+v, want %+v (requests %v)", got, tc.want, seen)
			}
		})
	}
	got := k.metric(context.Background(), &planner.MetricQuery{Name: "m", Query: "q", Provider: v1beta1.MetricTemplateProvider{Type: "splunk"}})
	if got.OK || !strings.Contains(got.Err, `"splunk" is not served`) {
		t.Errorf("an unserved provider: %+v", got)
	}
}

// A vireo-judge MetricTemplate: the checker reads the four counters its
// query names from the provider's Prometheus and hands the planner the
// reading; a configuration that does not read names spec.query.
func TestJudgeTemplateReadsCounters(t *testing.T) {
	counts := map[string]string{"cr": "200", "ce": "6", "sr": "800", "se": "8"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		v, ok := counts[r.Form.Get("query")]
		if r.URL.Path != "/api/v1/query" || !ok {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"%s"]}]}}`, v)
	}))
	defer srv.Close()
	k := &Checker{Reader: fake.NewClientBuilder().Build()}
	p := v1beta1.MetricTemplateProvider{Type: planner.JudgeProvider, Address: srv.URL}
	got := k.metric(context.Background(), &planner.MetricQuery{Name: "judge", Provider: p, Namespace: "test",
		Query: "canary: {requests: cr, errors: ce}\nstable: {requests: sr, errors: se}\ntolerance: 0.2\n"})
	if !got.OK || got.Judge == nil || got.Judge.Canary.Requests != 200 || got.Judge.Canary.Errors != 6 || got.Judge.Stable.Requests != 800 || got.Judge.Stable.Errors != 8 {
		t.Fatalf("reading: %+v (judge %+v)", got, got.Judge)
	}
	got = k.metric(context.Background(), &planner.MetricQuery{Name: "judge", Provider: p, Namespace: "test", Query: "canary: {requests: cr}\n"})
	if got.OK || !strings.Contains(got.Err, "spec.query") {
		t.Errorf("a configuration missing queries: %+v", got)
	}
}
