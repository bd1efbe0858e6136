package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	planner "github.com/vireo-dev/vireo/internal/rollout"
	"github.com/vireo-dev/vireo/internal/rollout/apply"
)

// writer is the controller's apply.Target for one pass over one Rollout:
// its writes go to the API server through the (fenced) client, and each
// notes what the cache is to show next (expectations).
type writer struct {
	r   *Reconciler
	ro  *v1alpha1.Rollout
	obs *planner.Observed
}

var _ apply.Target = (*writer)(nil)

func (r *Reconciler) writer(obs *planner.Observed) *writer {
	return &writer{r: r, ro: obs.Rollout, obs: obs}
}

func (w *writer) Adopt(ctx context.Context, names []string) error {
	return w.r.adopt(ctx, w.ro, names, w.obs.Orphans)
}

func (w *writer) Create(ctx context.Context, rs *appsv1.ReplicaSet) error {
	return w.r.create(ctx, w.ro, rs)
}

func (w *writer) PointServices(ctx context.Context, services map[string]string) error {
	return w.r.pointServices(ctx, w.ro, services, w.obs.Services)
}

func (w *writer) ReleaseServices(ctx context.Context, names []string) error {
	return w.r.releaseServices(ctx, w.ro, names, w.obs.ManagedServices)
}

func (w *writer) SetRouters(ctx context.Context, t *planner.Traffic, status *v1alpha1.RolloutStatus) error {
	return w.r.setRouters(ctx, w.ro, t, status)
}

func (w *writer) WriteStatus(ctx context.Context, status v1alpha1.RolloutStatus) (bool, error) {
	return w.r.writeStatus(ctx, w.ro, status)
}

// PatchReplicaSets writes each ReplicaSet's changes (revision and
// scale-down annotations, replicas, role metadata of its pod template) in
// one merge patch.
func (w *writer) PatchReplicaSets(ctx context.Context, changes map[string]apply.ReplicaSetChange) error {
	byName := map[string]*appsv1.ReplicaSet{}
	for _, rs := range append(slices.Clone(w.obs.ReplicaSets), w.obs.Orphans...) {
		byName[rs.Name] = rs
	}
	for name, change := range changes {
		rs := byName[name]
		if rs == nil {
			continue
		}
		patch := map[string]any{}
		if len(change.Annotations) > 0 {
			a := map[string]any{}
			for k, v := range change.Annotations {
				if v == "" {
					a[k] = nil // a merge patch removes a key set to null
				} else {
					a[k] = v
				}
			}
			patch["metadata"] = map[string]any{"annotations": a}
		}
		spec := map[string]any{}
		if change.Replicas != nil {
			spec["replicas"] = *change.Replicas
		}
		if change.Template != nil {
			meta := map[string]any{}
			mergeChange(meta, *change.Template)
			spec["template"] = map[string]any{"metadata": meta}
		}
		if len(spec) > 0 {
			patch["spec"] = spec
		}
		data, err := json.Marshal(patch)
		if err != nil {
			return err
		}
		rv := rs.ResourceVersion
		if err := w.r.Client.Patch(ctx, rs, client.RawPatch(types.MergePatchType, data)); err != nil {
			return fmt.Errorf("patching ReplicaSet %s with %s: %w", klog.KObj(rs), data, err)
		}
		w.r.wrote(rs.UID, rv)
	}
	return nil
}

func (w *writer) PatchPods(ctx context.Context, changes map[string]planner.MetadataChange) error {
	for name, change := range changes {
		meta := map[string]any{}
		mergeChange(meta, change)
		data, err := json.Marshal(map[string]any{"metadata": meta})
		if err != nil {
			return err
		}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: w.ro.Namespace, Name: name}}
		if err := w.r.Client.Patch(ctx, pod, client.RawPatch(types.MergePatchType, data)); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("labelling pod %s with its role: %w", klog.KObj(pod), err)
		}
	}
	return nil
}

func (w *writer) ScaleWorkload(ctx context.Context, replicas int32) error {
	if w.ro.Spec.WorkloadRef == nil {
		return nil
	}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: w.ro.Namespace, Name: w.ro.Spec.WorkloadRef.Name}}
	patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas))
	if err := w.r.Client.Patch(ctx, d, patch); err != nil {
		return fmt.Errorf("scaling down Deployment %s (workloadRef) to %d: %w", klog.KObj(d), replicas, err)
	}
	return nil
}

func (w *writer) DeleteReplicaSets(ctx context.Context, names []string) error {
	for _, rs := range append(slices.Clone(w.obs.ReplicaSets), w.obs.Orphans...) {
		if !slices.Contains(names, rs.Name) {
			continue
		}
		if err := w.r.Client.Delete(ctx, rs, client.Preconditions{UID: &rs.UID}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting old ReplicaSet %s: %w", klog.KObj(rs), err)
		}
	}
	return nil
}

func (w *writer) Runs(ctx context.Context, create []planner.RunRequest, terminate, del []string) error {
	return w.r.applyRuns(ctx, w.ro, create, terminate, del)
}

func (w *writer) Experiments(ctx context.Context, create *v1alpha1.Experiment, terminate, del []string) error {
	return w.r.applyExperiments(ctx, w.ro, create, terminate, del)
}

func (w *writer) Evict(ctx context.Context, pods []string) bool {
	return w.r.evict(ctx, w.ro, pods)
}

// Record raises the plan's Events, last: the status holds what they announce.
func (w *writer) Record(ctx context.Context, events []planner.Event) {
	logger := log.FromContext(ctx)
	for _, e := range events {
		w.r.Recorder.Event(w.ro, e.Type, e.Reason, e.Message)
		logger.V(1).Info(e.Message, "rollout", klog.KObj(w.ro), "reason", e.Reason)
	}
}
