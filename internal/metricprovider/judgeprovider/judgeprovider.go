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
	var o outcome
	if c.Kind == KindLatency {
		o, err = p.latency(ctx, c, cfg, run, metric.Name)
	} else {
		o, err = p.errors(ctx, c, cfg, run, metric.Name)
	}
	if err != nil {
		return metricprovider.Finish(m, v1alpha1.AnalysisPhaseError, err.Error(), p.Now())
	}
	r := o.result
	m.Metadata = map[string]string{
		stateKey:  o.state,
		eValueKey: strconv.FormatFloat(r.EValue, 'g', 4, 64),
		lowKey:    strconv.FormatFloat(r.Low, 'g', 4, 64),
		highKey:   strconv.FormatFloat(r.High, 'g', 4, 64),
		judge.MetaFailsAt:   strconv.FormatFloat(1/cfg.Alpha, 'g', 4, 64),
		judge.MetaTolerated: strconv.FormatFloat(1+cfg.Tolerance, 'g', 4, 64),
		countsKey: fmt.Sprintf("canary %g/%g, stable %g/%g", o.canary.Errors, o.canary.Requests, o.stable.Errors, o.stable.Requests),
	}
	if c.Kind == KindLatency {
		m.Metadata[boundaryKey] = strconv.FormatFloat(o.boundary, 'g', -1, 64)
	}
	m.Value = strconv.FormatFloat(r.EValue, 'g', 4, 64)
	msg := o.describe(cfg)
	switch {
	case r.Verdict == judge.Harm:
		return metricprovider.Finish(m, v1alpha1.AnalysisPhaseFailed, o.harm+": "+msg, p.Now())
	case o.canary.Requests == 0 || o.stable.Requests == 0:
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

// outcome is a measurement's reading of the test: its state (JSON), its
// result, and the counts it rests on (for latency, the worst boundary's:
// errors are the requests slower than it).
type outcome struct {
	state          string
	result         judge.Result
	canary, stable judge.Counts
	boundary       float64
	harm           string
}

func (o outcome) describe(cfg judge.Config) string {
	if o.boundary != 0 {
		return judge.DescribeAs(cfg, o.result, o.canary, o.stable, fmt.Sprintf("slower than %gs", o.boundary))
	}
	return judge.Describe(cfg, o.result, o.canary, o.stable)
}

// errors advances the error-rate test.
func (p Provider) errors(ctx context.Context, c Config, cfg judge.Config, run *v1alpha1.AnalysisRun, name string) (outcome, error) {
	var counts [4]float64
	for i, q := range []string{c.Canary.Requests, c.Canary.Errors, c.Stable.Requests, c.Stable.Errors} {
		var err error
		if counts[i], err = p.read(ctx, c.Prometheus.Address, q); err != nil {
			return outcome{}, err
		}
	}
	o := outcome{canary: judge.Counts{Requests: counts[0], Errors: counts[1]}, stable: judge.Counts{Requests: counts[2], Errors: counts[3]},
		harm: "the canary's error rate is above the stable's beyond the tolerance"}
	var st judge.State
	if err := lastState(run, name, &st); err != nil {
		return o, err
	}
	st, o.result = judge.Update(cfg, st, o.canary, o.stable)
	data, _ := json.Marshal(st.Rounded())
	o.state = string(data)
	return o, nil
}

// latency advances the latency test.
func (p Provider) latency(ctx context.Context, c Config, cfg judge.Config, run *v1alpha1.AnalysisRun, name string) (outcome, error) {
	canary, err := p.histogram(ctx, c.Prometheus.Address, c.Canary.Buckets)
	if err != nil {
		return outcome{}, err
	}
	stable, err := p.histogram(ctx, c.Prometheus.Address, c.Stable.Buckets)
	if err != nil {
		return outcome{}, err
	}
	var st judge.LatencyState
	if err := lastState(run, name, &st); err != nil {
		return outcome{}, err
	}
	bounds := st.Boundaries
	if len(bounds) == 0 {
		// Chosen once, from the boundaries the stable's histogram has.
		have := make([]float64, 0, len(stable))
		for b := range stable {
			have = append(have, b)
		}
		if bounds, err = judge.Boundaries(have, c.Boundaries); err != nil {
			return outcome{}, fmt.Errorf("provider.plugin.%s.boundaries: %w", Key, err)
		}
	}
	for _, h := range []judge.Histogram{canary, stable} {
		if _, ok := h[math.Inf(1)]; len(h) > 0 && !ok {
			return outcome{}, fmt.Errorf("provider.plugin.%s: a buckets query gave no le=\"+Inf\" series, so the total is unknown", Key)
		}
	}
	st, r := judge.UpdateLatency(cfg, st, bounds, canary, stable)
	data, _ := json.Marshal(st.Rounded())
	return outcome{state: string(data), result: r.Result, canary: canary.Slower(r.Boundary), stable: stable.Slower(r.Boundary), boundary: r.Boundary,
		harm: "the canary's latency is worse than the stable's beyond the tolerance"}, nil
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

// lastState reads the test's state as the metric's last measurement left
// it into st; none yet leaves st empty. A state that does not read is an
// error, never a silent new start.
func lastState(run *v1alpha1.AnalysisRun, metric string, st any) error {
	for _, r := range run.Status.MetricResults {
		if r.Name != metric {
			continue
		}
		for i := len(r.Measurements) - 1; i >= 0; i-- {
			if data, ok := r.Measurements[i].Metadata[stateKey]; ok {
				if err := json.Unmarshal([]byte(data), st); err != nil {
					return fmt.Errorf("the judge's state in measurement %d of metric %s does not read (%v); the test cannot go on", i, metric, err)
				}
				return nil
			}
		}
	}
	return nil
}
