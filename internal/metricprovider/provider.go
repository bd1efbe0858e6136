// Package metricprovider turns a metric's provider configuration into a
// measurement. Each provider lives in its own package behind Querier; Measure
// judges what it returns by the metric's conditions.
package metricprovider

import (
	"context"
	"encoding/json"
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
	if data, err := json.Marshal(value); err == nil {
		m.Value = string(data)
	}
	phase, err := analysis.Judge(metric, value)
	m.Phase = phase
	if err != nil {
		m.Message = err.Error()
	}
	return m
}
