// Package metricprovider turns a metric's provider configuration into a
// measurement. Each provider lives in its own package behind Querier; Measure
// judges what it returns by the metric's conditions.
package metricprovider

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/analysis"
)

// Querier asks a metrics service for a metric's current value: a number, a
// list of numbers, an object decoded from JSON; whatever the metric's
// conditions are written against as `result`.
type Querier interface {
	Query(ctx context.Context, metric *v1alpha1.Metric) (any, error)
}

// Measure takes one measurement with a Querier: the value, judged by the
// metric's conditions. A provider error, or a condition that cannot be
// evaluated, is an Error measurement whose message says why.
func Measure(ctx context.Context, q Querier, metric *v1alpha1.Metric, now func() time.Time) v1alpha1.Measurement {
	started := metav1.NewTime(now())
	m := v1alpha1.Measurement{StartedAt: &started}
	value, err := q.Query(ctx, metric)
	finished := metav1.NewTime(now())
	m.FinishedAt = &finished
	if err != nil {
		m.Phase, m.Message = v1alpha1.AnalysisPhaseError, err.Error()
		return m
	}
	m.Value = FormatValue(value)
	phase, err := analysis.Judge(metric, value)
	m.Phase = phase
	if err != nil {
		m.Message = err.Error()
	}
	return m
}

// FormatValue writes a measured value for a measurement's value field: as
// JSON, except that numbers JSON cannot hold (NaN, ±Inf) are written as
// Prometheus writes them.
func FormatValue(v any) string {
	if data, err := json.Marshal(v); err == nil {
		return string(data)
	}
	switch x := v.(type) {
	case float64:
		return formatFloat(x)
	case []float64:
		parts := make([]string, len(x))
		for i, f := range x {
			parts[i] = formatFloat(f)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	return fmt.Sprint(v)
}

func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// Provider takes the measurements of one kind of metric for an AnalysisRun.
// Most providers measure at once; one that works in the background (a Job)
// returns a Running measurement from Run and finishes it in Resume.
type Provider interface {
	// Run takes, or starts, the metric's next measurement.
	Run(ctx context.Context, run *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) v1alpha1.Measurement
	// Resume looks again at a measurement Run left Running.
	Resume(ctx context.Context, run *v1alpha1.AnalysisRun, metric *v1alpha1.Metric, m v1alpha1.Measurement) v1alpha1.Measurement
	// Terminate ends a Running measurement the run no longer waits for.
	Terminate(ctx context.Context, run *v1alpha1.AnalysisRun, metric *v1alpha1.Metric, m v1alpha1.Measurement) v1alpha1.Measurement
}

// Sync makes a Provider of a Querier, which measures at once.
type Sync struct {
	Querier Querier
	Now     func() time.Time
}

// Run queries and judges the result.
func (s Sync) Run(ctx context.Context, _ *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) v1alpha1.Measurement {
	return Measure(ctx, s.Querier, metric, s.Now)
}

// Resume finishes a measurement left Running, which a synchronous provider
// never does: it is measured again.
func (s Sync) Resume(ctx context.Context, _ *v1alpha1.AnalysisRun, metric *v1alpha1.Metric, _ v1alpha1.Measurement) v1alpha1.Measurement {
	return Measure(ctx, s.Querier, metric, s.Now)
}

// Terminate ends a measurement left Running as Successful: nothing is in flight.
func (s Sync) Terminate(_ context.Context, _ *v1alpha1.AnalysisRun, _ *v1alpha1.Metric, m v1alpha1.Measurement) v1alpha1.Measurement {
	return Finish(m, v1alpha1.AnalysisPhaseSuccessful, m.Message, s.Now())
}

// Finish ends a measurement at the given time with a phase and message.
func Finish(m v1alpha1.Measurement, phase v1alpha1.AnalysisPhase, msg string, at time.Time) v1alpha1.Measurement {
	t := metav1.NewTime(at)
	m.Phase, m.Message, m.FinishedAt, m.ResumeAt = phase, msg, &t, nil
	return m
}

// Later leaves a measurement Running, to be looked at again at the given time.
func Later(m v1alpha1.Measurement, at time.Time) v1alpha1.Measurement {
	t := metav1.NewTime(at)
	m.Phase, m.ResumeAt = v1alpha1.AnalysisPhaseRunning, &t
	return m
}
