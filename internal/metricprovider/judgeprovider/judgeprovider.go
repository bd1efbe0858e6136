// Package judgeprovider is the judge as a metric provider: Argo's plugin
// provider key vireo.dev/judge, so that manifests stay valid Argo. Each
// measurement reads the canary's and the stable's cumulative request and
// error counters from Prometheus and advances the judge's sequential test
// (package judge), whose state travels in the measurement's metadata.
//
//	provider:
//	  plugin:
//	    vireo.dev/judge:
//	      prometheus: {address: http://prometheus:9090}
//	      canary: {requests: 'sum(http_requests_total{version="canary"})', errors: 'sum(http_requests_total{version="canary",code=~"5.."})'}
//	      stable: {requests: '...', errors: '...'}
//	      tolerance: 0.1   # a canary up to 10% worse passes
//	      alpha: 0.01      # the false-abort rate
package judgeprovider

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/analysis"
	"github.com/vireo-dev/vireo/internal/judge"
	"github.com/vireo-dev/vireo/internal/metricprovider"
	"github.com/vireo-dev/vireo/internal/metricprovider/prometheus"
)

// Key is the plugin key of the judge.
const Key = analysis.JudgePlugin

// stateKey is the measurement metadata key of the test's state.
const stateKey = "judge.state"

// Config is the plugin's configuration.
type Config struct {
	Prometheus struct {
		Address string `json:"address"`
	} `json:"prometheus"`
	Canary    Queries  `json:"canary"`
	Stable    Queries  `json:"stable"`
	Tolerance *float64 `json:"tolerance,omitempty"`
	Alpha     *float64 `json:"alpha,omitempty"`
}

// Queries are the PromQL queries of one version's cumulative counters.
type Queries struct {
	Requests string `json:"requests"`
	Errors   string `json:"errors"`
}

// Parse reads and checks a metric's judge configuration, naming the field
// that is wrong.
func Parse(metric *v1alpha1.Metric) (Config, judge.Config, error) {
	var c Config
	raw, ok := metric.Provider.Plugin[Key]
	if !ok {
		return c, judge.Config{}, fmt.Errorf("provider.plugin: no %s key", Key)
	}
	if err := json.Unmarshal(raw.Raw, &c); err != nil {
		return c, judge.Config{}, fmt.Errorf("provider.plugin.%s: %w", Key, err)
	}
	p := "provider.plugin." + Key
	switch {
	case c.Prometheus.Address == "":
		return c, judge.Config{}, fmt.Errorf("%s.prometheus.address is required", p)
	case c.Canary.Requests == "" || c.Canary.Errors == "" || c.Stable.Requests == "" || c.Stable.Errors == "":
		return c, judge.Config{}, fmt.Errorf("%s: canary and stable each need requests and errors queries", p)
	}
	cfg := judge.Defaults
	if c.Tolerance != nil {
		if *c.Tolerance < 0 || *c.Tolerance > 10 {
			return c, cfg, fmt.Errorf("%s.tolerance %g: must be between 0 and 10", p, *c.Tolerance)
		}
		cfg.Tolerance = *c.Tolerance
	}
	if c.Alpha != nil {
		if *c.Alpha <= 0 || *c.Alpha >= 0.5 {
			return c, cfg, fmt.Errorf("%s.alpha %g: must be above 0 and below 0.5", p, *c.Alpha)
		}
		cfg.Alpha = *c.Alpha
	}
	return c, cfg, nil
}

// Provider measures with the judge.
type Provider struct {
	Now func() time.Time
}

// Run reads the counters and advances the test.
func (p Provider) Run(ctx context.Context, run *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) v1alpha1.Measurement {
	now := metav1.NewTime(p.Now())
	m := v1alpha1.Measurement{StartedAt: &now}
	c, cfg, err := Parse(metric)
	if err != nil {
		return metricprovider.Finish(m, v1alpha1.AnalysisPhaseError, err.Error(), p.Now())
	}
	var counts [4]float64
	for i, q := range []string{c.Canary.Requests, c.Canary.Errors, c.Stable.Requests, c.Stable.Errors} {
		if counts[i], err = p.read(ctx, c.Prometheus.Address, q); err != nil {
			return metricprovider.Finish(m, v1alpha1.AnalysisPhaseError, err.Error(), p.Now())
		}
	}
	canary, stable := judge.Counts{Requests: counts[0], Errors: counts[1]}, judge.Counts{Requests: counts[2], Errors: counts[3]}
	state := lastState(run, metric.Name)
	state, e, verdict := judge.Update(cfg, state, canary, stable)
	data, _ := json.Marshal(state)
	m.Metadata = map[string]string{stateKey: string(data)}
	m.Value = strconv.FormatFloat(e, 'g', 4, 64)
	msg := judge.Describe(cfg, e, canary, stable)
	switch {
	case verdict == judge.Harm:
		return metricprovider.Finish(m, v1alpha1.AnalysisPhaseFailed, "the canary's error rate is above the stable's beyond the tolerance: "+msg, p.Now())
	case canary.Requests == 0 || stable.Requests == 0:
		// No data yet is no verdict: the measurement waits for traffic
		// (it does not count), and ends Inconclusive if none comes.
		m.Message = noData + msg
		return metricprovider.Later(m, p.Now().Add(noDataRetry))
	}
	return metricprovider.Finish(m, v1alpha1.AnalysisPhaseSuccessful, msg, p.Now())
}

// noData starts the message of a measurement waiting for traffic.
const noData = "no data: a version served no requests yet; "

// noDataRetry is how soon a measurement waiting for traffic reads again.
const noDataRetry = 5 * time.Second

// Resume reads the counters again for a measurement waiting for traffic.
func (p Provider) Resume(ctx context.Context, run *v1alpha1.AnalysisRun, metric *v1alpha1.Metric, _ v1alpha1.Measurement) v1alpha1.Measurement {
	return p.Run(ctx, run, metric)
}

// Terminate ends a measurement still waiting for traffic: no data is never
// a pass.
func (p Provider) Terminate(_ context.Context, _ *v1alpha1.AnalysisRun, _ *v1alpha1.Metric, m v1alpha1.Measurement) v1alpha1.Measurement {
	return metricprovider.Finish(m, v1alpha1.AnalysisPhaseInconclusive, m.Message, p.Now())
}

// read runs one query: a scalar or a one-sample vector; no series is 0.
func (p Provider) read(ctx context.Context, address, query string) (float64, error) {
	q := &v1alpha1.Metric{Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{Address: address, Query: query}}}
	v, err := prometheus.Provider{Now: p.Now}.Query(ctx, q)
	if err != nil {
		return 0, err
	}
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case []float64:
		switch len(x) {
		case 0:
			return 0, nil
		case 1:
			f = x[0]
		default:
			return 0, fmt.Errorf("query %q gave %d series; sum them into one", query, len(x))
		}
	default:
		return 0, fmt.Errorf("query %q gave %T, not a number", query, v)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, fmt.Errorf("query %q gave %v, not a count", query, f)
	}
	return f, nil
}

// lastState is the judge's state as the metric's last measurement left it.
func lastState(run *v1alpha1.AnalysisRun, metric string) judge.State {
	var s judge.State
	for _, r := range run.Status.MetricResults {
		if r.Name != metric {
			continue
		}
		for i := len(r.Measurements) - 1; i >= 0; i-- {
			if data, ok := r.Measurements[i].Metadata[stateKey]; ok {
				if err := json.Unmarshal([]byte(data), &s); err == nil {
					return s
				}
			}
		}
	}
	return s
}
