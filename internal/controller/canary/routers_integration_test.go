package canary

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/record"
	testclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
	"github.com/vireo-dev/vireo/internal/testenv"
)

// The traefik and Gateway API providers against a real API server with
// their CRDs: a weighted TraefikService, or an HTTPRoute, named after the
// apex Service, the primary alone until the analysis, then both at the
// step's weights, and the primary alone again after the promotion. An idle
// pass rewrites nothing (the API server's defaults are written out).
func TestRoutersAgainstRealAPIServer(t *testing.T) {
	env := testenv.Start(t, testenv.TraefikCRDs(t, false), testenv.GatewayCRDs(t))
	for _, tc := range []struct {
		provider string
		gvk      schema.GroupVersionKind
		read     func(u *unstructured.Unstructured) string
		initial  string
		step     string
	}{
		{"traefik", traefikServiceGVKs[0], traefikWeights, "web-primary:80@100 ", "web-primary:80@75 web-canary:80@25 "},
		{"gatewayapi:v1", schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"}, routeWeights,
			"gw/web.example.com: web-primary:80@100 web-canary:80@0 ", "gw/web.example.com: web-primary:80@75 web-canary:80@25 "},
		{"gatewayapi:v1beta1", schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1beta1", Kind: "HTTPRoute"}, routeWeights,
			"gw/web.example.com: web-primary:80@100 web-canary:80@0 ", "gw/web.example.com: web-primary:80@75 web-canary:80@25 "},
		{"nginx", schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}, nginxWeights,
			"web-canary: canary=true weight=0 backend=web-canary", "web-canary: canary=true weight=25 backend=web-canary"},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			ns := strings.ReplaceAll(strings.ReplaceAll(tc.provider, ":", "-"), "gatewayapi", "gw")
			obj := "web"
			if tc.provider == "nginx" {
				obj = "web-canary"
			}
			routerCase(t, env, ns, tc.provider, tc.gvk, obj, tc.read, tc.initial, tc.step)
		})
	}
}

func nginxWeights(u *unstructured.Unstructured) string {
	ann := u.GetAnnotations()
	backend := ""
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	if len(rules) > 0 {
		paths, _, _ := unstructured.NestedSlice(rules[0].(map[string]any), "http", "paths")
		if len(paths) > 0 {
			backend, _, _ = unstructured.NestedString(paths[0].(map[string]any), "backend", "service", "name")
		}
	}
	return fmt.Sprintf("%s: canary=%s weight=%s backend=%s", u.GetName(), ann["nginx.ingress.kubernetes.io/canary"],
		ann["nginx.ingress.kubernetes.io/canary-weight"], backend)
}

func traefikWeights(u *unstructured.Unstructured) string {
	list, _, _ := unstructured.NestedSlice(u.Object, "spec", "weighted", "services")
	out := ""
	for _, s := range list {
		m := s.(map[string]any)
		out += fmt.Sprintf("%s:%v@%v ", m["name"], m["port"], m["weight"])
	}
	return out
}

func routeWeights(u *unstructured.Unstructured) string {
	parents, _, _ := unstructured.NestedSlice(u.Object, "spec", "parentRefs")
	hosts, _, _ := unstructured.NestedStringSlice(u.Object, "spec", "hostnames")
	out := ""
	for _, p := range parents {
		out += fmt.Sprint(p.(map[string]any)["name"]) + "/"
	}
	out += strings.Join(hosts, ",") + ": "
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	for _, r := range rules {
		refs, _ := r.(map[string]any)["backendRefs"].([]any)
		for _, ref := range refs {
			m := ref.(map[string]any)
			out += fmt.Sprintf("%s:%v@%v ", m["name"], m["port"], m["weight"])
		}
	}
	return out
}

// fixture is a Canary over the Deployment web in its own namespace, with
// a reconciler on a fake clock.
type fixture struct {
	t   *testing.T
	c   client.Client
	ns  string
	cn  *v1beta1.Canary
	r   *Reconciler
	clk *testclock.FakePassiveClock
}

func newFixture(t *testing.T, env *testenv.Env, ns, provider string, edit func(*v1beta1.Canary)) *fixture {
	c := env.Client
	ctx := context.Background()
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
	if provider == "nginx" {
		pathType := networkingv1.PathTypePrefix
		must(t, c.Create(ctx, &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web", Annotations: map[string]string{"kubernetes.io/ingress.class": "nginx"}},
			Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "web.example.com", IngressRuleValue: networkingv1.IngressRuleValue{
				HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &pathType,
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}},
		}))
	}
	cn := &v1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: v1beta1.CanarySpec{
			Provider:  provider,
			TargetRef: v1beta1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			Service: v1beta1.CanaryService{Port: 80, TargetPort: intOrString(8080), Hosts: []string{"web.example.com"},
				GatewayRefs: []v1beta1.ParentReference{{Name: "gw"}}},
			IngressRef: &v1beta1.IngressReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "web"},
			Analysis:   &v1beta1.CanaryAnalysis{Interval: "30s", Threshold: 2, StepWeight: 25, MaxWeight: 50},
		},
	}
	if edit != nil {
		edit(cn)
	}
	must(t, c.Create(ctx, cn))
	clk := testclock.NewFakePassiveClock(time.Now().Truncate(time.Second))
	r := &Reconciler{Client: c, APIReader: c, Recorder: record.NewFakeRecorder(100), Clock: clk, Provider: "istio",
		Checker: &Checker{Reader: c}}
	return &fixture{t: t, c: c, ns: ns, cn: cn, r: r, clk: clk}
}

// pass reconciles once and reads the Canary back.
func (f *fixture) pass() {
	f.t.Helper()
	ctx := context.Background()
	if _, err := f.r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(f.cn)}); err != nil {
		f.t.Fatalf("reconcile: %v", err)
	}
	must(f.t, f.c.Get(ctx, client.ObjectKeyFromObject(f.cn), f.cn))
}

// settle reports a Deployment's replicas all updated and available.
func (f *fixture) settle(name string) {
	f.t.Helper()
	ctx := context.Background()
	var d appsv1.Deployment
	must(f.t, f.c.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: name}, &d))
	n := ptr.Deref(d.Spec.Replicas, 1)
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
	must(f.t, f.c.Status().Update(ctx, &d))
}

func (f *fixture) object(gvk schema.GroupVersionKind, name string) *unstructured.Unstructured {
	f.t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	must(f.t, f.c.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: name}, u))
	return u
}

// setImage changes the target's image: a new revision.
func (f *fixture) setImage(image string) {
	f.t.Helper()
	ctx := context.Background()
	var d appsv1.Deployment
	must(f.t, f.c.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "web"}, &d))
	d.Spec.Template.Spec.Containers[0].Image = image
	must(f.t, f.c.Update(ctx, &d))
}

// tick moves the clock one interval on and reconciles.
func (f *fixture) tick() {
	f.clk.SetTime(f.clk.Now().Add(30 * time.Second))
	f.pass()
}

func routerCase(t *testing.T, env *testenv.Env, ns, provider string, gvk schema.GroupVersionKind, obj string, read func(*unstructured.Unstructured) string, initial, step string) {
	f := newFixture(t, env, ns, provider, nil)
	cn, pass, settle := f.cn, f.pass, f.settle
	object := func() *unstructured.Unstructured { return f.object(gvk, obj) }
	services := func() string { return read(object()) }
	pass()
	settle("web-primary")
	pass()
	if cn.Status.Phase != v1beta1.PhaseInitialized {
		t.Fatalf("phase %s", cn.Status.Phase)
	}
	if got := services(); got != initial {
		t.Errorf("%s after initialization: %s, want %s", gvk.Kind, got, initial)
	}
	rv := object().GetResourceVersion()
	pass()
	if object().GetResourceVersion() != rv {
		t.Errorf("an idle pass rewrote the %s", gvk.Kind)
	}
	f.setImage("web:2")
	pass()
	settle("web")
	f.tick()
	if got := services(); got != step {
		t.Errorf("%s at the first step: %s, want %s", gvk.Kind, got, step)
	}
	for i := 0; i < 6 && cn.Status.Phase != v1beta1.PhaseSucceeded; i++ {
		f.tick()
		settle("web-primary")
	}
	if cn.Status.Phase != v1beta1.PhaseSucceeded {
		t.Fatalf("phase %s, want Succeeded", cn.Status.Phase)
	}
	if got := services(); got != initial {
		t.Errorf("%s after the promotion: %s, want %s", gvk.Kind, got, initial)
	}
}
