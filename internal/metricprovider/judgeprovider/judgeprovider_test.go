package judgeprovider

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/analysis"
)

// counters plays Prometheus over HTTP: each query names a counter, whose
// value the test sets.
type counters struct {
	mu     sync.Mutex
	values map[string]float64
}

func (c *counters) set(name string, v float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.values[name] = v
}

func (c *counters) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	c.mu.Lock()
	v, ok := c.values[r.Form.Get("query")]
	c.mu.Unlock()
	if !ok {
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
		return
	}
	fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"%g"]}]}}`, v)
}

func judgeMetric(address, extra string) v1alpha1.Metric {
	cfg := fmt.Sprintf(`{"prometheus":{"address":%q},"canary":{"requests":"cr","errors":"ce"},"stable":{"requests":"sr","errors":"se"}%s}`, address, extra)
	return v1alpha1.Metric{Name: "judge", Provider: v1alpha1.MetricProvider{Plugin: map[string]apiextv1.JSON{Key: {Raw: []byte(cfg)}}}}
}

// measure takes measurements as the AnalysisRun controller does, each
// recorded in the run's status before the next.
func measure(t *testing.T, run *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) v1alpha1.Measurement {
	t.Helper()
	p := Provider{Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }}
	m := p.Run(context.Background(), run, metric)
	if len(run.Status.MetricResults) == 0 {
		run.Status.MetricResults = []v1alpha1.MetricResult{{Name: metric.Name}}
	}
	analysis.Record(&run.Status.MetricResults[0], m, 10)
	return m
}

// Against a Prometheus over HTTP: equal error rates pass look after look;
// a canary that starts failing three times as often is Failed within a few
// looks; a version with no traffic is no data, never a pass.
func TestJudgeProvider(t *testing.T) {
	c := &counters{values: map[string]float64{}}
	srv := httptest.NewServer(c)
	defer srv.Close()
	metric := judgeMetric(srv.URL, "")
	run := &v1alpha1.AnalysisRun{}

	if m := measure(t, run, &metric); m.Phase != v1alpha1.AnalysisPhaseRunning || m.ResumeAt == nil || !strings.Contains(m.Message, "zero point") {
		t.Errorf("the first look: %s %q; want the counters taken as the zero point, and a look again soon", m.Phase, m.Message)
	}
	if m := measure(t, run, &metric); m.Phase != v1alpha1.AnalysisPhaseRunning || m.ResumeAt == nil || !strings.Contains(m.Message, "no data") {
		t.Errorf("no traffic: %s %q, resume at %v; want it waiting for traffic", m.Phase, m.Message, m.ResumeAt)
	}
	if m := (Provider{Now: time.Now}).Terminate(context.Background(), run, &metric, run.Status.MetricResults[0].Measurements[0]); m.Phase != v1alpha1.AnalysisPhaseInconclusive {
		t.Errorf("ended without traffic: %s, want Inconclusive (never a pass)", m.Phase)
	}
	var cr, ce, sr, se float64
	look := func(canaryErrorRate float64) v1alpha1.Measurement {
		cr, sr = cr+200, sr+800
		ce, se = ce+200*canaryErrorRate, se+800*0.01
		for k, v := range map[string]float64{"cr": cr, "ce": ce, "sr": sr, "se": se} {
			c.set(k, v)
		}
		return measure(t, run, &metric)
	}
	for i := 0; i < 30; i++ {
		if m := look(0.01); m.Phase != v1alpha1.AnalysisPhaseSuccessful {
			t.Fatalf("equal rates, look %d: %s %q", i, m.Phase, m.Message)
		}
	}
	failedAt := -1
	for i := 0; i < 30 && failedAt < 0; i++ {
		if m := look(0.03); m.Phase == v1alpha1.AnalysisPhaseFailed {
			failedAt = i
			if !strings.Contains(m.Message, "e-value") || m.Metadata[stateKey] == "" {
				t.Errorf("the failed measurement says %q, metadata %v", m.Message, m.Metadata)
			}
		}
	}
	if failedAt < 0 {
		t.Fatal("a canary failing 3x as often was never judged")
	}
	t.Logf("3x the stable's error rate (1%%), 200 canary requests a look: Failed at look %d after the regression began", failedAt+1)
}

func TestJudgeConfigErrorsNameTheField(t *testing.T) {
	for extra, want := range map[string]string{
		`,"tolerance":-1`: "tolerance",
		`,"alpha":0.9`:    "alpha",
	} {
		m := judgeMetric("http://127.0.0.1:1", extra)
		if _, _, err := Parse(&m); err == nil || !strings.Contains(err.Error(), "provider.plugin.vireo.dev/judge."+want) {
			t.Errorf("%s: %v", extra, err)
		}
	}
	m := judgeMetric("", "")
	if _, _, err := Parse(&m); err == nil || !strings.Contains(err.Error(), "prometheus.address") {
		t.Errorf("no address: %v", err)
	}
}

// Each measurement records the counts, the e-value and the confidence
// interval of the ratio; a state that does not read is an Error, never a
// silent new start.
func TestMeasurementRecordsWhereTheTestStands(t *testing.T) {
	// Counters with a history (earlier releases'): the first look takes
	// them as the zero point.
	c := &counters{values: map[string]float64{"cr": 1000, "ce": 10, "sr": 4000, "se": 40}}
	srv := httptest.NewServer(c)
	defer srv.Close()
	metric := judgeMetric(srv.URL, "")
	run := &v1alpha1.AnalysisRun{}
	measure(t, run, &metric)
	for k, v := range map[string]float64{"cr": 3000, "ce": 30, "sr": 12000, "se": 120} {
		c.set(k, v)
	}
	m := measure(t, run, &metric)
	for _, k := range []string{stateKey, eValueKey, lowKey, highKey, countsKey} {
		if m.Metadata[k] == "" {
			t.Errorf("metadata %s missing: %v", k, m.Metadata)
		}
	}
	if m.Metadata[countsKey] != "canary 20/2000, stable 80/8000" || !strings.Contains(m.Message, "confidence interval [") {
		t.Errorf("counts %q, message %q", m.Metadata[countsKey], m.Message)
	}
	run.Status.MetricResults[0].Measurements[0].Metadata[stateKey] = `{"logRatios": [1, 2` // clipped
	if m := measure(t, run, &metric); m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, "does not read") {
		t.Errorf("a broken state: %s %q", m.Phase, m.Message)
	}
}

// At high traffic with equal rates the confidence sequence comes within
// the tolerance, and the metric is done, Successful, before its count.
func TestWithinToleranceEndsTheMetric(t *testing.T) {
	c := &counters{values: map[string]float64{}}
	srv := httptest.NewServer(c)
	defer srv.Close()
	metric := judgeMetric(srv.URL, `,"tolerance":0.5`)
	count := intstr.FromInt32(1000)
	metric.Count = &count
	run := &v1alpha1.AnalysisRun{}
	var n float64
	for i := 1; i <= 200; i++ {
		n += 20000
		for k, v := range map[string]float64{"cr": n, "ce": n * 0.05, "sr": 4 * n, "se": 4 * n * 0.05} {
			c.set(k, v)
		}
		m := measure(t, run, &metric)
		if i == 1 && m.Phase == v1alpha1.AnalysisPhaseRunning {
			continue // the zero point
		}
		if m.Phase != v1alpha1.AnalysisPhaseSuccessful {
			t.Fatalf("look %d: %s %q", i, m.Phase, m.Message)
		}
		if phase, why := analysis.AssessMetric(&metric, &run.Status.MetricResults[0], false); phase == v1alpha1.AnalysisPhaseSuccessful {
			if !strings.Contains(m.Message, "within tolerance") || !strings.Contains(why, "within tolerance") {
				t.Errorf("done at look %d: %q, %q", i, m.Message, why)
			}
			t.Logf("within tolerance 1.5 after %d looks: %s", i, m.Message)
			return
		}
	}
	t.Fatal("equal rates at 20,000 requests a look never came within a 50% tolerance")
}

// histograms plays Prometheus answering _bucket queries by le.
type histograms struct {
	mu     sync.Mutex
	values map[string]map[string]float64
}

func (h *histograms) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	h.mu.Lock()
	defer h.mu.Unlock()
	var series []string
	for le, v := range h.values[r.Form.Get("query")] {
		series = append(series, fmt.Sprintf(`{"metric":{"le":%q},"value":[1700000000,"%g"]}`, le, v))
	}
	fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[%s]}}`, strings.Join(series, ","))
}

// The latency test over HTTP: equal distributions pass; a canary whose
// requests over 250 ms are three times as common fails, and the failed
// measurement names the boundary.
func TestLatencyProvider(t *testing.T) {
	h := &histograms{values: map[string]map[string]float64{}}
	srv := httptest.NewServer(h)
	defer srv.Close()
	cfg := fmt.Sprintf(`{"kind":"latency","prometheus":{"address":%q},"canary":{"buckets":"cb"},"stable":{"buckets":"sb"}}`, srv.URL)
	metric := v1alpha1.Metric{Name: "latency", Provider: v1alpha1.MetricProvider{Plugin: map[string]apiextv1.JSON{Key: {Raw: []byte(cfg)}}}}
	fast := map[string]float64{"0.1": 0.6, "0.25": 0.9, "1": 0.99, "+Inf": 1}
	slow := map[string]float64{"0.1": 0.5, "0.25": 0.7, "1": 0.97, "+Inf": 1}
	set := func(q string, n float64, cdf map[string]float64) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.values[q] = map[string]float64{}
		for le, p := range cdf {
			h.values[q][le] = float64(int(n * p))
		}
	}
	run := &v1alpha1.AnalysisRun{}
	var n float64
	for i := 0; i < 20; i++ {
		n += 500
		set("cb", n, fast)
		set("sb", 4*n, fast)
		if m := measure(t, run, &metric); m.Phase != v1alpha1.AnalysisPhaseSuccessful && (i > 0 || m.Phase != v1alpha1.AnalysisPhaseRunning) {
			t.Fatalf("equal latency, look %d: %s %q", i, m.Phase, m.Message)
		}
	}
	base := n
	for i := 0; i < 30; i++ {
		n += 500
		h.mu.Lock()
		h.values["cb"] = map[string]float64{}
		for le, p := range slow {
			h.values["cb"][le] = float64(int(base*fast[le] + (n-base)*p))
		}
		h.mu.Unlock()
		set("sb", 4*n, fast)
		if m := measure(t, run, &metric); m.Phase == v1alpha1.AnalysisPhaseFailed {
			if m.Metadata[boundaryKey] != "0.25" || !strings.Contains(m.Message, "slower than 0.25s") {
				t.Errorf("failed at the wrong boundary: %v %q", m.Metadata[boundaryKey], m.Message)
			}
			t.Logf("a 3x tail over 250 ms failed %d looks after it began: %s", i+1, m.Message)
			return
		}
	}
	t.Fatal("a canary with 3x the stable's share over 250 ms was never judged")
}
