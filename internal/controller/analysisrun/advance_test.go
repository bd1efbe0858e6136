package analysisrun

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/metricprovider"
)

// scripted is a provider whose values come from a function of the time.
type scripted struct {
	now   func() time.Time
	value func(metric string, at time.Time) (any, error)
}

type queryFunc func(ctx context.Context, m *v1alpha1.Metric) (any, error)

func (f queryFunc) Query(ctx context.Context, m *v1alpha1.Metric) (any, error) { return f(ctx, m) }

func (s scripted) For(*v1alpha1.AnalysisRun, *v1alpha1.Metric) (metricprovider.Provider, error) {
	return metricprovider.Sync{Now: s.now, Querier: queryFunc(func(_ context.Context, m *v1alpha1.Metric) (any, error) {
		return s.value(m.Name, s.now())
	})}, nil
}

// roundTrip stores and reads back a status as the API server does: times
// to the second.
func roundTrip(t *testing.T, st v1alpha1.AnalysisRunStatus) v1alpha1.AnalysisRunStatus {
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

func webMetric(name string) v1alpha1.Metric {
	return v1alpha1.Metric{Name: name, SuccessCondition: "result > 0.9", FailureLimit: ptr.To(intstr.FromInt32(3)),
		Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://unused"}}}
}

// simulate runs passes of a run on a simulated clock, each pass at the time
// the last one asked for plus lag, until it ends or until limit.
func simulate(t *testing.T, run *v1alpha1.AnalysisRun, value func(string, time.Time) (any, error), start time.Time, lag func(i int) time.Duration, limit time.Time) {
	t.Helper()
	now := start
	prov := scripted{now: func() time.Time { return now }, value: value}
	for i := 0; ; i++ {
		p := pass{run: run, metrics: run.Spec.Metrics, providers: prov, now: now, redact: func(s string) string { return s }}
		st, next := p.advance(context.Background())
		run.Status = roundTrip(t, st)
		if next.IsZero() || next.After(limit) {
			return
		}
		if next.Before(now) {
			next = now
		}
		now = next.Add(lag(i))
	}
}

func TestScheduleOverASimulatedHour(t *testing.T) {
	start := time.Date(2026, 11, 21, 10, 0, 0, 300_000_000, time.UTC)
	m := webMetric("success-rate")
	m.Interval = "10s"
	m.InitialDelay = "5s"
	m.FailureLimit = ptr.To(intstr.FromInt32(-1))
	run := &v1alpha1.AnalysisRun{Spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{m},
		MeasurementRetention: []v1alpha1.MeasurementRetention{{MetricName: ".*", Limit: 1000}}}}
	var starts []time.Time
	value := func(_ string, at time.Time) (any, error) { starts = append(starts, at); return 0.95, nil }
	// Each pass comes 0..900 ms late, as a busy work queue would.
	lag := func(i int) time.Duration { return time.Duration((i*337)%900) * time.Millisecond }
	simulate(t, run, value, start, lag, start.Add(time.Hour))

	if len(starts) < 359 {
		t.Fatalf("%d measurements in an hour at 10s, want 360", len(starts))
	}
	// The run started at 10:00:00.3, stored as 10:00:00: measurement k is due at 10:00:05 + k*10s.
	first := start.Truncate(time.Second).Add(5 * time.Second)
	worst := time.Duration(0)
	for k, at := range starts {
		if e := at.Sub(first.Add(time.Duration(k) * 10 * time.Second)); e > worst || -e > worst {
			worst = max(e, -e)
		}
	}
	if worst >= time.Second {
		t.Errorf("worst schedule error %v over %d measurements, want under 1s (no drift)", worst, len(starts))
	}
	t.Logf("%d measurements, worst schedule error %v", len(starts), worst)
}

func TestRunOutcomes(t *testing.T) {
	start := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	none := func(int) time.Duration { return 0 }
	for _, tc := range []struct {
		name    string
		metric  func() v1alpha1.Metric
		value   func(int) (any, error)
		phase   v1alpha1.AnalysisPhase
		message string
		count   int32
	}{
		{"failureLimit 3: the fourth failure fails the run", func() v1alpha1.Metric { m := webMetric("sr"); m.Interval = "10s"; return m },
			func(int) (any, error) { return 0.5, nil }, v1alpha1.AnalysisPhaseFailed, `metric "sr" assessed Failed: 4 failed measurements, more than failureLimit 3`, 4},
		{"count 5 of successes", func() v1alpha1.Metric {
			m := webMetric("sr")
			m.Interval = "1s"
			m.Count = ptr.To(intstr.FromInt32(5))
			return m
		},
			func(int) (any, error) { return 0.99, nil }, v1alpha1.AnalysisPhaseSuccessful, "", 5},
		{"no interval: one measurement", func() v1alpha1.Metric { return webMetric("sr") },
			func(int) (any, error) { return 0.99, nil }, v1alpha1.AnalysisPhaseSuccessful, "", 1},
		{"errors in a row past consecutiveErrorLimit 4", func() v1alpha1.Metric { m := webMetric("sr"); m.Interval = "1s"; return m },
			func(int) (any, error) { return nil, fmt.Errorf("connection refused") }, v1alpha1.AnalysisPhaseError, "5 errors in a row", 0},
		{"no interval: an error is measured again", func() v1alpha1.Metric { return webMetric("sr") },
			func(i int) (any, error) {
				if i == 0 {
					return nil, fmt.Errorf("no data yet")
				}
				return 0.99, nil
			}, v1alpha1.AnalysisPhaseSuccessful, "", 1},
		{"neither condition: inconclusive", func() v1alpha1.Metric { m := webMetric("sr"); m.SuccessCondition = ""; return m },
			func(int) (any, error) { return 1, nil }, v1alpha1.AnalysisPhaseInconclusive, "1 inconclusive", 1},
		{"failure then success within the limit", func() v1alpha1.Metric {
			m := webMetric("sr")
			m.Interval, m.Count = "1s", ptr.To(intstr.FromInt32(4))
			return m
		}, func(i int) (any, error) { return []float64{0.5, 0.99, 0.5, 0.99}[i%4], nil }, v1alpha1.AnalysisPhaseSuccessful, "", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := &v1alpha1.AnalysisRun{Spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{tc.metric()}}}
			i := 0
			simulate(t, run, func(string, time.Time) (any, error) { v, err := tc.value(i); i++; return v, err }, start, none, start.Add(time.Hour))
			st := run.Status
			if st.Phase != tc.phase || !strings.Contains(st.Message, tc.message) || st.MetricResults[0].Count != tc.count {
				t.Errorf("phase %s %q count %d; want %s %q %d", st.Phase, st.Message, st.MetricResults[0].Count, tc.phase, tc.message, tc.count)
			}
			if st.CompletedAt == nil || st.StartedAt == nil {
				t.Error("startedAt and completedAt must be set")
			}
		})
	}
}

func TestDryRunAndTerminate(t *testing.T) {
	start := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	bad, good := webMetric("bad"), webMetric("good")
	bad.Interval, good.Interval = "1s", "1s"
	run := &v1alpha1.AnalysisRun{Spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{bad, good}, DryRun: []v1alpha1.DryRun{{MetricName: "ba.*"}}}}
	value := func(name string, _ time.Time) (any, error) {
		if name == "bad" {
			return 0.1, nil
		}
		return 0.99, nil
	}
	simulate(t, run, value, start, func(int) time.Duration { return 0 }, start.Add(20*time.Second))
	st := run.Status
	if st.Phase != v1alpha1.AnalysisPhaseRunning || st.DryRunSummary == nil || st.DryRunSummary.Failed != 1 || st.RunSummary.Count != 1 {
		t.Fatalf("a failing dry-run metric must not end the run: %s, dry %+v, run %+v", st.Phase, st.DryRunSummary, st.RunSummary)
	}
	if !st.MetricResults[0].DryRun || st.MetricResults[0].Phase != v1alpha1.AnalysisPhaseFailed {
		t.Errorf("dry-run metric result %+v", st.MetricResults[0])
	}
	run.Spec.Terminate = true
	simulate(t, run, value, start.Add(21*time.Second), func(int) time.Duration { return 0 }, start.Add(time.Hour))
	if run.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || run.Status.Message != "run terminated" {
		t.Errorf("terminated: %s %q", run.Status.Phase, run.Status.Message)
	}
}

func TestTenThousandMeasurementsStaySmall(t *testing.T) {
	start := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	m := webMetric("sr")
	m.Interval = "1s"
	m.Count = ptr.To(intstr.FromInt32(10000))
	m.SuccessCondition = "result[0] > 0.9"
	m.FailureLimit = ptr.To(intstr.FromInt32(-1))
	run := &v1alpha1.AnalysisRun{Spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{m}}}
	i := 0
	simulate(t, run, func(string, time.Time) (any, error) {
		i++
		return []float64{0.95 + float64(i%5)/100, 0.123456789}, nil
	}, start, func(int) time.Duration { return 0 }, start.Add(100*time.Hour))
	data, _ := json.Marshal(run)
	res := run.Status.MetricResults[0]
	if res.Count != 10000 || len(res.Measurements) != 10 {
		t.Fatalf("count %d, %d measurements kept", res.Count, len(res.Measurements))
	}
	if len(data) >= 256<<10 {
		t.Errorf("a run with 10,000 measurements is %d bytes, want under 256 KiB", len(data))
	}
	t.Logf("10,000 measurements: %d bytes", len(data))
}
