// Package datadog is the datadog metric provider: a metrics query sent to
// Datadog's v1 timeseries API or its v2 scalar API, with API and application
// keys from a Secret or the controller's environment.
package datadog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/analysis"
	"github.com/vireo-dev/vireo/internal/httpquery"
	"github.com/vireo-dev/vireo/internal/metricprovider"
)

const (
	// DefaultAddress is Datadog's US1 site.
	DefaultAddress = "https://api.datadoghq.com"
	// SecretName is the credentials Secret used when a metric names none.
	SecretName = "datadog"
	// DefaultInterval is how far back a query looks.
	DefaultInterval = 5 * time.Minute
	// DefaultTimeout bounds one request.
	DefaultTimeout = 10 * time.Second
	// DefaultAggregator reduces a v2 query to one value.
	DefaultAggregator = "last"
)

const name = "provider.datadog"

// Provider queries Datadog on behalf of runs in Namespace.
type Provider struct {
	Credentials metricprovider.Credentials
	// Namespace is the run's, where secretRef.namespaced looks.
	Namespace string
	Now       func() time.Time
}

type keys struct{ address, api, app string }

// Query runs the metric's query over the last interval. v1 gives the last
// point of the first series; v2 the first value the scalar API computes.
// A query with no data gives nil, which default(result, 0) can replace.
func (p Provider) Query(ctx context.Context, metric *v1alpha1.Metric) (any, error) {
	dd := metric.Provider.Datadog
	if dd == nil {
		return nil, errors.New(name + " is not set")
	}
	interval, err := analysis.DurationOr(dd.Interval, name+".interval", DefaultInterval)
	if err != nil {
		return nil, err
	}
	timeout, err := analysis.DurationOr(dd.RequestTimeout, name+".requestTimeout", DefaultTimeout)
	if err != nil {
		return nil, err
	}
	k, err := p.keys(ctx, dd)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	to := now().Unix()
	from := to - int64(interval/time.Second)
	header := http.Header{"Dd-Api-Key": {k.api}, "Dd-Application-Key": {k.app}, "Content-Type": {"application/json"}}
	req := httpquery.Request{Provider: name, Header: header, Timeout: timeout}
	switch dd.ApiVersion {
	case "", "v1":
		return p.v1(ctx, req, dd, k.address, from, to)
	case "v2":
		return p.v2(ctx, req, dd, k.address, from, to)
	}
	return nil, fmt.Errorf("%s.apiVersion %q: use v1 or v2", name, dd.ApiVersion)
}

// keys finds the API and application keys: the Secret secretRef names (in
// the run's namespace when namespaced), else DD_API_KEY and DD_APP_KEY in the
// controller's environment, else the Secret "datadog" beside the controller.
func (p Provider) keys(ctx context.Context, dd *v1alpha1.DatadogMetric) (keys, error) {
	secret, ns := SecretName, ""
	if dd.SecretRef.Name != "" {
		secret = dd.SecretRef.Name
		if dd.SecretRef.Namespaced {
			ns = p.Namespace
		}
	} else {
		api, okAPI := p.Credentials.Env("DD_API_KEY")
		app, okApp := p.Credentials.Env("DD_APP_KEY")
		if okAPI && okApp && api != "" && app != "" {
			addr, _ := p.Credentials.Env("DD_ADDRESS")
			return keys{address: orDefault(addr), api: api, app: app}, nil
		}
	}
	data, err := p.Credentials.Read(ctx, name, ns, secret)
	if err != nil {
		return keys{}, err
	}
	if err := metricprovider.Require(name, secret, data, "api-key", "app-key"); err != nil {
		return keys{}, err
	}
	return keys{address: orDefault(data["address"]), api: data["api-key"], app: data["app-key"]}, nil
}

func orDefault(address string) string {
	if address == "" {
		return DefaultAddress
	}
	return strings.TrimRight(address, "/")
}

// v1 asks GET /api/v1/query for the series of the last interval.
func (p Provider) v1(ctx context.Context, req httpquery.Request, dd *v1alpha1.DatadogMetric, address string, from, to int64) (any, error) {
	if len(dd.Queries) > 0 || dd.Formula != "" {
		return nil, fmt.Errorf("%s: queries and formula need apiVersion v2", name)
	}
	if strings.TrimSpace(dd.Query) == "" {
		return nil, fmt.Errorf("%s.query is required", name)
	}
	q := url.Values{"query": {dd.Query}, "from": {strconv.FormatInt(from, 10)}, "to": {strconv.FormatInt(to, 10)}}
	req.Method, req.URL = http.MethodGet, address+"/api/v1/query?"+q.Encode()
	var answer struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Series []struct {
			Pointlist [][]*float64 `json:"pointlist"`
		} `json:"series"`
	}
	if err := httpquery.JSON(ctx, req, &answer); err != nil {
		return nil, err
	}
	if answer.Status == "error" || answer.Error != "" {
		return nil, fmt.Errorf("%s: query %q: %s", name, dd.Query, answer.Error)
	}
	if len(answer.Series) == 0 || len(answer.Series[0].Pointlist) == 0 {
		return nil, nil
	}
	points := answer.Series[0].Pointlist
	last := points[len(points)-1]
	if len(last) != 2 {
		return nil, fmt.Errorf("%s: a point that is not [time, value]", name)
	}
	if last[1] == nil {
		return nil, nil
	}
	return *last[1], nil
}

type v2Query struct {
	DataSource string `json:"data_source"`
	Query      string `json:"query"`
	Name       string `json:"name"`
	Aggregator string `json:"aggregator"`
}

type v2Request struct {
	Data struct {
		Type       string `json:"type"`
		Attributes struct {
			From     int64               `json:"from"`
			To       int64               `json:"to"`
			Queries  []v2Query           `json:"queries"`
			Formulas []map[string]string `json:"formulas"`
		} `json:"attributes"`
	} `json:"data"`
}

// v2 asks POST /api/v2/query/scalar to reduce the queries over the last
// interval with the aggregator, then to apply the formula.
func (p Provider) v2(ctx context.Context, req httpquery.Request, dd *v1alpha1.DatadogMetric, address string, from, to int64) (any, error) {
	queries := dd.Queries
	switch {
	case dd.Query != "" && len(dd.Queries) > 0:
		return nil, fmt.Errorf("%s: set query or queries, not both", name)
	case dd.Query != "":
		queries = map[string]string{"query": dd.Query}
	case len(dd.Queries) == 0:
		return nil, fmt.Errorf("%s: query or queries is required", name)
	}
	formula := dd.Formula
	if formula == "" {
		if len(queries) > 1 {
			return nil, fmt.Errorf("%s.formula is required to combine %d queries", name, len(queries))
		}
		for n := range queries {
			formula = n
		}
	}
	agg := dd.Aggregator
	if agg == "" {
		agg = DefaultAggregator
	}
	var body v2Request
	body.Data.Type = "scalar_request"
	body.Data.Attributes.From, body.Data.Attributes.To = from*1000, to*1000
	names := make([]string, 0, len(queries))
	for n := range queries {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		body.Data.Attributes.Queries = append(body.Data.Attributes.Queries, v2Query{DataSource: "metrics", Query: queries[n], Name: n, Aggregator: agg})
	}
	body.Data.Attributes.Formulas = []map[string]string{{"formula": formula}}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req.Method, req.URL, req.Body = http.MethodPost, address+"/api/v2/query/scalar", data
	var answer struct {
		Errors string `json:"errors"`
		Data   struct {
			Attributes struct {
				Columns []struct {
					Name   string          `json:"name"`
					Type   string          `json:"type"`
					Values json.RawMessage `json:"values"`
				} `json:"columns"`
			} `json:"attributes"`
		} `json:"data"`
	}
	raw, err := httpquery.Do(ctx, req)
	if jerr := json.Unmarshal(raw, &answer); jerr == nil && answer.Errors != "" {
		return nil, fmt.Errorf("%s: %s", name, answer.Errors)
	} else if err != nil {
		return nil, err
	} else if jerr != nil {
		return nil, fmt.Errorf("%s: the answer is not the JSON of the scalar API: %w", name, jerr)
	}
	for _, c := range answer.Data.Attributes.Columns {
		if c.Type != "number" {
			continue // group columns hold tag values
		}
		var values []*float64
		if err := json.Unmarshal(c.Values, &values); err != nil {
			return nil, fmt.Errorf("%s: column %s: %w", name, c.Name, err)
		}
		if len(values) == 0 || values[0] == nil {
			return nil, nil
		}
		return *values[0], nil
	}
	return nil, nil
}
