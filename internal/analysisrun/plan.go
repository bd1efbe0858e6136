// Package analysisrun is the AnalysisRun planner: it decides, from a run's
// spec and status and the time, which measurements are due (to take, to
// look at again, to stop), and, once the providers have answered, what
// their answers mean for each metric and for the run, and when to look
// next. It calls no provider and reads no clock: the controller gathers the
// run, calls Plan, has the providers carry out the tasks (in parallel,
// bounded), and writes what Conclude returns.
package analysisrun

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/analysis"
)

// Kind is what a task asks of a provider.
type Kind int

const (
	// Measure takes a new measurement (Provider.Run).
	Measure Kind = iota
	// Resume looks at a measurement in flight again (Provider.Resume).
	Resume
	// Terminate stops a measurement in flight (Provider.Terminate).
	Terminate
)

func (k Kind) String() string {
	return [...]string{"measure", "resume", "terminate"}[k]
}

// Task is one provider call a pass makes.
type Task struct {
	Kind   Kind
	Metric *v1alpha1.Metric
	// Last is the measurement in flight, for Resume and Terminate.
	Last v1alpha1.Measurement
	// Due is when a Measure was due by the metric's schedule.
	Due time.Time
}

// Plan is a pass over a run: the run as it will be measured (its metrics
// with args in place, its status started), and the tasks due now.
type Plan struct {
	Run   *v1alpha1.AnalysisRun
	Tasks []Task
	now   time.Time
	// ending: the run was ending as the pass began (terminated, or a metric
	// ended it); only measurements in flight are looked at again.
	ending bool
}

// Decide plans a pass: metrics are the run's with args substituted. The run
// is Running from its first look (initialDelay included); a run ending (by
// spec.terminate, or because a metric ended it) stops what is in flight and
// measures nothing new.
func Decide(run *v1alpha1.AnalysisRun, metrics []v1alpha1.Metric, now time.Time) *Plan {
	run = run.DeepCopy()
	run.Spec.Metrics = metrics
	st := &run.Status
	if st.Phase == "" || st.Phase == v1alpha1.AnalysisPhasePending {
		st.Phase = v1alpha1.AnalysisPhaseRunning
	}
	if st.StartedAt == nil {
		// To the second, as it is stored: the schedule is anchored on it.
		t := metav1.NewTime(now.Truncate(time.Second))
		st.StartedAt = &t
	}
	results := indexResults(st, metrics)
	summary := analysis.AssessRun(run)
	ending := run.Spec.Terminate || analysis.Completed(summary.Phase)

	p := &Plan{Run: run, now: now, ending: ending}
	for i := range metrics {
		m := &run.Spec.Metrics[i]
		res := results[m.Name]
		if analysis.Completed(res.Phase) && !inFlight(res) {
			continue
		}
		switch {
		case inFlight(res) && ending:
			p.Tasks = append(p.Tasks, Task{Kind: Terminate, Metric: m, Last: res.Measurements[len(res.Measurements)-1]})
		case inFlight(res):
			p.Tasks = append(p.Tasks, Task{Kind: Resume, Metric: m, Last: res.Measurements[len(res.Measurements)-1]})
		case ending:
		default:
			at, ok, err := analysis.NextMeasurement(m, res, st.StartedAt.Time)
			if err != nil || !ok || at.After(now) {
				continue
			}
			p.Tasks = append(p.Tasks, Task{Kind: Measure, Metric: m, Due: at})
		}
	}
	return p
}

// Conclude records the providers' answers, one per task in order (redact
// has taken secrets out of them), and sums the run up. It returns the new
// status and when the run next needs a look: zero when it is over.
func (p *Plan) Conclude(answers []v1alpha1.Measurement, redact func(string) string) (v1alpha1.AnalysisRunStatus, time.Time) {
	run := p.Run
	st := &run.Status
	results := indexResults(st, run.Spec.Metrics)
	for i, t := range p.Tasks {
		m := answers[i]
		m.Message, m.Value = redact(m.Message), redact(m.Value)
		analysis.Record(results[t.Metric.Name], bound(m), analysis.Retention(run.Spec.MeasurementRetention, t.Metric.Name))
	}
	trimResults(st.MetricResults)

	summary := analysis.AssessRun(run)
	if analysis.Completed(summary.Phase) && !run.Spec.Terminate && anyInFlight(results) {
		// A metric ended the run while another is still measuring: stop it on the next pass.
		summary.Phase = v1alpha1.AnalysisPhaseRunning
	}
	st.Phase, st.Message = summary.Phase, redact(summary.Message)
	if st.Phase == v1alpha1.AnalysisPhaseRunning {
		st.Message = ""
	}
	st.RunSummary = summary.Run
	st.DryRunSummary = nil
	if summary.DryRun.Count > 0 {
		d := summary.DryRun
		st.DryRunSummary = &d
	}
	for i := range st.MetricResults {
		st.MetricResults[i].Message = redact(st.MetricResults[i].Message)
	}
	if analysis.Completed(st.Phase) {
		if st.CompletedAt == nil {
			now := metav1.NewTime(p.now)
			st.CompletedAt = &now
		}
		if anyInFlight(results) {
			return *st, p.now // stop them at once
		}
		return *st, time.Time{}
	}
	return *st, nextLook(run.Spec.Metrics, results, st.StartedAt.Time, p.ending)
}

// nextLook is the earliest time a metric needs measuring, or a measurement
// in flight needs looking at.
func nextLook(metrics []v1alpha1.Metric, results map[string]*v1alpha1.MetricResult, started time.Time, ending bool) time.Time {
	var next time.Time
	for i := range metrics {
		m := &metrics[i]
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
