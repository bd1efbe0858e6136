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
