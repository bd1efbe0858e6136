package kayenta

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// fakeKayenta serves Kayenta's canaryConfig list, starts executions and
// reports them: an execution completes after `polls` looks with score.
type fakeKayenta struct {
	mu      sync.Mutex
	score   float64
	polls   int
	looks   map[string]int
	request map[string]any
	query   map[string]string
}

func (f *fakeKayenta) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/canaryConfig":
		if r.URL.Query().Get("application") != "guestbook" {
			fmt.Fprint(w, `[]`)
			return
		}
		fmt.Fprint(w, `[{"id":"cfg-1","name":"other","applications":["guestbook"]},{"id":"cfg-7","name":"my-config","applications":["guestbook"]}]`)
	case r.Method == http.MethodPost && r.URL.Path == "/canary/cfg-7":
		f.query = map[string]string{}
		for k := range r.URL.Query() {
			f.query[k] = r.URL.Query().Get(k)
		}
		f.request = map[string]any{}
		if err := json.NewDecoder(r.Body).Decode(&f.request); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, `{"canaryExecutionId":"exec-01"}`)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/canary/exec-"):
		id := strings.TrimPrefix(r.URL.Path, "/canary/")
		f.looks[id]++
		if f.looks[id] < f.polls {
			fmt.Fprint(w, `{"complete":false,"status":"running"}`)
			return
		}
		fmt.Fprintf(w, `{"complete":true,"status":"succeeded","result":{"judgeResult":{"judgeName":"NetflixACAJudge-v1.0","score":{"score":%v,"classification":"Pass"}}}}`, f.score)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":"Not Found","message":"No canary execution"}`)
	}
}

func metric(address string) *v1alpha1.Metric {
	return &v1alpha1.Metric{Name: "kayenta", Provider: v1alpha1.MetricProvider{Kayenta: &v1alpha1.KayentaMetric{
		Address: address, Application: "guestbook", CanaryConfigName: "my-config",
		MetricsAccountName: "wavefront-prod", ConfigurationAccountName: "intuit-kayenta", StorageAccountName: "intuit-kayenta",
		Threshold: v1alpha1.KayentaThreshold{Pass: 90, Marginal: 75},
		Scopes: []v1alpha1.KayentaScope{{Name: "default",
			ControlScope:    v1alpha1.ScopeDetail{Scope: "app=guestbook and rollouts-pod-template-hash=aaa", Step: 60, Start: "2026-11-21T10:00:00Z", End: "2026-11-21T10:10:00Z"},
			ExperimentScope: v1alpha1.ScopeDetail{Scope: "app=guestbook and rollouts-pod-template-hash=bbb", Step: 60, Start: "2026-11-21T10:00:00Z", End: "2026-11-21T10:10:00Z"}}},
	}}}
}

func TestJudgement(t *testing.T) {
	clock := time.Unix(1_700_000_000, 0)
	p := Provider{Now: func() time.Time { return clock }}
	for _, c := range []struct {
		score float64
		phase v1alpha1.AnalysisPhase
	}{{95, v1alpha1.AnalysisPhaseSuccessful}, {90, v1alpha1.AnalysisPhaseSuccessful}, {80, v1alpha1.AnalysisPhaseInconclusive}, {74.5, v1alpha1.AnalysisPhaseFailed}} {
		f := &fakeKayenta{score: c.score, polls: 3, looks: map[string]int{}}
		srv := httptest.NewServer(f)
		met := metric(srv.URL)
		m := p.Run(context.Background(), nil, met)
		if m.Phase != v1alpha1.AnalysisPhaseRunning || m.Metadata[ExecutionIDKey] != "exec-01" || !m.ResumeAt.Time.Equal(clock.Add(DefaultPollEvery)) {
			t.Fatalf("run: %+v", m)
		}
		for i := 0; i < 2; i++ {
			if m = p.Resume(context.Background(), nil, met, m); m.Phase != v1alpha1.AnalysisPhaseRunning {
				t.Fatalf("look %d: %s %q", i, m.Phase, m.Message)
			}
		}
		m = p.Resume(context.Background(), nil, met, m)
		if m.Phase != c.phase || m.Value != fmt.Sprint(c.score) || m.FinishedAt == nil || m.ResumeAt != nil {
			t.Errorf("score %v: %s %q %q", c.score, m.Phase, m.Value, m.Message)
		}
		if f.query["metricsAccountName"] != "wavefront-prod" || f.query["storageAccountName"] != "intuit-kayenta" || f.query["application"] != "guestbook" {
			t.Errorf("execution query %v", f.query)
		}
		scopes, _ := f.request["scopes"].(map[string]any)
		def, _ := scopes["default"].(map[string]any)
		ctl, _ := def["controlScope"].(map[string]any)
		th, _ := f.request["thresholds"].(map[string]any)
		if ctl["scope"] != "app=guestbook and rollouts-pod-template-hash=aaa" || ctl["step"] != float64(60) || th["pass"] != float64(90) || th["marginal"] != float64(75) {
			t.Errorf("execution request %v", f.request)
		}
		srv.Close()
	}
}

func TestErrors(t *testing.T) {
	f := &fakeKayenta{score: 100, polls: 1, looks: map[string]int{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	p := Provider{Now: time.Now}

	met := metric(srv.URL)
	met.Provider.Kayenta.CanaryConfigName = "missing"
	if m := p.Run(context.Background(), nil, met); m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, `no canary config "missing"`) {
		t.Errorf("unknown config: %s %q", m.Phase, m.Message)
	}
	met = metric(srv.URL)
	met.Provider.Kayenta.Scopes = nil
	if m := p.Run(context.Background(), nil, met); m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, "provider.kayenta.scopes") {
		t.Errorf("no scopes: %s %q", m.Phase, m.Message)
	}
	met = metric(srv.URL)
	m := v1alpha1.Measurement{Phase: v1alpha1.AnalysisPhaseRunning, Metadata: map[string]string{ExecutionIDKey: "gone"}}
	if m = p.Resume(context.Background(), nil, met, m); m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, "404") {
		t.Errorf("unknown execution: %s %q", m.Phase, m.Message)
	}
	m = v1alpha1.Measurement{Phase: v1alpha1.AnalysisPhaseRunning, Metadata: map[string]string{ExecutionIDKey: "exec-01"}}
	if m = p.Terminate(context.Background(), nil, met, m); m.Phase != v1alpha1.AnalysisPhaseSuccessful || m.FinishedAt == nil {
		t.Errorf("terminate: %s %q", m.Phase, m.Message)
	}
}
