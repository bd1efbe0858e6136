// Package judgeprovider is the judge as a metric provider: Argo's plugin
// provider key vireo.dev/judge, so that manifests stay valid Argo. Each
// measurement reads the canary's and the stable's cumulative counters from
// Prometheus and advances the judge's sequential test (package judge),
// whose state travels in the measurement's metadata, with the counts, the
// e-value and the confidence interval of the ratio beside it.
//
//	provider:
//	  plugin:
//	    vireo.dev/judge:
//	      prometheus: {address: http://prometheus:9090}
//	      kind: errors     # the default; or latency
//	      canary: {requests: 'sum(http_requests_total{version="canary"})', errors: 'sum(http_requests_total{version="canary",code=~"5.."})'}
//	      stable: {requests: '...', errors: '...'}
//	      tolerance: 0.1   # a canary up to 10% worse passes
//	      alpha: 0.01      # the false-abort rate
//
// For kind latency, canary and stable each give buckets: a query whose
// answer is a cumulative histogram, one series a boundary with its le
// label (sum by (le) (rate-free _bucket counters)); boundaries optionally
// names the ones to test.
package judgeprovider

import (
	"context"
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

// The measurement metadata keys the judge writes.
const (
	stateKey    = judge.MetaState
	eValueKey   = judge.MetaEValue
	lowKey      = judge.MetaLow
	highKey     = judge.MetaHigh
	countsKey   = judge.MetaCounts
	boundaryKey = judge.MetaBoundary
)

// Config is the plugin's configuration.
type Config = judge.Spec

// Queries are one version's queries.
type Queries = judge.Queries

// The kinds of test.
const (
	KindErrors  = judge.KindErrors
	KindLatency = judge.KindLatency
)

// Parse reads and checks a metric's judge configuration, naming the field
// that is wrong.
func Parse(metric *v1alpha1.Metric) (Config, judge.Config, error) {
	raw, ok := metric.Provider.Plugin[Key]
	if !ok {
		return Config{}, judge.Config{}, fmt.Errorf("provider.plugin: no %s key", Key)
	}
	return judge.ParseSpec(raw.Raw, "provider.plugin."+Key)
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
	reading, err := Read(ctx, c, p.Now)
	if err != nil {
		return metricprovider.Finish(m, v1alpha1.AnalysisPhaseError, err.Error(), p.Now())
	}
	prev, err := lastState(run, metric.Name)
	if err != nil {
		return metricprovider.Finish(m, v1alpha1.AnalysisPhaseError, err.Error(), p.Now())
	}
	step, err := judge.Advance(c, cfg, prev, reading)
	if err != nil {
		return metricprovider.Finish(m, v1alpha1.AnalysisPhaseError, fmt.Sprintf("provider.plugin.%s: %v", Key, err), p.Now())
	}
	r := step.Result
	m.Metadata = map[string]string{
		stateKey:            step.State,
		eValueKey:           strconv.FormatFloat(r.EValue, 'g', 4, 64),
		lowKey:              strconv.FormatFloat(r.Low, 'g', 4, 64),
		highKey:             strconv.FormatFloat(r.High, 'g', 4, 64),
		judge.MetaFailsAt:   strconv.FormatFloat(1/cfg.Alpha, 'g', 4, 64),
		judge.MetaTolerated: strconv.FormatFloat(1+cfg.Tolerance, 'g', 4, 64),
		countsKey:           fmt.Sprintf("canary %g/%g, stable %g/%g", step.Canary.Errors, step.Canary.Requests, step.Stable.Errors, step.Stable.Requests),
	}
	if c.Kind == KindLatency {
		m.Metadata[boundaryKey] = strconv.FormatFloat(step.Boundary, 'g', -1, 64)
	}
	m.Value = strconv.FormatFloat(r.EValue, 'g', 4, 64)
	msg := step.Describe(cfg)
	switch {
	case r.Verdict == judge.Harm:
		return metricprovider.Finish(m, v1alpha1.AnalysisPhaseFailed, step.Harmed(c)+": "+msg, p.Now())
	case step.Baseline():
		// The first look takes the counters as the zero point; the
		// measurement reads again shortly, with traffic since then.
		m.Message = baseline
		return metricprovider.Later(m, p.Now().Add(noDataRetry))
	case step.NoData():
		// No data yet is no verdict: the measurement waits for traffic
		// (it does not count), and ends Inconclusive if none comes.
		m.Message = noData + msg
		return metricprovider.Later(m, p.Now().Add(noDataRetry))
	case r.Verdict == judge.Within:
		// The metric is done: the analysis need not run to its count.
		m.Metadata[analysis.JudgeVerdictKey] = analysis.JudgeWithinTolerance
		return metricprovider.Finish(m, v1alpha1.AnalysisPhaseSuccessful, "within tolerance: "+msg, p.Now())
	}
	return metricprovider.Finish(m, v1alpha1.AnalysisPhaseSuccessful, msg, p.Now())
}

// Read reads the counters the judge's configuration names, from its
// Prometheus: a look's reading.
func Read(ctx context.Context, c Config, now func() time.Time) (judge.Reading, error) {
	var r judge.Reading
	p := Provider{Now: now}
	if c.Kind == KindLatency {
		var err error
		if r.CanaryHist, err = p.histogram(ctx, c.Prometheus.Address, c.Canary.Buckets); err != nil {
			return r, err
		}
		r.StableHist, err = p.histogram(ctx, c.Prometheus.Address, c.Stable.Buckets)
		return r, err
	}
	for _, x := range []struct {
		q    string
		into *float64
	}{{c.Canary.Requests, &r.Canary.Requests}, {c.Canary.Errors, &r.Canary.Errors}, {c.Stable.Requests, &r.Stable.Requests}, {c.Stable.Errors, &r.Stable.Errors}} {
		var err error
		if *x.into, err = p.read(ctx, c.Prometheus.Address, x.q); err != nil {
			return r, err
		}
	}
	return r, nil
}

// histogram reads a buckets query: one series a boundary, by its le label.
func (p Provider) histogram(ctx context.Context, address, query string) (judge.Histogram, error) {
	q := &v1alpha1.Metric{Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{Address: address, Query: query}}}
	samples, err := prometheus.Provider{Now: p.Now}.Vector(ctx, q)
	if err != nil {
		return nil, err
	}
	h := judge.Histogram{}
	for _, s := range samples {
		le, ok := s.Labels["le"]
		if !ok {
			return nil, fmt.Errorf("query %q gave a series without an le label; sum by (le) the _bucket series", query)
		}
		b, err := strconv.ParseFloat(le, 64)
		if err != nil {
			return nil, fmt.Errorf("query %q: le=%q is not a number", query, le)
		}
		if _, dup := h[b]; dup {
			return nil, fmt.Errorf("query %q gave two series with le=%q; sum by (le)", query, le)
		}
		if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) || s.Value < 0 {
			return nil, fmt.Errorf("query %q gave %v at le=%q, not a count", query, s.Value, le)
		}
		h[b] = s.Value
	}
	return h, nil
}

// baseline is the message of the first look.
const baseline = "the counters as the analysis starts are the zero point: the test counts the requests from here"

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

// lastState is the test's state (JSON) as the metric's last measurement
// left it; "" before the first.
func lastState(run *v1alpha1.AnalysisRun, metric string) (string, error) {
	for _, r := range run.Status.MetricResults {
		if r.Name != metric {
			continue
		}
		for i := len(r.Measurements) - 1; i >= 0; i-- {
			if data, ok := r.Measurements[i].Metadata[stateKey]; ok {
				return data, nil
			}
		}
	}
	return "", nil
}
