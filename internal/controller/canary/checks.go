package canary

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	cw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
	"github.com/vireo-dev/vireo/api/v1alpha1"
	planner "github.com/vireo-dev/vireo/internal/canary"
	"github.com/vireo-dev/vireo/internal/httpquery"
	"github.com/vireo-dev/vireo/internal/metricprovider"
	"github.com/vireo-dev/vireo/internal/metricprovider/cloudwatch"
	"github.com/vireo-dev/vireo/internal/metricprovider/datadog"
	"github.com/vireo-dev/vireo/internal/metricprovider/graphite"
	"github.com/vireo-dev/vireo/internal/metricprovider/influxdb"
	"github.com/vireo-dev/vireo/internal/metricprovider/judgeprovider"
	"github.com/vireo-dev/vireo/internal/metricprovider/prometheus"
)

// Checker runs the checks a plan asks for: webhooks and metric queries.
type Checker struct {
	// Reader reads the Secrets of MetricTemplates' secretRef, and Keptn's
	// metrics and analyses.
	Reader client.Reader
	// Writer creates and deletes Keptn Analyses (keptn templates asking
	// for an analysis).
	Writer client.Writer
	// Backoff is the first wait between two tries of a webhook (1 s when
	// zero); it doubles up to 30 s.
	Backoff time.Duration
	// AWSConfig loads the AWS configuration of a cloudwatch MetricTemplate
	// for its region (the SDK's usual chain when nil); CloudWatchOptions
	// adjust its client (tests point it at a local CloudWatch).
	AWSConfig         func(ctx context.Context, region string) (aws.Config, error)
	CloudWatchOptions []func(*cw.Options)
	awsConfigs        sync.Map // region -> cloudwatch.CachedConfig
}

// Payload is the body of a webhook call, as Flagger sends it.
type Payload struct {
	Name      string              `json:"name"`
	Namespace string              `json:"namespace"`
	Phase     v1beta1.CanaryPhase `json:"phase"`
	Checksum  string              `json:"checksum"`
	Metadata  map[string]string   `json:"metadata,omitempty"`
}

// Run answers one check.
func (k *Checker) Run(ctx context.Context, c *v1beta1.Canary, ch planner.Check) planner.Result {
	switch ch.Kind {
	case planner.HookCheck:
		return k.hook(ctx, c, ch.Hook, ch.Phase)
	case planner.MetricCheck:
		return k.metric(ctx, ch.Metric)
	}
	return planner.Result{Err: fmt.Sprintf("unknown check kind %q", ch.Kind)}
}

// hook POSTs the payload; an answer of 202 or below passes. A failed call
// or a 5xx/429 answer is tried again, retries times, with backoff.
func (k *Checker) hook(ctx context.Context, c *v1beta1.Canary, h *v1beta1.CanaryWebhook, phase v1beta1.CanaryPhase) planner.Result {
	body, err := json.Marshal(Payload{Name: c.Name, Namespace: c.Namespace, Phase: phase,
		Checksum: planner.ConfigsChecksum(&c.Status), Metadata: h.Metadata})
	if err != nil {
		return planner.Result{Err: err.Error()}
	}
	timeout := planner.DefaultHookTimeout
	if d, err := time.ParseDuration(h.Timeout); err == nil && d > 0 {
		timeout = d
	}
	wait := k.Backoff
	if wait <= 0 {
		wait = time.Second
	}
	var last planner.Result
	for try := 0; try <= max(h.Retries, 0); try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return last
			case <-time.After(wait):
			}
			wait = min(2*wait, 30*time.Second)
		}
		data, err := httpquery.Do(ctx, httpquery.Request{Provider: "webhook " + h.Name, Method: http.MethodPost, URL: h.URL,
			Header: http.Header{"Content-Type": {"application/json"}}, Body: body, Timeout: timeout, Insecure: h.DisableTLS})
		var se *httpquery.StatusError
		switch {
		case err == nil:
			// 2xx: Flagger passes 200 to 202 only.
			return planner.Result{OK: true}
		case errors.As(err, &se):
			msg := strings.TrimSpace(string(data))
			if msg == "" {
				msg = se.Status
			}
			last = planner.Result{Err: msg}
			if se.Code < 500 && se.Code != http.StatusTooManyRequests {
				return last
			}
		default:
			last = planner.Result{Err: err.Error()}
		}
	}
	return last
}

// EventHook posts one event to an event webhook, as Flagger does: the
// Canary's state with the event's message, type and time (ms) in the
// metadata, the hook's own metadata beside them; 5 s, no retry.
func (k *Checker) EventHook(ctx context.Context, c *v1beta1.Canary, h *v1beta1.CanaryWebhook, message, eventType string, now time.Time) error {
	meta := map[string]string{"eventMessage": message, "eventType": eventType, "timestamp": strconv.FormatInt(now.UnixMilli(), 10)}
	for k, v := range h.Metadata {
		if _, taken := meta[k]; !taken {
			meta[k] = v
		}
	}
	body, err := json.Marshal(Payload{Name: c.Name, Namespace: c.Namespace, Phase: c.Status.Phase,
		Checksum: planner.ConfigsChecksum(&c.Status), Metadata: meta})
	if err != nil {
		return err
	}
	_, err = httpquery.Do(ctx, httpquery.Request{Provider: "event webhook " + h.Name, Method: http.MethodPost, URL: h.URL,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: body, Timeout: 5 * time.Second, Insecure: h.DisableTLS})
	return err
}

// metric runs a rendered query with the MetricTemplate's provider, through
// Vireo's client for that service, and reads one number from the answer:
// no series, no point or NaN is "no values".
func (k *Checker) metric(ctx context.Context, q *planner.MetricQuery) planner.Result {
	var secret map[string][]byte
	if ref := q.Provider.SecretRef; ref != nil {
		var s corev1.Secret
		if err := k.Reader.Get(ctx, client.ObjectKey{Namespace: q.Namespace, Name: ref.Name}, &s); err != nil {
			return planner.Result{Err: fmt.Sprintf("secret %s: %v", ref.Name, err)}
		}
		secret = s.Data
	}
	if q.Provider.Type == planner.JudgeProvider {
		spec, _, err := planner.JudgeSpec(q.Provider, q.Query)
		if err != nil {
			return planner.Result{Err: err.Error()}
		}
		reading, err := judgeprovider.Read(ctx, spec, time.Now)
		if err != nil {
			return planner.Result{Err: err.Error()}
		}
		return planner.Result{OK: true, Judge: &reading}
	}
	v, err := k.query(ctx, q, secret)
	if err != nil {
		return planner.Result{Err: err.Error()}
	}
	return reduce(v)
}

// query maps a Flagger provider onto Vireo's client for the service, with
// the credentials where Flagger's Secret keys put them.
func (k *Checker) query(ctx context.Context, q *planner.MetricQuery, secret map[string][]byte) (any, error) {
	p := q.Provider
	metric := &v1alpha1.Metric{Name: q.Name}
	switch p.Type {
	case "prometheus":
		if p.Address == "" {
			return nil, errors.New("no Prometheus address: set the MetricTemplate's provider.address, spec.metricsServer or the controller's --flagger-metrics-server")
		}
		pm := &v1alpha1.PrometheusMetric{Address: p.Address, Query: q.Query, Insecure: p.InsecureSkipVerify}
		for name, values := range p.Headers {
			for _, v := range values {
				pm.Headers = append(pm.Headers, v1alpha1.WebMetricHeader{Key: name, Value: v})
			}
		}
		switch {
		case len(secret["token"]) > 0:
			pm.Headers = append(pm.Headers, v1alpha1.WebMetricHeader{Key: "Authorization", Value: "Bearer " + string(secret["token"])})
		case len(secret["username"]) > 0:
			cred := base64.StdEncoding.EncodeToString([]byte(string(secret["username"]) + ":" + string(secret["password"])))
			pm.Headers = append(pm.Headers, v1alpha1.WebMetricHeader{Key: "Authorization", Value: "Basic " + cred})
		}
		metric.Provider.Prometheus = pm
		return prometheus.Provider{}.Query(ctx, metric)
	case "datadog":
		// Flagger's keys, and its window: ten intervals back from now.
		iv, err := time.ParseDuration(q.Interval)
		if err != nil || iv <= 0 {
			iv = time.Minute
		}
		creds := map[string][]byte{"api-key": secret["datadog_api_key"], "app-key": secret["datadog_application_key"], "address": []byte(p.Address)}
		metric.Provider.Datadog = &v1alpha1.DatadogMetric{Query: q.Query, Interval: v1alpha1.DurationString((10 * iv).String()),
			SecretRef: v1alpha1.SecretRef{Name: "metrictemplate"}}
		return datadog.Provider{Credentials: fixedSecret(creds)}.Query(ctx, metric)
	case "influxdb":
		creds := map[string][]byte{"address": []byte(p.Address), "authToken": secret["token"], "org": secret["org"]}
		metric.Provider.Influxdb = &v1alpha1.InfluxdbMetric{Profile: "metrictemplate", Query: q.Query}
		return influxdb.Provider{Credentials: fixedSecret(creds)}.Query(ctx, metric)
	case "newrelic":
		// Flagger's New Relic: the Insights query API, with the query key
		// in X-Query-Key, over the metric's interval.
		account, key := string(secret["newrelic_account_id"]), string(secret["newrelic_query_key"])
		if account == "" || key == "" {
			return nil, errors.New("the newrelic MetricTemplate's secretRef needs newrelic_account_id and newrelic_query_key")
		}
		iv, err := time.ParseDuration(q.Interval)
		if err != nil || iv <= 0 {
			iv = time.Minute
		}
		address := strings.TrimRight(p.Address, "/")
		if address == "" {
			address = "https://insights-api.newrelic.com"
		}
		nrql := fmt.Sprintf("%s SINCE %d seconds ago", q.Query, int64(iv.Seconds()))
		var answer struct {
			Results []struct {
				Result *float64 `json:"result"`
			} `json:"results"`
		}
		err = httpquery.JSON(ctx, httpquery.Request{Provider: "newrelic", Method: http.MethodGet, Timeout: 5 * time.Second,
			URL:    address + "/v1/accounts/" + url.PathEscape(account) + "/query?" + url.Values{"nrql": {nrql}}.Encode(),
			Header: http.Header{"X-Query-Key": {key}}}, &answer)
		if err != nil {
			return nil, err
		}
		if len(answer.Results) != 1 || answer.Results[0].Result == nil {
			return nil, nil
		}
		return *answer.Results[0].Result, nil
	case "cloudwatch":
		return k.cloudWatch(ctx, q)
	case "dynatrace":
		return dynatrace(ctx, q, secret)
	case "keptn":
		return k.keptn(ctx, q)
	case "graphite":
		if len(secret["username"]) > 0 {
			return nil, errors.New("graphite with a username and password is not served by Vireo yet")
		}
		metric.Provider.Graphite = &v1alpha1.GraphiteMetric{Address: p.Address, Query: q.Query}
		return graphite.Provider{}.Query(ctx, metric)
	}
	return nil, fmt.Errorf("metric provider %q is not served by Vireo yet (prometheus, datadog, newrelic, influxdb, graphite, cloudwatch, dynatrace, keptn and %s are)", p.Type, planner.JudgeProvider)
}

// dynatrace runs a dynatrace MetricTemplate as Flagger does: the query is
// a metric selector, asked of the metrics API v2 at provider.address with
// the Secret's dynatrace_token, at resolution Inf over the last ten
// intervals; the value is the first value of the last series.
func dynatrace(ctx context.Context, q *planner.MetricQuery, secret map[string][]byte) (any, error) {
	address := strings.TrimRight(q.Provider.Address, "/")
	if address == "" {
		return nil, errors.New("the dynatrace MetricTemplate needs provider.address (https://ENVIRONMENT.live.dynatrace.com)")
	}
	token := string(secret["dynatrace_token"])
	if token == "" {
		return nil, errors.New("the dynatrace MetricTemplate's secretRef needs dynatrace_token")
	}
	iv, err := time.ParseDuration(q.Interval)
	if err != nil || iv <= 0 {
		iv = time.Minute
	}
	now := time.Now().UnixMilli()
	params := url.Values{"metricSelector": {q.Query}, "resolution": {"Inf"},
		"from": {strconv.FormatInt(now-10*iv.Milliseconds(), 10)}, "to": {strconv.FormatInt(now, 10)}}
	var answer struct {
		Result []struct {
			Data []struct {
				Values []*float64 `json:"values"`
			} `json:"data"`
		} `json:"result"`
	}
	err = httpquery.JSON(ctx, httpquery.Request{Provider: "dynatrace", Method: http.MethodGet, Timeout: 5 * time.Second,
		URL: address + "/api/v2/metrics/query?" + params.Encode(), Header: http.Header{"Authorization": {"Api-Token " + token}}}, &answer)
	if err != nil {
		return nil, err
	}
	if len(answer.Result) == 0 || len(answer.Result[0].Data) == 0 {
		return nil, nil
	}
	values := answer.Result[0].Data[len(answer.Result[0].Data)-1].Values
	if len(values) == 0 || values[0] == nil {
		return nil, nil
	}
	return *values[0], nil
}

// cloudWatch runs a cloudwatch MetricTemplate as Flagger does: the query is
// a JSON list of GetMetricData queries (the AWS API's field names), asked
// over the last ten intervals in provider.region; the value is the first
// result's first (newest) value. It goes through Vireo's CloudWatch client.
func (k *Checker) cloudWatch(ctx context.Context, q *planner.MetricQuery) (any, error) {
	region := q.Provider.Region
	if region == "" {
		return nil, errors.New("the cloudwatch MetricTemplate needs provider.region")
	}
	var queries []v1alpha1.CloudWatchMetricDataQuery
	// encoding/json matches field names regardless of case, so Flagger's
	// Id, MetricStat, Period ... fill Vireo's id, metricStat, period ...
	if err := json.Unmarshal([]byte(q.Query), &queries); err != nil {
		return nil, fmt.Errorf("the cloudwatch query is not a JSON list of MetricDataQuery: %v", err)
	}
	iv, err := time.ParseDuration(q.Interval)
	if err != nil || iv <= 0 {
		iv = time.Minute
	}
	load := k.AWSConfig
	if load == nil {
		load = k.cachedAWSConfig
	}
	prov := cloudwatch.Provider{ClientOptions: k.CloudWatchOptions,
		Config: func(ctx context.Context) (aws.Config, error) { return load(ctx, region) }}
	metric := &v1alpha1.Metric{Name: q.Name, Provider: v1alpha1.MetricProvider{CloudWatch: &v1alpha1.CloudWatchMetric{
		Interval: v1alpha1.DurationString((10 * iv).String()), MetricDataQueries: queries}}}
	v, err := prov.Query(ctx, metric)
	if err != nil {
		return nil, err
	}
	results, _ := v.([]map[string]any)
	if len(results) == 0 {
		return nil, nil
	}
	values, _ := results[0]["Values"].([]float64)
	if len(values) == 0 {
		return nil, nil
	}
	return values[0], nil
}

// cachedAWSConfig loads the AWS configuration of a region once (the
// Argo provider's cache, one per region), so that credentials from web
// identity or an instance role are not fetched again at every check.
func (k *Checker) cachedAWSConfig(ctx context.Context, region string) (aws.Config, error) {
	load, _ := k.awsConfigs.LoadOrStore(region, cloudwatch.CachedConfig(awsconfig.WithRegion(region)))
	return load.(func(context.Context) (aws.Config, error))(ctx)
}

// fixedSecret hands a provider one Secret's data whatever it asks for: the
// MetricTemplate's, with its keys renamed to the ones Vireo's client reads.
func fixedSecret(data map[string][]byte) metricprovider.Credentials {
	return metricprovider.Credentials{Secrets: fixed(data), LookupEnv: func(string) (string, bool) { return "", false }}
}

type fixed map[string][]byte

func (f fixed) ReadSecret(context.Context, string, string) (map[string][]byte, error) { return f, nil }

// reduce reads the one number a Flagger metric is.
func reduce(v any) planner.Result {
	var f float64
	switch x := v.(type) {
	case nil:
		return planner.Result{NoValues: true, Err: "no values found"}
	case float64:
		f = x
	case int64:
		f = float64(x)
	case []float64:
		if len(x) == 0 {
			return planner.Result{NoValues: true, Err: "no values found"}
		}
		f = x[len(x)-1]
	case []any:
		if len(x) == 0 {
			return planner.Result{NoValues: true, Err: "no values found"}
		}
		return reduce(x[len(x)-1])
	default:
		return planner.Result{Err: fmt.Sprintf("the query answered %v, not a number", v)}
	}
	if math.IsNaN(f) {
		return planner.Result{NoValues: true, Err: "no values found (NaN)"}
	}
	return planner.Result{OK: true, Value: f}
}
