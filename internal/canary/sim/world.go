// Package sim plays a Canary on the planner in a simulated namespace, with
// no cluster: Deployments that become ready as soon as they change (unless
// told otherwise), a router holding weights, and webhooks and metrics
// answering from a script. The golden simulations of internal/canary and
// `kubectl vireo simulate` use it; the writes go through the same applier
// (internal/canary/apply) as the controller's.
package sim

import (
	"context"
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
	"github.com/vireo-dev/vireo/internal/canary"
	"github.com/vireo-dev/vireo/internal/canary/apply"
)

// Start is the simulated clock's origin.
var Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// World is one Canary's namespace.
type World struct {
	Now        time.Time
	Canary     *v1beta1.Canary
	Target     *appsv1.Deployment
	Primary    *appsv1.Deployment
	HPA        *autoscalingv2.HorizontalPodAutoscaler
	PrimaryHPA *autoscalingv2.HorizontalPodAutoscaler
	// ScaledObject is the target's KEDA ScaledObject, PrimaryScaledObject
	// the primary's copy.
	ScaledObject, PrimaryScaledObject *unstructured.Unstructured
	Services                          map[string]*corev1.Service
	Routes                            canary.Routes
	// Sticky are the session-affinity routes the router holds.
	Sticky    *canary.Sticky
	Configs   map[string]string
	Templates map[string]*v1beta1.MetricTemplate
	// DefaultProvider is the controller's --flagger-provider (istio).
	DefaultProvider string
	// Answer is the script of the checks (Healthy when nil).
	Answer func(w *World, c canary.Check) canary.Result
	// TargetStuck keeps the target's new replicas unavailable.
	TargetStuck bool
	// Log is what happened, a line per write, event and check.
	Log []string
	// Broken lists the invariants a pass broke.
	Broken []string
}

// New makes a world with the target Deployment, settled.
func New(c *v1beta1.Canary, target *appsv1.Deployment) *World {
	w := &World{Now: Start, Canary: c, Target: target, Services: map[string]*corev1.Service{},
		Routes: canary.Routes{Primary: canary.TotalWeight}, DefaultProvider: "istio", Answer: Healthy}
	if w.Target.Generation == 0 {
		w.Target.Generation = 1
	}
	Settle(w.Target, false)
	return w
}

// Healthy answers as a good release does: hooks pass, providers are up,
// 100% success, 120 ms, 0 for anything else.
func Healthy(_ *World, c canary.Check) canary.Result {
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

// Settle makes a Deployment's status what its controller reports once done
// (or stuck: new replicas never available). Its conditions are kept.
func Settle(d *appsv1.Deployment, stuck bool) {
	n := ptr.Deref(d.Spec.Replicas, 1)
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, AvailableReplicas: n, ReadyReplicas: n,
		Conditions: d.Status.Conditions}
	if stuck && n > 0 {
		d.Status.AvailableReplicas, d.Status.ReadyReplicas = 0, 0
	}
}

// Logf records a line at the world's time.
func (w *World) Logf(format string, args ...any) {
	w.Log = append(w.Log, fmt.Sprintf("%8s  ", w.Now.Sub(Start).Round(time.Second))+fmt.Sprintf(format, args...))
}

func (w *World) observe() canary.Observed {
	o := canary.Observed{
		Canary: w.Canary.DeepCopy(), Target: w.Target.DeepCopy(), Routes: w.Routes, Configs: w.Configs,
		Now: w.Now, DefaultProvider: w.DefaultProvider, MetricsServer: "http://prometheus:9090", Templates: w.Templates,
	}
	if w.Primary != nil {
		o.Primary = w.Primary.DeepCopy()
	}
	if w.ScaledObject != nil {
		o.TargetScaledObject = w.ScaledObject.DeepCopy()
	}
	if w.HPA != nil {
		o.TargetHPA = w.HPA.DeepCopy()
	}
	return o
}

// Pass plans and applies once, answering the checks the plan asks for.
func (w *World) Pass() (canary.Plan, error) {
	o := w.observe()
	o.Results = map[string]canary.Result{}
	for range 64 {
		p := canary.Decide(o)
		if len(p.Run) == 0 {
			if _, err := apply.Apply(context.Background(), w, p); err != nil {
				return p, err
			}
			w.invariants()
			return p, nil
		}
		for _, c := range p.Run {
			r := w.Answer(w, c)
			o.Results[c.ID] = r
			w.Logf("    %s", Describe(c, r))
		}
	}
	return canary.Plan{}, fmt.Errorf("the planner kept asking for checks")
}

// invariants hold after every pass.
func (w *World) invariants() {
	s := &w.Canary.Status
	broke := func(format string, args ...any) {
		w.Broken = append(w.Broken, fmt.Sprintf("%v: ", w.Now.Sub(Start))+fmt.Sprintf(format, args...))
	}
	if w.Routes.Primary+w.Routes.Canary != canary.TotalWeight {
		broke("routes %+v do not sum to 100", w.Routes)
	}
	if st := w.Sticky; st != nil && (st.Canary != "") != (w.Routes.Canary > 0) {
		broke("canary cookie %q with %d%% of the traffic on the canary", st.Canary, w.Routes.Canary)
	}
	switch s.Phase {
	case v1beta1.PhaseTerminated:
		if n := ptr.Deref(w.Target.Spec.Replicas, 1); n == 0 {
			broke("Terminated with the target at 0 replicas")
		}
	case v1beta1.PhaseInitialized, v1beta1.PhaseSucceeded, v1beta1.PhaseFailed:
		if w.Routes.Canary != 0 {
			broke("%s with %d%% of the traffic on the canary", s.Phase, w.Routes.Canary)
		}
		if n := ptr.Deref(w.Target.Spec.Replicas, 1); n != 0 {
			broke("%s with the target at %d replicas", s.Phase, n)
		}
	case v1beta1.PhaseProgressing:
		if s.CanaryWeight > canary.MaxWeight(w.Canary) {
			broke("weight %d above maxWeight", s.CanaryWeight)
		}
	}
	if s.Phase != "" && s.Phase != v1beta1.PhaseInitializing && w.Primary == nil {
		broke("%s without a primary", s.Phase)
	}
}

// Describe is a check and its answer, as the log shows them.
func Describe(c canary.Check, r canary.Result) string {
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
	switch {
	case r.OK && r.Judge != nil:
		j := r.Judge
		verdict = fmt.Sprintf("canary %g/%g, stable %g/%g (errors/requests)", j.Canary.Errors, j.Canary.Requests, j.Stable.Errors, j.Stable.Requests)
	case r.OK:
		verdict = fmt.Sprintf("%g", r.Value)
	}
	return fmt.Sprintf("metric %s: %s", c.Metric.Name, verdict)
}

// The apply.Target side.

func (w *World) CopyConfigs(_ context.Context, names []string) error {
	w.Logf("copy configs %v", names)
	return nil
}

func (w *World) WritePrimary(_ context.Context, d *appsv1.Deployment) error {
	verb, g := "create", int64(1)
	if w.Primary != nil {
		verb, g = "update", w.Primary.Generation+1
	}
	w.Logf("%s deployment %s (%d replicas, image %s)", verb, d.Name, *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Image)
	d = d.DeepCopy()
	d.Generation = g
	Settle(d, false)
	w.Primary = d
	return nil
}

func (w *World) WritePrimaryHPA(_ context.Context, h *autoscalingv2.HorizontalPodAutoscaler) error {
	if w.PrimaryHPA == nil {
		w.Logf("create hpa %s -> %s", h.Name, h.Spec.ScaleTargetRef.Name)
	} else if a, b := ptr.Deref(w.PrimaryHPA.Spec.MinReplicas, 1), ptr.Deref(h.Spec.MinReplicas, 1); a != b {
		w.Logf("hpa %s minReplicas %d -> %d", h.Name, a, b)
	}
	w.PrimaryHPA = h
	return nil
}

func (w *World) WritePrimaryScaledObject(_ context.Context, so *unstructured.Unstructured) error {
	if w.PrimaryScaledObject == nil {
		name, _, _ := unstructured.NestedString(so.Object, "spec", "scaleTargetRef", "name")
		w.Logf("create scaledobject %s -> %s", so.GetName(), name)
	}
	w.PrimaryScaledObject = so.DeepCopy()
	return nil
}

func (w *World) PauseTargetScaler(_ context.Context, paused bool) error {
	if w.ScaledObject == nil {
		return nil
	}
	_, was := w.ScaledObject.GetAnnotations()[canary.PausedReplicasAnnotation]
	if was == paused {
		return nil
	}
	a := w.ScaledObject.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	if paused {
		a[canary.PausedReplicasAnnotation] = "0"
		w.Logf("pause scaledobject %s", w.ScaledObject.GetName())
	} else {
		delete(a, canary.PausedReplicasAnnotation)
		w.Logf("resume scaledobject %s", w.ScaledObject.GetName())
	}
	w.ScaledObject.SetAnnotations(a)
	return nil
}

func (w *World) WriteServices(_ context.Context, svcs []*corev1.Service) error {
	for _, s := range svcs {
		if _, ok := w.Services[s.Name]; !ok {
			w.Logf("create service %s -> %v", s.Name, s.Spec.Selector)
		}
		w.Services[s.Name] = s
	}
	return nil
}

func (w *World) ReconcileRouter(_ context.Context, s *canary.Sticky) error {
	w.setSticky(s)
	return nil
}

// setSticky logs the session-affinity routes when they change.
func (w *World) setSticky(s *canary.Sticky) {
	if ptr.Deref(s, canary.Sticky{}) == ptr.Deref(w.Sticky, canary.Sticky{}) {
		return
	}
	w.Sticky = s
	switch {
	case s == nil:
		w.Logf("sticky routes removed")
	case s.Canary != "" && s.Primary != "":
		w.Logf("sticky routes: %q to the canary, %q to the primary; answers set %q and %q", s.Canary, s.Primary, s.SetCanary, s.SetPrimary)
	case s.Canary != "":
		w.Logf("sticky route: %q to the canary; its answers set %q", s.Canary, s.SetCanary)
	case s.Expire != "":
		w.Logf("sticky route: %q answered %q", s.Expire, s.SetExpire)
	default:
		w.Logf("sticky route: none matched yet")
	}
}

func (w *World) SetFinalizer(_ context.Context, present bool) error {
	w.Logf("finalizer %v", present)
	if present {
		w.Canary.Finalizers = []string{canary.FinalizerName}
	} else {
		w.Canary.Finalizers = nil
		if w.Canary.DeletionTimestamp != nil {
			w.Logf("canary deleted")
		}
	}
	return nil
}

func (w *World) SetRoutes(_ context.Context, r canary.Routes) error {
	sticky := r.Sticky
	r.Sticky = nil
	defer w.setSticky(sticky)
	if r != w.Routes {
		mirror := ""
		if r.Mirror {
			mirror = ", mirrored to the canary"
		}
		w.Logf("routes primary %d canary %d%s", r.Primary, r.Canary, mirror)
	}
	w.Routes = r
	return nil
}

func (w *World) ScaleTarget(_ context.Context, n int32) error {
	if ptr.Deref(w.Target.Spec.Replicas, 1) != n {
		w.Logf("scale deployment %s to %d", w.Target.Name, n)
		w.Target.Spec.Replicas = ptr.To(n)
		w.Target.Generation++
	}
	Settle(w.Target, w.TargetStuck)
	return nil
}

func (w *World) WriteStatus(_ context.Context, s *v1beta1.CanaryStatus) (bool, error) {
	old := w.Canary.Status
	w.Canary.Status = *s.DeepCopy()
	if old.Phase != s.Phase || old.CanaryWeight != s.CanaryWeight || old.FailedChecks != s.FailedChecks || old.Iterations != s.Iterations {
		promoted := ""
		for _, c := range s.Conditions {
			if c.Type == v1beta1.PromotedCondition {
				promoted = c.Status
			}
		}
		w.Logf("status %s weight=%d failedChecks=%d iterations=%d promoted=%s", s.Phase, s.CanaryWeight, s.FailedChecks, s.Iterations, promoted)
	}
	if len(s.Checks) > 0 && (len(old.Checks) == 0 || s.Checks[len(s.Checks)-1] != old.Checks[len(old.Checks)-1]) {
		last := s.Checks[len(s.Checks)-1]
		w.Logf("status.checks: %d kept, last %s %s=%q passed=%v", len(s.Checks), last.Kind, last.Name, last.Value, last.Passed)
	}
	if s.Abort || s.PromoteFull {
		w.Logf("status abort=%v promoteFull=%v", s.Abort, s.PromoteFull)
	}
	return false, nil
}

func (w *World) Event(_ context.Context, e canary.Event) {
	w.Logf("event %s %s", e.Type, e.Message)
}

func (w *World) Alert(_ context.Context, alerts []canary.Alert) {
	for _, a := range alerts {
		w.Logf("alert %s %s (%d fields)", a.Severity, a.Message, len(a.Fields))
	}
}

func (w *World) After(_ context.Context, checks []canary.Check) {
	for _, c := range checks {
		w.Logf("    after: %s", Describe(c, w.Answer(w, c)))
	}
}

// Run drives the world: a pass now, then at each requeue (at once after a
// write the controller watches), with the changes of script applied (and a
// pass run at once) when their time comes, until until has passed.
func (w *World) Run(until time.Duration, script map[time.Duration]func(*World)) error {
	times := make([]time.Duration, 0, len(script))
	for at := range script {
		times = append(times, at)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	p, err := w.Pass()
	if err != nil {
		return err
	}
	for range 500 {
		next := Start.Add(until)
		switch {
		case p.Primary != nil || p.TargetReplicas != nil || p.PrimaryHPA != nil && w.PrimaryHPA == nil:
			next = w.Now
		case p.RequeueAfter > 0:
			next = w.Now.Add(p.RequeueAfter)
		}
		if len(times) > 0 && !Start.Add(times[0]).After(next) {
			w.Now = Start.Add(times[0])
			w.Logf("-- change")
			script[times[0]](w)
			times = times[1:]
		} else if next.Before(Start.Add(until)) {
			w.Now = next
		} else {
			return nil
		}
		if p, err = w.Pass(); err != nil {
			return err
		}
	}
	return fmt.Errorf("the simulation did not settle in 500 passes")
}

// SetImage changes the target's first container's image.
func SetImage(image string) func(*World) {
	return func(w *World) {
		w.Logf("   set image %s", image)
		w.Target.Spec.Template.Spec.Containers[0].Image = image
		w.Target.Generation++
		Settle(w.Target, w.TargetStuck)
	}
}

// Deleted marks the Canary deleted (kubectl delete canary).
func Deleted(w *World) {
	w.Logf("   kubectl delete canary %s", w.Canary.Name)
	w.Canary.DeletionTimestamp = &metav1.Time{Time: w.Now}
}
