package canary_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
	"github.com/vireo-dev/vireo/internal/canary"
	"github.com/vireo-dev/vireo/internal/canary/apply"
)

var update = flag.Bool("update", false, "rewrite the golden files of the canary simulations")

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// world is a namespace as the planner sees it: Deployments that become
// ready as soon as they change (unless told otherwise), a router holding
// weights, and webhooks and metrics answering from a script.
type world struct {
	t        *testing.T
	now      time.Time
	canary   *v1beta1.Canary
	target   *appsv1.Deployment
	primary  *appsv1.Deployment
	hpa      *autoscalingv2.HorizontalPodAutoscaler
	primHPA  *autoscalingv2.HorizontalPodAutoscaler
	services map[string]*corev1.Service
	routes   canary.Routes
	configs  map[string]string
	// answer is the script of the checks.
	answer func(w *world, c canary.Check) canary.Result
	// targetStuck keeps the target unready from this time on.
	targetStuck bool
	log         []string
}

func newWorld(t *testing.T, c *v1beta1.Canary) *world {
	w := &world{t: t, now: t0, canary: c, services: map[string]*corev1.Service{},
		routes: canary.Routes{Primary: 100}}
	w.target = &appsv1.Deployment{
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
	settle(w.target, false)
	w.answer = healthy
	return w
}

// healthy answers as a good release does: hooks pass, 100% success, 120 ms,
// no 404s.
func healthy(_ *world, c canary.Check) canary.Result {
	if c.Kind == canary.HookCheck {
		return canary.Result{OK: true}
	}
	if c.Metric.Query == "vector(1)" {
		return canary.Result{OK: true, Value: 1}
	}
	switch c.Metric.Name {
	case "request-success-rate":
		return canary.Result{OK: true, Value: 100}
	case "request-duration":
		return canary.Result{OK: true, Value: 120}
	}
	return canary.Result{OK: true, Value: 0}
}

// settle makes a Deployment's status what its controller reports once done
// (or stuck: new replicas never available).
func settle(d *appsv1.Deployment, stuck bool) {
	n := ptr.Deref(d.Spec.Replicas, 1)
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, AvailableReplicas: n, ReadyReplicas: n,
		Conditions: d.Status.Conditions}
	if stuck && n > 0 {
		d.Status.AvailableReplicas, d.Status.ReadyReplicas = 0, 0
	}
}

func (w *world) logf(format string, args ...any) {
	w.log = append(w.log, fmt.Sprintf("%8s  ", w.now.Sub(t0).Round(time.Second))+fmt.Sprintf(format, args...))
}

func (w *world) observe() canary.Observed {
	o := canary.Observed{
		Canary: w.canary.DeepCopy(), Target: w.target.DeepCopy(), Routes: w.routes, Configs: w.configs,
		Now: w.now, DefaultProvider: "istio", MetricsServer: "http://prometheus:9090",
		Templates: map[string]*v1beta1.MetricTemplate{"test/not-found-percentage": {
			ObjectMeta: metav1.ObjectMeta{Name: "not-found-percentage", Namespace: "test"},
			Spec: v1beta1.MetricTemplateSpec{Provider: v1beta1.MetricTemplateProvider{Type: "prometheus", Address: "http://prometheus:9090"},
				Query: `100 - sum(rate(istio_requests_total{destination_workload_namespace="{{ namespace }}",destination_workload="{{ target }}",response_code!="404"}[{{ interval }}])) / sum(rate(istio_requests_total{destination_workload_namespace="{{ namespace }}",destination_workload="{{ target }}"}[{{ interval }}])) * 100`},
		}},
	}
	if w.primary != nil {
		o.Primary = w.primary.DeepCopy()
	}
	if w.hpa != nil {
		o.TargetHPA = w.hpa.DeepCopy()
	}
	return o
}

// pass plans and applies once, answering the checks the plan asks for.
func (w *world) pass() canary.Plan {
	o := w.observe()
	o.Results = map[string]canary.Result{}
	for range 64 {
		p := canary.Decide(o)
		if len(p.Run) == 0 {
			if _, err := apply.Apply(context.Background(), w, p); err != nil {
				w.t.Fatal(err)
			}
			w.invariants()
			return p
		}
		for _, c := range p.Run {
			r := w.answer(w, c)
			o.Results[c.ID] = r
			w.logf("    %s", describe(c, r))
		}
	}
	w.t.Fatal("the planner kept asking for checks")
	return canary.Plan{}
}

// invariants hold after every pass.
func (w *world) invariants() {
	t, s := w.t, &w.canary.Status
	if w.routes.Primary+w.routes.Canary != canary.TotalWeight {
		t.Fatalf("%v: routes %+v do not sum to 100", w.now, w.routes)
	}
	switch s.Phase {
	case v1beta1.PhaseTerminated:
		if n := ptr.Deref(w.target.Spec.Replicas, 1); n == 0 {
			t.Fatalf("%v: Terminated with the target at 0 replicas", w.now)
		}
	case v1beta1.PhaseInitialized, v1beta1.PhaseSucceeded, v1beta1.PhaseFailed:
		if w.routes.Canary != 0 {
			t.Fatalf("%v: %s with %d%% of the traffic on the canary", w.now, s.Phase, w.routes.Canary)
		}
		if n := ptr.Deref(w.target.Spec.Replicas, 1); n != 0 {
			t.Fatalf("%v: %s with the target at %d replicas", w.now, s.Phase, n)
		}
	case v1beta1.PhaseProgressing:
		if s.CanaryWeight > canary.MaxWeight(w.canary) {
			t.Fatalf("%v: weight %d above maxWeight", w.now, s.CanaryWeight)
		}
	}
	if s.Phase != "" && s.Phase != v1beta1.PhaseInitializing && w.primary == nil {
		t.Fatalf("%v: %s without a primary", w.now, s.Phase)
	}
}

func describe(c canary.Check, r canary.Result) string {
	verdict := "ok"
	if !r.OK {
		verdict = "fail " + r.Err
	}
	if c.Kind == canary.HookCheck {
		t := c.Hook.Type
		if t == "" {
			t = v1beta1.HookRollout
		}
		return fmt.Sprintf("webhook %s %s (%s): %s", t, c.Hook.Name, c.Phase, verdict)
	}
	if r.OK {
		verdict = fmt.Sprintf("%g", r.Value)
	}
	return fmt.Sprintf("metric %s: %s", c.Metric.Name, verdict)
}

// The Target side.

func (w *world) CopyConfigs(_ context.Context, names []string) error {
	w.logf("copy configs %v", names)
	return nil
}

func (w *world) WritePrimary(_ context.Context, d *appsv1.Deployment) error {
	if w.primary == nil {
		w.logf("create deployment %s (%d replicas, image %s)", d.Name, *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Image)
		d = d.DeepCopy()
		d.Generation = 1
	} else {
		w.logf("update deployment %s (%d replicas, image %s)", d.Name, *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Image)
		g := w.primary.Generation + 1
		d = d.DeepCopy()
		d.Generation = g
	}
	settle(d, false)
	w.primary = d
	return nil
}

func (w *world) WritePrimaryHPA(_ context.Context, h *autoscalingv2.HorizontalPodAutoscaler) error {
	if w.primHPA == nil {
		w.logf("create hpa %s -> %s", h.Name, h.Spec.ScaleTargetRef.Name)
	}
	w.primHPA = h
	return nil
}

func (w *world) WriteServices(_ context.Context, svcs []*corev1.Service) error {
	for _, s := range svcs {
		if _, ok := w.services[s.Name]; !ok {
			w.logf("create service %s -> %v", s.Name, s.Spec.Selector)
		}
		w.services[s.Name] = s
	}
	return nil
}

func (w *world) ReconcileRouter(context.Context) error { return nil }

func (w *world) SetFinalizer(_ context.Context, present bool) error {
	w.logf("finalizer %v", present)
	if present {
		w.canary.Finalizers = []string{canary.FinalizerName}
	} else {
		w.canary.Finalizers = nil
		if w.canary.DeletionTimestamp != nil {
			w.logf("canary deleted")
		}
	}
	return nil
}

func (w *world) SetRoutes(_ context.Context, r canary.Routes) error {
	if r != w.routes {
		w.logf("routes primary %d canary %d", r.Primary, r.Canary)
	}
	w.routes = r
	return nil
}

func (w *world) ScaleTarget(_ context.Context, n int32) error {
	if ptr.Deref(w.target.Spec.Replicas, 1) != n {
		w.logf("scale deployment podinfo to %d", n)
		w.target.Spec.Replicas = ptr.To(n)
		w.target.Generation++
	}
	settle(w.target, w.targetStuck)
	return nil
}

func (w *world) WriteStatus(_ context.Context, s *v1beta1.CanaryStatus) (bool, error) {
	old := w.canary.Status
	w.canary.Status = *s.DeepCopy()
	if old.Phase != s.Phase || old.CanaryWeight != s.CanaryWeight || old.FailedChecks != s.FailedChecks || old.Iterations != s.Iterations {
		promoted := ""
		for _, c := range s.Conditions {
			if c.Type == v1beta1.PromotedCondition {
				promoted = c.Status
			}
		}
		w.logf("status %s weight=%d failedChecks=%d iterations=%d promoted=%s", s.Phase, s.CanaryWeight, s.FailedChecks, s.Iterations, promoted)
	}
	if len(s.Checks) > 0 && (len(old.Checks) == 0 || s.Checks[len(s.Checks)-1] != old.Checks[len(old.Checks)-1]) {
		last := s.Checks[len(s.Checks)-1]
		w.logf("status.checks: %d kept, last %s %s=%q passed=%v", len(s.Checks), last.Kind, last.Name, last.Value, last.Passed)
	}
	if s.Abort || s.PromoteFull {
		w.logf("status abort=%v promoteFull=%v", s.Abort, s.PromoteFull)
	}
	return false, nil
}

func (w *world) Event(_ context.Context, e canary.Event) {
	w.logf("event %s %s", e.Type, e.Message)
}

func (w *world) Alert(_ context.Context, alerts []canary.Alert) {
	for _, a := range alerts {
		w.logf("alert %s %s (%d fields)", a.Severity, a.Message, len(a.Fields))
	}
}

func (w *world) After(_ context.Context, checks []canary.Check) {
	for _, c := range checks {
		w.logf("    after: %s", describe(c, w.answer(w, c)))
	}
}

// run drives the world: a pass now, then at each requeue, with the
// changes of script applied (and a pass run at once) when their time comes.
func (w *world) run(until time.Duration, script map[time.Duration]func(*world)) {
	times := make([]time.Duration, 0, len(script))
	for at := range script {
		times = append(times, at)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	p := w.pass()
	for range 500 {
		next := t0.Add(until)
		switch {
		case p.Primary != nil || p.TargetReplicas != nil || p.PrimaryHPA != nil && w.primHPA == nil:
			// A write the controller watches: it looks again at once.
			next = w.now
		case p.RequeueAfter > 0:
			next = w.now.Add(p.RequeueAfter)
		}
		if len(times) > 0 && !t0.Add(times[0]).After(next) {
			w.now = t0.Add(times[0])
			w.logf("-- %s", scriptName(times[0]))
			script[times[0]](w)
			times = times[1:]
		} else if next.Before(t0.Add(until)) {
			w.now = next
		} else {
			return
		}
		p = w.pass()
	}
	w.t.Fatal("the simulation did not settle")
}

func scriptName(time.Duration) string { return "change" }

func setImage(image string) func(*world) {
	return func(w *world) {
		w.logf("   set image %s", image)
		w.target.Spec.Template.Spec.Containers[0].Image = image
		w.target.Generation++
		settle(w.target, w.targetStuck)
	}
}

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

func withHPA(w *world) *world {
	w.hpa = &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			MinReplicas:    ptr.To[int32](2), MaxReplicas: 4,
		},
	}
	return w
}

func TestSimulations(t *testing.T) {
	m := func(d time.Duration) time.Duration { return d }
	cases := []struct {
		name  string
		setup func(t *testing.T) *world
		until time.Duration
		at    map[time.Duration]func(*world)
	}{
		{
			name:  "seed003-promotion",
			setup: func(t *testing.T) *world { return withHPA(newWorld(t, seed003())) },
			until: 15 * time.Minute,
			at:    map[time.Duration]func(*world){m(2 * time.Minute): setImage("stefanprodan/podinfo:3.1.1")},
		},
		{
			name: "seed003-failing-metrics-roll-back",
			setup: func(t *testing.T) *world {
				w := withHPA(newWorld(t, seed003()))
				w.answer = func(w *world, c canary.Check) canary.Result {
					if c.Kind == canary.MetricCheck && c.Metric.Name == "request-success-rate" && w.routes.Canary >= 20 {
						return canary.Result{OK: true, Value: 91.5}
					}
					return healthy(w, c)
				}
				return w
			},
			until: 15 * time.Minute,
			at:    map[time.Duration]func(*world){m(2 * time.Minute): setImage("stefanprodan/podinfo:3.1.1")},
		},
		{
			name:  "new-revision-mid-analysis",
			setup: func(t *testing.T) *world { return withHPA(newWorld(t, seed003())) },
			until: 16 * time.Minute,
			at: map[time.Duration]func(*world){
				m(2 * time.Minute):                setImage("stefanprodan/podinfo:3.1.1"),
				m(5*time.Minute + 30*time.Second): setImage("stefanprodan/podinfo:3.1.2"),
			},
		},
		{
			name: "pre-rollout-fails-counts-checks",
			setup: func(t *testing.T) *world {
				w := newWorld(t, seed003())
				w.answer = func(w *world, c canary.Check) canary.Result {
					if c.Kind == canary.HookCheck && c.Hook.Type == v1beta1.HookPreRollout {
						return canary.Result{Err: "exit status 1"}
					}
					return healthy(w, c)
				}
				return w
			},
			until: 10 * time.Minute,
			at:    map[time.Duration]func(*world){m(time.Minute): setImage("stefanprodan/podinfo:3.1.1")},
		},
		{
			name: "no-metric-values-halt",
			setup: func(t *testing.T) *world {
				w := newWorld(t, seed003())
				w.answer = func(w *world, c canary.Check) canary.Result {
					if c.Kind == canary.MetricCheck && c.Metric.Name == "request-success-rate" {
						return canary.Result{NoValues: true, Err: "no values found"}
					}
					return healthy(w, c)
				}
				return w
			},
			until: 10 * time.Minute,
			at:    map[time.Duration]func(*world){m(time.Minute): setImage("stefanprodan/podinfo:3.1.1")},
		},
		{
			name: "blue-green-kubernetes-confirm-promotion",
			setup: func(t *testing.T) *world {
				c := seed003()
				c.Spec.Provider = "kubernetes"
				c.Spec.AutoscalerRef = nil
				c.Spec.Analysis.StepWeight, c.Spec.Analysis.MaxWeight, c.Spec.Analysis.Iterations = 0, 0, 3
				c.Spec.Analysis.Webhooks = append(c.Spec.Analysis.Webhooks, v1beta1.CanaryWebhook{
					Name: "gate", Type: v1beta1.HookConfirmPromotion, URL: "http://flagger-loadtester.test/gate/check"})
				w := newWorld(t, c)
				opens := t0.Add(8 * time.Minute)
				w.answer = func(w *world, ch canary.Check) canary.Result {
					if ch.Kind == canary.HookCheck && ch.Hook.Type == v1beta1.HookConfirmPromotion && w.now.Before(opens) {
						return canary.Result{Err: "Forbidden"}
					}
					return healthy(w, ch)
				}
				return w
			},
			until: 14 * time.Minute,
			at:    map[time.Duration]func(*world){m(time.Minute): setImage("stefanprodan/podinfo:3.1.1")},
		},
		{
			name: "ab-testing-istio",
			setup: func(t *testing.T) *world {
				c := seed003()
				c.Spec.Analysis.StepWeight, c.Spec.Analysis.MaxWeight, c.Spec.Analysis.Iterations = 0, 0, 2
				c.Spec.Analysis.Match = []v1beta1.AnalysisMatch{{Headers: map[string]v1beta1.StringMatch{"x-canary": {Exact: "insider"}}}}
				return newWorld(t, c)
			},
			until: 10 * time.Minute,
			at:    map[time.Duration]func(*world){m(time.Minute): setImage("stefanprodan/podinfo:3.1.1")},
		},
		{
			name: "confirm-rollout-waits",
			setup: func(t *testing.T) *world {
				c := seed003()
				c.Spec.Analysis.MaxWeight = 20
				c.Spec.Analysis.Webhooks = append(c.Spec.Analysis.Webhooks, v1beta1.CanaryWebhook{
					Name: "approve", Type: v1beta1.HookConfirmRollout, URL: "http://flagger-loadtester.test/gate/check"})
				w := newWorld(t, c)
				opens := t0.Add(4 * time.Minute)
				w.answer = func(w *world, ch canary.Check) canary.Result {
					if ch.Kind == canary.HookCheck && ch.Hook.Type == v1beta1.HookConfirmRollout && w.now.Before(opens) {
						return canary.Result{Err: "Forbidden"}
					}
					return healthy(w, ch)
				}
				return w
			},
			until: 12 * time.Minute,
			at:    map[time.Duration]func(*world){m(time.Minute): setImage("stefanprodan/podinfo:3.1.1")},
		},
		{
			name: "step-weights-and-promotion-steps",
			setup: func(t *testing.T) *world {
				c := seed003()
				c.Spec.Analysis.StepWeight, c.Spec.Analysis.MaxWeight = 0, 0
				c.Spec.Analysis.StepWeights = []int{5, 25, 60}
				c.Spec.Analysis.StepWeightPromotion = 30
				return newWorld(t, c)
			},
			until: 12 * time.Minute,
			at:    map[time.Duration]func(*world){m(time.Minute): setImage("stefanprodan/podinfo:3.1.1")},
		},
		{
			name: "skip-analysis",
			setup: func(t *testing.T) *world {
				c := seed003()
				c.Spec.SkipAnalysis = true
				return newWorld(t, c)
			},
			until: 5 * time.Minute,
			at:    map[time.Duration]func(*world){m(time.Minute): setImage("stefanprodan/podinfo:3.1.1")},
		},
		{
			name: "canary-never-ready-progress-deadline",
			setup: func(t *testing.T) *world {
				c := seed003()
				c.Spec.ProgressDeadlineSeconds = ptr.To[int32](180)
				return newWorld(t, c)
			},
			until: 10 * time.Minute,
			at: map[time.Duration]func(*world){m(time.Minute): func(w *world) {
				w.targetStuck = true
				setImage("stefanprodan/podinfo:broken")(w)
				w.target.Status.Conditions = []appsv1.DeploymentCondition{
					{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "ReplicaSetUpdated"},
					{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionFalse, Reason: "MinimumReplicasUnavailable",
						LastUpdateTime: metav1.NewTime(w.now)},
				}
			}},
		},
		{
			name:  "abort-by-a-person",
			setup: func(t *testing.T) *world { return newWorld(t, seed003()) },
			until: 8 * time.Minute,
			at: map[time.Duration]func(*world){
				m(time.Minute): setImage("stefanprodan/podinfo:3.1.1"),
				m(3*time.Minute + 20*time.Second): func(w *world) {
					w.logf("   kubectl vireo canary abort podinfo")
					w.canary.Status.Abort = true
				},
			},
		},
		{
			name:  "promote-by-a-person",
			setup: func(t *testing.T) *world { return newWorld(t, seed003()) },
			until: 8 * time.Minute,
			at: map[time.Duration]func(*world){
				m(time.Minute): setImage("stefanprodan/podinfo:3.1.1"),
				m(3*time.Minute + 20*time.Second): func(w *world) {
					w.logf("   kubectl vireo canary promote podinfo")
					w.canary.Status.PromoteFull = true
				},
			},
		},
		{
			name: "revert-on-deletion",
			setup: func(t *testing.T) *world {
				c := seed003()
				c.Spec.RevertOnDeletion = true
				return newWorld(t, c)
			},
			until: 5 * time.Minute,
			at: map[time.Duration]func(*world){m(time.Minute): func(w *world) {
				w.logf("   kubectl delete canary podinfo")
				w.canary.DeletionTimestamp = &metav1.Time{Time: w.now}
			}},
		},
		{
			name: "invalid-spec",
			setup: func(t *testing.T) *world {
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
			w.run(tc.until, tc.at)
			checkGolden(t, tc.name, strings.Join(w.log, "\n")+"\n")
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
