package analysis

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func measured(phase v1alpha1.AnalysisPhase, at time.Time) v1alpha1.Measurement {
	return v1alpha1.Measurement{Phase: phase, Value: "[0.97]", StartedAt: ptr.To(metav1.NewTime(at)), FinishedAt: ptr.To(metav1.NewTime(at))}
}

func tally(phases ...v1alpha1.AnalysisPhase) *v1alpha1.MetricResult {
	res := &v1alpha1.MetricResult{Name: "m"}
	for i, p := range phases {
		Record(res, measured(p, t0.Add(time.Duration(i)*time.Second)), 10)
	}
	return res
}

func TestAssessMetric(t *testing.T) {
	const (
		S = v1alpha1.AnalysisPhaseSuccessful
		F = v1alpha1.AnalysisPhaseFailed
		I = v1alpha1.AnalysisPhaseInconclusive
		E = v1alpha1.AnalysisPhaseError
	)
	every := func(m v1alpha1.Metric) *v1alpha1.Metric {
		m.Name, m.Interval = "m", "10s"
		return &m
	}
	n := func(i int) *intstr.IntOrString { return ptr.To(intstr.FromInt32(int32(i))) }
	for _, tc := range []struct {
		name        string
		metric      *v1alpha1.Metric
		results     []v1alpha1.AnalysisPhase
		terminating bool
		want        v1alpha1.AnalysisPhase
	}{
		{"nothing measured", every(v1alpha1.Metric{}), nil, false, v1alpha1.AnalysisPhasePending},
		{"one failure, default failureLimit 0", every(v1alpha1.Metric{}), []v1alpha1.AnalysisPhase{S, F}, false, F},
		{"failures within failureLimit 3", every(v1alpha1.Metric{FailureLimit: n(3)}), []v1alpha1.AnalysisPhase{F, F, F, S}, false, v1alpha1.AnalysisPhaseRunning},
		{"the 4th failure over failureLimit 3", every(v1alpha1.Metric{FailureLimit: n(3)}), []v1alpha1.AnalysisPhase{F, F, F, S, F}, false, F},
		{"failureLimit -1: no limit", every(v1alpha1.Metric{FailureLimit: n(-1), Count: n(3)}), []v1alpha1.AnalysisPhase{F, F, F}, false, S},
		{"failureLimit from a substituted arg", every(v1alpha1.Metric{FailureLimit: ptr.To(intstr.FromString("2"))}), []v1alpha1.AnalysisPhase{F, F}, false, v1alpha1.AnalysisPhaseRunning},
		{"inconclusive over its limit", every(v1alpha1.Metric{}), []v1alpha1.AnalysisPhase{I}, false, I},
		{"four errors in a row are tolerated", every(v1alpha1.Metric{}), []v1alpha1.AnalysisPhase{E, E, E, E}, false, v1alpha1.AnalysisPhaseRunning},
		{"the fifth is not", every(v1alpha1.Metric{}), []v1alpha1.AnalysisPhase{E, E, E, E, E}, false, E},
		{"a success resets the run of errors", every(v1alpha1.Metric{}), []v1alpha1.AnalysisPhase{E, E, E, E, S, E}, false, v1alpha1.AnalysisPhaseRunning},
		{"count reached", every(v1alpha1.Metric{Count: n(3)}), []v1alpha1.AnalysisPhase{S, S, S}, false, S},
		{"no interval and no count: measured once", &v1alpha1.Metric{Name: "m"}, []v1alpha1.AnalysisPhase{S}, false, S},
		{"measured once, but an error is no measurement", &v1alpha1.Metric{Name: "m"}, []v1alpha1.AnalysisPhase{E}, false, v1alpha1.AnalysisPhaseRunning},
		{"measured once after an error", &v1alpha1.Metric{Name: "m"}, []v1alpha1.AnalysisPhase{E, I}, false, I},
		{"count counts no errors", every(v1alpha1.Metric{Count: n(2)}), []v1alpha1.AnalysisPhase{S, E, S}, false, S},
		{"count not reached with an error", every(v1alpha1.Metric{Count: n(2)}), []v1alpha1.AnalysisPhase{S, E}, false, v1alpha1.AnalysisPhaseRunning},
		{"consecutiveSuccessLimit reached", every(v1alpha1.Metric{ConsecutiveSuccessLimit: n(2), FailureLimit: n(-1)}), []v1alpha1.AnalysisPhase{F, S, S}, false, S},
		{"count reached without the successes in a row", every(v1alpha1.Metric{ConsecutiveSuccessLimit: n(3), FailureLimit: n(-1), Count: n(4)}), []v1alpha1.AnalysisPhase{S, S, F, S}, false, F},
		{"endless metric, run terminating", every(v1alpha1.Metric{}), []v1alpha1.AnalysisPhase{S}, true, S},
		{"failed metric stays failed when terminating", every(v1alpha1.Metric{}), []v1alpha1.AnalysisPhase{F}, true, F},
	} {
		got, why := AssessMetric(tc.metric, tally(tc.results...), tc.terminating)
		if got != tc.want {
			t.Errorf("%s: %s (%s), want %s", tc.name, got, why, tc.want)
		}
	}
}

// measurementRetention keeps a run small however long it runs: 10,000
// measurements of each of three metrics stay under 256 KB (the counts keep
// the whole history; only the newest measurements are kept).
func TestRetentionKeepsARunSmall(t *testing.T) {
	run := &v1alpha1.AnalysisRun{Spec: v1alpha1.AnalysisRunSpec{
		Metrics:              []v1alpha1.Metric{{Name: "success-rate"}, {Name: "latency"}, {Name: "errors"}},
		MeasurementRetention: []v1alpha1.MeasurementRetention{{MetricName: "lat.*", Limit: 20}},
	}}
	for _, m := range run.Spec.Metrics {
		res := v1alpha1.MetricResult{Name: m.Name}
		for i := 0; i < 10000; i++ {
			at := t0.Add(time.Duration(i) * 10 * time.Second)
			Record(&res, v1alpha1.Measurement{Phase: v1alpha1.AnalysisPhaseSuccessful, Value: fmt.Sprintf("[%0.6f]", 0.9+float64(i%100)/1000),
				StartedAt: ptr.To(metav1.NewTime(at)), FinishedAt: ptr.To(metav1.NewTime(at.Add(time.Second)))}, Retention(run.Spec.MeasurementRetention, m.Name))
		}
		run.Status.MetricResults = append(run.Status.MetricResults, res)
	}
	data, err := json.Marshal(run)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 256*1024 {
		t.Errorf("a run with 10,000 measurements per metric is %d bytes", len(data))
	}
	for _, res := range run.Status.MetricResults {
		want := 10
		if res.Name == "latency" {
			want = 20
		}
		if len(res.Measurements) != want || res.Count != 10000 || res.Successful != 10000 {
			t.Errorf("%s: kept %d measurements (want %d), count %d", res.Name, len(res.Measurements), want, res.Count)
		}
	}
	t.Logf("AnalysisRun with 3 x 10,000 measurements: %d bytes", len(data))
}

// One simulated hour of a 10s metric whose provider takes a varying 0-3 s:
// every measurement starts on the fixed-rate schedule, never drifting.
func TestScheduleOverASimulatedHour(t *testing.T) {
	m := &v1alpha1.Metric{Name: "m", Interval: "10s", InitialDelay: "5s", FailureLimit: ptr.To(intstr.FromInt32(-1))}
	res := &v1alpha1.MetricResult{Name: "m"}
	started := t0
	var worst time.Duration
	for i := 0; ; i++ {
		at, ok, err := NextMeasurement(m, res, started)
		if err != nil || !ok {
			t.Fatalf("measurement %d: ok %v, %v", i, ok, err)
		}
		if at.After(t0.Add(time.Hour)) {
			if i != 360 {
				t.Errorf("%d measurements in an hour, want 360", i)
			}
			break
		}
		ideal := t0.Add(5*time.Second + time.Duration(i)*10*time.Second)
		if d := at.Sub(ideal).Abs(); d > worst {
			worst = d
		}
		// Status keeps times to the second; the provider takes (i*7)%4 seconds.
		begin := metav1.NewTime(at.Truncate(time.Second))
		end := metav1.NewTime(at.Add(time.Duration(i*7%4) * time.Second).Truncate(time.Second))
		Record(res, v1alpha1.Measurement{Phase: v1alpha1.AnalysisPhaseSuccessful, StartedAt: &begin, FinishedAt: &end}, 10)
	}
	if worst > time.Second {
		t.Errorf("schedule error up to %s over an hour", worst)
	}
	t.Logf("worst schedule error over one simulated hour: %s", worst)
}

func TestScheduleWaitsForASlowMeasurementAndStopsAtCount(t *testing.T) {
	m := &v1alpha1.Metric{Name: "m", Interval: "10s", Count: ptr.To(intstr.FromInt32(2))}
	res := &v1alpha1.MetricResult{Name: "m"}
	Record(res, v1alpha1.Measurement{Phase: v1alpha1.AnalysisPhaseSuccessful, StartedAt: ptr.To(metav1.NewTime(t0)), FinishedAt: ptr.To(metav1.NewTime(t0.Add(25 * time.Second)))}, 10)
	if at, ok, _ := NextMeasurement(m, res, t0); !ok || !at.Equal(t0.Add(25*time.Second)) {
		t.Errorf("after a 25 s measurement: next at %v (%v), want when it finished", at, ok)
	}
	Record(res, measured(v1alpha1.AnalysisPhaseSuccessful, t0.Add(25*time.Second)), 10)
	if _, ok, _ := NextMeasurement(m, res, t0); ok {
		t.Error("a third measurement scheduled with count 2")
	}
	if _, _, err := NextMeasurement(&v1alpha1.Metric{Name: "m", InitialDelay: "soon"}, &v1alpha1.MetricResult{}, t0); err == nil {
		t.Error("initialDelay 'soon' accepted")
	}
}

// A metric without interval that errors is measured again ErrorRetryInterval
// after the error, until it gets a measurement.
func TestErrorIsRetried(t *testing.T) {
	m := &v1alpha1.Metric{Name: "m"}
	res := &v1alpha1.MetricResult{Name: "m"}
	Record(res, measured(v1alpha1.AnalysisPhaseError, t0.Add(time.Second)), 10)
	if at, ok, _ := NextMeasurement(m, res, t0); !ok || !at.Equal(t0.Add(time.Second+ErrorRetryInterval)) {
		t.Errorf("after an error: next at %v (%v), want %s after it", at, ok, ErrorRetryInterval)
	}
	Record(res, measured(v1alpha1.AnalysisPhaseSuccessful, t0.Add(12*time.Second)), 10)
	if _, ok, _ := NextMeasurement(m, res, t0); ok || res.Count != 1 || res.Error != 1 {
		t.Errorf("after the measurement: another scheduled (%v), count %d errors %d", ok, res.Count, res.Error)
	}
}

func TestAssessRun(t *testing.T) {
	metrics := []v1alpha1.Metric{{Name: "a", Interval: "10s"}, {Name: "b", Interval: "10s"}, {Name: "dry", Interval: "10s"}}
	run := func(a, b, dry []v1alpha1.AnalysisPhase) *v1alpha1.AnalysisRun {
		r := &v1alpha1.AnalysisRun{Spec: v1alpha1.AnalysisRunSpec{Metrics: metrics, DryRun: []v1alpha1.DryRun{{MetricName: "d.*"}}}}
		for name, phases := range map[string][]v1alpha1.AnalysisPhase{"a": a, "b": b, "dry": dry} {
			if phases != nil {
				res := tally(phases...)
				res.Name = name
				r.Status.MetricResults = append(r.Status.MetricResults, *res)
			}
		}
		return r
	}
	S, F := v1alpha1.AnalysisPhaseSuccessful, v1alpha1.AnalysisPhaseFailed
	if s := AssessRun(run([]v1alpha1.AnalysisPhase{S}, nil, nil)); s.Phase != v1alpha1.AnalysisPhaseRunning {
		t.Errorf("endless metrics, one measured: %s", s.Phase)
	}
	s := AssessRun(run([]v1alpha1.AnalysisPhase{S}, []v1alpha1.AnalysisPhase{S, F}, nil))
	if s.Phase != F || s.Run.Failed != 1 || s.Run.Successful != 1 || s.Message == "" {
		t.Errorf("one metric failed: %+v", s)
	}
	s = AssessRun(run([]v1alpha1.AnalysisPhase{S}, []v1alpha1.AnalysisPhase{S}, []v1alpha1.AnalysisPhase{F}))
	if s.Phase != v1alpha1.AnalysisPhaseRunning || s.DryRun.Failed != 1 {
		t.Errorf("a failed dry-run metric decided the run: %+v", s)
	}
	r := run([]v1alpha1.AnalysisPhase{S}, nil, nil)
	r.Spec.Terminate = true
	if s := AssessRun(r); s.Phase != S || s.Message != "run terminated" {
		t.Errorf("terminated run: %+v", s)
	}
}
