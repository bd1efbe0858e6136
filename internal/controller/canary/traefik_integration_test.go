package canary

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/record"
	testclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
	"github.com/vireo-dev/vireo/internal/testenv"
)

// The traefik provider against a real API server with Traefik's CRDs: a
// weighted TraefikService named after the apex Service, the primary alone
// at 100 until the analysis, then both at the step's weights.
func TestTraefikRouterAgainstRealAPIServer(t *testing.T) {
	env := testenv.Start(t, testenv.TraefikCRDs(t, false))
	c := env.Client
	ctx := context.Background()
	ns := "traefik"
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	must(t, c.Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:1"}}},
			},
		},
	}))
	cn := &v1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: v1beta1.CanarySpec{
			Provider:  "traefik",
			TargetRef: v1beta1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			Service:   v1beta1.CanaryService{Port: 80, TargetPort: intOrString(8080)},
			Analysis:  &v1beta1.CanaryAnalysis{Interval: "30s", Threshold: 2, StepWeight: 25, MaxWeight: 50},
		},
	}
	must(t, c.Create(ctx, cn))
	clk := testclock.NewFakePassiveClock(time.Now().Truncate(time.Second))
	r := &Reconciler{Client: c, APIReader: c, Recorder: record.NewFakeRecorder(100), Clock: clk, Provider: "istio",
		Checker: &Checker{Reader: c}}
	pass := func() {
		t.Helper()
		if _, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(cn)}); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
		must(t, c.Get(ctx, client.ObjectKeyFromObject(cn), cn))
	}
	settle := func(name string) {
		t.Helper()
		var d appsv1.Deployment
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d))
		n := ptr.Deref(d.Spec.Replicas, 1)
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
		must(t, c.Status().Update(ctx, &d))
	}
	services := func() string {
		t.Helper()
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(traefikServiceGVKs[0])
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, u))
		list, _, _ := unstructured.NestedSlice(u.Object, "spec", "weighted", "services")
		out := ""
		for _, s := range list {
			m := s.(map[string]any)
			out += fmt.Sprintf("%s:%v@%v ", m["name"], m["port"], m["weight"])
		}
		return out
	}
	pass()
	settle("web-primary")
	pass()
	if cn.Status.Phase != v1beta1.PhaseInitialized {
		t.Fatalf("phase %s", cn.Status.Phase)
	}
	if got := services(); got != "web-primary:80@100 " {
		t.Errorf("TraefikService after initialization: %s", got)
	}
	var d appsv1.Deployment
	must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &d))
	d.Spec.Template.Spec.Containers[0].Image = "web:2"
	must(t, c.Update(ctx, &d))
	pass()
	settle("web")
	clk.SetTime(clk.Now().Add(30 * time.Second))
	pass()
	if got := services(); got != "web-primary:80@75 web-canary:80@25 " {
		t.Errorf("TraefikService at the first step: %s", got)
	}
	for i := 0; i < 6 && cn.Status.Phase != v1beta1.PhaseSucceeded; i++ {
		clk.SetTime(clk.Now().Add(30 * time.Second))
		pass()
		settle("web-primary")
	}
	if cn.Status.Phase != v1beta1.PhaseSucceeded {
		t.Fatalf("phase %s, want Succeeded", cn.Status.Phase)
	}
	if got := services(); got != "web-primary:80@100 " {
		t.Errorf("TraefikService after the promotion: %s", got)
	}
}
