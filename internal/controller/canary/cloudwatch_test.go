package canary

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/smithy-go/encoding/cbor"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
	planner "github.com/vireo-dev/vireo/internal/canary"
)

// A cloudwatch MetricTemplate, written as Flagger's docs write it (the AWS
// API's field names), runs against a local CloudWatch speaking the SDK's
// protocol: the region reaches the signature, the window is ten intervals,
// and the value is the first result's newest.
func TestCloudWatchMetricTemplate(t *testing.T) {
	var request cbor.Map
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		body, _ := io.ReadAll(r.Body)
		v, _ := cbor.Decode(body)
		request, _ = v.(cbor.Map)
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		w.Header().Set("Content-Type", "application/cbor")
		values := cbor.List{cbor.Float64(0.5), cbor.Float64(0.2)}
		if request == nil || len(request["MetricDataQueries"].(cbor.List)) != 3 {
			values = cbor.List{}
		}
		w.Write(cbor.Encode(cbor.Map{"MetricDataResults": cbor.List{cbor.Map{"Id": cbor.String("e1"), "StatusCode": cbor.String("Complete"),
			"Values": values, "Timestamps": cbor.List{}}}, "Messages": cbor.List{}}))
	}))
	defer srv.Close()
	k := &Checker{
		AWSConfig: func(_ context.Context, region string) (aws.Config, error) {
			return aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")}, nil
		},
		CloudWatchOptions: []func(*cw.Options){func(o *cw.Options) { o.BaseEndpoint = aws.String(srv.URL) }},
	}
	query := `[
	  {"Id": "e1", "Expression": "m1 / m2", "Label": "ErrorRate"},
	  {"Id": "m1", "ReturnData": false, "MetricStat": {"Period": 60, "Stat": "Sum", "Unit": "Count",
	    "Metric": {"Namespace": "MyKubernetesCluster", "MetricName": "ErrorCount", "Dimensions": [{"Name": "appName", "Value": "podinfo"}]}}},
	  {"Id": "m2", "ReturnData": false, "MetricStat": {"Period": 60, "Stat": "Sum", "Unit": "Count",
	    "Metric": {"Namespace": "MyKubernetesCluster", "MetricName": "RequestCount", "Dimensions": [{"Name": "appName", "Value": "podinfo"}]}}}
	]`
	before := time.Now()
	got := k.metric(context.Background(), &planner.MetricQuery{Name: "error-rate", Namespace: "test", Interval: "1m", Query: query,
		Provider: v1beta1.MetricTemplateProvider{Type: "cloudwatch", Region: "ap-northeast-1"}})
	if !got.OK || got.Value != 0.5 {
		t.Fatalf("got %+v, want 0.5 (the newest value)", got)
	}
	if !strings.Contains(auth, "/ap-northeast-1/monitoring/aws4_request") {
		t.Errorf("not signed for the template's region: %q", auth)
	}
	start, _ := cbor.AsTime(request["StartTime"])
	end, _ := cbor.AsTime(request["EndTime"])
	if w := end.Sub(start); w != 10*time.Minute || end.Before(before.Add(-time.Second)) {
		t.Errorf("window %v..%v (%v), want the ten intervals to now", start, end, w)
	}
	m1 := request["MetricDataQueries"].(cbor.List)[1].(cbor.Map)
	dims := m1["MetricStat"].(cbor.Map)["Metric"].(cbor.Map)["Dimensions"].(cbor.List)
	if m1["ReturnData"] != cbor.Bool(false) || dims[0].(cbor.Map)["Value"] != cbor.String("podinfo") {
		t.Errorf("query m1 sent as %#v", m1)
	}

	for _, c := range []struct {
		region, query, want string
	}{
		{"", query, "provider.region"},
		{"eu-west-1", `{"Id": "e1"}`, "not a JSON list of MetricDataQuery"},
		{"eu-west-1", `[{"Id": "e1"}]`, "set exactly one of expression and metricStat"},
	} {
		got := k.metric(context.Background(), &planner.MetricQuery{Name: "m", Namespace: "test", Interval: "1m", Query: c.query,
			Provider: v1beta1.MetricTemplateProvider{Type: "cloudwatch", Region: c.region}})
		if got.OK || !strings.Contains(got.Err, c.want) {
			t.Errorf("region %q query %s: %+v, want an error saying %q", c.region, c.query, got, c.want)
		}
	}
	// No values: a query of one metric answers none.
	got = k.metric(context.Background(), &planner.MetricQuery{Name: "m", Namespace: "test", Interval: "1m",
		Query: `[{"Id": "e1", "Expression": "SELECT 1"}]`, Provider: v1beta1.MetricTemplateProvider{Type: "cloudwatch", Region: "eu-west-1"}})
	if !got.NoValues {
		t.Errorf("an empty result: %+v, want no values", got)
	}
}
