// Package rollout is the Rollout controller: it reads a Rollout and the objects
// it owns, lets the pure planner in internal/rollout decide, and applies the
// plan. All rollout state lives in the Rollout's status, so a restart or a new
// leader continues where the last one stopped.
package rollout

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/vireo-dev/vireo/internal/controller/metrics"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
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
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/controller/fence"
	"github.com/vireo-dev/vireo/internal/controller/owned"
	"github.com/vireo-dev/vireo/internal/controller/shard"
	"github.com/vireo-dev/vireo/internal/reasons"
	planner "github.com/vireo-dev/vireo/internal/rollout"
	"github.com/vireo-dev/vireo/internal/rollout/apply"
	"github.com/vireo-dev/vireo/internal/trafficrouting/routers"
)

// Reconciler drives Rollouts.
type Reconciler struct {
	Client client.Client
	// APIReader reads past the cache, to tell a name collision from cache lag.
	APIReader client.Reader
	Recorder  record.EventRecorder
	Clock     clock.PassiveClock
	// Workers is how many Rollouts are reconciled in parallel; 10 when 0.
	Workers int
	// Fence, when set, is asked at the start of each pass whether this
	// replica still leads, so that a deposed one does not even plan. Client
	// and Recorder should be fenced with it too (see package fence): then
	// every write of a pass, to any object, is checked where it is made.
	Fence fence.Fence
	// Resync requeues the objects of a shard this replica takes over
	// (--shards); nil without shards.
	Resync <-chan event.GenericEvent
	// NamespaceOnly says the controller may read only its own namespace:
	// ClusterAnalysisTemplates are then read uncached (and mostly refused).
	NamespaceOnly bool

	expect *expectations
}

// wrote records a write to an object read at resourceVersion rv.
func (r *Reconciler) wrote(uid types.UID, rv string) {
	if r.expect != nil {
		r.expect.wrote(uid, rv)
	}
}

// serviceIndex indexes Rollouts by the names of the Services their strategy
// names; workloadIndex by the Deployment their workloadRef names.
const (
	serviceIndex  = "vireo.spec.strategy.services"
	workloadIndex = "vireo.spec.workloadRef.name"
	templateIndex = "vireo.spec.strategy.analysis.templates"
)

// SetupWithManager registers the reconciler: it watches Rollouts, the
// ReplicaSets they own, and the Services they name (a Service created after
// its Rollout must bring the Rollout back).
func (r *Reconciler) SetupWithManager(mgr manager.Manager) error {
	err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.Rollout{}, serviceIndex, func(obj client.Object) []string {
		return planner.ServiceNames(obj.(*v1alpha1.Rollout))
	})
	if err != nil {
		return fmt.Errorf("indexing rollouts by service: %w", err)
	}
	err = mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.Rollout{}, workloadIndex, func(obj client.Object) []string {
		if ref := obj.(*v1alpha1.Rollout).Spec.WorkloadRef; ref != nil && ref.Name != "" {
			return []string{ref.Name}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("indexing rollouts by workloadRef: %w", err)
	}
	err = mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.Rollout{}, templateIndex, func(obj client.Object) []string {
		return templateKeys(obj.(*v1alpha1.Rollout))
	})
	if err != nil {
		return fmt.Errorf("indexing rollouts by analysis template: %w", err)
	}
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.Workers == 0 {
		r.Workers = 10
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorderFor("vireo-controller")
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	r.expect = newExpectations(r.Clock)
	b := builder.ControllerManagedBy(mgr).
		For(&v1alpha1.Rollout{}, builder.WithPredicates(predicate.Funcs{CreateFunc: r.addedToInformer})).
		Owns(&appsv1.ReplicaSet{}).
		Owns(&v1alpha1.AnalysisRun{}).
		Owns(&v1alpha1.Experiment{}).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(r.rolloutsIndexed(serviceIndex))).
		Watches(&appsv1.Deployment{}, handler.EnqueueRequestsFromMapFunc(r.rolloutsIndexed(workloadIndex))).
		Watches(&v1alpha1.AnalysisTemplate{}, handler.EnqueueRequestsFromMapFunc(r.rolloutsIndexed(templateIndex)))
	if !r.NamespaceOnly {
		clusterKey := func(obj client.Object) string { return "cluster/" + obj.GetName() }
		b = b.Watches(&v1alpha1.ClusterAnalysisTemplate{}, handler.EnqueueRequestsFromMapFunc(r.rolloutsMatching(templateIndex, clusterKey, false)))
	}
	return b.
		WatchesRawSource(shard.Source(r.Resync)).
		Named("rollout").
		WithOptions(crcontroller.Options{MaxConcurrentReconciles: max(r.Workers, 1)}).
		Complete(metrics.Timed(metrics.Rollout, r))
}

// addedToInformer announces, as Argo Rollouts does, each Rollout the
// controller starts watching: every Rollout when a leader starts, then each
// new one. It lets every such event through to the work queue.
func (r *Reconciler) addedToInformer(e event.CreateEvent) bool {
	r.Recorder.Eventf(e.Object, corev1.EventTypeNormal, reasons.RolloutAddedToInformer,
		"Rollout resource added to informer: %s/%s", e.Object.GetNamespace(), e.Object.GetName())
	return true
}

// cacheBehind reports whether the cache does not yet show a write of ours to
// the Rollout or its ReplicaSets (those just adopted included: seen unowned
// again, they would be adopted twice).
func (r *Reconciler) cacheBehind(ro *v1alpha1.Rollout, sets []*appsv1.ReplicaSet) bool {
	if r.expect == nil {
		return false
	}
	behind := r.expect.behind(ro.UID, ro.ResourceVersion)
	names := map[string]bool{}
	for _, rs := range sets {
		names[rs.Name] = true
		if r.expect.behind(rs.UID, rs.ResourceVersion) {
			behind = true
		}
	}
	if r.expect.unborn(client.ObjectKeyFromObject(ro), func(name string) bool { return names[name] }) {
		behind = true
	}
	return behind
}

// servicesBehind reports whether the cache does not yet show a selector
// write of ours to one of the Services.
func (r *Reconciler) servicesBehind(services map[string]*corev1.Service, more []*corev1.Service) bool {
	if r.expect == nil {
		return false
	}
	behind := func(svc *corev1.Service) bool { return svc != nil && r.expect.behind(svc.UID, svc.ResourceVersion) }
	for _, svc := range services {
		if behind(svc) {
			return true
		}
	}
	return slices.ContainsFunc(more, behind)
}

// rolloutsIndexed maps an object (a Service, a Deployment, an
// AnalysisTemplate) to the Rollouts in its namespace that name it, through
// one of the field indexes.
func (r *Reconciler) rolloutsIndexed(index string) handler.MapFunc {
	return r.rolloutsMatching(index, func(obj client.Object) string { return obj.GetName() }, true)
}

// rolloutsMatching maps an object to the Rollouts whose index holds the key
// it gives, in the object's namespace or, for a cluster-scoped object, in all.
func (r *Reconciler) rolloutsMatching(index string, key func(client.Object) string, namespaced bool) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		opts := []client.ListOption{client.MatchingFields{index: key(obj)}}
		if namespaced {
			opts = append(opts, client.InNamespace(obj.GetNamespace()))
		}
		var list v1alpha1.RolloutList
		if err := r.Client.List(ctx, &list, opts...); err != nil {
			log.FromContext(ctx).Error(err, "listing rollouts that name an object", "object", klog.KObj(obj), "index", index)
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for _, ro := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&ro)})
		}
		return reqs
	}
}

// Reconcile observes a Rollout and what it owns, plans, and applies the plan.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var ro v1alpha1.Rollout
	if err := r.Client.Get(ctx, req.NamespacedName, &ro); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if ro.DeletionTimestamp != nil {
		return reconcile.Result{}, nil // owned objects go with it
	}
	ctx, later, ok := fence.Begin(ctx, r.Fence, &ro)
	if !ok {
		return later, nil
	}
	obs, wait, err := r.gather(ctx, &ro)
	switch {
	case err != nil:
		return reconcile.Result{}, err
	case wait:
		return reconcile.Result{RequeueAfter: expectationTTL}, nil
	}
	plan := planner.Decide(*obs)
	if plan.Create != nil {
		// Whether the new ReplicaSet's name is free is read, not guessed:
		// held by another object, the planner decides again knowing it (a
		// hash collision); held by this Rollout, the cache is behind.
		switch holder, err := r.nameHolder(ctx, &ro, plan.Create.Name); {
		case err != nil:
			return reconcile.Result{}, err
		case holder == heldByUs:
			return reconcile.Result{RequeueAfter: expectationTTL}, nil
		case holder == heldByOther:
			obs.TakenNames = map[string]bool{plan.Create.Name: true}
			plan = planner.Decide(*obs)
		}
	}
	return r.applyPlan(ctx, obs, plan)
}

// gather reads everything a pass needs, and nothing else: the one place
// that lists and gets. wait says the cache does not show our own last writes
// yet; their watch events bring the Rollout back (the requeue is a safety
// net), and planning now would redo them.
func (r *Reconciler) gather(ctx context.Context, ro *v1alpha1.Rollout) (obs *planner.Observed, wait bool, err error) {
	workload, err := r.workload(ctx, ro)
	if err != nil {
		return nil, false, err
	}
	sets, orphans, err := r.replicaSets(ctx, ro, workload)
	if err != nil {
		return nil, false, err
	}
	if r.cacheBehind(ro, append(slices.Clone(sets), orphans...)) {
		log.FromContext(ctx).V(4).Info("cache behind our writes; waiting", "rollout", klog.KObj(ro))
		return nil, true, nil
	}
	services, err := r.services(ctx, ro)
	if err != nil {
		return nil, false, err
	}
	managed, err := r.managedServices(ctx, ro)
	if err != nil {
		return nil, false, err
	}
	if r.servicesBehind(services, managed) {
		return nil, true, nil
	}
	var pods []*corev1.Pod
	if ro.Spec.RestartAt != nil || planner.UsesRoleMetadata(ro, sets) {
		if pods, err = r.pods(ctx, ro, workload, sets); err != nil {
			return nil, false, err
		}
	}
	runs, err := owned.AnalysisRuns(ctx, r.Client, ro)
	if err != nil {
		return nil, false, err
	}
	// Always listed: a rollout whose steps no longer have an experiment step
	// may own one still running (the steps were edited), to terminate.
	experiments, err := owned.Experiments(ctx, r.Client, ro)
	if err != nil {
		return nil, false, err
	}
	var trafficErrs field.ErrorList
	if planner.Routed(ro) {
		trafficErrs = routers.Check(ro)
	}
	return &planner.Observed{Rollout: ro, ReplicaSets: sets, Orphans: orphans, Pods: pods, Services: services, ManagedServices: managed,
		Workload: workload, AnalysisRuns: runs, Experiments: experiments, AnalysisErrors: r.checkAnalyses(ctx, ro),
		TrafficErrors: trafficErrs, Now: r.Clock.Now()}, false, nil
}

// applyPlan performs a plan through apply.Apply, in the order rollout.Plan
// documents, with this pass's writer as the target.
func (r *Reconciler) applyPlan(ctx context.Context, obs *planner.Observed, plan *planner.Plan) (reconcile.Result, error) {
	before := obs.Rollout.Status.DeepCopy() // the status write replaces it
	out, err := apply.Apply(ctx, r.writer(obs), plan)
	switch {
	case err != nil:
		return reconcile.Result{}, err
	case out.Conflict:
		return reconcile.Result{Requeue: true}, nil
	case out.EvictionBlocked:
		plan.RequeueAfter = sooner(plan.RequeueAfter, evictionRetry)
	}
	observe(obs, *before, plan)
	return requeueAt(plan.RequeueAfter), nil
}

// deadlinePriority is the work-queue priority of a Rollout coming back at a
// deadline the planner set (a pause ending, a scale-down delay, the progress
// deadline). When many fall due at once, they go before the steady stream of
// ReplicaSet updates, so that a pause ends on time under load.
const deadlinePriority = 10

// requeueAt asks to come back at the planner's deadline, with priority.
func requeueAt(deadline time.Duration) reconcile.Result {
	if deadline == 0 {
		return reconcile.Result{}
	}
	return reconcile.Result{RequeueAfter: deadline, Priority: ptr.To(deadlinePriority)}
}

// writeStatus patches the Rollout's status to next when it differs, in the
// pass that sees the change: replica counts included, as Argo writes them, so
// that a watch sees every drop and recovery. A status equal to the stored one
// is not written. conflict means the Rollout changed since it was read.
func (r *Reconciler) writeStatus(ctx context.Context, ro *v1alpha1.Rollout, next v1alpha1.RolloutStatus) (conflict bool, err error) {
	if equality.Semantic.DeepEqual(next, ro.Status) {
		return false, nil
	}
	logger := log.FromContext(ctx)
	before := ro.DeepCopy()
	ro.Status = next
	if logger.V(4).Enabled() {
		if data, err := client.MergeFrom(before).Data(ro); err == nil {
			logger.V(4).Info("status patch", "rollout", klog.KObj(ro), "patch", string(data))
		}
	}
	// Conditional on the resourceVersion read: a promote or abort patched in
	// meanwhile is never overwritten.
	if conflict, err := owned.PatchStatus(ctx, r.Client, "rollout", ro, before); err != nil {
		return false, err
	} else if conflict {
		logger.V(1).Info("status changed meanwhile; looking again", "rollout", klog.KObj(ro))
		return true, nil
	}
	r.wrote(ro.UID, before.ResourceVersion)
	logger.V(2).Info("status written", "rollout", klog.KObj(ro), "phase", ro.Status.Phase, "message", ro.Status.Message)
	return false, nil
}

// replicaSets lists the Rollout's ReplicaSets: those it controls, and orphans
// its selector matches, which it adopts.
func (r *Reconciler) replicaSets(ctx context.Context, ro *v1alpha1.Rollout, workload *appsv1.Deployment) (owned, orphans []*appsv1.ReplicaSet, err error) {
	selector := planner.EffectiveSelector(ro, workload)
	if selector == nil {
		return nil, nil, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil || sel.Empty() {
		return nil, nil, nil // validation reports it
	}
	var list appsv1.ReplicaSetList
	if err := r.Client.List(ctx, &list, client.InNamespace(ro.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, nil, fmt.Errorf("listing ReplicaSets of rollout %s: %w", klog.KObj(ro), err)
	}
	for i := range list.Items {
		rs := &list.Items[i]
		owner := metav1.GetControllerOf(rs)
		switch {
		case owner != nil && owner.UID == ro.UID:
			owned = append(owned, rs)
		case owner == nil && rs.DeletionTimestamp == nil:
			orphans = append(orphans, rs)
		}
	}
	return owned, orphans, nil
}

// adopt makes the orphaned ReplicaSets the plan names the Rollout's, with a
// controller reference, conditional on the version read.
func (r *Reconciler) adopt(ctx context.Context, ro *v1alpha1.Rollout, names []string, orphans []*appsv1.ReplicaSet) error {
	for _, rs := range orphans {
		if !slices.Contains(names, rs.Name) {
			continue
		}
		before := rs.DeepCopy()
		rs.OwnerReferences = append(rs.OwnerReferences, *metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout")))
		if err := r.Client.Patch(ctx, rs, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return fmt.Errorf("adopting ReplicaSet %s into rollout %s: %w", klog.KObj(rs), klog.KObj(ro), err)
		}
		r.wrote(rs.UID, before.ResourceVersion)
	}
	return nil
}

// pods lists the pods of the Rollout's ReplicaSets; only restart and role
// metadata need them.
func (r *Reconciler) pods(ctx context.Context, ro *v1alpha1.Rollout, workload *appsv1.Deployment, sets []*appsv1.ReplicaSet) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(planner.EffectiveSelector(ro, workload))
	if err != nil {
		return nil, nil
	}
	var list corev1.PodList
	if err := r.Client.List(ctx, &list, client.InNamespace(ro.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, fmt.Errorf("listing pods of rollout %s: %w", klog.KObj(ro), err)
	}
	owned := map[types.UID]bool{}
	for _, rs := range sets {
		owned[rs.UID] = true
	}
	var out []*corev1.Pod
	for i := range list.Items {
		if owner := metav1.GetControllerOf(&list.Items[i]); owner != nil && owned[owner.UID] {
			out = append(out, &list.Items[i])
		}
	}
	return out, nil
}

// evictionRetry is how soon an eviction refused by a PodDisruptionBudget is tried again.
const evictionRetry = 5 * time.Second

// evict asks the API server to evict pods, which honours PodDisruptionBudgets.
// It reports whether any eviction was refused and should be retried.
func (r *Reconciler) evict(ctx context.Context, ro *v1alpha1.Rollout, names []string) (blocked bool) {
	for _, name := range names {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ro.Namespace, Name: name}}
		err := r.Client.SubResource("eviction").Create(ctx, pod, &policyv1.Eviction{ObjectMeta: pod.ObjectMeta})
		switch {
		case err == nil, apierrors.IsNotFound(err):
		case apierrors.IsTooManyRequests(err):
			blocked = true
			r.Recorder.Eventf(ro, corev1.EventTypeWarning, reasons.EvictionBlocked, "Evicting pod %s for the restart: %v", name, err)
		default:
			blocked = true
			log.FromContext(ctx).Error(err, "evicting pod for restart", "pod", klog.KObj(pod))
		}
	}
	return blocked
}

// mergeChange adds a metadata change to a merge patch's metadata section.
func mergeChange(meta map[string]any, change planner.MetadataChange) {
	for key, values := range map[string]map[string]*string{"labels": change.Labels, "annotations": change.Annotations} {
		if len(values) == 0 {
			continue
		}
		m := map[string]any{}
		for k, v := range values {
			if v == nil {
				m[k] = nil
			} else {
				m[k] = *v
			}
		}
		meta[key] = m
	}
}

// pointServices points each Service the plan names at its pod-template hash.
func (r *Reconciler) pointServices(ctx context.Context, ro *v1alpha1.Rollout, want map[string]string, services map[string]*corev1.Service) error {
	for name, hash := range want {
		svc := services[name]
		if svc == nil || hash == "" || (svc.Spec.Selector[planner.PodTemplateHashLabel] == hash && svc.Annotations[planner.ManagedByAnnotation] == ro.Name) {
			continue
		}
		patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil,
			`{"metadata":{"annotations":{%q:%q}},"spec":{"selector":{%q:%q}}}`,
			planner.ManagedByAnnotation, ro.Name, planner.PodTemplateHashLabel, hash))
		rv := svc.ResourceVersion
		if err := r.Client.Patch(ctx, svc, patch); err != nil {
			return fmt.Errorf("pointing Service %s at %s: %w", klog.KObj(svc), hash, err)
		}
		r.wrote(svc.UID, rv)
	}
	return nil
}

// managedServices lists the Services of the Rollout's namespace that say
// this Rollout manages them (from the cache).
func (r *Reconciler) managedServices(ctx context.Context, ro *v1alpha1.Rollout) ([]*corev1.Service, error) {
	var list corev1.ServiceList
	if err := r.Client.List(ctx, &list, client.InNamespace(ro.Namespace)); err != nil {
		return nil, fmt.Errorf("listing Services of rollout %s: %w", klog.KObj(ro), err)
	}
	var out []*corev1.Service
	for i := range list.Items {
		if list.Items[i].Annotations[planner.ManagedByAnnotation] == ro.Name {
			out = append(out, &list.Items[i])
		}
	}
	return out, nil
}

// releaseServices gives back the Services the Rollout no longer names: its
// hash selector and its managed-by annotation go, the rest is the user's.
func (r *Reconciler) releaseServices(ctx context.Context, ro *v1alpha1.Rollout, names []string, managed []*corev1.Service) error {
	for _, name := range names {
		i := slices.IndexFunc(managed, func(s *corev1.Service) bool { return s.Name == name })
		if i < 0 {
			continue
		}
		svc := managed[i]
		rv := svc.ResourceVersion
		patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil,
			`{"metadata":{"annotations":{%q:null}},"spec":{"selector":{%q:null}}}`, planner.ManagedByAnnotation, planner.PodTemplateHashLabel))
		if err := r.Client.Patch(ctx, svc, patch); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("releasing Service %s no longer named by rollout %s: %w", klog.KObj(svc), klog.KObj(ro), err)
		}
		r.wrote(svc.UID, rv)
	}
	return nil
}

// sooner is the earlier of two requeue delays, where zero means none.
func sooner(a, b time.Duration) time.Duration {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// workload reads the Deployment spec.workloadRef names; nil when there is
// none or it does not exist (the planner reports that).
func (r *Reconciler) workload(ctx context.Context, ro *v1alpha1.Rollout) (*appsv1.Deployment, error) {
	ref := ro.Spec.WorkloadRef
	if ref == nil || ref.Kind != "Deployment" || ref.Name == "" {
		return nil, nil
	}
	var d appsv1.Deployment
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: ro.Namespace, Name: ref.Name}, &d)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading Deployment %s/%s of rollout %s: %w", ro.Namespace, ref.Name, ro.Name, err)
	}
	return &d, nil
}

// services reads the Services the spec names; a missing one maps to nil.
func (r *Reconciler) services(ctx context.Context, ro *v1alpha1.Rollout) (map[string]*corev1.Service, error) {
	out := map[string]*corev1.Service{}
	for _, name := range planner.ServiceNames(ro) {
		var svc corev1.Service
		err := r.Client.Get(ctx, types.NamespacedName{Namespace: ro.Namespace, Name: name}, &svc)
		switch {
		case apierrors.IsNotFound(err):
			out[name] = nil
		case err != nil:
			return nil, fmt.Errorf("reading Service %s/%s of rollout %s: %w", ro.Namespace, name, ro.Name, err)
		default:
			out[name] = &svc
		}
	}
	return out, nil
}

type holder int

const (
	free holder = iota
	heldByUs
	heldByOther
)

// nameHolder reads, from the API server, who holds a ReplicaSet name.
func (r *Reconciler) nameHolder(ctx context.Context, ro *v1alpha1.Rollout, name string) (holder, error) {
	var existing appsv1.ReplicaSet
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ro.Namespace, Name: name}, &existing)
	switch {
	case apierrors.IsNotFound(err):
		return free, nil
	case err != nil:
		return free, fmt.Errorf("looking up ReplicaSet %s/%s for rollout %s: %w", ro.Namespace, name, klog.KObj(ro), err)
	}
	if owner := metav1.GetControllerOf(&existing); owner != nil && owner.UID == ro.UID {
		return heldByUs, nil
	}
	return heldByOther, nil
}

// create makes the plan's new ReplicaSet. A name taken since it was looked
// up is left to the next pass, which looks again.
func (r *Reconciler) create(ctx context.Context, ro *v1alpha1.Rollout, rs *appsv1.ReplicaSet) error {
	err := r.Client.Create(ctx, rs)
	switch {
	case err == nil:
		if r.expect != nil {
			r.expect.created(client.ObjectKeyFromObject(ro), rs.Name)
		}
		return nil
	case apierrors.IsAlreadyExists(err):
		return fmt.Errorf("creating ReplicaSet %s for rollout %s: the name was taken meanwhile: %w", rs.Name, klog.KObj(ro), err)
	default:
		return fmt.Errorf("creating ReplicaSet %s for rollout %s: %w", rs.Name, klog.KObj(ro), err)
	}
}
