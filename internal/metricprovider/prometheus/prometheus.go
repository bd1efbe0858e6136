// Package prometheus is the prometheus metric provider: a PromQL query, instant
// or over a range, sent to Prometheus' HTTP API.
package prometheus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/analysis"
	"github.com/vireo-dev/vireo/internal/httpquery"
)

// DefaultTimeout applies when timeout is unset.
const DefaultTimeout = 30 * time.Second

// Provider queries Prometheus. Now is the clock range queries are relative
// to; time.Now when nil.
type Provider struct {
	Now func() time.Time
}

// Query runs the metric's query. An instant vector becomes a list of its
// samples' values (so result[0] is the first), a scalar a number, a range
// query's matrix the list of every sample's value, series after series.
// Prometheus' NaN and ±Inf come through as such.
func (p Provider) Query(ctx context.Context, metric *v1alpha1.Metric) (any, error) {
	d, err := p.fetch(ctx, metric)
	if err != nil {
		return nil, err
	}
	return d.value()
}

// Sample is one series of an instant vector: its labels and value.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Vector runs an instant query whose answer is a vector, and returns its
// series with their labels (a histogram's le, say).
func (p Provider) Vector(ctx context.Context, metric *v1alpha1.Metric) ([]Sample, error) {
	d, err := p.fetch(ctx, metric)
	if err != nil {
		return nil, err
	}
	if d.ResultType != "vector" {
		return nil, fmt.Errorf("provider.prometheus: query %q gave a %s, not an instant vector", metric.Provider.Prometheus.Query, d.ResultType)
	}
	var series []struct {
		Metric map[string]string `json:"metric"`
		Value  []any             `json:"value"`
	}
	if err := json.Unmarshal(d.Result, &series); err != nil {
		return nil, fmt.Errorf("provider.prometheus: a vector result: %w", err)
	}
	out := make([]Sample, 0, len(series))
	for _, s := range series {
		f, err := number(s.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, Sample{Labels: s.Metric, Value: f})
	}
	return out, nil
}

// fetch sends the metric's query and returns the answer's data.
func (p Provider) fetch(ctx context.Context, metric *v1alpha1.Metric) (data, error) {
	pm := metric.Provider.Prometheus
	if pm == nil {
		return data{}, errors.New("provider.prometheus is not set")
	}
	if pm.Address == "" {
		return data{}, errors.New("provider.prometheus.address is required")
	}
	if strings.TrimSpace(pm.Query) == "" {
		return data{}, errors.New("provider.prometheus.query is required")
	}
	form := url.Values{"query": {pm.Query}}
	path := "/api/v1/query"
	if rq := pm.RangeQuery; rq != nil {
		path = "/api/v1/query_range"
		if err := p.rangeArgs(rq, form); err != nil {
			return data{}, err
		}
	}
	timeout := DefaultTimeout
	if pm.Timeout != nil && *pm.Timeout > 0 {
		timeout = time.Duration(*pm.Timeout) * time.Second
	}
	header := httpquery.Headers(pm.Headers)
	header.Set("Content-Type", "application/x-www-form-urlencoded")
	req := httpquery.Request{Provider: "provider.prometheus", Method: http.MethodPost, URL: strings.TrimRight(pm.Address, "/") + path,
		Header: header, Body: []byte(form.Encode()), Timeout: timeout, Insecure: pm.Insecure, Auth: &pm.Authentication}
	body, err := httpquery.Do(ctx, req)
	var answer response
	if jerr := json.Unmarshal(body, &answer); jerr == nil && answer.Status == "error" {
		// Prometheus explains a bad query in the body of its 4xx answer.
		return data{}, fmt.Errorf("provider.prometheus: query %q: %s: %s", pm.Query, answer.ErrorType, answer.Error)
	} else if err != nil {
		return data{}, err
	} else if jerr != nil {
		return data{}, fmt.Errorf("provider.prometheus: the answer is not Prometheus' JSON: %w", jerr)
	}
	return answer.Data, nil
}

// rangeArgs evaluates start and end, expressions such as
// `now() - duration("5m")`, and passes step on.
func (p Provider) rangeArgs(rq *v1alpha1.PrometheusRangeQueryArgs, form url.Values) error {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	at := now()
	for _, f := range []struct {
		name, src, key string
	}{{"start", rq.Start, "start"}, {"end", rq.End, "end"}} {
		t := at
		if f.src != "" {
			var err error
			if t, err = evalTime(f.src, at); err != nil {
				return fmt.Errorf("provider.prometheus.rangeQuery.%s %q: %w", f.name, f.src, err)
			}
		}
		form.Set(f.key, strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64))
	}
	step := rq.Step
	if step == "" {
		step = "60s"
	}
	if _, err := time.ParseDuration(step); err != nil {
		if _, ferr := strconv.ParseFloat(step, 64); ferr != nil {
			return fmt.Errorf("provider.prometheus.rangeQuery.step %q: not a duration such as 30s", step)
		}
	}
	form.Set("step", step)
	return nil
}

// timeGrammar is what rangeQuery's start and end may use: now(), durations,
// dates and arithmetic (as in Argo's "now() - duration('5m')").
var timeGrammar = analysis.Grammar{Identifiers: []string{"now"}, Builtins: []string{"now", "duration", "date"}}

// evalTime evaluates a time expression with now() bound to the given time.
func evalTime(src string, at time.Time) (time.Time, error) {
	if err := analysis.CheckExpression(src, timeGrammar); err != nil {
		return time.Time{}, err
	}
	env := map[string]any{"now": func() time.Time { return at }}
	program, err := expr.Compile(src, expr.Env(env), expr.DisableBuiltin("now"))
	if err != nil {
		return time.Time{}, err
	}
	out, err := expr.Run(program, env)
	if err != nil {
		return time.Time{}, err
	}
	t, ok := out.(time.Time)
	if !ok {
		return time.Time{}, fmt.Errorf("gives %T, not a time", out)
	}
	return t, nil
}

type response struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      data   `json:"data"`
}

type data struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

type sample struct {
	Value  []any   `json:"value"`
	Values [][]any `json:"values"`
}

func (d data) value() (any, error) {
	switch d.ResultType {
	case "vector", "matrix":
		var series []sample
		if err := json.Unmarshal(d.Result, &series); err != nil {
			return nil, fmt.Errorf("provider.prometheus: a %s result: %w", d.ResultType, err)
		}
		out := []float64{}
		for _, s := range series {
			points := s.Values
			if d.ResultType == "vector" {
				points = [][]any{s.Value}
			}
			for _, pt := range points {
				f, err := number(pt)
				if err != nil {
					return nil, err
				}
				out = append(out, f)
			}
		}
		return out, nil
	case "scalar":
		var pt []any
		if err := json.Unmarshal(d.Result, &pt); err != nil {
			return nil, fmt.Errorf("provider.prometheus: a scalar result: %w", err)
		}
		return number(pt)
	case "string":
		var pt []any
		if err := json.Unmarshal(d.Result, &pt); err != nil || len(pt) != 2 {
			return nil, fmt.Errorf("provider.prometheus: a string result that is not [time, value]")
		}
		return fmt.Sprint(pt[1]), nil
	}
	return nil, fmt.Errorf("provider.prometheus: result type %q is not one Vireo knows", d.ResultType)
}

// number reads a [time, "value"] pair; Prometheus writes values as strings,
// including "NaN", "+Inf" and "-Inf".
func number(pt []any) (float64, error) {
	if len(pt) != 2 {
		return 0, fmt.Errorf("provider.prometheus: a sample that is not [time, value]: %v", pt)
	}
	s, ok := pt[1].(string)
	if !ok {
		return 0, fmt.Errorf("provider.prometheus: a sample value %v that is not a string", pt[1])
	}
	switch s {
	case "NaN":
		return math.NaN(), nil
	case "+Inf", "Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("provider.prometheus: sample value %q is not a number", s)
	}
	return f, nil
}
