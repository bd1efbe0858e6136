package canary_test

import (
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
	"github.com/vireo-dev/vireo/internal/canary"
	"github.com/vireo-dev/vireo/internal/canary/sim"
	"github.com/vireo-dev/vireo/internal/judge"
)

var update = flag.Bool("update", false, "rewrite the golden files of the canary simulations")

// newWorld is seed 003's namespace: the podinfo Deployment (2 replicas,
// podinfo 3.1.0), the not-found-percentage MetricTemplate, and c.
func newWorld(_ *testing.T, c *v1beta1.Canary) *sim.World {
	target := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test", Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "podinfo"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "podinfo"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "podinfod", Image: "stefanprodan/podinfo:3.1.0"}}},
			},
		},
	}
	w := sim.New(c, target)
	w.Templates = map[string]*v1beta1.MetricTemplate{"test/not-found-percentage": {
		ObjectMeta: metav1.ObjectMeta{Name: "not-found-percentage", Namespace: "test"},
		Spec: v1beta1.MetricTemplateSpec{Provider: v1beta1.MetricTemplateProvider{Type: "prometheus", Address: "http://prometheus:9090"},
			Query: `100 - sum(rate(istio_requests_total{destination_workload_namespace="{{ namespace }}",destination_workload="{{ target }}",response_code!="404"}[{{ interval }}])) / sum(rate(istio_requests_total{destination_workload_namespace="{{ namespace }}",destination_workload="{{ target }}"}[{{ interval }}])) * 100`},
	}}
	return w
}

var (
	t0       = sim.Start
	healthy  = sim.Healthy
	setImage = sim.SetImage
	settle   = sim.Settle
)

// seed003 is the Canary of seed 003: istio, one-minute interval, threshold
// 5, weight 10 to 50, two built-in metrics, a MetricTemplate, a
// pre-rollout acceptance test and a rollout load test.
func seed003() *v1beta1.Canary {
	return &v1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test", UID: "uid-podinfo"},
		Spec: v1beta1.CanarySpec{
			TargetRef:     v1beta1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			AutoscalerRef: &v1beta1.AutoscalerReference{APIVersion: "autoscaling/v2beta2", Kind: "HorizontalPodAutoscaler", Name: "podinfo"},
			Service: v1beta1.CanaryService{Port: 9898, Gateways: []string{"public-gateway.istio-system.svc.cluster.local"},
				Hosts: []string{"app.example.com"}},
			Analysis: &v1beta1.CanaryAnalysis{
				Interval: "1m", Threshold: 5, MaxWeight: 50, StepWeight: 10,
				Metrics: []v1beta1.CanaryMetric{
					{Name: "request-success-rate", ThresholdRange: &v1beta1.ThresholdRange{Min: ptr.To(99.0)}, Interval: "1m"},
					{Name: "request-duration", ThresholdRange: &v1beta1.ThresholdRange{Max: ptr.To(500.0)}, Interval: "30s"},
					{Name: "404s percentage", TemplateRef: &v1beta1.CrossNamespaceReference{Name: "not-found-percentage", Namespace: "test"},
						ThresholdRange: &v1beta1.ThresholdRange{Max: ptr.To(5.0)}, Interval: "1m"},
				},
				Webhooks: []v1beta1.CanaryWebhook{
					{Name: "acceptance-test", Type: v1beta1.HookPreRollout, URL: "http://flagger-loadtester.test/", Timeout: "30s",
						Metadata: map[string]string{"type": "bash", "cmd": "curl -sd 'test' http://podinfo-canary:9898/token | grep token"}},
					{Name: "load-test", URL: "http://flagger-loadtester.test/", Timeout: "5s",
						Metadata: map[string]string{"cmd": "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/"}},
				},
			},
		},
	}
}

// withJudge gives seed 003's Canary a vireo-judge MetricTemplate in place
// of its success rate, and answers it with counters of 100 requests a
// second split by the route's weights: the stable fails 1%, the canary
// canaryErrors.
func withJudge(w *sim.World, canaryErrors float64) *sim.World {
	w.Templates["test/judge"] = &v1beta1.MetricTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "judge", Namespace: "test"},
		Spec: v1beta1.MetricTemplateSpec{Provider: v1beta1.MetricTemplateProvider{Type: canary.JudgeProvider, Address: "http://prometheus:9090"},
			Query: "canary:\n  requests: sum(istio_requests_total{destination_workload=\"{{ target }}\"})\n  errors: sum(istio_requests_total{destination_workload=\"{{ target }}\",response_code=~\"5..\"})\n" +
				"stable:\n  requests: sum(istio_requests_total{destination_workload=\"{{ target }}-primary\"})\n  errors: sum(istio_requests_total{destination_workload=\"{{ target }}-primary\",response_code=~\"5..\"})\n"}}
	w.Canary.Spec.Analysis.Metrics[0] = v1beta1.CanaryMetric{Name: "judge", TemplateRef: &v1beta1.CrossNamespaceReference{Name: "judge"}, Interval: "1m"}
	var reading judge.Reading
	last := w.Now
	w.Answer = func(w *sim.World, c canary.Check) canary.Result {
		if c.Kind != canary.MetricCheck || c.Metric.Name != "judge" {
			return healthy(w, c)
		}
		n := 100 * w.Now.Sub(last).Seconds()
		last = w.Now
		share := float64(w.Routes.Canary) / float64(canary.TotalWeight)
		reading.Canary.Requests += math.Round(n * share)
		reading.Canary.Errors += math.Round(n * share * canaryErrors)
		reading.Stable.Requests += math.Round(n * (1 - share))
		reading.Stable.Errors += math.Round(n * (1 - share) * 0.01)
		r := reading
		return canary.Result{OK: true, Judge: &r}
	}
	return w
}

func withHPA(w *sim.World) *sim.World {
	w.HPA = &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			MinReplicas:    ptr.To[int32](2), MaxReplicas: 4,
		},
	}
	return w
}

// withScaledObject makes the seed's autoscaler a KEDA ScaledObject with a
// Prometheus trigger that names the target.
func withScaledObject(w *sim.World) *sim.World {
	w.Canary.Spec.AutoscalerRef = &v1beta1.AutoscalerReference{APIVersion: "keda.sh/v1alpha1", Kind: "ScaledObject", Name: "podinfo-so"}
	w.ScaledObject = &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
		"metadata": map[string]any{"name": "podinfo-so", "namespace": "test"},
		"spec": map[string]any{
			"scaleTargetRef":  map[string]any{"name": "podinfo"},
			"minReplicaCount": int64(2), "maxReplicaCount": int64(6),
			"triggers": []any{map[string]any{"type": "prometheus", "metadata": map[string]any{
				"serverAddress": "http://prometheus.istio-system:9090", "threshold": "100",
				"query": `sum(rate(istio_requests_total{destination_workload="podinfo"}[1m]))`}}},
		},
	}}
	return w
}

func TestSimulations(t *testing.T) {
	m := func(d time.Duration) time.Duration { return d }
	cases := []struct {
		name  string
		setup func(t *testing.T) *sim.World
		until time.Duration
		at    map[time.Duration]func(*sim.World)
	}{
		{
			name:  "seed003-promotion",
			setup: func(t *testing.T) *sim.World { return withHPA(newWorld(t, seed003())) },
			until: 15 * time.Minute,
			at:    map[time.Duration]func(*sim.World){m(2 * time.Minute): setImage("stefanprodan/podinfo:3.1.1")},
		},
		{
			// KEDA: the primary gets its own ScaledObject, whose query names
			// the primary; the target's is paused while the target is at
			// zero and resumed for the analysis.
			name:  "keda-scaledobject-promotion",
			setup: func(t *testing.T) *sim.World { return withScaledObject(newWorld(t, seed003())) },
			until: 15 * time.Minute,
			at:    map[time.Duration]func(*sim.World){m(2 * time.Minute): setImage("stefanprodan/podinfo:3.1.1")},
		},
		{
			name: "hpa-minimum-held-through-the-promotion",
			setup: func(t *testing.T) *sim.World {
				w := withHPA(newWorld(t, seed003()))
				return w
			},
			until: 12 * time.Minute,
			at: map[time.Duration]func(*sim.World){
				m(2 * time.Minute): setImage("stefanprodan/podinfo:3.1.1"),
				// Under load, the target's HPA scaled the canary to 4.
				m(4*time.Minute + 30*time.Second): func(w *sim.World) {
					w.Logf("   the canary's HPA scales podinfo to 4")
					w.Target.Spec.Replicas = ptr.To[int32](4)
					settle(w.Target, false)
				},
			},
		},
		{
			name: "seed003-failing-metrics-roll-back",
			setup: func(t *testing.T) *sim.World {
				w := withHPA(newWorld(t, seed003()))
				w.Answer = func(w *sim.World, c canary.Check) canary.Result {
					if c.Kind == canary.MetricCheck && c.Metric.Name == "request-success-rate" && w.Routes.Canary >= 20 {
						return canary.Result{OK: true, Value: 91.5}
					}
					return healthy(w, c)
				}
				return w
			},
			until: 15 * time.Minute,
			at:    map[time.Duration]func(*sim.World){m(2 * time.Minute): setImage("stefanprodan/podinfo:3.1.1")},
		},
		{
			// The judge against the primary: a canary failing 3% of its
			// requests against the primary's 1% is rolled back; one at 1%
			// is promoted.
			name:  "judge-template-rolls-back-a-regression",
			setup: func(t *testing.T) *sim.World { return withJudge(newWorld(t, seed003()), 0.03) },
			until: 15 * time.Minute,
			at:    map[time.Duration]func(*sim.World){m(2 * time.Minute): setImage("stefanprodan/podinfo:3.1.1")},
		},
		{
			name:  "judge-template-promotes-an-equal-canary",
			setup: func(t *testing.T) *sim.World { return withJudge(newWorld(t, seed003()), 0.01) },
			until: 15 * time.Minute,
			at:    map[time.Duration]func(*sim.World){m(2 * time.Minute): setImage("stefanprodan/podinfo:3.1.1")},
		},
		{
			name:  "new-revision-mid-analysis",
			setup: func(t *testing.T) *sim.World { return withHPA(newWorld(t, seed003())) },
			until: 16 * time.Minute,
			at: map[time.Duration]func(*sim.World){
				m(2 * time.Minute):                setImage("stefanprodan/podinfo:3.1.1"),
				m(5*time.Minute + 30*time.Second): setImage("stefanprodan/podinfo:3.1.2"),
			},
		},
		{
			name: "pre-rollout-fails-counts-checks",
			setup: func(t *testing.T) *sim.World {
				w := newWorld(t, seed003())
				w.Answer = func(w *sim.World, c canary.Check) canary.Result {
					if c.Kind == canary.HookCheck && c.Hook.Type == v1beta1.HookPreRollout {
						return canary.Result{Err: "exit status 1"}
					}
					return healthy(w, c)
				}
				return w
			},
			until: 10 * time.Minute,
			at:    map[time.Duration]func(*sim.World){m(time.Minute): setImage("stefanprodan/podinfo:3.1.1")},
		},
		{
			name: "no-metric-values-halt",
			setup: func(t *testing.T) *sim.World {
				w := newWorld(t, seed003())
				w.Answer = func(w *sim.World, c canary.Check) canary.Result {
					if c.Kind == canary.MetricCheck && c.Metric.Name == "request-success-rate" {
						return canary.Result{NoValues: true, Err: "no values found"}
					}
					return healthy(w, c)
				}
				return w
			},
			until: 10 * time.Minute,
			at:    map[time.Duration]func(*sim.World){m(time.Minute): setImage("stefanprodan/podinfo:3.1.1")},
		},
		{
			name: "blue-green-kubernetes-confirm-promotion",
			setup: func(t *testing.T) *sim.World {
				c := seed003()
				c.Spec.Provider = "kubernetes"
				c.Spec.AutoscalerRef = nil
				c.Spec.Analysis.StepWeight, c.Spec.Analysis.MaxWeight, c.Spec.Analysis.Iterations = 0, 0, 3
				c.Spec.Analysis.Webhooks = append(c.Spec.Analysis.Webhooks, v1beta1.CanaryWebhook{
					Name: "gate", Type: v1beta1.HookConfirmPromotion, URL: "http://flagger-loadtester.test/gate/check"})
				w := newWorld(t, c)
				opens := t0.Add(8 * time.Minute)
				w.Answer = func(w *sim.World, ch canary.Check) canary.Result {
					if ch.Kind == canary.HookCheck && ch.Hook.Type == v1beta1.HookConfirmPromotion && w.Now.Before(opens) {
						return canary.Result{Err: "Forbidden"}
					}
					return healthy(w, ch)
				}
				return w
			},
			until: 14 * time.Minute,
			at:    map[time.Duration]func(*sim.World){m(time.Minute): setImage("stefanprodan/podinfo:3.1.1")},
		},
		{
			name: "ab-testing-istio",
			setup: func(t *testing.T) *sim.World {
				c := seed003()
				c.Spec.Analysis.StepWeight, c.Spec.Analysis.MaxWeight, c.Spec.Analysis.Iterations = 0, 0, 2
				c.Spec.Analysis.Match = []v1beta1.AnalysisMatch{{Headers: map[string]v1beta1.StringMatch{"x-canary": {Exact: "insider"}}}}
				return newWorld(t, c)
			},
			until: 10 * time.Minute,
			at:    map[time.Duration]func(*sim.World){m(time.Minute): setImage("stefanprodan/podinfo:3.1.1")},
		},
		{
			name: "confirm-rollout-waits",
			setup: func(t *testing.T) *sim.World {
				c := seed003()
				c.Spec.Analysis.MaxWeight = 20
				c.Spec.Analysis.Webhooks = append(c.Spec.Analysis.Webhooks, v1beta1.CanaryWebhook{
					Name: "approve", Type: v1beta1.HookConfirmRollout, URL: "http://flagger-loadtester.test/gate/check"})
				w := newWorld(t, c)
				opens := t0.Add(4 * time.Minute)
				w.Answer = func(w *sim.World, ch canary.Check) canary.Result {
					if ch.Kind == canary.HookCheck && ch.Hook.Type == v1beta1.HookConfirmRollout && w.Now.Before(opens) {
						return canary.Result{Err: "Forbidden"}
					}
					return healthy(w, ch)
				}
				return w
			},
			until: 12 * time.Minute,
			at:    map[time.Duration]func(*sim.World){m(time.Minute): setImage("stefanprodan/podinfo:3.1.1")},
		},
		{
			name: "mirror-first-then-weights",
			setup: func(t *testing.T) *sim.World {
				c := seed003()
				c.Spec.Analysis.Mirror, c.Spec.Analysis.MirrorWeight, c.Spec.Analysis.MaxWeight = true, 50, 20
				return newWorld(t, c)
			},
			until: 9 * time.Minute,
			at:    map[time.Duration]func(*sim.World){m(time.Minute): setImage("stefanprodan/podinfo:3.1.1")},
		},
		{
			name: "blue-green-mirrored-istio",
			setup: func(t *testing.T) *sim.World {
				c := seed003()
				c.Spec.Analysis.StepWeight, c.Spec.Analysis.MaxWeight, c.Spec.Analysis.Iterations = 0, 0, 2
				c.Spec.Analysis.Mirror = true
				return newWorld(t, c)
			},
			until: 9 * time.Minute,
			at:    map[time.Duration]func(*sim.World){m(time.Minute): setImage("stefanprodan/podinfo:3.1.1")},
		},
		{
			name: "step-weights-and-promotion-steps",
			setup: func(t *testing.T) *sim.World {
				c := seed003()
				c.Spec.Analysis.StepWeight, c.Spec.Analysis.MaxWeight = 0, 0
				c.Spec.Analysis.StepWeights = []int{5, 25, 60}
				c.Spec.Analysis.StepWeightPromotion = 30
				return newWorld(t, c)
			},
			until: 12 * time.Minute,
			at:    map[time.Duration]func(*sim.World){m(time.Minute): setImage("stefanprodan/podinfo:3.1.1")},
		},
		{
			name: "skip-analysis",
			setup: func(t *testing.T) *sim.World {
				c := seed003()
				c.Spec.SkipAnalysis = true
				return newWorld(t, c)
			},
			until: 5 * time.Minute,
			at:    map[time.Duration]func(*sim.World){m(time.Minute): setImage("stefanprodan/podinfo:3.1.1")},
		},
		{
			name: "canary-never-ready-progress-deadline",
			setup: func(t *testing.T) *sim.World {
				c := seed003()
				c.Spec.ProgressDeadlineSeconds = ptr.To[int32](180)
				return newWorld(t, c)
			},
			until: 10 * time.Minute,
			at: map[time.Duration]func(*sim.World){m(time.Minute): func(w *sim.World) {
				w.TargetStuck = true
				setImage("stefanprodan/podinfo:broken")(w)
				w.Target.Status.Conditions = []appsv1.DeploymentCondition{
					{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "ReplicaSetUpdated"},
					{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionFalse, Reason: "MinimumReplicasUnavailable",
						LastUpdateTime: metav1.NewTime(w.Now)},
				}
			}},
		},
		{
			name:  "abort-by-a-person",
			setup: func(t *testing.T) *sim.World { return newWorld(t, seed003()) },
			until: 8 * time.Minute,
			at: map[time.Duration]func(*sim.World){
				m(time.Minute): setImage("stefanprodan/podinfo:3.1.1"),
				m(3*time.Minute + 20*time.Second): func(w *sim.World) {
					w.Logf("   kubectl vireo canary abort podinfo")
					w.Canary.Status.Abort = true
				},
			},
		},
		{
			name:  "promote-by-a-person",
			setup: func(t *testing.T) *sim.World { return newWorld(t, seed003()) },
			until: 8 * time.Minute,
			at: map[time.Duration]func(*sim.World){
				m(time.Minute): setImage("stefanprodan/podinfo:3.1.1"),
				m(3*time.Minute + 20*time.Second): func(w *sim.World) {
					w.Logf("   kubectl vireo canary promote podinfo")
					w.Canary.Status.PromoteFull = true
				},
			},
		},
		{
			name: "revert-on-deletion",
			setup: func(t *testing.T) *sim.World {
				c := seed003()
				c.Spec.RevertOnDeletion = true
				return newWorld(t, c)
			},
			until: 5 * time.Minute,
			at: map[time.Duration]func(*sim.World){m(time.Minute): func(w *sim.World) {
				w.Logf("   kubectl delete canary podinfo")
				w.Canary.DeletionTimestamp = &metav1.Time{Time: w.Now}
			}},
		},
		{
			// Session affinity: the canary's answers set its cookie while it
			// holds weight, and a sticky route sends that cookie to it; at
			// promotion the cookie becomes the previous one, which the
			// sticky route tells browsers to drop. A second release draws
			// a new cookie, and its rollback expires it.
			name: "session-affinity-istio",
			setup: func(t *testing.T) *sim.World {
				c := seed003()
				c.UID = "4b0c6c0e-0b5f-4f43-9a44-3d1c2f6d9a10"
				c.Spec.Analysis.SessionAffinity = &v1beta1.SessionAffinity{CookieName: "flagger-cookie", PrimaryCookieName: "primary-cookie", MaxAge: 7200, Path: "/", HTTPOnly: true, SameSite: "Lax"}
				w := newWorld(t, c)
				w.Answer = func(w *sim.World, c canary.Check) canary.Result {
					if c.Kind == canary.MetricCheck && c.Metric.Name == "request-success-rate" && w.Target.Spec.Template.Spec.Containers[0].Image == "stefanprodan/podinfo:3.1.2" && w.Routes.Canary >= 20 {
						return canary.Result{OK: true, Value: 91.5}
					}
					return healthy(w, c)
				}
				return w
			},
			until: 30 * time.Minute,
			at: map[time.Duration]func(*sim.World){
				m(2 * time.Minute):  setImage("stefanprodan/podinfo:3.1.1"),
				m(15 * time.Minute): setImage("stefanprodan/podinfo:3.1.2"),
			},
		},
		{
			name: "invalid-spec",
			setup: func(t *testing.T) *sim.World {
				c := seed003()
				c.Spec.Analysis.MaxWeight = 150
				c.Spec.Analysis.Interval = "soon"
				c.Spec.Analysis.Webhooks[0].URL = ""
				c.Spec.Provider = "appmesh"
				return newWorld(t, c)
			},
			until: 3 * time.Minute,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.setup(t)
			if err := w.Run(tc.until, tc.at); err != nil {
				t.Fatal(err)
			}
			for _, b := range w.Broken {
				t.Errorf("invariant broken: %s", b)
			}
			checkGolden(t, tc.name, strings.Join(w.Log, "\n")+"\n")
		})
	}
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file; got:\n%s", name, got)
	}
}
