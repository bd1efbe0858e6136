package gatewayapi_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/testenv"
	"github.com/vireo-dev/vireo/internal/trafficrouting/gatewayapi"
)

func ref(name string, weight *int32) gatewayv1.HTTPBackendRef {
	return gatewayv1.HTTPBackendRef{BackendRef: gatewayv1.BackendRef{Weight: weight,
		BackendObjectReference: gatewayv1.BackendObjectReference{Name: gatewayv1.ObjectName(name), Port: ptr.To(gatewayv1.PortNumber(80))}}}
}

func rollout(config string) *v1alpha1.Rollout {
	return &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
			StableService: "web-stable", CanaryService: "web-canary",
			TrafficRouting: &v1alpha1.RolloutTrafficRouting{Plugins: map[string]apiextv1.JSON{gatewayapi.PluginName: {Raw: []byte(config)}}}}}}}
}

// Weights, header and mirror routes on a real HTTPRoute and GRPCRoute, with
// the Gateway API's own CRDs (and their validation) in a real API server.
func TestRoutes(t *testing.T) {
	env := testenv.Start(t, testenv.GatewayCRDs(t))
	c := env.Client
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	parent := []gatewayv1.ParentReference{{Name: "gw"}}
	httpRoute := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: gatewayv1.HTTPRouteSpec{CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: parent}, Rules: []gatewayv1.HTTPRouteRule{
			{Matches: []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{Type: ptr.To(gatewayv1.PathMatchPathPrefix), Value: ptr.To("/")}}},
				BackendRefs: []gatewayv1.HTTPBackendRef{ref("web-stable", nil), ref("web-canary", ptr.To[int32](0))}},
			{Matches: []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{Type: ptr.To(gatewayv1.PathMatchPathPrefix), Value: ptr.To("/static")}}},
				BackendRefs: []gatewayv1.HTTPBackendRef{ref("cdn", nil)}},
		}}}
	grpcRoute := &gatewayv1.GRPCRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-grpc"},
		Spec: gatewayv1.GRPCRouteSpec{CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: parent}, Rules: []gatewayv1.GRPCRouteRule{
			{BackendRefs: []gatewayv1.GRPCBackendRef{{BackendRef: ref("web-stable", nil).BackendRef}, {BackendRef: ref("web-canary", nil).BackendRef}}}}}}
	for _, o := range []client.Object{httpRoute, grpcRoute} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	ro := rollout(`{"httpRoute":"web","grpcRoutes":[{"name":"web-grpc"}]}`)
	cfg, ok, err := gatewayapi.ConfigOf(ro)
	if !ok || err != nil {
		t.Fatalf("config: %v %v", ok, err)
	}
	r := gatewayapi.Router{Client: c, Rollout: ro, Config: cfg}
	get := func() (*gatewayv1.HTTPRoute, *gatewayv1.GRPCRoute) {
		t.Helper()
		var h gatewayv1.HTTPRoute
		var g gatewayv1.GRPCRoute
		if err := c.Get(ctx, client.ObjectKeyFromObject(httpRoute), &h); err != nil {
			t.Fatal(err)
		}
		if err := c.Get(ctx, client.ObjectKeyFromObject(grpcRoute), &g); err != nil {
			t.Fatal(err)
		}
		return &h, &g
	}

	if err := r.SetWeight(ctx, 20); err != nil {
		t.Fatal(err)
	}
	h, g := get()
	// (the API server defaults an unset weight to 1: the other rule keeps it)
	if w := h.Spec.Rules[0].BackendRefs; *w[0].Weight != 80 || *w[1].Weight != 20 || *h.Spec.Rules[1].BackendRefs[0].Weight != 1 {
		t.Errorf("http weights %+v / %+v", w, h.Spec.Rules[1].BackendRefs)
	}
	if w := g.Spec.Rules[0].BackendRefs; *w[0].Weight != 80 || *w[1].Weight != 20 {
		t.Errorf("grpc weights %+v", w)
	}
	if ok, err := r.VerifyWeight(ctx, 20); !ok || err != nil {
		t.Errorf("verify 20: %v %v", ok, err)
	}
	if ok, _ := r.VerifyWeight(ctx, 40); ok {
		t.Error("weight 40 verified while 20 is set")
	}

	// A header route: requests with X-Canary: yes go to the canary.
	if err := r.SetHeaderRoute(ctx, &v1alpha1.SetHeaderRoute{Name: "canary-header",
		Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "X-Canary", HeaderValue: &v1alpha1.StringMatch{Exact: "yes"}}}}); err != nil {
		t.Fatal(err)
	}
	// A mirror route: 30% of GETs under /api are copied to the canary.
	if err := r.SetMirrorRoute(ctx, &v1alpha1.SetMirrorRoute{Name: "mirror-api", Percentage: ptr.To[int32](30),
		Match: []v1alpha1.RouteMatch{{Method: &v1alpha1.StringMatch{Exact: "GET"}, Path: &v1alpha1.StringMatch{Prefix: "/api"}}}}); err != nil {
		t.Fatal(err)
	}
	h, _ = get()
	if len(h.Spec.Rules) != 4 {
		t.Fatalf("%d rules, want the 2 of the route and 2 managed", len(h.Spec.Rules))
	}
	hdr, mir := h.Spec.Rules[2], h.Spec.Rules[3]
	if *hdr.Name != "vireo-canary-header" || len(hdr.BackendRefs) != 1 || hdr.BackendRefs[0].Name != "web-canary" ||
		hdr.Matches[0].Headers[0].Value != "yes" || *hdr.Matches[0].Path.Value != "/" {
		t.Errorf("header rule %+v", hdr)
	}
	if *mir.Name != "vireo-mirror-api" || mir.BackendRefs[0].Name != "web-stable" || mir.Filters[0].RequestMirror.BackendRef.Name != "web-canary" ||
		*mir.Filters[0].RequestMirror.Percent != 30 || *mir.Matches[0].Method != "GET" {
		t.Errorf("mirror rule %+v", mir)
	}
	// Setting the header route again replaces it; weights leave managed rules alone.
	if err := r.SetWeight(ctx, 50); err != nil {
		t.Fatal(err)
	}
	if err := r.SetHeaderRoute(ctx, &v1alpha1.SetHeaderRoute{Name: "canary-header",
		Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "X-Canary", HeaderValue: &v1alpha1.StringMatch{Prefix: "y"}}}}); err != nil {
		t.Fatal(err)
	}
	h, _ = get()
	if len(h.Spec.Rules) != 4 || h.Spec.Rules[3].Matches[0].Headers[0].Value != "^y.*" || *h.Spec.Rules[0].BackendRefs[1].Weight != 50 {
		t.Errorf("after replacing the header route: %+v", h.Spec.Rules)
	}

	// On abort: weight 0 and managed routes removed; the user's rules untouched.
	if err := r.RemoveManagedRoutes(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.SetWeight(ctx, 0); err != nil {
		t.Fatal(err)
	}
	h, g = get()
	if len(h.Spec.Rules) != 2 || *h.Spec.Rules[0].BackendRefs[0].Weight != 100 || *h.Spec.Rules[0].BackendRefs[1].Weight != 0 ||
		*g.Spec.Rules[0].BackendRefs[1].Weight != 0 || h.Spec.Rules[1].BackendRefs[0].Name != "cdn" {
		t.Errorf("after abort: %+v %+v", h.Spec.Rules, g.Spec.Rules)
	}
	rv := h.ResourceVersion
	if err := r.SetWeight(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if h, _ = get(); h.ResourceVersion != rv {
		t.Error("setting the weight it holds wrote the HTTPRoute")
	}
}

func TestErrors(t *testing.T) {
	if _, _, err := gatewayapi.ConfigOf(rollout(`{"httpRoutes":[{"name":"a","useHeaderRoute":true}]}`)); err == nil || !strings.Contains(err.Error(), `unknown field "useHeaderRoute"`) {
		t.Errorf("misspelt field: %v", err)
	}
	if _, _, err := gatewayapi.ConfigOf(rollout(`{"namespace":"x"}`)); err == nil || !strings.Contains(err.Error(), "name an httpRoute") {
		t.Errorf("no route: %v", err)
	}
	env := testenv.Start(t, testenv.GatewayCRDs(t))
	ctx := context.Background()
	ro := rollout(`{"httpRoute":"web"}`)
	cfg, _, _ := gatewayapi.ConfigOf(ro)
	r := gatewayapi.Router{Client: env.Client, Rollout: ro, Config: cfg}
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	if err := r.SetWeight(ctx, 10); err == nil || !strings.Contains(err.Error(), "HTTPRoute web not found in namespace shop") {
		t.Errorf("missing route: %v", err)
	}
	route := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: gatewayv1.HTTPRouteSpec{Rules: []gatewayv1.HTTPRouteRule{{BackendRefs: []gatewayv1.HTTPBackendRef{ref("web-stable", nil)}}}}}
	if err := env.Client.Create(ctx, route); err != nil {
		t.Fatal(err)
	}
	if err := r.SetWeight(ctx, 10); err == nil || !strings.Contains(err.Error(), "no rule with backendRefs to both the stable Service web-stable and the canary Service web-canary") {
		t.Errorf("no canary backend: %v", err)
	}
	if err := r.SetMirrorRoute(ctx, &v1alpha1.SetMirrorRoute{Name: "m", Match: []v1alpha1.RouteMatch{{Method: &v1alpha1.StringMatch{Regex: "G.*"}}}}); err == nil || !strings.Contains(err.Error(), "matches a method exactly") {
		t.Errorf("method regex: %v", err)
	}
}
