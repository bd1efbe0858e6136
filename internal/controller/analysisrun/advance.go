package analysisrun

import (
	"context"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/analysis"
	planner "github.com/vireo-dev/vireo/internal/analysisrun"
	"github.com/vireo-dev/vireo/internal/controller/metrics"
	"github.com/vireo-dev/vireo/internal/metricprovider"
)

// measureTimeout bounds one pass's measurements, whatever a provider's own timeout.
const measureTimeout = 2 * time.Minute

// pass is one look at a run: its metrics with args in place, the providers,
// the time, and how to keep secrets out of what is written.
type pass struct {
	run       *v1alpha1.AnalysisRun
	metrics   []v1alpha1.Metric
	providers Providers
	now       time.Time
	redact    func(string) string
}

// advance plans the pass (the planner decides what is due), has the
// providers carry the tasks out, and has the planner conclude. It returns the
// new status and when the run next needs a look (zero when it is over).
func (p pass) advance(ctx context.Context) (v1alpha1.AnalysisRunStatus, time.Time) {
	plan := planner.Decide(p.run, p.metrics, p.now)
	return plan.Conclude(p.measure(ctx, plan), p.redact)
}

// callsPerRun bounds a run's provider calls in flight at once; with the
// workers (--analysis-threads), it bounds the controller's, and so the
// memory answers can take (each is read up to httpquery.MaxBody).
const callsPerRun = 4

// measure calls the providers for the plan's tasks, in parallel (up to
// callsPerRun at once): one slow service does not hold up the others. The
// answers come back in task order.
func (p pass) measure(ctx context.Context, plan *planner.Plan) []v1alpha1.Measurement {
	out := make([]v1alpha1.Measurement, len(plan.Tasks))
	ctx, cancel := context.WithTimeout(ctx, measureTimeout)
	defer cancel()
	slots := make(chan struct{}, callsPerRun)
	var wg sync.WaitGroup
	for i, t := range plan.Tasks {
		prov, err := p.providers.For(plan.Run, t.Metric)
		if err != nil {
			out[i] = failed(p.now, err.Error())
			continue
		}
		if t.Kind == planner.Measure && !t.Due.IsZero() {
			metrics.MeasurementLateness(analysis.ProviderName(&t.Metric.Provider), p.now.Sub(t.Due))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			out[i] = call(ctx, prov, plan.Run, t)
		}()
	}
	wg.Wait()
	return out
}

// call carries out one task.
func call(ctx context.Context, prov metricprovider.Provider, run *v1alpha1.AnalysisRun, t planner.Task) v1alpha1.Measurement {
	switch t.Kind {
	case planner.Resume:
		return prov.Resume(ctx, run, t.Metric, t.Last)
	case planner.Terminate:
		return prov.Terminate(ctx, run, t.Metric, t.Last)
	default:
		return prov.Run(ctx, run, t.Metric)
	}
}

func failed(now time.Time, msg string) v1alpha1.Measurement {
	t := metav1.NewTime(now)
	return v1alpha1.Measurement{Phase: v1alpha1.AnalysisPhaseError, Message: msg, StartedAt: &t, FinishedAt: &t}
}
