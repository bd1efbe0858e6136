package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/apischeme"
	"github.com/vireo-dev/vireo/internal/reasons"
)

// rollout_info's phase is Argo's reading of the Progressing condition.
func TestPhase(t *testing.T) {
	for reason, want := range map[string]string{
		reasons.NewReplicaSetAvailable:   "Completed",
		reasons.ReplicaSetUpdated:        "Progressing",
		reasons.RolloutPaused:            "Paused",
		reasons.ProgressDeadlineExceeded: "Timeout",
		reasons.RolloutAborted:           "Abort",
		reasons.ReplicaSetCreateError:    "Error",
	} {
		ro := &v1alpha1.Rollout{Status: v1alpha1.RolloutStatus{Conditions: []v1alpha1.Condition{{Type: v1alpha1.RolloutProgressing, Reason: reason}}}}
		if got := Phase(ro); got != want {
			t.Errorf("Progressing %s: phase %s, want %s", reason, got, want)
		}
		ro.Status.Conditions = append(ro.Status.Conditions, v1alpha1.Condition{Type: v1alpha1.RolloutInvalidSpec, Status: metav1.ConditionTrue})
		if got := Phase(ro); got != "InvalidSpec" {
			t.Errorf("with InvalidSpec: %s", got)
		}
	}
}

// AnalysisRun and Experiment series, from objects in the cache.
func TestRunAndExperimentSeries(t *testing.T) {
	scheme, err := apischeme.New()
	if err != nil {
		t.Fatal(err)
	}
	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "run"},
		Spec: v1alpha1.AnalysisRunSpec{
			Metrics: []v1alpha1.Metric{{Name: "rate", Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{}}},
				{Name: "smoke", Provider: v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{}}}},
			DryRun: []v1alpha1.DryRun{{MetricName: "smoke"}}},
		Status: v1alpha1.AnalysisRunStatus{Phase: v1alpha1.AnalysisPhaseRunning,
			MetricResults: []v1alpha1.MetricResult{{Name: "rate", Phase: v1alpha1.AnalysisPhaseSuccessful}}}}
	ex := &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "ex"}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(&state{reader: fake.NewClientBuilder().WithScheme(scheme).WithObjects(run, ex).Build()})
	want := `
# HELP analysis_run_info Information about an analysis run: its phase.
# TYPE analysis_run_info gauge
analysis_run_info{name="run",namespace="shop",phase="Running"} 1
# HELP analysis_run_metric_type The provider type of each metric of an analysis run.
# TYPE analysis_run_metric_type gauge
analysis_run_metric_type{metric="rate",name="run",namespace="shop",type="Prometheus"} 1
analysis_run_metric_type{metric="smoke",name="run",namespace="shop",type="Job"} 1
# HELP experiment_info Information about an experiment: its phase.
# TYPE experiment_info gauge
experiment_info{name="ex",namespace="shop",phase=""} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "analysis_run_info", "analysis_run_metric_type", "experiment_info"); err != nil {
		t.Error(err)
	}
	n, err := testutil.GatherAndCount(reg, "analysis_run_metric_phase")
	if err != nil || n != 12 {
		t.Errorf("analysis_run_metric_phase: %d series (%v), want 6 phases x 2 metrics", n, err)
	}
	got, _ := reg.Gather()
	for _, f := range got {
		if f.GetName() != "analysis_run_metric_phase" {
			continue
		}
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			on := m.GetGauge().GetValue() == 1
			switch {
			case l["metric"] == "rate" && (on != (l["phase"] == "Successful") || l["dry_run"] != "false"):
				t.Errorf("rate: %v = %v", l, on)
			case l["metric"] == "smoke" && (on != (l["phase"] == "Pending") || l["dry_run"] != "true"):
				t.Errorf("smoke: %v = %v", l, on)
			}
		}
	}
}

// Requests are labelled as Argo labels them.
func TestDescribeRequests(t *testing.T) {
	for _, tc := range []struct {
		method, url, want string
	}{
		{"GET", "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts", "rollouts shop N/A List"},
		{"GET", "/apis/argoproj.io/v1alpha1/rollouts?watch=true", "rollouts   Watch"},
		{"GET", "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/demo", "rollouts shop demo Get"},
		{"PATCH", "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/demo", "rollouts shop demo Patch"},
		{"PATCH", "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/demo/status", "rollouts shop demo Patch"},
		{"POST", "/api/v1/namespaces/shop/pods/p/eviction", "pods shop p Create"},
		{"PATCH", "/apis/apps/v1/namespaces/shop/replicasets/demo-abc", "replicasets shop N/A Patch"},
		{"PUT", "/apis/coordination.k8s.io/v1/namespaces/sys/leases/vireo", "leases sys vireo Update"},
		{"DELETE", "/api/v1/namespaces/shop/services/x", "services shop x Delete"},
		{"GET", "/api/v1/namespaces/shop/secrets/s", "secrets shop s Get"},
		{"OPTIONS", "/api/v1", "Unknown Unknown Unknown Unknown"},
	} {
		r := httptest.NewRequest(tc.method, tc.url, nil)
		kind, ns, name, verb := describe(r)
		if got := kind + " " + ns + " " + name + " " + verb; got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.method, tc.url, got, tc.want)
		}
	}
	r := httptest.NewRequest("POST", "/api/v1/namespaces/shop/events", strings.NewReader(`{"metadata":{"name":"e1"}}`))
	r.GetBody = func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(`{"metadata":{"name":"e1"}}`)), nil
	}
	if kind, ns, name, verb := describe(r); kind != "events" || ns != "shop" || name != "N/A" || verb != "Create" {
		t.Errorf("an Event created: %s %s %s %s", kind, ns, name, verb)
	}
	r = httptest.NewRequest("POST", "/apis/argoproj.io/v1alpha1/namespaces/shop/analysisruns", nil)
	r.GetBody = func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(`{"metadata":{"name":"run-1"}}`)), nil
	}
	if _, _, name, _ := describe(r); name != "run-1" {
		t.Errorf("a run created: name %q", name)
	}
}
