package analysisrun

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

func metric(name string) v1alpha1.Metric {
	return v1alpha1.Metric{Name: name, SuccessCondition: "result > 0.9", Interval: "10s", InitialDelay: "5s",
		FailureLimit: ptr.To(intstr.FromInt32(-1)), Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://unused"}}}
}

// restore stores and reads back a status as the API server does (times to
// the second): all a restarted controller knows of a run.
func restore(t *testing.T, st v1alpha1.AnalysisRunStatus) v1alpha1.AnalysisRunStatus {
	t.Helper()
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var out v1alpha1.AnalysisRunStatus
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// answer plays a provider that answers at once with a passing value.
func answer(now time.Time, t Task) v1alpha1.Measurement {
	at := metav1.NewTime(now)
	phase := v1alpha1.AnalysisPhaseSuccessful
	if t.Kind == Terminate {
		phase = v1alpha1.AnalysisPhaseInconclusive
	}
	return v1alpha1.Measurement{Phase: phase, Value: "0.95", StartedAt: &at, FinishedAt: &at}
}

// drive runs passes at the times the planner asks, from start until limit,
// with the controller down (no pass) during [downFrom, downTo). It returns
// when each measurement was taken.
func drive(t *testing.T, run *v1alpha1.AnalysisRun, start, limit, downFrom, downTo time.Time) []time.Time {
	t.Helper()
	var taken []time.Time
	now := start
	for now.Before(limit) {
		plan := Decide(run, run.Spec.Metrics, now)
		answers := make([]v1alpha1.Measurement, len(plan.Tasks))
		for i, task := range plan.Tasks {
			answers[i] = answer(now, task)
			if task.Kind == Measure {
				taken = append(taken, now)
			}
		}
		st, next := plan.Conclude(answers, func(s string) string { return s })
		run.Status = restore(t, st)
		if next.IsZero() {
			break
		}
		if next.After(now) {
			now = next
		}
		if !now.Before(downFrom) && now.Before(downTo) {
			now = downTo // a restarted controller: only the stored status remains
		}
	}
	return taken
}

// The schedule is fixed, anchored at the first measurement's due time, and a
// controller down for 25 s takes one measurement when it is back, then keeps
// to the same grid.
func TestScheduleSurvivesARestart(t *testing.T) {
	start := time.Date(2026, 11, 21, 10, 0, 0, 400_000_000, time.UTC)
	run := &v1alpha1.AnalysisRun{Spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{metric("sr")},
		MeasurementRetention: []v1alpha1.MeasurementRetention{{MetricName: ".*", Limit: 100}}}}
	downFrom, downTo := start.Add(32*time.Second), start.Add(57*time.Second+300*time.Millisecond)
	taken := drive(t, run, start, start.Add(2*time.Minute), downFrom, downTo)

	grid := start.Truncate(time.Second).Add(5 * time.Second) // stored startedAt + initialDelay
	onGrid := func(at time.Time) bool {
		off := at.Sub(grid) % (10 * time.Second)
		return off >= 0 && off < time.Second
	}
	var caughtUp int
	for _, at := range taken {
		switch {
		case at.Equal(downTo):
			caughtUp++
		case !onGrid(at):
			t.Errorf("measurement at %s is off the grid %s + k*10s", at.Format("15:04:05.000"), grid.Format("15:04:05"))
		}
	}
	if caughtUp != 1 {
		t.Errorf("%d measurements at the restart, want exactly 1 (the one due while down): %v", caughtUp, taken)
	}
	if n := len(taken); n < 10 || n > 12 {
		t.Errorf("%d measurements in 2 minutes at 10 s with 25 s down, want about 10", n)
	}
}

// A run is Running from its first look, initialDelay included, before any
// measurement; nothing is due until the delay is over.
func TestRunningFromTheFirstLook(t *testing.T) {
	start := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	m := metric("sr")
	m.InitialDelay = "30s"
	run := &v1alpha1.AnalysisRun{Spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{m}}}
	plan := Decide(run, run.Spec.Metrics, start)
	if len(plan.Tasks) != 0 {
		t.Errorf("tasks during initialDelay: %+v", plan.Tasks)
	}
	st, next := plan.Conclude(nil, func(s string) string { return s })
	if st.Phase != v1alpha1.AnalysisPhaseRunning {
		t.Errorf("phase %s during initialDelay, want Running", st.Phase)
	}
	if want := start.Add(30 * time.Second); !next.Equal(want) {
		t.Errorf("next look %s, want %s", next, want)
	}
}

// Terminating a run stops what is in flight (a Terminate task) and measures
// nothing new; a terminated run with no measurement ends Successful.
func TestTerminate(t *testing.T) {
	start := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	running := v1alpha1.Measurement{Phase: v1alpha1.AnalysisPhaseRunning, StartedAt: ptr.To(metav1.NewTime(start))}
	run := &v1alpha1.AnalysisRun{Spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{metric("job"), metric("later")}, Terminate: true},
		Status: v1alpha1.AnalysisRunStatus{Phase: v1alpha1.AnalysisPhaseRunning, StartedAt: ptr.To(metav1.NewTime(start)),
			MetricResults: []v1alpha1.MetricResult{{Name: "job", Phase: v1alpha1.AnalysisPhaseRunning, Measurements: []v1alpha1.Measurement{running}}}}}
	plan := Decide(run, run.Spec.Metrics, start.Add(time.Minute))
	if len(plan.Tasks) != 1 || plan.Tasks[0].Kind != Terminate || plan.Tasks[0].Metric.Name != "job" {
		t.Fatalf("tasks %+v, want one Terminate of job", plan.Tasks)
	}

	empty := &v1alpha1.AnalysisRun{Spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{metric("sr")}, Terminate: true}}
	plan = Decide(empty, empty.Spec.Metrics, start)
	st, next := plan.Conclude(nil, func(s string) string { return s })
	if len(plan.Tasks) != 0 || st.Phase != v1alpha1.AnalysisPhaseSuccessful || !next.IsZero() {
		t.Errorf("terminated with no measurement: tasks %d, phase %s, next %v; want none, Successful, over", len(plan.Tasks), st.Phase, next)
	}
}

// Answers of any size leave a run small enough to store: each value and
// message is clipped (and says so), and the oldest kept measurements go
// before the status outgrows its bound. Before the bound, one 150 KB answer
// kept 10 times made a run etcd refused, and 8 MiB answers ran the
// controller out of memory.
func TestHugeAnswersKeepTheRunSmall(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: "big"}}
	for i := range 10 {
		m := metric(fmt.Sprintf("m%d", i))
		m.InitialDelay = ""
		run.Spec.Metrics = append(run.Spec.Metrics, m)
	}
	run.Spec.MeasurementRetention = []v1alpha1.MeasurementRetention{{MetricName: ".*", Limit: 50}}
	huge := strings.Repeat("0.95 ", 8<<20/5)
	now := start
	for pass := 0; pass < 60; pass++ {
		plan := Decide(run, run.Spec.Metrics, now)
		answers := make([]v1alpha1.Measurement, len(plan.Tasks))
		for i, task := range plan.Tasks {
			answers[i] = answer(now, task)
			answers[i].Value, answers[i].Message = huge, huge
		}
		st, _ := plan.Conclude(answers, func(s string) string { return s })
		run.Status = restore(t, st)
		now = now.Add(10 * time.Second)
	}
	data, err := json.Marshal(run)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 256<<10 {
		t.Errorf("the run is %d KiB stored", len(data)>>10)
	}
	res := run.Status.MetricResults[0]
	last := res.Measurements[len(res.Measurements)-1]
	if len(last.Value) > 1024 || !strings.Contains(last.Value, "bytes; the first") {
		t.Errorf("a measured value of %d bytes kept as %d: %.80q", len(huge), len(last.Value), last.Value)
	}
	if res.Count < 50 {
		t.Errorf("count %d after 60 passes: the tally must not lose what trimming drops", res.Count)
	}
	t.Logf("10 metrics x 60 huge answers: run stored in %d KiB, %d measurements kept of metric m0", len(data)>>10, len(res.Measurements))
}
