package statuspatch

import (
	"context"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/testenv"
)

// On a real API server, an AnalysisRun's status is written whether its CRD
// has a status subresource (older Vireo CRDs) or not (Argo's, and Vireo's
// now), and the CRD may change between the two while the writer runs.
func TestStatusIsWrittenWithOrWithoutTheSubresource(t *testing.T) {
	env := testenv.Start(t)
	ctx := context.Background()
	c := env.Client
	crds, err := client.New(env.Config, client.Options{Scheme: func() *runtime.Scheme {
		s := runtime.NewScheme()
		_ = apiextv1.AddToScheme(s)
		return s
	}()})
	if err != nil {
		t.Fatal(err)
	}
	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "run"},
		Spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{{Name: "m", Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://127.0.0.1:1/"}}}}}}
	if err := c.Create(ctx, run); err != nil {
		t.Fatal(err)
	}
	write := func(phase v1alpha1.AnalysisPhase) {
		t.Helper()
		var cur v1alpha1.AnalysisRun
		if err := c.Get(ctx, client.ObjectKeyFromObject(run), &cur); err != nil {
			t.Fatal(err)
		}
		before := cur.DeepCopy()
		cur.Status.Phase = phase
		if err := Patch(ctx, c, &cur, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			t.Fatalf("writing phase %s: %v", phase, err)
		}
		var got v1alpha1.AnalysisRun
		if err := c.Get(ctx, client.ObjectKeyFromObject(run), &got); err != nil {
			t.Fatal(err)
		}
		if got.Status.Phase != phase {
			t.Fatalf("phase %q stored, want %q", got.Status.Phase, phase)
		}
	}
	setSubresource := func(on bool) {
		t.Helper()
		var crd apiextv1.CustomResourceDefinition
		if err := crds.Get(ctx, client.ObjectKey{Name: "analysisruns.argoproj.io"}, &crd); err != nil {
			t.Fatal(err)
		}
		crd.Spec.Versions[0].Subresources = &apiextv1.CustomResourceSubresources{}
		if on {
			crd.Spec.Versions[0].Subresources.Status = &apiextv1.CustomResourceSubresourceStatus{}
		}
		if err := crds.Update(ctx, &crd); err != nil {
			t.Fatal(err)
		}
		// The API server serves the change once its handler is rebuilt; on a
		// loaded machine the old handler can still answer a moment after
		// the new one first did, so the change must hold for 5 probes.
		deadline := time.Now().Add(20 * time.Second)
		for held := 0; ; {
			var probe v1alpha1.AnalysisRun
			if err := c.Get(ctx, client.ObjectKeyFromObject(run), &probe); err != nil {
				t.Fatal(err)
			}
			err := c.Status().Patch(ctx, &probe, client.RawPatch("application/merge-patch+json", []byte(`{}`)))
			if (err == nil) == on {
				if held++; held == 5 {
					return
				}
				time.Sleep(100 * time.Millisecond)
				continue
			}
			held = 0
			if time.Now().After(deadline) {
				t.Fatalf("the CRD's status subresource did not become %v: %v", on, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// Vireo's CRD, as Argo's: no subresource.
	if _, ok := withObject.Load(typeOfRun); ok {
		t.Fatal("a kind known before any write")
	}
	write(v1alpha1.AnalysisPhaseRunning)
	if _, ok := withObject.Load(typeOfRun); !ok {
		t.Error("the kind's missing subresource was not remembered")
	}
	write(v1alpha1.AnalysisPhaseSuccessful)

	// An older Vireo CRD, with one (what was remembered is forgotten by
	// then: recheck).
	setSubresource(true)
	withObject.Delete(typeOfRun)
	write(v1alpha1.AnalysisPhaseFailed)
	if _, ok := withObject.Load(typeOfRun); ok {
		t.Error("a kind with a status subresource remembered as without")
	}

	// And back: found out at the first write.
	setSubresource(false)
	write(v1alpha1.AnalysisPhaseError)

	// A deleted object is reported as such, and teaches nothing.
	withObject.Delete(typeOfRun)
	setSubresource(true)
	var gone v1alpha1.AnalysisRun
	if err := c.Get(ctx, client.ObjectKeyFromObject(run), &gone); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, run); err != nil {
		t.Fatal(err)
	}
	before := gone.DeepCopy()
	gone.Status.Phase = v1alpha1.AnalysisPhaseRunning
	if err := Patch(ctx, c, &gone, client.MergeFrom(before)); !apierrors.IsNotFound(err) {
		t.Errorf("writing a deleted run: %v, want NotFound", err)
	}
	if _, ok := withObject.Load(typeOfRun); ok {
		t.Error("a deleted object taken for a missing subresource")
	}
}

var typeOfRun = reflect.TypeOf(&v1alpha1.AnalysisRun{})

// staleReads answers reads with what it held before (an informer's cache
// behind the API server) and counts writes to objects rather than status.
type staleReads struct {
	client.Client
	held         map[client.ObjectKey]client.Object
	objectWrites int
}

func (s *staleReads) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if o, ok := s.held[key]; ok {
		reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(o.DeepCopyObject()).Elem())
		return nil
	}
	return s.Client.Get(ctx, key, obj, opts...)
}

func (s *staleReads) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	s.objectWrites++
	return s.Client.Patch(ctx, obj, patch, opts...)
}

// A status write to an object the API server deleted, through a client
// whose reads still show it (a namespace torn down while the informer lags),
// is NotFound and teaches nothing: CI once saw such a write mark Rollouts as
// kinds without a status subresource, and every later Rollout status write
// went to the object, refused by RBAC. A Rollout's status is never written
// through the object.
func TestDeletedObjectBehindAStaleCache(t *testing.T) {
	env := testenv.Start(t)
	ctx := context.Background()
	for _, obj := range []client.Object{
		&v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "gone"}, Spec: v1alpha1.RolloutSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "x"}}}}}},
		&v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "gone"}, Spec: v1alpha1.AnalysisRunSpec{
			Metrics: []v1alpha1.Metric{{Name: "m", Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://127.0.0.1:1/"}}}}}},
	} {
		typ := reflect.TypeOf(obj)
		withObject.Delete(typ)
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
		stale := &staleReads{Client: env.Client, held: map[client.ObjectKey]client.Object{client.ObjectKeyFromObject(obj): obj.DeepCopyObject().(client.Object)}}
		if err := env.Client.Delete(ctx, obj); err != nil {
			t.Fatal(err)
		}
		before := obj.DeepCopyObject().(client.Object)
		obj.SetAnnotations(nil)
		switch o := obj.(type) {
		case *v1alpha1.Rollout:
			o.Status.Phase = v1alpha1.RolloutPhaseProgressing
		case *v1alpha1.AnalysisRun:
			o.Status.Phase = v1alpha1.AnalysisPhaseRunning
		}
		if err := Patch(ctx, stale, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); !apierrors.IsNotFound(err) {
			t.Errorf("%T: writing a deleted object's status: %v, want NotFound", obj, err)
		}
		if _, ok := withObject.Load(typ); ok {
			t.Errorf("%T: a deleted object taken for a missing subresource", obj)
		}
		if _, isRollout := obj.(*v1alpha1.Rollout); isRollout && stale.objectWrites != 0 {
			t.Errorf("a Rollout's status written through the object (%d writes): RBAC lets Vireo patch only rollouts/status", stale.objectWrites)
		}
	}
}
