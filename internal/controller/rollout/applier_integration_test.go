package rollout

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	planner "github.com/vireo-dev/vireo/internal/rollout"
	"github.com/vireo-dev/vireo/internal/testenv"
)

// The applier's cases, each against a real API server: the Reconciler is
// Vireo's, reading and writing through an uncached client.
func TestApplierAgainstRealAPIServer(t *testing.T) {
	env := testenv.Start(t)
	c := env.Client
	ctx := context.Background()
	n := 0
	setup := func(t *testing.T) (*Reconciler, *record.FakeRecorder, *v1alpha1.Rollout) {
		n++
		ns := fmt.Sprintf("applier-%d", n)
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
		events := record.NewFakeRecorder(100)
		ro := &v1alpha1.Rollout{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "demo"},
			Spec: v1alpha1.RolloutSpec{
				Replicas: ptr.To[int32](2),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "demo"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "demo"}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "demo:blue"}}},
				},
				Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](50)}, {Pause: &v1alpha1.RolloutPause{}}}}},
			},
		}
		return &Reconciler{Client: c, APIReader: c, Recorder: events, Clock: clock.RealClock{}}, events, ro
	}
	pass := func(t *testing.T, r *Reconciler, ro *v1alpha1.Rollout) {
		t.Helper()
		if _, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(ro)}); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
		if err := c.Get(ctx, client.ObjectKeyFromObject(ro), ro); err != nil {
			t.Fatal(err)
		}
	}
	sets := func(t *testing.T, ns string) []appsv1.ReplicaSet {
		t.Helper()
		var list appsv1.ReplicaSetList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		return list.Items
	}
	drain := func(events *record.FakeRecorder) string {
		var out []string
		for len(events.Events) > 0 {
			out = append(out, <-events.Events)
		}
		return strings.Join(out, "\n")
	}
	replicaSet := func(ro *v1alpha1.Rollout, name string, owners ...metav1.OwnerReference) *appsv1.ReplicaSet {
		hash := planner.PodTemplateHash(&ro.Spec.Template, nil)
		tmpl := ro.Spec.Template.DeepCopy()
		tmpl.Labels[planner.PodTemplateHashLabel] = hash
		return &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: ro.Namespace, Name: name, OwnerReferences: owners,
				Labels: tmpl.Labels, Annotations: map[string]string{planner.RevisionAnnotation: "1"}},
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: tmpl.Labels}, Template: *tmpl},
		}
	}

	t.Run("hash collision: the name held by another object raises collisionCount, then the next hash is used", func(t *testing.T) {
		r, events, ro := setup(t)
		name := planner.ReplicaSetName(ro, planner.PodTemplateHash(&ro.Spec.Template, nil))
		// Another object's ReplicaSet, of another selector, under the name.
		other := replicaSet(ro, name, metav1.OwnerReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "other", UID: "uid-other", Controller: ptr.To(true)})
		other.Spec.Selector.MatchLabels["app"], other.Spec.Template.Labels["app"] = "other", "other"
		if err := c.Create(ctx, other); err != nil {
			t.Fatal(err)
		}
		if err := c.Create(ctx, ro); err != nil {
			t.Fatal(err)
		}
		pass(t, r, ro)
		if got := ptr.Deref(ro.Status.CollisionCount, 0); got != 1 {
			t.Fatalf("collisionCount %d, want 1", got)
		}
		if ev := drain(events); !strings.Contains(ev, "HashCollision") {
			t.Errorf("no HashCollision event: %s", ev)
		}
		pass(t, r, ro)
		want := planner.ReplicaSetName(ro, planner.PodTemplateHash(&ro.Spec.Template, ptr.To[int32](1)))
		names := []string{}
		for _, rs := range sets(t, ro.Namespace) {
			names = append(names, rs.Name)
		}
		if len(names) != 2 || !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("ReplicaSets %v, want the other's and %s", names, want)
		}
	})

	t.Run("adoption: an orphan of the template becomes the Rollout's, no new ReplicaSet", func(t *testing.T) {
		r, events, ro := setup(t)
		if err := c.Create(ctx, ro); err != nil {
			t.Fatal(err)
		}
		orphan := replicaSet(ro, planner.ReplicaSetName(ro, planner.PodTemplateHash(&ro.Spec.Template, nil)))
		if err := c.Create(ctx, orphan); err != nil {
			t.Fatal(err)
		}
		pass(t, r, ro)
		got := sets(t, ro.Namespace)
		if len(got) != 1 {
			t.Fatalf("%d ReplicaSets, want the adopted one alone", len(got))
		}
		if owner := metav1.GetControllerOf(&got[0]); owner == nil || owner.UID != ro.UID {
			t.Errorf("the orphan's controller is %+v, want the Rollout", owner)
		}
		if ev := drain(events); !strings.Contains(ev, "ReplicaSetAdopted") {
			t.Errorf("no ReplicaSetAdopted event: %s", ev)
		}
		if ro.Status.CurrentPodHash != got[0].Labels[planner.PodTemplateHashLabel] {
			t.Errorf("currentPodHash %q, want the adopted ReplicaSet's", ro.Status.CurrentPodHash)
		}
	})

	t.Run("a status write refused for a user's patch made meanwhile changes nothing else", func(t *testing.T) {
		r, _, ro := setup(t)
		if err := c.Create(ctx, ro); err != nil {
			t.Fatal(err)
		}
		pass(t, r, ro)
		stale := ro.DeepCopy()
		// A user aborts meanwhile: the pass planned on the stale copy must not
		// overwrite it, nor act on the stale decision.
		ro.Status.Abort = true
		if err := c.Status().Update(ctx, ro); err != nil {
			t.Fatal(err)
		}
		before := sets(t, ro.Namespace)
		stale.Spec.Template.Spec.Containers[0].Image = "demo:green"
		if conflict, err := r.writeStatus(ctx, stale, *stale.Status.DeepCopy()); err != nil || conflict {
			t.Fatalf("an unchanged status: conflict %v err %v", conflict, err)
		}
		next := *stale.Status.DeepCopy()
		next.Message = "stale decision"
		conflict, err := r.writeStatus(ctx, stale, next)
		if err != nil || !conflict {
			t.Errorf("writing over the user's patch: conflict %v err %v, want a conflict", conflict, err)
		}
		var now v1alpha1.Rollout
		if err := c.Get(ctx, client.ObjectKeyFromObject(ro), &now); err != nil {
			t.Fatal(err)
		}
		if !now.Status.Abort || now.Status.Message == "stale decision" {
			t.Errorf("the user's abort was overwritten: %+v", now.Status)
		}
		if after := sets(t, ro.Namespace); len(after) != len(before) {
			t.Errorf("ReplicaSets went from %d to %d", len(before), len(after))
		}
	})
}
