package experiment

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
	"github.com/vireo-dev/vireo/internal/analysis"
	"github.com/vireo-dev/vireo/internal/testenv"
)

// The Experiment applier's cases, against a real API server: the Reconciler
// is Vireo's, reading and writing through an uncached client.
func TestApplierAgainstRealAPIServer(t *testing.T) {
	env := testenv.Start(t)
	c := env.Client
	ctx := context.Background()
	n := 0
	newExperiment := func(t *testing.T) (*Reconciler, *record.FakeRecorder, *v1alpha1.Experiment) {
		n++
		ns := fmt.Sprintf("experiment-%d", n)
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
		ex := &v1alpha1.Experiment{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "exp"},
			Spec: v1alpha1.ExperimentSpec{Templates: []v1alpha1.TemplateSpec{{
				Name: "canary", Replicas: ptr.To[int32](2),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "exp"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "exp"}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "demo:green", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}},
				},
				Service: &v1alpha1.TemplateService{},
			}}},
		}
		events := record.NewFakeRecorder(100)
		return &Reconciler{Client: c, APIReader: c, Recorder: events, Clock: clock.RealClock{}}, events, ex
	}
	pass := func(t *testing.T, r *Reconciler, ex *v1alpha1.Experiment) {
		t.Helper()
		if _, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(ex)}); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
		if err := c.Get(ctx, client.ObjectKeyFromObject(ex), ex); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("creates each template's ReplicaSet and Service, owned by the Experiment", func(t *testing.T) {
		r, events, ex := newExperiment(t)
		if err := c.Create(ctx, ex); err != nil {
			t.Fatal(err)
		}
		pass(t, r, ex)
		var sets appsv1.ReplicaSetList
		if err := c.List(ctx, &sets, client.InNamespace(ex.Namespace)); err != nil {
			t.Fatal(err)
		}
		if len(sets.Items) != 1 || sets.Items[0].Name != "exp-canary" || !metav1.IsControlledBy(&sets.Items[0], ex) || ptr.Deref(sets.Items[0].Spec.Replicas, 0) != 2 {
			t.Fatalf("ReplicaSets %+v, want exp-canary of 2, controlled by the Experiment", sets.Items)
		}
		var svc corev1.Service
		if err := c.Get(ctx, client.ObjectKey{Namespace: ex.Namespace, Name: "exp-canary"}, &svc); err != nil {
			t.Fatalf("the template's Service: %v", err)
		}
		if !metav1.IsControlledBy(&svc, ex) || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 {
			t.Errorf("Service %+v, want controlled by the Experiment, port 8080", svc.Spec)
		}
		if ex.Status.Phase != v1alpha1.AnalysisPhasePending {
			t.Errorf("phase %s, want Pending until the template is available", ex.Status.Phase)
		}
		if len(events.Events) == 0 {
			t.Error("no Event for the created ReplicaSet")
		}
		// A second pass on the same state writes nothing.
		rv := ex.ResourceVersion
		pass(t, r, ex)
		if ex.ResourceVersion != rv {
			t.Errorf("an idle pass wrote the Experiment (%s -> %s)", rv, ex.ResourceVersion)
		}
	})

	t.Run("a template's ReplicaSet name held by another object is reported against the template", func(t *testing.T) {
		r, _, ex := newExperiment(t)
		other := &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: ex.Namespace, Name: "exp-canary"},
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "other"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "x"}}}}},
		}
		if err := c.Create(ctx, other); err != nil {
			t.Fatal(err)
		}
		if err := c.Create(ctx, ex); err != nil {
			t.Fatal(err)
		}
		pass(t, r, ex)
		if !strings.Contains(ex.Status.Message, "spec.templates[0]") {
			t.Errorf("phase %s message %q, want it to name spec.templates[0]", ex.Status.Phase, ex.Status.Message)
		}
		var got appsv1.ReplicaSet
		if err := c.Get(ctx, client.ObjectKeyFromObject(other), &got); err != nil || metav1.GetControllerOf(&got) != nil {
			t.Errorf("the other object's ReplicaSet was taken or lost: %v %+v", err, got.OwnerReferences)
		}
	})

	t.Run("terminate ends the experiment, whose pods go once its scale-down delay is over", func(t *testing.T) {
		r, _, ex := newExperiment(t)
		ex.Spec.ScaleDownDelaySeconds = ptr.To[int32](0)
		if err := c.Create(ctx, ex); err != nil {
			t.Fatal(err)
		}
		pass(t, r, ex)
		ex.Spec.Terminate = true
		if err := c.Update(ctx, ex); err != nil {
			t.Fatal(err)
		}
		pass(t, r, ex)
		if !strings.Contains(ex.Status.Message, "Experiment terminated") || !analysis.Completed(ex.Status.Phase) {
			t.Errorf("terminated: phase %s message %q, want ended, saying so", ex.Status.Phase, ex.Status.Message)
		}
		pass(t, r, ex)
		var rs appsv1.ReplicaSet
		if err := c.Get(ctx, client.ObjectKey{Namespace: ex.Namespace, Name: "exp-canary"}, &rs); err != nil {
			t.Fatal(err)
		}
		if n := ptr.Deref(rs.Spec.Replicas, -1); n != 0 {
			t.Errorf("the ended experiment's ReplicaSet has %d replicas, want 0", n)
		}
	})
}
