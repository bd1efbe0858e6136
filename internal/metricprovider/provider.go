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
