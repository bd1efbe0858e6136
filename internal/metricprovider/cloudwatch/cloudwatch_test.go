package cloudwatch

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
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/metricprovider"
)

var now = time.Unix(1_700_000_000, 0)

// fakeCloudWatch speaks GetMetricData in the protocol the SDK uses for
// CloudWatch (Smithy RPC v2 CBOR): it checks the request is signed, decodes
// it, and answers each query id from values, two pages for id "paged".
type fakeCloudWatch struct {
	t       *testing.T
	values  map[string][]float64
	request cbor.Map
}

func (f *fakeCloudWatch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/service/GraniteServiceVersion20100801/operation/GetMetricData" ||
		!strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIDTEST/") {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	body, _ := io.ReadAll(r.Body)
	v, err := cbor.Decode(body)
	req, ok := v.(cbor.Map)
	if err != nil || !ok {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	f.request = req
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	var results cbor.List
	next := cbor.Value(nil)
	for _, q := range req["MetricDataQueries"].(cbor.List) {
		id := string(q.(cbor.Map)["Id"].(cbor.String))
		vals, ok := f.values[id]
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			w.Write(cbor.Encode(cbor.Map{"__type": cbor.String("com.amazonaws.cloudwatch#InvalidParameterValueException"),
				"message": cbor.String("The metric " + id + " is not valid")}))
			return
		}
		if id == "paged" && req["NextToken"] == nil {
			vals, next = vals[:1], cbor.String("page-2")
		} else if id == "paged" {
			vals = vals[1:]
		}
		list, times := cbor.List{}, cbor.List{}
		for i, x := range vals {
			list = append(list, cbor.Float64(x))
			times = append(times, &cbor.Tag{ID: 1, Value: cbor.Float64(float64(now.Unix() - int64(60*i)))})
		}
		results = append(results, cbor.Map{"Id": cbor.String(id), "Label": cbor.String(id + "-label"),
			"StatusCode": cbor.String("Complete"), "Values": list, "Timestamps": times})
	}
	out := cbor.Map{"MetricDataResults": results, "Messages": cbor.List{}}
	if next != nil {
		out["NextToken"] = next
	}
	w.Write(cbor.Encode(out))
}

func provider(url string) Provider {
	return Provider{
		Now: func() time.Time { return now },
		Config: func(context.Context) (aws.Config, error) {
			return aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")}, nil
		},
		ClientOptions: []func(*cw.Options){func(o *cw.Options) { o.BaseEndpoint = aws.String(url) }},
	}
}

func TestGetMetricData(t *testing.T) {
	f := &fakeCloudWatch{t: t, values: map[string][]float64{"errors": {0.004, 0.002, 0.001}, "paged": {1, 2}}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	p := provider(srv.URL)
	metric := &v1alpha1.Metric{Name: "m", SuccessCondition: "len(result[0].Values) >= 3 and all(result[0].Values, {# <= 0.01})",
		Provider: v1alpha1.MetricProvider{CloudWatch: &v1alpha1.CloudWatchMetric{Interval: "10m", MetricDataQueries: []v1alpha1.CloudWatchMetricDataQuery{{
			Id: "errors", MetricStat: &v1alpha1.CloudWatchMetricStat{Period: intstr.FromInt32(300), Stat: "Average", Unit: "Percent",
				Metric: v1alpha1.CloudWatchMetricStatMetric{MetricName: "5XXError", Namespace: ptr.To("AWS/ApplicationELB"),
					Dimensions: []v1alpha1.CloudWatchMetricStatMetricDimension{{Name: "LoadBalancer", Value: "app/shop/123"}}}}}}}}}
	m := metricprovider.Measure(context.Background(), p, metric, time.Now)
	if m.Phase != v1alpha1.AnalysisPhaseSuccessful || !strings.Contains(m.Value, `"Values":[0.004,0.002,0.001]`) || !strings.Contains(m.Value, `"Label":"errors-label"`) {
		t.Fatalf("got %s %q %q", m.Phase, m.Value, m.Message)
	}
	start, _ := cbor.AsTime(f.request["StartTime"])
	end, _ := cbor.AsTime(f.request["EndTime"])
	if !end.Equal(now) || !start.Equal(now.Add(-10*time.Minute)) {
		t.Errorf("window %v..%v, want the 10 minutes before %v", start, end, now)
	}
	q := f.request["MetricDataQueries"].(cbor.List)[0].(cbor.Map)
	stat := q["MetricStat"].(cbor.Map)
	dims := stat["Metric"].(cbor.Map)["Dimensions"].(cbor.List)
	if stat["Stat"] != cbor.String("Average") || stat["Unit"] != cbor.String("Percent") || dims[0].(cbor.Map)["Value"] != cbor.String("app/shop/123") {
		t.Errorf("query sent: %#v", q)
	}

	// Pages are joined per id.
	metric.Provider.CloudWatch.MetricDataQueries = []v1alpha1.CloudWatchMetricDataQuery{{Id: "paged", Expression: ptr.To("SELECT AVG(CPUUtilization) FROM SCHEMA(\"AWS/EC2\")"), Period: ptr.To(intstr.FromString("60"))}}
	metric.SuccessCondition = "result[0].Values == [1.0, 2.0]"
	if m := metricprovider.Measure(context.Background(), p, metric, time.Now); m.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Errorf("paged: %s %q %q", m.Phase, m.Value, m.Message)
	}
}

func TestErrors(t *testing.T) {
	srv := httptest.NewServer(&fakeCloudWatch{t: t, values: map[string][]float64{}})
	defer srv.Close()
	p := provider(srv.URL)
	for _, c := range []struct {
		q    v1alpha1.CloudWatchMetricDataQuery
		want string
	}{
		{v1alpha1.CloudWatchMetricDataQuery{Id: "nope", Expression: ptr.To("x")}, "InvalidParameterValue"},
		{v1alpha1.CloudWatchMetricDataQuery{Expression: ptr.To("x")}, "metricDataQueries[0].id is required"},
		{v1alpha1.CloudWatchMetricDataQuery{Id: "a"}, "set exactly one of expression and metricStat"},
		{v1alpha1.CloudWatchMetricDataQuery{Id: "a", Expression: ptr.To("x"), Period: ptr.To(intstr.FromString("soon"))}, `period "soon"`},
	} {
		metric := &v1alpha1.Metric{Name: "m", SuccessCondition: "true", Provider: v1alpha1.MetricProvider{CloudWatch: &v1alpha1.CloudWatchMetric{
			MetricDataQueries: []v1alpha1.CloudWatchMetricDataQuery{c.q}}}}
		m := metricprovider.Measure(context.Background(), p, metric, time.Now)
		if m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, c.want) {
			t.Errorf("%+v: %s %q, want %q", c.q, m.Phase, m.Message, c.want)
		}
	}
}

// CachedConfig loads the configuration once: a later change to the
// environment is not read again.
func TestCachedConfigLoadsOnce(t *testing.T) {
	t.Setenv("AWS_REGION", "eu-west-1")
	load := CachedConfig()
	first, err := load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_REGION", "us-east-2")
	second, _ := load(context.Background())
	if first.Region != "eu-west-1" || second.Region != "eu-west-1" {
		t.Errorf("regions %q then %q, want the first load kept", first.Region, second.Region)
	}
}
