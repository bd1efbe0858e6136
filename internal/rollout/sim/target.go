package sim

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/rollout"
	"github.com/vireo-dev/vireo/internal/rollout/apply"
)

// target is the world as the controller's applier writes to it: each write
// changes the world's objects as the API server would.
type target struct{ w *World }

var _ apply.Target = target{}

func (t target) Adopt(_ context.Context, names []string) error {
	for _, name := range names {
		rs := t.w.rss[name]
		rs.OwnerReferences = append(rs.OwnerReferences, *metav1.NewControllerRef(t.w.ro, v1alpha1.GroupVersion.WithKind("Rollout")))
	}
	return nil
}

func (t target) Create(_ context.Context, rs *appsv1.ReplicaSet) error {
	w := t.w
	if _, dup := w.rss[rs.Name]; dup {
		w.fail("plan creates %s, which exists", rs.Name)
		return fmt.Errorf("ReplicaSet %s exists", rs.Name)
	}
	w.created++
	rs = rs.DeepCopy()
	rs.CreationTimestamp = metav1.NewTime(w.now)
	rs.Generation = 1
	w.rss[rs.Name] = rs
	return nil
}

func (t target) PointServices(_ context.Context, services map[string]string) error {
	for name, hash := range services {
		if t.w.services == nil {
			t.w.services = map[string]string{}
		}
		t.w.services[name] = hash
	}
	return nil
}

func (t target) ReleaseServices(_ context.Context, names []string) error {
	for _, name := range names {
		delete(t.w.services, name)
	}
	return nil
}

// errRefused is a router's refusal while RouterDown says so.
var errRefused = errors.New("the routers refuse the weight")

// SetRouters plays the routers taking the traffic, or, while RouterDown
// says so, refusing it: they keep what they held.
func (t target) SetRouters(_ context.Context, tr *rollout.Traffic, _ *v1alpha1.RolloutStatus) error {
	w := t.w
	if w.RouterDown != nil && w.RouterDown(w.Elapsed()) {
		if w.refused == nil || *w.refused != tr.Weight {
			w.pending = append(w.pending, fmt.Sprintf("the routers refuse weight %d; the pass ends there", tr.Weight))
			w.refused = ptr.To(tr.Weight)
		}
		return errRefused
	}
	if w.router != nil && tr.Weight < w.router.Weight {
		w.pending = append(w.pending, fmt.Sprintf("routers set to %d before the status is written (a retreat)", tr.Weight))
	}
	w.router, w.refused = tr, nil
	return nil
}

func (t target) WriteStatus(_ context.Context, status v1alpha1.RolloutStatus) (bool, error) {
	t.w.ro.Status = status
	return false, nil
}

func (t target) PatchReplicaSets(_ context.Context, changes map[string]apply.ReplicaSetChange) error {
	w := t.w
	for name, c := range changes {
		rs := w.rss[name]
		if rs == nil {
			w.fail("plan changes unknown ReplicaSet %s", name)
			continue
		}
		for k, v := range c.Annotations {
			if v == "" {
				delete(rs.Annotations, k)
			} else {
				rs.Annotations[k] = v
			}
		}
		if c.Replicas != nil {
			rs.Spec.Replicas = ptr.To(*c.Replicas)
			rs.Generation++
		}
		if c.Template != nil {
			rollout.ApplyMetadata(&rs.Spec.Template.Labels, c.Template.Labels)
			rollout.ApplyMetadata(&rs.Spec.Template.Annotations, c.Template.Annotations)
		}
	}
	return nil
}

func (t target) PatchPods(_ context.Context, changes map[string]rollout.MetadataChange) error {
	for name, change := range changes {
		for _, pods := range t.w.pods {
			for i := range pods {
				if pods[i].name == name {
					rollout.ApplyMetadata(&pods[i].labels, change.Labels)
					rollout.ApplyMetadata(&pods[i].annotations, change.Annotations)
				}
			}
		}
	}
	return nil
}

func (t target) ScaleWorkload(_ context.Context, replicas int32) error {
	if t.w.Workload != nil {
		t.w.Workload.Spec.Replicas = ptr.To(replicas)
	}
	return nil
}

func (t target) DeleteReplicaSets(_ context.Context, names []string) error {
	for _, name := range names {
		delete(t.w.rss, name)
		delete(t.w.pods, name)
	}
	return nil
}

func (t target) Runs(_ context.Context, create []rollout.RunRequest, terminate, del []string) error {
	t.w.applyRuns(create, terminate, del)
	return nil
}

func (t target) Experiments(_ context.Context, create *v1alpha1.Experiment, terminate, del []string) error {
	t.w.applyExperiments(create, terminate, del)
	return nil
}

func (t target) Evict(_ context.Context, names []string) bool {
	w := t.w
	for _, pod := range names {
		for n, pods := range w.pods {
			for i, p := range pods {
				if p.name == pod {
					w.pods[n] = append(pods[:i:i], pods[i+1:]...)
				}
			}
		}
	}
	return false
}

// Record: the timeline shows the plan's Events once the pass completes.
func (t target) Record(context.Context, []rollout.Event) {}
