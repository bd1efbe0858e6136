package alb_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/testenv"
	"github.com/vireo-dev/vireo/internal/trafficrouting/alb"
)

func path(p, service string, port networkingv1.ServiceBackendPort) networkingv1.HTTPIngressPath {
	return networkingv1.HTTPIngressPath{Path: p, PathType: ptr.To(networkingv1.PathTypePrefix), Backend: networkingv1.IngressBackend{
		Service: &networkingv1.IngressServiceBackend{Name: service, Port: port}}}
}

var useAnnotation = networkingv1.ServiceBackendPort{Name: alb.UseAnnotation}

// forward is the decoded action annotation: service name → weight.
func forward(t *testing.T, value string) map[string]int64 {
	t.Helper()
	var a struct {
		Type          string
		ForwardConfig struct {
			TargetGroups []struct {
				ServiceName, ServicePort string
				Weight                   int64
			}
			TargetGroupStickinessConfig *struct {
				Enabled         bool
				DurationSeconds int64
			}
		}
	}
	if err := json.Unmarshal([]byte(value), &a); err != nil {
		t.Fatalf("action %q: %v", value, err)
	}
	if a.Type != "forward" {
		t.Errorf("action type %q", a.Type)
	}
	if s := a.ForwardConfig.TargetGroupStickinessConfig; s == nil || !s.Enabled || s.DurationSeconds != 300 {
		t.Errorf("stickiness lost: %s", value)
	}
	out := map[string]int64{}
	for _, g := range a.ForwardConfig.TargetGroups {
		if g.ServicePort != "8080" {
			t.Errorf("service port %q", g.ServicePort)
		}
		out[g.ServiceName] = g.Weight
	}
	return out
}

// The router against a real API server: weights land in the action
// annotation of both Ingresses, header routes add a condition, an action and
// a path ahead of the weighted one in managedRoutes order, and go again.
func TestActionAnnotations(t *testing.T) {
	env := testenv.Start(t)
	c := env.Client
	ctx := context.Background()
	ns := "shop"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"web", "web-internal"} {
		in := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			Annotations: map[string]string{"alb.ingress.kubernetes.io/scheme": "internet-facing"}},
			Spec: networkingv1.IngressSpec{IngressClassName: ptr.To("alb"), Rules: []networkingv1.IngressRule{
				{Host: "web.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{path("/", "web-root", useAnnotation), path("/admin", "admin", networkingv1.ServiceBackendPort{Number: 80})}}}},
			}}}
		if err := c.Create(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
			StableService: "web-stable", CanaryService: "web-canary",
			TrafficRouting: &v1alpha1.RolloutTrafficRouting{
				ALB: &v1alpha1.ALBTrafficRouting{Ingress: "web", Ingresses: []string{"web-internal"}, ServicePort: 8080, RootService: "web-root",
					StickinessConfig: &v1alpha1.StickinessConfig{Enabled: true, DurationSeconds: 300}},
				ManagedRoutes: []v1alpha1.MangedRoutes{{Name: "beta"}, {Name: "qa"}},
			},
		}}}}
	r := alb.Router{Client: c, Rollout: ro}
	get := func(name string) *networkingv1.Ingress {
		t.Helper()
		in := &networkingv1.Ingress{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, in); err != nil {
			t.Fatal(err)
		}
		return in
	}
	backendsOf := func(in *networkingv1.Ingress) string {
		var names []string
		for _, p := range in.Spec.Rules[0].HTTP.Paths {
			names = append(names, p.Path+"→"+p.Backend.Service.Name)
		}
		return strings.Join(names, " ")
	}

	for _, w := range []int32{10, 60, 100, 0} {
		if err := r.SetWeight(ctx, w); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"web", "web-internal"} {
			in := get(name)
			got := forward(t, in.Annotations["alb.ingress.kubernetes.io/actions.web-root"])
			if got["web-canary"] != int64(w) || got["web-stable"] != int64(100-w) {
				t.Errorf("%s at weight %d: %v", name, w, got)
			}
			if in.Annotations["alb.ingress.kubernetes.io/scheme"] != "internet-facing" {
				t.Errorf("%s lost the user's annotation", name)
			}
		}
		if ok, err := r.VerifyWeight(ctx, w); !ok || err != nil {
			t.Errorf("weight %d not verified: %v", w, err)
		}
	}
	if ok, _ := r.VerifyWeight(ctx, 5); ok {
		t.Error("weight 5 verified while 0 is set")
	}

	// Header routes, set in the reverse of their managedRoutes order.
	qa := &v1alpha1.SetHeaderRoute{Name: "qa", Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "X-QA", HeaderValue: &v1alpha1.StringMatch{Prefix: "team-"}}}}
	beta := &v1alpha1.SetHeaderRoute{Name: "beta", Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "X-Beta", HeaderValue: &v1alpha1.StringMatch{Exact: "yes"}}}}
	for _, route := range []*v1alpha1.SetHeaderRoute{qa, beta, beta} {
		if err := r.SetHeaderRoute(ctx, route); err != nil {
			t.Fatal(err)
		}
	}
	in := get("web")
	if got, want := backendsOf(in), "/→beta /→qa /→web-root /admin→admin"; got != want {
		t.Errorf("paths %s, want %s", got, want)
	}
	if got := in.Annotations["alb.ingress.kubernetes.io/conditions.qa"]; got != `[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X-QA","values":["team-*"]}}]` {
		t.Errorf("qa condition %s", got)
	}
	if got := forward(t, in.Annotations["alb.ingress.kubernetes.io/actions.beta"]); got["web-canary"] != 100 || len(got) != 1 {
		t.Errorf("beta action %v", got)
	}
	if err := r.SetHeaderRoute(ctx, &v1alpha1.SetHeaderRoute{Name: "qa"}); err != nil {
		t.Fatal(err)
	}
	if got := backendsOf(get("web-internal")); got != "/→beta /→web-root /admin→admin" {
		t.Errorf("after removing qa: %s", got)
	}
	if err := r.RemoveManagedRoutes(ctx); err != nil {
		t.Fatal(err)
	}
	in = get("web")
	if got := backendsOf(in); got != "/→web-root /admin→admin" {
		t.Errorf("after removing all: %s", got)
	}
	for k := range in.Annotations {
		if strings.Contains(k, "beta") || strings.Contains(k, "qa") {
			t.Errorf("annotation %s left", k)
		}
	}

	// What ALB cannot express, and Ingresses it cannot use, are named.
	if err := r.SetHeaderRoute(ctx, &v1alpha1.SetHeaderRoute{Name: "x", Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "X", HeaderValue: &v1alpha1.StringMatch{Regex: "a.*"}}}}); err == nil || !strings.Contains(err.Error(), "regular expression") {
		t.Errorf("regex header: %v", err)
	}
	if err := r.SetMirrorRoute(ctx, &v1alpha1.SetMirrorRoute{Name: "m"}); err == nil {
		t.Error("mirror accepted")
	}
	ro.Spec.Strategy.Canary.TrafficRouting.ALB.RootService = "admin"
	if err := r.SetWeight(ctx, 10); err == nil || !strings.Contains(err.Error(), `must use port name "use-annotation"`) {
		t.Errorf("backend without use-annotation: %v", err)
	}
	ro.Spec.Strategy.Canary.TrafficRouting.ALB.RootService = ""
	if err := r.SetWeight(ctx, 10); err == nil || !strings.Contains(err.Error(), "Ingress web has no backend for the Service web-stable") {
		t.Errorf("no backend: %v", err)
	}
	ro.Spec.Strategy.Canary.TrafficRouting.ALB.Ingress = "nope"
	if err := r.SetWeight(ctx, 10); err == nil || !strings.Contains(err.Error(), "Ingress nope not found") {
		t.Errorf("missing Ingress: %v", err)
	}
}
