package ambassador_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/testenv"
	"github.com/vireo-dev/vireo/internal/trafficrouting/ambassador"
)

const baseMapping = `{"apiVersion":"getambassador.io/v3alpha1","kind":"Mapping","metadata":{"name":"%s","namespace":"shop"},
"spec":{"prefix":"/%s/","service":"%s","timeout_ms":3000}}`

// The router against a real API server with Emissary's Mapping CRD: canary
// copies carry the weight, header and mirror routes are copies of their
// own, and every copy belongs to the rollout.
func TestMappings(t *testing.T) {
	env := testenv.Start(t, testenv.AmbassadorCRDs(t))
	c := env.Client
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	for _, m := range [][3]string{{"web", "web", "web-stable:8080"}, {"api", "api", "http://web-stable.shop:8080"}, {"weighted", "w", "web-stable"}, {"other", "o", "elsewhere:80"}} {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON([]byte(strings.NewReplacer("%s", m[0]).Replace(baseMapping))); err != nil {
			t.Fatal(err)
		}
		_ = unstructured.SetNestedField(u.Object, "/"+m[1]+"/", "spec", "prefix")
		_ = unstructured.SetNestedField(u.Object, m[2], "spec", "service")
		if m[0] == "weighted" {
			_ = unstructured.SetNestedField(u.Object, int64(50), "spec", "weight")
		}
		if err := c.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: "uid-web"},
		Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
			StableService: "web-stable", CanaryService: "web-canary",
			TrafficRouting: &v1alpha1.RolloutTrafficRouting{
				Ambassador:       &v1alpha1.AmbassadorTrafficRouting{Mappings: []string{"web", "api"}},
				MaxTrafficWeight: ptr.To[int32](1000),
				ManagedRoutes:    []v1alpha1.MangedRoutes{{Name: "beta"}, {Name: "shadow"}},
			},
		}}}}
	r := ambassador.Router{Client: c, Rollout: ro}
	get := func(name string) map[string]any {
		t.Helper()
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("getambassador.io/v3alpha1")
		u.SetKind("Mapping")
		if err := c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: name}, u); err != nil {
			t.Fatal(err)
		}
		if name != "web" && name != "api" && !metav1.IsControlledBy(u, ro) {
			t.Errorf("Mapping %s is not the rollout's", name)
		}
		spec, _, _ := unstructured.NestedMap(u.Object, "spec")
		return spec
	}
	absent := func(name string) {
		t.Helper()
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("getambassador.io/v3alpha1")
		u.SetKind("Mapping")
		if err := c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: name}, u); err == nil {
			t.Errorf("Mapping %s still there", name)
		}
	}

	for _, w := range []int32{105, 500, 1000, 0} { // out of 1000: 11%, 50%, 100%, 0%
		if err := r.SetWeight(ctx, w); err != nil {
			t.Fatal(err)
		}
		want := int64((w + 5) / 10)
		for base, svc := range map[string]string{"web": "web-canary:8080", "api": "http://web-canary.shop:8080"} {
			spec := get(base + "-canary")
			if spec["weight"] != want || spec["service"] != svc || spec["prefix"] != "/"+base+"/" || spec["timeout_ms"] != int64(3000) {
				t.Errorf("weight %d: %s-canary is %v", w, base, spec)
			}
		}
		if ok, err := r.VerifyWeight(ctx, w); !ok || err != nil {
			t.Errorf("weight %d not verified: %v", w, err)
		}
	}
	if ok, _ := r.VerifyWeight(ctx, 300); ok {
		t.Error("weight 300 verified while 0 is set")
	}
	if _, has := get("web")["weight"]; has {
		t.Error("the user's Mapping was given a weight")
	}

	beta := &v1alpha1.SetHeaderRoute{Name: "beta", Match: []v1alpha1.HeaderRoutingMatch{
		{HeaderName: "X-Beta", HeaderValue: &v1alpha1.StringMatch{Exact: "yes"}},
		{HeaderName: "X-Team", HeaderValue: &v1alpha1.StringMatch{Prefix: "qa."}},
	}}
	if err := r.SetHeaderRoute(ctx, beta); err != nil {
		t.Fatal(err)
	}
	spec := get("web-beta")
	if spec["service"] != "web-canary:8080" || spec["weight"] != nil ||
		spec["headers"].(map[string]any)["X-Beta"] != "yes" || spec["regex_headers"].(map[string]any)["X-Team"] != `^qa\..*` {
		t.Errorf("header route: %v", spec)
	}
	if err := r.SetMirrorRoute(ctx, &v1alpha1.SetMirrorRoute{Name: "shadow", Percentage: ptr.To[int32](20), Match: []v1alpha1.RouteMatch{
		{Method: &v1alpha1.StringMatch{Exact: "GET"}, Path: &v1alpha1.StringMatch{Prefix: "/api/v2/"}}}}); err != nil {
		t.Fatal(err)
	}
	spec = get("api-shadow")
	if spec["shadow"] != true || spec["weight"] != int64(20) || spec["method"] != "GET" || spec["prefix"] != "/api/v2/" || spec["service"] != "http://web-canary.shop:8080" {
		t.Errorf("mirror route: %v", spec)
	}
	if err := r.SetHeaderRoute(ctx, &v1alpha1.SetHeaderRoute{Name: "beta"}); err != nil {
		t.Fatal(err)
	}
	absent("web-beta")
	absent("api-beta")
	get("web-shadow")
	if err := r.RemoveManagedRoutes(ctx); err != nil {
		t.Fatal(err)
	}
	absent("web-shadow")
	absent("api-shadow")
	get("web-canary")

	// Mappings Vireo cannot use are named.
	if err := r.SetMirrorRoute(ctx, &v1alpha1.SetMirrorRoute{Name: "m", Match: []v1alpha1.RouteMatch{{}, {}}}); err == nil || !strings.Contains(err.Error(), "one match per route") {
		t.Errorf("two mirror matches: %v", err)
	}
	for base, want := range map[string]string{
		"weighted": "Mapping weighted sets a weight",
		"other":    `Mapping other sends to service "elsewhere:80", not to the stable Service web-stable`,
		"nope":     "Mapping nope not found",
	} {
		ro.Spec.Strategy.Canary.TrafficRouting.Ambassador.Mappings = []string{base}
		if err := r.SetWeight(ctx, 10); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", base, err)
		}
	}
	// A canary Mapping of that name that is not the rollout's is left alone.
	ro.Spec.Strategy.Canary.TrafficRouting.Ambassador.Mappings = []string{"web"}
	ro.UID = "someone-else"
	if err := r.SetWeight(ctx, 10); err == nil || !strings.Contains(err.Error(), "Mapping web-canary exists and is not this rollout's") {
		t.Errorf("foreign canary Mapping: %v", err)
	}
}
