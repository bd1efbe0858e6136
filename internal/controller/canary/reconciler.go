// Package canary is the controller of Flagger's Canary kind: it gathers a
// Canary's target, primary, autoscaler, tracked configs, metric templates
// and router weights, lets the planner in internal/canary decide (running
// the webhooks and metric queries it asks for), and applies the plan with
// internal/canary/apply.
package canary

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
	planner "github.com/vireo-dev/vireo/internal/canary"
	"github.com/vireo-dev/vireo/internal/canary/apply"
	"github.com/vireo-dev/vireo/internal/controller/fence"
	"github.com/vireo-dev/vireo/internal/controller/shard"
)

// DefaultMetricsServer is Flagger's -metrics-server default.
const DefaultMetricsServer = "http://prometheus:9090"

// maxChecksPerPass bounds the webhook calls and queries of one pass.
const maxChecksPerPass = 64

// Reconciler drives Canaries.
type Reconciler struct {
	Client client.Client
	// APIReader reads ConfigMaps, Secrets and MetricTemplates, which are
	// not cached.
	APIReader client.Reader
	Recorder  record.EventRecorder
	Clock     clock.PassiveClock
	Fence     fence.Fence
	// Resync requeues the objects of a shard this replica takes over
	// (--shards); nil without shards.
	Resync <-chan event.GenericEvent
	// Provider is the router of Canaries without spec.provider (Flagger's
	// -mesh-provider); istio when empty.
	Provider string
	// MetricsServer is the Prometheus of the built-in metrics (Flagger's
	// -metrics-server).
	MetricsServer string
	// SelectorLabels name a workload (Flagger's -selector-labels).
	SelectorLabels []string
	// Workers is how many Canaries are reconciled in parallel; 5 when 0.
	Workers int
	// Checker runs webhooks and metric queries; one reading through
	// APIReader when nil.
	Checker *Checker
}

// SetupWithManager registers the reconciler: it watches Canaries, the
// Deployments they own (the primaries), and every Deployment (a target's
// change starts an analysis).
func (r *Reconciler) SetupWithManager(mgr manager.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorderFor("flagger")
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Provider == "" {
		r.Provider = "istio"
	}
	if r.MetricsServer == "" {
		r.MetricsServer = DefaultMetricsServer
	}
	if r.Workers == 0 {
		r.Workers = 5
	}
	if r.Checker == nil {
		r.Checker = &Checker{Reader: r.APIReader, Writer: r.Client}
	}
	return builder.ControllerManagedBy(mgr).
		For(&v1beta1.Canary{}).
		Owns(&appsv1.Deployment{}).
		Watches(&appsv1.Deployment{}, handler.EnqueueRequestsFromMapFunc(r.canariesOf)).
		WatchesRawSource(shard.Source(r.Resync)).
		Named("canary").
		WithOptions(crcontroller.Options{MaxConcurrentReconciles: r.Workers}).
		Complete(r)
}

// canariesOf maps a Deployment to the Canaries that target it.
func (r *Reconciler) canariesOf(ctx context.Context, obj client.Object) []reconcile.Request {
	var list v1beta1.CanaryList
	if err := r.Client.List(ctx, &list, client.InNamespace(obj.GetNamespace())); err != nil {
		log.FromContext(ctx).Error(err, "listing canaries for a Deployment", "deployment", klog.KObj(obj))
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if list.Items[i].Spec.TargetRef.Name == obj.GetName() {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return out
}

// Reconcile gathers, plans (answering the checks the plan asks for) and
// applies.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var c v1beta1.Canary
	if err := r.Client.Get(ctx, req.NamespacedName, &c); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if c.DeletionTimestamp != nil && !controllerutil.ContainsFinalizer(&c, planner.FinalizerName) {
		return reconcile.Result{}, nil // owned objects go with it
	}
	ctx, later, ok := fence.Begin(ctx, r.Fence, &c)
	if !ok {
		return later, nil
	}
	o, router, err := r.gather(ctx, &c)
	if err != nil {
		return reconcile.Result{}, err
	}
	plan := planner.Decide(o)
	o.Results = map[string]planner.Result{}
	for n := 0; len(plan.Run) > 0; n++ {
		if n+len(plan.Run) > maxChecksPerPass {
			return reconcile.Result{}, fmt.Errorf("canary %s: a pass asked for more than %d checks", klog.KObj(&c), maxChecksPerPass)
		}
		for _, ch := range plan.Run {
			o.Results[ch.ID] = r.Checker.Run(ctx, &c, ch)
		}
		o.Now = r.Clock.Now()
		plan = planner.Decide(o)
	}
	w := &writer{client: r.Client, reader: r.APIReader, recorder: r.Recorder, checker: r.Checker, router: router,
		canary: &c, target: o.Target, primary: o.Primary, now: r.Clock.Now()}
	conflict, err := apply.Apply(ctx, w, plan)
	if err != nil {
		// As Flagger does, a failed write is said on the Canary (the
		// recorder folds repeats into one event with a count).
		r.Recorder.Event(&c, corev1.EventTypeWarning, planner.EventReason, err.Error())
		return reconcile.Result{}, err
	}
	if conflict {
		return reconcile.Result{Requeue: true}, nil
	}
	return reconcile.Result{RequeueAfter: plan.RequeueAfter}, nil
}

// gather reads what the planner needs.
func (r *Reconciler) gather(ctx context.Context, c *v1beta1.Canary) (planner.Observed, Router, error) {
	o := planner.Observed{Canary: c, DefaultProvider: r.Provider, MetricsServer: r.MetricsServer,
		SelectorLabels: r.SelectorLabels, Now: r.Clock.Now()}
	router := RouterFor(r.Client, planner.Provider(c, r.Provider))
	if c.Spec.TargetRef.Name == "" {
		return o, router, nil // the planner reports it
	}
	var err error
	if o.Target, err = getDeployment(ctx, r.Client, c.Namespace, c.Spec.TargetRef.Name); err != nil {
		return o, nil, err
	}
	if o.Primary, err = getDeployment(ctx, r.Client, c.Namespace, planner.PrimaryName(c)); err != nil {
		return o, nil, err
	}
	if ref := c.Spec.AutoscalerRef; ref != nil && ref.Kind == "HorizontalPodAutoscaler" && ref.Name != "" {
		var hpa autoscalingv2.HorizontalPodAutoscaler
		err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: ref.Name}, &hpa)
		switch {
		case err == nil:
			o.TargetHPA = &hpa
		case !apierrors.IsNotFound(err):
			return o, nil, fmt.Errorf("reading HorizontalPodAutoscaler %s of canary %s: %w", ref.Name, klog.KObj(c), err)
		}
	}
	if ref := c.Spec.AutoscalerRef; ref != nil && ref.Kind == planner.ScaledObjectKind && ref.Name != "" {
		so := &unstructured.Unstructured{}
		so.SetAPIVersion(planner.ScaledObjectVersion)
		so.SetKind(planner.ScaledObjectKind)
		err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: ref.Name}, so)
		switch {
		case err == nil:
			o.TargetScaledObject = so
		// Without KEDA's CRD, as without the object, there is nothing to copy.
		case !apierrors.IsNotFound(err) && !meta.IsNoMatchError(err):
			return o, nil, fmt.Errorf("reading ScaledObject %s of canary %s: %w", ref.Name, klog.KObj(c), err)
		}
	}
	if o.Target != nil {
		if o.Configs, err = r.configs(ctx, c.Namespace, &o.Target.Spec.Template.Spec); err != nil {
			return o, nil, err
		}
	}
	if a := c.Spec.Analysis; a != nil {
		o.Templates = map[string]*v1beta1.MetricTemplate{}
		for _, m := range a.Metrics {
			if m.TemplateRef == nil || m.TemplateRef.Name == "" {
				continue
			}
			ns := m.TemplateRef.Namespace
			if ns == "" {
				ns = c.Namespace
			}
			var t v1beta1.MetricTemplate
			err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ns, Name: m.TemplateRef.Name}, &t)
			switch {
			case err == nil:
				o.Templates[ns+"/"+t.Name] = &t
			case !apierrors.IsNotFound(err):
				return o, nil, fmt.Errorf("reading MetricTemplate %s/%s of canary %s: %w", ns, m.TemplateRef.Name, klog.KObj(c), err)
			}
		}
	}
	if c.Status.Phase != "" && c.Status.Phase != v1beta1.PhaseInitializing {
		if o.Routes, err = router.Routes(ctx, c); err != nil {
			return o, nil, fmt.Errorf("reading the routes of canary %s: %w", klog.KObj(c), err)
		}
	} else {
		o.Routes = planner.Routes{Primary: planner.TotalWeight}
	}
	return o, router, nil
}

func getDeployment(ctx context.Context, c client.Reader, ns, name string) (*appsv1.Deployment, error) {
	var d appsv1.Deployment
	err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading deployment %s/%s: %w", ns, name, err)
	}
	return &d, nil
}

// configs reads the checksums of the ConfigMaps and Secrets a pod spec
// uses, leaving out those that do not exist or opt out of tracking.
func (r *Reconciler) configs(ctx context.Context, ns string, spec *corev1.PodSpec) (map[string]string, error) {
	out := map[string]string{}
	for ref := range planner.ConfigRefs(spec) {
		kind, name, _ := strings.Cut(ref, "/")
		var obj client.Object = &corev1.Secret{}
		if kind == planner.ConfigMapKind {
			obj = &corev1.ConfigMap{}
		}
		err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s %s/%s: %w", kind, ns, name, err)
		}
		if strings.HasPrefix(obj.GetAnnotations()[planner.ConfigTrackingAnnotation], "disable") {
			continue
		}
		switch x := obj.(type) {
		case *corev1.ConfigMap:
			out[ref] = planner.DataChecksum(x.Data)
		case *corev1.Secret:
			out[ref] = planner.DataChecksum(x.Data)
		}
	}
	return out, nil
}
