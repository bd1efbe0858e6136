package analysisrun

import (
	"context"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/analysis"
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

// advance takes the measurements that are due, finishes or stops those in
// flight, and sums the run up. It returns the new status and when the run
// next needs a look (zero when it is over).
func (p pass) advance(ctx context.Context) (v1alpha1.AnalysisRunStatus, time.Time) {
	run := p.run.DeepCopy()
	run.Spec.Metrics = p.metrics
	st := &run.Status
	now := metav1.NewTime(p.now)
	if st.Phase == "" {
		st.Phase = v1alpha1.AnalysisPhasePending
	}
	if st.StartedAt == nil {
		// To the second, as it is stored: the schedule is anchored on it.
		t := metav1.NewTime(p.now.Truncate(time.Second))
		st.StartedAt = &t
	}
	results := indexResults(st, p.metrics)

	// A run ended by spec.terminate, or by a metric, stops what is in flight.
	summary := analysis.AssessRun(run)
	ending := run.Spec.Terminate || analysis.Completed(summary.Phase)

	type task struct {
		metric *v1alpha1.Metric
		res    *v1alpha1.MetricResult
		do     func(ctx context.Context, prov metricprovider.Provider) v1alpha1.Measurement
	}
	var tasks []task
	for i := range p.metrics {
		m := &p.metrics[i]
		res := results[m.Name]
		if analysis.Completed(res.Phase) && !inFlight(res) {
			continue
		}
		switch {
		case inFlight(res) && ending:
			last := res.Measurements[len(res.Measurements)-1]
			tasks = append(tasks, task{m, res, func(ctx context.Context, prov metricprovider.Provider) v1alpha1.Measurement {
				return prov.Terminate(ctx, run, m, last)
			}})
		case inFlight(res):
			last := res.Measurements[len(res.Measurements)-1]
			tasks = append(tasks, task{m, res, func(ctx context.Context, prov metricprovider.Provider) v1alpha1.Measurement {
				return prov.Resume(ctx, run, m, last)
			}})
		case ending:
		default:
			at, ok, err := analysis.NextMeasurement(m, res, st.StartedAt.Time)
			if err != nil || !ok || at.After(p.now) {
				continue
			}
			tasks = append(tasks, task{m, res, func(ctx context.Context, prov metricprovider.Provider) v1alpha1.Measurement {
				return prov.Run(ctx, run, m)
			}})
		}
	}

	// Measure in parallel: one slow service does not hold up the others.
	out := make([]v1alpha1.Measurement, len(tasks))
	ctx, cancel := context.WithTimeout(ctx, measureTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for i, t := range tasks {
		prov, err := p.providers.For(run, t.metric)
		if err != nil {
			out[i] = failed(p.now, err.Error())
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = t.do(ctx, prov)
		}()
	}
	wg.Wait()
	for i, t := range tasks {
		m := out[i]
		m.Message, m.Value = p.redact(m.Message), p.redact(m.Value)
		analysis.Record(t.res, m, analysis.Retention(run.Spec.MeasurementRetention, t.metric.Name))
	}

	summary = analysis.AssessRun(run)
	if analysis.Completed(summary.Phase) && !run.Spec.Terminate && anyInFlight(results) {
		// A metric ended the run while another is still measuring: stop it on the next pass.
		summary.Phase = v1alpha1.AnalysisPhaseRunning
	}
	p.summarize(st, summary)
	if analysis.Completed(st.Phase) {
		if st.CompletedAt == nil {
			st.CompletedAt = &now
		}
		if anyInFlight(results) {
			return *st, p.now // stop them at once
		}
		return *st, time.Time{}
	}
	return *st, p.nextLook(results, st.StartedAt.Time, ending)
}

// summarize writes the summary into the status. A run that has any metric
// measured is Running until it ends.
func (p pass) summarize(st *v1alpha1.AnalysisRunStatus, s analysis.Summary) {
	st.Phase, st.Message = s.Phase, p.redact(s.Message)
	if st.Phase == v1alpha1.AnalysisPhaseRunning {
		st.Message = ""
	}
	if st.Phase == v1alpha1.AnalysisPhaseRunning && !anyMeasured(st) {
		st.Phase = v1alpha1.AnalysisPhasePending
	}
	st.RunSummary = s.Run
	st.DryRunSummary = nil
	if s.DryRun.Count > 0 {
		d := s.DryRun
		st.DryRunSummary = &d
	}
	for i := range st.MetricResults {
		st.MetricResults[i].Message = p.redact(st.MetricResults[i].Message)
	}
}

// nextLook is the earliest time a metric needs measuring, or a measurement
// in flight needs looking at.
func (p pass) nextLook(results map[string]*v1alpha1.MetricResult, started time.Time, ending bool) time.Time {
	var next time.Time
	for i := range p.metrics {
		m := &p.metrics[i]
		res := results[m.Name]
		if analysis.Completed(res.Phase) && !inFlight(res) {
			continue
		}
		if ending && !inFlight(res) {
			continue
		}
		at, ok, err := analysis.NextMeasurement(m, res, started)
		if err != nil || !ok {
			continue
		}
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next
}

// indexResults finds (or adds, in metric order) each metric's result.
func indexResults(st *v1alpha1.AnalysisRunStatus, metrics []v1alpha1.Metric) map[string]*v1alpha1.MetricResult {
	have := map[string]bool{}
	for _, r := range st.MetricResults {
		have[r.Name] = true
	}
	for _, m := range metrics {
		if !have[m.Name] {
			st.MetricResults = append(st.MetricResults, v1alpha1.MetricResult{Name: m.Name, Phase: v1alpha1.AnalysisPhasePending})
		}
	}
	out := map[string]*v1alpha1.MetricResult{}
	for i := range st.MetricResults {
		out[st.MetricResults[i].Name] = &st.MetricResults[i]
	}
	return out
}

func inFlight(res *v1alpha1.MetricResult) bool {
	n := len(res.Measurements)
	return n > 0 && !analysis.Completed(res.Measurements[n-1].Phase)
}

func anyInFlight(results map[string]*v1alpha1.MetricResult) bool {
	for _, r := range results {
		if inFlight(r) {
			return true
		}
	}
	return false
}

func anyMeasured(st *v1alpha1.AnalysisRunStatus) bool {
	for _, r := range st.MetricResults {
		if len(r.Measurements) > 0 {
			return true
		}
	}
	return false
}

func failed(now time.Time, msg string) v1alpha1.Measurement {
	t := metav1.NewTime(now)
	return v1alpha1.Measurement{Phase: v1alpha1.AnalysisPhaseError, Message: msg, StartedAt: &t, FinishedAt: &t}
}
