// Package experiment is the Experiment controller: it reads an Experiment and
// what it owns (ReplicaSets, Services, AnalysisRuns), lets the planner in
// internal/experiment decide, and applies the plan. Every write is
// idempotent or conditional on what was read, so a pass on a stale cache
// does no harm: the status patch is refused and the next pass looks again.
package experiment

import (
	"context"
	"fmt"
	"maps"

	"github.com/vireo-dev/vireo/internal/controller/metrics"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/analysis"
	"github.com/vireo-dev/vireo/internal/analysis/templates"
	"github.com/vireo-dev/vireo/internal/controller/fence"
	"github.com/vireo-dev/vireo/internal/controller/owned"
	"github.com/vireo-dev/vireo/internal/controller/shard"
	planner "github.com/vireo-dev/vireo/internal/experiment"
	"github.com/vireo-dev/vireo/internal/reasons"
)

// Reconciler drives Experiments.
type Reconciler struct {
	Client client.Client
	// APIReader reads ClusterAnalysisTemplates when the cache cannot
	// (NamespaceOnly).
	APIReader client.Reader
	Recorder  record.EventRecorder
	Clock     clock.PassiveClock
	// Workers is how many Experiments are reconciled in parallel; 5 when 0.
	Workers int
	// Fence: as the Rollout reconciler's.
	Fence fence.Fence
	// Resync requeues the objects of a shard this replica takes over
	// (--shards); nil without shards.
	Resync <-chan event.GenericEvent
	// NamespaceOnly says the controller may read only its own namespace.
	NamespaceOnly bool
}

// SetupWithManager registers the reconciler: it watches Experiments, the
// ReplicaSets, Services and AnalysisRuns they own, and AnalysisTemplates (a
// template created late lets a waiting experiment start).
func (r *Reconciler) SetupWithManager(mgr manager.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorderFor("vireo-controller")
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Workers == 0 {
		r.Workers = 5
	}
	return builder.ControllerManagedBy(mgr).
		For(&v1alpha1.Experiment{}).
		Owns(&appsv1.ReplicaSet{}).
		Owns(&corev1.Service{}).
		Owns(&v1alpha1.AnalysisRun{}).
		Watches(&v1alpha1.AnalysisTemplate{}, handler.EnqueueRequestsFromMapFunc(r.waitingIn)).
		WatchesRawSource(shard.Source(r.Resync)).
		Named("experiment").
		WithOptions(crcontroller.Options{MaxConcurrentReconciles: r.Workers}).
		Complete(metrics.Timed(metrics.Experiment, r))
}

// waitingIn maps an AnalysisTemplate to the experiments of its namespace
// that have not ended.
func (r *Reconciler) waitingIn(ctx context.Context, obj client.Object) []reconcile.Request {
	var list v1alpha1.ExperimentList
	if err := r.Client.List(ctx, &list, client.InNamespace(obj.GetNamespace())); err != nil {
		log.FromContext(ctx).Error(err, "listing experiments for an AnalysisTemplate", "template", klog.KObj(obj))
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if !analysis.Completed(list.Items[i].Status.Phase) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return reqs
}

// Reconcile observes an Experiment and what it owns, plans, and applies.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var ex v1alpha1.Experiment
	if err := r.Client.Get(ctx, req.NamespacedName, &ex); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if ex.DeletionTimestamp != nil {
		return reconcile.Result{}, nil // owned objects go with it
	}
	ctx, later, ok := fence.Begin(ctx, r.Fence, &ex)
	if !ok {
		return later, nil
	}
	sets, taken, err := r.replicaSets(ctx, &ex)
	if err != nil {
		return reconcile.Result{}, err
	}
	services, err := r.services(ctx, &ex)
	if err != nil {
		return reconcile.Result{}, err
	}
	runs, err := owned.AnalysisRuns(ctx, r.Client, &ex)
	if err != nil {
		return reconcile.Result{}, err
	}
	errs := taken
	if !analysis.Completed(ex.Status.Phase) && len(runs) < len(ex.Spec.Analyses) {
		errs = append(errs, r.checkAnalyses(ctx, &ex)...)
	}
	plan := planner.Decide(planner.Observed{Experiment: &ex, ReplicaSets: sets, Services: services, AnalysisRuns: runs, Errors: errs, Now: r.Clock.Now()})

	for _, rs := range plan.Create {
		if err := r.Client.Create(ctx, rs); err != nil && !apierrors.IsAlreadyExists(err) {
			return reconcile.Result{}, fmt.Errorf("creating ReplicaSet %s of experiment %s: %w", rs.Name, klog.KObj(&ex), err)
		}
	}
	for _, svc := range plan.CreateServices {
		if err := r.Client.Create(ctx, svc); err != nil && !apierrors.IsAlreadyExists(err) {
			return reconcile.Result{}, fmt.Errorf("creating Service %s of experiment %s: %w", svc.Name, klog.KObj(&ex), err)
		}
	}
	if conflict, err := r.writeStatus(ctx, &ex, plan.Status); err != nil || conflict {
		return reconcile.Result{Requeue: conflict}, err
	}
	for name, n := range plan.Scale {
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ex.Namespace, Name: name}}
		patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, n))
		if err := r.Client.Patch(ctx, rs, patch); client.IgnoreNotFound(err) != nil {
			return reconcile.Result{}, fmt.Errorf("scaling ReplicaSet %s of experiment %s to %d: %w", name, klog.KObj(&ex), n, err)
		}
	}
	for _, name := range plan.DeleteServices {
		svc := services[name]
		if err := r.Client.Delete(ctx, svc, client.Preconditions{UID: ptr.To(svc.UID)}); client.IgnoreNotFound(err) != nil {
			return reconcile.Result{}, fmt.Errorf("deleting Service %s of experiment %s: %w", name, klog.KObj(&ex), err)
		}
	}
	if err := r.applyRuns(ctx, &ex, plan); err != nil {
		return reconcile.Result{}, err
	}
	for _, e := range plan.Events {
		r.Recorder.Event(&ex, e.Type, e.Reason, e.Message)
		log.FromContext(ctx).V(1).Info(e.Message, "experiment", klog.KObj(&ex), "reason", e.Reason)
	}
	return reconcile.Result{RequeueAfter: plan.RequeueAfter}, nil
}

// writeStatus patches the status when it changed, conditional on the
// Experiment as read. conflict means it changed meanwhile.
func (r *Reconciler) writeStatus(ctx context.Context, ex *v1alpha1.Experiment, next v1alpha1.ExperimentStatus) (conflict bool, err error) {
	if equality.Semantic.DeepEqual(next, ex.Status) {
		return false, nil
	}
	before := ex.DeepCopy()
	ex.Status = next
	return owned.PatchStatus(ctx, r.Client, "experiment", ex, before)
}

// replicaSets lists the experiment's ReplicaSets. A template's name held by
// a ReplicaSet someone else owns is reported against the template.
func (r *Reconciler) replicaSets(ctx context.Context, ex *v1alpha1.Experiment) ([]*appsv1.ReplicaSet, field.ErrorList, error) {
	var list appsv1.ReplicaSetList
	if err := r.Client.List(ctx, &list, client.InNamespace(ex.Namespace)); err != nil {
		return nil, nil, fmt.Errorf("listing ReplicaSets of experiment %s: %w", klog.KObj(ex), err)
	}
	byName := map[string]*appsv1.ReplicaSet{}
	var out []*appsv1.ReplicaSet
	for i := range list.Items {
		rs := &list.Items[i]
		byName[rs.Name] = rs
		if metav1.IsControlledBy(rs, ex) {
			out = append(out, rs)
		}
	}
	var errs field.ErrorList
	for i := range ex.Spec.Templates {
		name := planner.ReplicaSetName(ex, &ex.Spec.Templates[i])
		if rs := byName[name]; rs != nil && !metav1.IsControlledBy(rs, ex) {
			errs = append(errs, field.Invalid(field.NewPath("spec", "templates").Index(i).Child("name"), ex.Spec.Templates[i].Name,
				"ReplicaSet "+name+" exists and is not this experiment's"))
		}
	}
	return out, errs, nil
}

// services reads the Services the templates ask for; a missing one is absent.
func (r *Reconciler) services(ctx context.Context, ex *v1alpha1.Experiment) (map[string]*corev1.Service, error) {
	out := map[string]*corev1.Service{}
	for i := range ex.Spec.Templates {
		t := &ex.Spec.Templates[i]
		if t.Service == nil {
			continue
		}
		name := planner.ServiceName(ex, t)
		var svc corev1.Service
		err := r.Client.Get(ctx, types.NamespacedName{Namespace: ex.Namespace, Name: name}, &svc)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("reading Service %s of experiment %s: %w", name, klog.KObj(ex), err)
		default:
			out[name] = &svc
		}
	}
	return out, nil
}

// checkAnalyses builds every analysis's run spec as it would be built, and
// reports what stops it (a missing template, an arg without a value, a
// reference to no template) against the analysis's field.
func (r *Reconciler) checkAnalyses(ctx context.Context, ex *v1alpha1.Experiment) field.ErrorList {
	var errs field.ErrorList
	for i, a := range ex.Spec.Analyses {
		if a.TemplateName == "" {
			continue // validation reports it
		}
		if _, err := r.runSpec(ctx, ex, a); err != nil {
			errs = append(errs, field.Invalid(field.NewPath("spec", "analyses").Index(i).Child("templateName"), a.TemplateName, err.Error()))
		}
	}
	return errs
}

// runSpec builds the spec of an analysis's run: the template's metrics, its
// args with the analysis's laid over them, {{templates.…}} references
// expanded and fieldRefs read from the Experiment.
func (r *Reconciler) runSpec(ctx context.Context, ex *v1alpha1.Experiment, a v1alpha1.ExperimentAnalysisTemplateRef) (*v1alpha1.AnalysisRunSpec, error) {
	cluster := client.Reader(r.Client)
	if r.NamespaceOnly {
		cluster = r.APIReader
	}
	refs := []v1alpha1.AnalysisTemplateRef{{TemplateName: a.TemplateName, ClusterScope: a.ClusterScope}}
	tmpl, err := analysis.MergeTemplates(ctx, templates.Client{Namespaced: r.Client, Cluster: cluster, Namespace: ex.Namespace}, refs)
	if err != nil {
		return nil, err
	}
	vars := planner.Vars(ex)
	given := make([]v1alpha1.Argument, 0, len(a.Args))
	for _, arg := range a.Args {
		switch {
		case arg.Value != nil:
			v, err := planner.Expand(*arg.Value, vars)
			if err != nil {
				return nil, fmt.Errorf("args.%s: %w", arg.Name, err)
			}
			given = append(given, v1alpha1.Argument{Name: arg.Name, Value: ptr.To(v)})
		case arg.ValueFrom != nil && arg.ValueFrom.FieldRef != nil:
			v, err := analysis.FieldValue(ex, arg.ValueFrom.FieldRef.FieldPath)
			if err != nil {
				return nil, fmt.Errorf("args.%s: fieldRef: %w", arg.Name, err)
			}
			given = append(given, v1alpha1.Argument{Name: arg.Name, Value: ptr.To(v)})
		case arg.ValueFrom != nil:
			given = append(given, arg) // a Secret: the run reads it when it measures
		}
	}
	return analysis.RunSpec(tmpl, given, ex, ex.Spec.DryRun, ex.Spec.MeasurementRetention)
}

// applyRuns creates and terminates the plan's AnalysisRuns.
func (r *Reconciler) applyRuns(ctx context.Context, ex *v1alpha1.Experiment, plan *planner.Plan) error {
	for _, req := range plan.CreateRuns {
		spec, err := r.runSpec(ctx, ex, req.Analysis)
		if err != nil {
			r.Recorder.Eventf(ex, corev1.EventTypeWarning, reasons.AnalysisRunError, "Cannot create analysis run %s: %v", req.Name, err)
			return fmt.Errorf("building analysis run %s of experiment %s: %w", req.Name, klog.KObj(ex), err)
		}
		labels := maps.Clone(ex.Spec.AnalysisRunMetadata.Labels)
		if labels == nil {
			labels = map[string]string{}
		}
		owned.CarryInstanceID(ex.Labels, labels)
		run := &v1alpha1.AnalysisRun{
			ObjectMeta: metav1.ObjectMeta{
				Name: req.Name, Namespace: ex.Namespace, Labels: labels, Annotations: maps.Clone(ex.Spec.AnalysisRunMetadata.Annotations),
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ex, v1alpha1.GroupVersion.WithKind("Experiment"))},
			},
			Spec: *spec,
		}
		if err := r.Client.Create(ctx, run); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating analysis run %s of experiment %s: %w", req.Name, klog.KObj(ex), err)
		}
	}
	for _, name := range plan.TerminateRuns {
		run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: ex.Namespace, Name: name}}
		patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"terminate":true}}`))
		if err := r.Client.Patch(ctx, run, patch); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("terminating analysis run %s: %w", name, err)
		}
	}
	return nil
}
