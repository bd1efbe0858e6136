package analysisrun_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/controller"
	"github.com/vireo-dev/vireo/internal/testenv"
)

// syncBuffer collects the controller's log lines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logs collects the controller's log lines for the whole test binary:
// controller-runtime takes a logger once (and a null one if none came within
// 30 s of the first log line), so it is set before any test runs.
var logs = &syncBuffer{}

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(logs), zap.Level(zapcore.Level(-5))))
	os.Exit(m.Run())
}

const (
	token = "tok-9f8e7d6c5b4a"
	ddKey = "dd-0a1b2c3d4e5f"
)

// TestAnalysisRunsAgainstRealAPIServer runs AnalysisRuns with a web metric
// against a real kube-apiserver and a real HTTP server, and looks for the
// Secret's value everywhere it must not be.
func TestAnalysisRunsAgainstRealAPIServer(t *testing.T) {
	env := testenv.Start(t)
	c := env.Client

	// The service checks the token; on /echo it answers 500 with the request's
	// headers in its body, as a careless service might.
	var hits sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		n, _ := hits.LoadOrStore(r.URL.Path, new(int))
		*(n.(*int))++
		switch r.URL.Path {
		case "/echo":
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, "upstream failed; request headers: %v", r.Header)
		case "/bad":
			fmt.Fprint(w, `{"rate": 0.42}`)
		default:
			fmt.Fprint(w, `{"rate": 0.97}`)
		}
	}))
	defer srv.Close()

	ns := "analysis"
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "token-secret"},
		StringData: map[string]string{"apiToken": token}}); err != nil {
		t.Fatal(err)
	}
	// Datadog's scalar API, which wants the keys kept beside the controller.
	datadog := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/query/scalar" || r.Header.Get("DD-API-KEY") != ddKey {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		fmt.Fprint(w, `{"data":{"type":"scalar_response","attributes":{"columns":[{"name":"query","type":"number","values":[0.004]}]}}}`)
	}))
	defer datadog.Close()
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "vireo-system"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "vireo-system", Name: "datadog"},
		StringData: map[string]string{"address": datadog.URL, "api-key": ddKey, "app-key": "app-1"}}); err != nil {
		t.Fatal(err)
	}
	mgr, err := controller.NewManager(env.Config, controller.Options{MetricsBindAddress: "0", HealthProbeBindAddress: "0", SeveralPerProcess: true,
		CredentialsNamespace: "vireo-system"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	}()

	run := func(name, path string, metric func(*v1alpha1.Metric)) *v1alpha1.AnalysisRun {
		m := v1alpha1.Metric{
			Name: "rate", SuccessCondition: "result > 0.9",
			Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{
				URL:      "{{args.base}}" + path,
				Headers:  []v1alpha1.WebMetricHeader{{Key: "Authorization", Value: "Bearer {{ args.api-token }}"}},
				JSONPath: "{$.rate}",
			}},
		}
		if metric != nil {
			metric(&m)
		}
		ar := &v1alpha1.AnalysisRun{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: v1alpha1.AnalysisRunSpec{
				Metrics: []v1alpha1.Metric{m},
				Args: []v1alpha1.Argument{
					{Name: "base", Value: ptr.To(srv.URL)},
					{Name: "api-token", ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "token-secret", Key: "apiToken"}}},
				},
			},
		}
		if err := c.Create(context.Background(), ar); err != nil {
			t.Fatal(err)
		}
		return ar
	}
	wait := func(ar *v1alpha1.AnalysisRun) *v1alpha1.AnalysisRun {
		t.Helper()
		got := &v1alpha1.AnalysisRun{}
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(ar), got); err != nil {
				t.Fatal(err)
			}
			if p := got.Status.Phase; p == v1alpha1.AnalysisPhaseSuccessful || p == v1alpha1.AnalysisPhaseFailed ||
				p == v1alpha1.AnalysisPhaseError || p == v1alpha1.AnalysisPhaseInconclusive {
				return got
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("run %s did not finish: %+v", ar.Name, got.Status)
		return nil
	}

	good := wait(run("good", "/rate", func(m *v1alpha1.Metric) {
		m.Interval, m.Count = "1s", ptr.To(intstr.FromInt32(3))
	}))
	if good.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || good.Status.RunSummary.Successful != 1 ||
		good.Status.MetricResults[0].Count != 3 || good.Status.MetricResults[0].Measurements[0].Value != "0.97" {
		t.Errorf("good run: %+v", good.Status)
	}

	bad := wait(run("bad", "/bad", func(m *v1alpha1.Metric) {
		m.Interval, m.FailureLimit = "1s", ptr.To(intstr.FromInt32(1))
	}))
	if bad.Status.Phase != v1alpha1.AnalysisPhaseFailed || bad.Status.MetricResults[0].Failed != 2 ||
		!strings.Contains(bad.Status.Message, "more than failureLimit 1") {
		t.Errorf("bad run: %+v", bad.Status)
	}

	echo := wait(run("echo", "/echo", func(m *v1alpha1.Metric) {
		m.Interval, m.ConsecutiveErrorLimit = "1s", ptr.To(intstr.FromInt32(1))
	}))
	if echo.Status.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(echo.Status.MetricResults[0].Measurements[0].Message, "answered 500") {
		t.Errorf("echo run: %+v", echo.Status)
	}

	badArgs := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "no-key"},
		Spec: v1alpha1.AnalysisRunSpec{Metrics: good.Spec.Metrics, Args: []v1alpha1.Argument{
			{Name: "base", Value: ptr.To(srv.URL)},
			{Name: "api-token", ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "token-secret", Key: "nope"}}},
		}}}
	if err := c.Create(context.Background(), badArgs); err != nil {
		t.Fatal(err)
	}
	got := wait(badArgs)
	if got.Status.Phase != v1alpha1.AnalysisPhaseError || got.Status.Message != "args.api-token: secretKeyRef token-secret/nope: Secret token-secret has no key nope" {
		t.Errorf("a missing key: %s %q", got.Status.Phase, got.Status.Message)
	}

	dd := wait(run("datadog", "", func(m *v1alpha1.Metric) {
		m.SuccessCondition = "result <= 0.01"
		m.Provider = v1alpha1.MetricProvider{Datadog: &v1alpha1.DatadogMetric{ApiVersion: "v2", Query: "sum:requests.error.rate{service:shop}"}}
	}))
	if dd.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || dd.Status.MetricResults[0].Measurements[0].Value != "0.004" {
		t.Errorf("datadog run: %+v", dd.Status)
	}

	// The token reached the service (every run was measured) and nowhere else.
	if _, ok := hits.Load("/echo"); !ok {
		t.Fatal("the echo service was never called")
	}
	var runs v1alpha1.AnalysisRunList
	if err := c.List(context.Background(), &runs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	status, _ := json.Marshal(runs)
	var events corev1.EventList
	if err := c.List(context.Background(), &events, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	eventText, _ := json.Marshal(events)
	if len(events.Items) == 0 {
		t.Error("no events recorded for the runs")
	}
	for where, text := range map[string]string{"status": string(status), "events": string(eventText), "logs": logs.String()} {
		for _, secret := range []string{token, ddKey} {
			if i := strings.Index(text, secret); i >= 0 {
				t.Errorf("a secret is in the %s: ...%s...", where, text[max(0, i-200):min(len(text), i+50)])
			}
		}
	}
	if !strings.Contains(logs.String(), `"analysisrun"`) {
		t.Error("the controller logged nothing about the runs; the log check proves nothing")
	}
	if !strings.Contains(string(status), "*****") {
		t.Error("the echoed header should appear redacted in the measurement message")
	}
}
