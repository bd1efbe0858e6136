package analysis

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// Defaults of the metric fields.
const (
	DefaultConsecutiveErrorLimit = 4
	DefaultMeasurementRetention  = 10
)

// Completed reports whether an AnalysisRun, metric or measurement phase is final.
func Completed(p v1alpha1.AnalysisPhase) bool {
	switch p {
	case v1alpha1.AnalysisPhaseSuccessful, v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError, v1alpha1.AnalysisPhaseInconclusive:
		return true
	}
	return false
}

// worse orders phases for a run's summary: a Failed metric outweighs an
// Error, an Error an Inconclusive, and so on.
var worse = map[v1alpha1.AnalysisPhase]int{
	"": 0, v1alpha1.AnalysisPhasePending: 1, v1alpha1.AnalysisPhaseRunning: 2, v1alpha1.AnalysisPhaseSuccessful: 3,
	v1alpha1.AnalysisPhaseInconclusive: 4, v1alpha1.AnalysisPhaseError: 5, v1alpha1.AnalysisPhaseFailed: 6,
}

// limit reads an int-or-string limit; def when unset. A string must hold a
// number once args are substituted; validation reports it otherwise.
func limit(v *intstr.IntOrString, def int32) int32 {
	if v == nil {
		return def
	}
	if v.Type == intstr.Int {
		return v.IntVal
	}
	n, err := strconv.ParseInt(v.StrVal, 10, 32)
	if err != nil {
		return def
	}
	return int32(n)
}

// Limits are a metric's limits, with defaults applied.
type Limits struct {
	Failure, Inconclusive, ConsecutiveError, ConsecutiveSuccess int32
	// Count is how many measurements the metric takes; 0 means no end.
	Count int32
}

// LimitsOf reads a metric's limits: failureLimit 0 (-1 means none),
// inconclusiveLimit 0, consecutiveErrorLimit 4, consecutiveSuccessLimit 0
// (off); count as given, or 1 when the metric has no interval.
func LimitsOf(m *v1alpha1.Metric) Limits {
	l := Limits{
		Failure:            limit(m.FailureLimit, 0),
		Inconclusive:       limit(m.InconclusiveLimit, 0),
		ConsecutiveError:   limit(m.ConsecutiveErrorLimit, DefaultConsecutiveErrorLimit),
		ConsecutiveSuccess: limit(m.ConsecutiveSuccessLimit, 0),
		Count:              limit(m.Count, 0),
	}
	if m.Count == nil && m.Interval == "" {
		l.Count = 1
	}
	return l
}

// Record adds a finished measurement to a metric's tally and keeps only the
// newest `retain` measurements (the counts keep the whole history).
func Record(res *v1alpha1.MetricResult, m v1alpha1.Measurement, retain int) {
	// A measurement the provider started earlier (a Job) is replaced when it finishes.
	if n := len(res.Measurements); n > 0 && !Completed(res.Measurements[n-1].Phase) {
		res.Measurements = res.Measurements[:n-1]
	}
	res.Measurements = append(res.Measurements, m)
	if !Completed(m.Phase) {
		return
	}
	// An Error is no measurement of the metric: it does not count towards
	// count, and the metric is measured again (see NextMeasurement).
	if m.Phase != v1alpha1.AnalysisPhaseError {
		res.Count++
	}
	switch m.Phase {
	case v1alpha1.AnalysisPhaseSuccessful:
		res.Successful++
		res.ConsecutiveSuccess++
		res.ConsecutiveError = 0
	case v1alpha1.AnalysisPhaseFailed:
		res.Failed++
		res.ConsecutiveSuccess, res.ConsecutiveError = 0, 0
	case v1alpha1.AnalysisPhaseInconclusive:
		res.Inconclusive++
		res.ConsecutiveSuccess, res.ConsecutiveError = 0, 0
	case v1alpha1.AnalysisPhaseError:
		res.Error++
		res.ConsecutiveError++
		res.ConsecutiveSuccess = 0
	}
	if retain > 0 && len(res.Measurements) > retain {
		res.Measurements = append([]v1alpha1.Measurement(nil), res.Measurements[len(res.Measurements)-retain:]...)
	}
}

// AssessMetric is a metric's phase from its tally, and why when it is not
// a plain success. terminating means the run is stopping (spec.terminate,
// or another metric ended it): a metric that has not failed then succeeds.
func AssessMetric(m *v1alpha1.Metric, res *v1alpha1.MetricResult, terminating bool) (v1alpha1.AnalysisPhase, string) {
	if len(res.Measurements) == 0 {
		if terminating {
			return v1alpha1.AnalysisPhaseSuccessful, "terminated before its first measurement"
		}
		return v1alpha1.AnalysisPhasePending, ""
	}
	if last := res.Measurements[len(res.Measurements)-1]; !Completed(last.Phase) && !terminating {
		return v1alpha1.AnalysisPhaseRunning, ""
	}
	l := LimitsOf(m)
	switch {
	case l.Failure >= 0 && res.Failed > l.Failure:
		return v1alpha1.AnalysisPhaseFailed, fmt.Sprintf("%d failed measurements, more than failureLimit %d", res.Failed, l.Failure)
	case l.Inconclusive >= 0 && res.Inconclusive > l.Inconclusive:
		return v1alpha1.AnalysisPhaseInconclusive, fmt.Sprintf("%d inconclusive measurements, more than inconclusiveLimit %d", res.Inconclusive, l.Inconclusive)
	case l.ConsecutiveError >= 0 && res.ConsecutiveError > l.ConsecutiveError:
		return v1alpha1.AnalysisPhaseError, fmt.Sprintf("%d errors in a row, more than consecutiveErrorLimit %d", res.ConsecutiveError, l.ConsecutiveError)
	case l.ConsecutiveSuccess > 0 && res.ConsecutiveSuccess >= l.ConsecutiveSuccess:
		return v1alpha1.AnalysisPhaseSuccessful, ""
	case judgedWithin(res):
		return v1alpha1.AnalysisPhaseSuccessful, "the judge found the canary within tolerance"
	case l.Count > 0 && res.Count >= l.Count:
		if l.ConsecutiveSuccess > 0 {
			// Every measurement taken without the successes in a row it needed.
			return v1alpha1.AnalysisPhaseFailed, fmt.Sprintf("count %d reached without %d successes in a row", l.Count, l.ConsecutiveSuccess)
		}
		return v1alpha1.AnalysisPhaseSuccessful, ""
	case terminating:
		return v1alpha1.AnalysisPhaseSuccessful, ""
	}
	return v1alpha1.AnalysisPhaseRunning, ""
}

// judgedWithin is whether the metric's last measurement is the judge's
// finding that the canary is within tolerance.
func judgedWithin(res *v1alpha1.MetricResult) bool {
	last := res.Measurements[len(res.Measurements)-1]
	return last.Phase == v1alpha1.AnalysisPhaseSuccessful && last.Metadata[JudgeVerdictKey] == JudgeWithinTolerance
}

// ErrorRetryInterval is the wait before measuring again, after an error, a
// metric that has no interval.
const ErrorRetryInterval = 10 * time.Second

// NextMeasurement is when the metric is next measured; ok is false when it
// takes no more. The first is due initialDelay after the run started; the
// next ones every interval from then on (a fixed rate: a slow provider or a
// late pass does not make the schedule drift), but never before the previous
// one finished. A measurement still running is polled at its resumeAt.
func NextMeasurement(m *v1alpha1.Metric, res *v1alpha1.MetricResult, started time.Time) (at time.Time, ok bool, err error) {
	if res == nil || len(res.Measurements) == 0 {
		delay, err := ParseDuration(m.InitialDelay, "initialDelay")
		if err != nil {
			return time.Time{}, false, err
		}
		return started.Add(delay), true, nil
	}
	last := res.Measurements[len(res.Measurements)-1]
	if !Completed(last.Phase) {
		if last.ResumeAt != nil {
			return last.ResumeAt.Time, true, nil
		}
		return started, true, nil
	}
	l := LimitsOf(m)
	if l.Count > 0 && res.Count >= l.Count {
		return time.Time{}, false, nil
	}
	interval, err := ParseDuration(m.Interval, "interval")
	if err != nil {
		return time.Time{}, false, err
	}
	if interval == 0 {
		if last.Phase == v1alpha1.AnalysisPhaseError {
			return timeOf(last.FinishedAt, started).Add(ErrorRetryInterval), true, nil
		}
		// No interval: measured until count is reached, one right after another
		// (only with an explicit count).
		return timeOf(last.FinishedAt, started), true, nil
	}
	// Fixed rate, anchored at the first measurement's due time: the next one
	// is due at the first multiple of interval after the last start, so a
	// late pass neither shifts the schedule nor, stored to the second, drifts it.
	delay, err := ParseDuration(m.InitialDelay, "initialDelay")
	if err != nil {
		return time.Time{}, false, err
	}
	anchor := started.Add(delay)
	lastStart := timeOf(last.StartedAt, started)
	k := int64(0)
	if lastStart.After(anchor) {
		k = int64(lastStart.Sub(anchor) / interval)
	}
	next := anchor.Add(time.Duration(k+1) * interval)
	if finished := timeOf(last.FinishedAt, started); finished.After(next) {
		next = finished
	}
	return next, true, nil
}

func timeOf(t *metav1.Time, def time.Time) time.Time {
	if t == nil {
		return def
	}
	return t.Time
}

// ParseDuration reads a duration field ("30s", "5m"); empty is 0. field
// names it in the error.
func ParseDuration(d v1alpha1.DurationString, field string) (time.Duration, error) {
	if d == "" {
		return 0, nil
	}
	v, err := time.ParseDuration(string(d))
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%s %q: not a duration such as 30s or 5m", field, d)
	}
	return v, nil
}

// DurationOr reads a duration field like ParseDuration, with def for empty.
func DurationOr(d v1alpha1.DurationString, field string, def time.Duration) (time.Duration, error) {
	v, err := ParseDuration(d, field)
	if err == nil && v == 0 {
		v = def
	}
	return v, err
}

// Retention is how many measurements a metric keeps: the first
// measurementRetention entry whose metricName (a regular expression matched
// against the whole name) matches, else 10.
func Retention(rules []v1alpha1.MeasurementRetention, metric string) int {
	for _, r := range rules {
		if matches(r.MetricName, metric) {
			return int(r.Limit)
		}
	}
	return DefaultMeasurementRetention
}

// IsDryRun reports whether a metric runs dry: measured and reported, but
// never deciding the run.
func IsDryRun(rules []v1alpha1.DryRun, metric string) bool {
	for _, r := range rules {
		if matches(r.MetricName, metric) {
			return true
		}
	}
	return false
}

func matches(pattern, name string) bool {
	if pattern == name {
		return true
	}
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	return err == nil && re.MatchString(name)
}

// Summary is where a run stands: its phase, why, and its counts.
type Summary struct {
	Phase   v1alpha1.AnalysisPhase
	Message string
	Run     v1alpha1.RunSummary
	DryRun  v1alpha1.RunSummary
}

// AssessRun sets each metric result's phase and sums up the run. A run ends
// when every metric has; a metric that ends Failed, Error or Inconclusive (and
// spec.terminate) ends it at once, the other metrics succeeding as they stand.
// Dry-run metrics are counted apart and never decide the phase.
func AssessRun(run *v1alpha1.AnalysisRun) Summary {
	results := map[string]*v1alpha1.MetricResult{}
	for i := range run.Status.MetricResults {
		results[run.Status.MetricResults[i].Name] = &run.Status.MetricResults[i]
	}
	terminating := run.Spec.Terminate
	for i := range run.Spec.Metrics {
		m := &run.Spec.Metrics[i]
		if res := results[m.Name]; res != nil && !IsDryRun(run.Spec.DryRun, m.Name) {
			if p, _ := AssessMetric(m, res, false); p == v1alpha1.AnalysisPhaseFailed || p == v1alpha1.AnalysisPhaseError || p == v1alpha1.AnalysisPhaseInconclusive {
				terminating = true
			}
		}
	}
	s := Summary{}
	allDone := true
	for i := range run.Spec.Metrics {
		m := &run.Spec.Metrics[i]
		dry := IsDryRun(run.Spec.DryRun, m.Name)
		res := results[m.Name]
		phase, why := v1alpha1.AnalysisPhasePending, ""
		if res != nil {
			phase, why = AssessMetric(m, res, terminating)
			res.Phase, res.DryRun = phase, dry
			if why != "" {
				res.Message = why
			}
		} else if terminating {
			phase = v1alpha1.AnalysisPhaseSuccessful
		}
		sum := &s.Run
		if dry {
			sum = &s.DryRun
		}
		count(sum, phase)
		if !Completed(phase) {
			allDone = false
		}
		if dry {
			continue
		}
		if worse[phase] > worse[s.Phase] && Completed(phase) {
			s.Phase = phase
			if phase != v1alpha1.AnalysisPhaseSuccessful {
				s.Message = fmt.Sprintf("metric %q assessed %s: %s", m.Name, phase, why)
			}
		}
	}
	switch {
	case run.Spec.Terminate && (s.Phase == "" || s.Phase == v1alpha1.AnalysisPhaseSuccessful):
		s.Phase, s.Message = v1alpha1.AnalysisPhaseSuccessful, "run terminated"
	case !allDone && !terminating:
		s.Phase, s.Message = v1alpha1.AnalysisPhaseRunning, ""
	case s.Phase == "":
		// Every metric is dry: the run itself has nothing against it.
		s.Phase = v1alpha1.AnalysisPhaseSuccessful
	}
	return s
}

func count(sum *v1alpha1.RunSummary, phase v1alpha1.AnalysisPhase) {
	sum.Count++
	switch phase {
	case v1alpha1.AnalysisPhaseSuccessful:
		sum.Successful++
	case v1alpha1.AnalysisPhaseFailed:
		sum.Failed++
	case v1alpha1.AnalysisPhaseInconclusive:
		sum.Inconclusive++
	case v1alpha1.AnalysisPhaseError:
		sum.Error++
	}
}
