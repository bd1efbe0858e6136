package nginx_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/testenv"
	"github.com/vireo-dev/vireo/internal/trafficrouting/nginx"
)

func path(p, service string) networkingv1.HTTPIngressPath {
	return networkingv1.HTTPIngressPath{Path: p, PathType: ptr.To(networkingv1.PathTypePrefix), Backend: networkingv1.IngressBackend{
		Service: &networkingv1.IngressServiceBackend{Name: service, Port: networkingv1.ServiceBackendPort{Number: 80}}}}
}

// The seed 001 Rollout's router against a real API server: the canary
// Ingress is created from the stable one, carries the weight and the
// additional annotations, follows header routes, and belongs to the rollout.
func TestCanaryIngress(t *testing.T) {
	env := testenv.Start(t)
	c := env.Client
	ctx := context.Background()
	ns := "shop"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	stable := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rollouts-demo-stable",
		Annotations: map[string]string{"kubernetes.io/ingress.class": "nginx", "team": "web"}},
		Spec: networkingv1.IngressSpec{IngressClassName: ptr.To("nginx"), Rules: []networkingv1.IngressRule{
			{Host: "rollouts-demo.local", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{path("/", "rollouts-demo-stable"), path("/admin", "admin")}}}},
			{Host: "other.local", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{path("/", "other")}}}},
		}}}
	if err := c.Create(ctx, stable); err != nil {
		t.Fatal(err)
	}
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rollouts-demo"},
		Spec: v1alpha1.RolloutSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "demo"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "demo"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "demo", Image: "argoproj/rollouts-demo:blue"}}}},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
				StableService: "rollouts-demo-stable", CanaryService: "rollouts-demo-canary",
				TrafficRouting: &v1alpha1.RolloutTrafficRouting{Nginx: &v1alpha1.NginxTrafficRouting{
					StableIngress:                "rollouts-demo-stable",
					AdditionalIngressAnnotations: map[string]string{"canary-by-header": "X-Canary"},
				}},
			}},
		}}
	if err := c.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	r := nginx.Router{Client: c, Rollout: ro}
	canary := func() *networkingv1.Ingress {
		t.Helper()
		var ing networkingv1.Ingress
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rollouts-demo-rollouts-demo-stable-canary"}, &ing); err != nil {
			t.Fatal(err)
		}
		return &ing
	}
	const p = "nginx.ingress.kubernetes.io/"

	if ok, err := r.VerifyWeight(ctx, 0); ok || err != nil {
		t.Errorf("no canary Ingress yet: verified %v, %v", ok, err)
	}
	if err := r.SetWeight(ctx, 20); err != nil {
		t.Fatal(err)
	}
	ing := canary()
	a := ing.Annotations
	if a[p+"canary"] != "true" || a[p+"canary-weight"] != "20" || a[p+"canary-by-header"] != "X-Canary" || a["team"] != "" || a["kubernetes.io/ingress.class"] != "nginx" {
		t.Errorf("annotations %v", a)
	}
	if !metav1.IsControlledBy(ing, ro) || *ing.Spec.IngressClassName != "nginx" {
		t.Errorf("owner %v class %v", ing.OwnerReferences, ing.Spec.IngressClassName)
	}
	if len(ing.Spec.Rules) != 1 || len(ing.Spec.Rules[0].HTTP.Paths) != 1 || ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name != "rollouts-demo-canary" {
		t.Errorf("rules %+v: want only the stable Service's path, sent to the canary", ing.Spec.Rules)
	}
	if ok, err := r.VerifyWeight(ctx, 20); !ok || err != nil {
		t.Errorf("weight 20 not verified: %v", err)
	}

	// A new weight is one update; the same weight again writes nothing.
	if err := r.SetWeight(ctx, 50); err != nil {
		t.Fatal(err)
	}
	rv := canary().ResourceVersion
	if err := r.SetWeight(ctx, 50); err != nil {
		t.Fatal(err)
	}
	if got := canary(); got.ResourceVersion != rv || got.Annotations[p+"canary-weight"] != "50" {
		t.Errorf("weight 50 set twice: resourceVersion %s -> %s, weight %s", rv, got.ResourceVersion, got.Annotations[p+"canary-weight"])
	}

	// Header routes: exact and regex; removing them leaves the weight.
	route := &v1alpha1.SetHeaderRoute{Name: "canary-header", Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "X-Version", HeaderValue: &v1alpha1.StringMatch{Exact: "canary"}}}}
	if err := r.SetHeaderRoute(ctx, route); err != nil {
		t.Fatal(err)
	}
	if a := canary().Annotations; a[p+"canary-by-header"] != "X-Version" || a[p+"canary-by-header-value"] != "canary" {
		t.Errorf("header route: %v", a)
	}
	if err := r.RemoveManagedRoutes(ctx); err != nil {
		t.Fatal(err)
	}
	// The user's own canary-by-header comes back once the step's route goes.
	if a := canary().Annotations; a[p+"canary-by-header-value"] != "" || a[p+"canary-weight"] != "50" || a[p+"canary-by-header"] != "X-Canary" {
		t.Errorf("after removing routes: %v", a)
	}
	if err := r.SetHeaderRoute(ctx, &v1alpha1.SetHeaderRoute{Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "X", HeaderValue: &v1alpha1.StringMatch{Prefix: "a"}}}}); err == nil || !strings.Contains(err.Error(), "prefix") {
		t.Errorf("prefix match: %v", err)
	}
	if err := r.SetMirrorRoute(ctx, &v1alpha1.SetMirrorRoute{Name: "m"}); err != nginx.ErrMirrorUnsupported {
		t.Errorf("mirror: %v", err)
	}

	// The weight back to 0 at the end.
	if err := r.SetWeight(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if ok, _ := r.VerifyWeight(ctx, 0); !ok {
		t.Error("weight 0 not verified")
	}
}

func TestCanaryIngressErrors(t *testing.T) {
	env := testenv.Start(t)
	c := env.Client
	ctx := context.Background()
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "ro", UID: "u-1"},
		Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
			StableService: "stable", CanaryService: "canary",
			TrafficRouting: &v1alpha1.RolloutTrafficRouting{Nginx: &v1alpha1.NginxTrafficRouting{StableIngress: "web"}}}}}}
	r := nginx.Router{Client: c, Rollout: ro}
	if err := r.SetWeight(ctx, 10); err == nil || !strings.Contains(err.Error(), "stable Ingress web not found in namespace default") {
		t.Errorf("missing stable Ingress: %v", err)
	}
	web := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "elsewhere", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}
	if err := c.Create(ctx, web); err != nil {
		t.Fatal(err)
	}
	if err := r.SetWeight(ctx, 10); err == nil || !strings.Contains(err.Error(), "no backend for the stable Service stable") {
		t.Errorf("no stable backend: %v", err)
	}
	web.Spec.DefaultBackend.Service.Name = "stable"
	if err := c.Update(ctx, web); err != nil {
		t.Fatal(err)
	}
	// Someone else's Ingress under the canary's name is not taken over.
	foreign := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "ro-web-canary"}, Spec: web.Spec}
	if err := c.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	if err := r.SetWeight(ctx, 10); err == nil || !strings.Contains(err.Error(), "not this rollout's canary Ingress") {
		t.Errorf("foreign Ingress: %v", err)
	}
}
