package apisix_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/testenv"
	"github.com/vireo-dev/vireo/internal/trafficrouting/apisix"
)

// Argo Rollouts' APISIX example route, with a second weighted rule and one
// for another Service.
const route = `{"apiVersion":"apisix.apache.org/v2","kind":"ApisixRoute","metadata":{"name":"rollouts-apisix-route","namespace":"shop"},
"spec":{"ingressClassName":"apisix","http":[
 {"name":"rollouts-apisix","match":{"paths":["/*"],"hosts":["rollouts-demo.apisix.local"]},
  "backends":[{"serviceName":"rollout-apisix-canary-stable","servicePort":80},{"serviceName":"rollout-apisix-canary-canary","servicePort":80}]},
 {"name":"api","priority":3,"match":{"paths":["/api/*"],"exprs":[{"subject":{"scope":"Query","name":"v"},"op":"Equal","value":"2"}]},
  "backends":[{"serviceName":"rollout-apisix-canary-stable","servicePort":80},{"serviceName":"rollout-apisix-canary-canary","servicePort":80}]},
 {"name":"static","match":{"paths":["/static/*"]},"backends":[{"serviceName":"static","servicePort":80}]}]}}`

// The router against a real API server with the APISIX ingress
// controller's CRD: the weighted rules carry the weights, a header route is
// an ApisixRoute of the rollout's one priority higher, and it goes again.
func TestApisixRoute(t *testing.T) {
	env := testenv.Start(t, testenv.APISIXCRDs(t))
	c := env.Client
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON([]byte(route)); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "rollout-apisix-canary", UID: "uid-1"},
		Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
			StableService: "rollout-apisix-canary-stable", CanaryService: "rollout-apisix-canary-canary",
			TrafficRouting: &v1alpha1.RolloutTrafficRouting{
				Apisix:        &v1alpha1.ApisixTrafficRouting{Route: &v1alpha1.ApisixRoute{Name: "rollouts-apisix-route"}},
				ManagedRoutes: []v1alpha1.MangedRoutes{{Name: "beta"}},
			},
		}}}}
	r := apisix.Router{Client: c, Rollout: ro}
	get := func(name string) []any {
		t.Helper()
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("apisix.apache.org/v2")
		u.SetKind("ApisixRoute")
		if err := c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: name}, u); err != nil {
			t.Fatal(err)
		}
		http, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
		return http
	}
	weights := func(rule any) string {
		var out []string
		for _, b := range rule.(map[string]any)["backends"].([]any) {
			b := b.(map[string]any)
			out = append(out, fmt.Sprintf("%s=%v", b["serviceName"], b["weight"]))
		}
		return strings.Join(out, ",")
	}

	for _, w := range []int32{20, 50, 100, 0} {
		if err := r.SetWeight(ctx, w); err != nil {
			t.Fatal(err)
		}
		http := get("rollouts-apisix-route")
		want := fmt.Sprintf("rollout-apisix-canary-stable=%d,rollout-apisix-canary-canary=%d", 100-w, w)
		for _, i := range []int{0, 1} {
			if got := weights(http[i]); got != want {
				t.Errorf("weight %d, rule %d: %s", w, i, got)
			}
		}
		if got := weights(http[2]); got != "static=<nil>" {
			t.Errorf("weight %d touched the static rule: %s", w, got)
		}
		if ok, err := r.VerifyWeight(ctx, w); !ok || err != nil {
			t.Errorf("weight %d not verified: %v", w, err)
		}
	}
	if ok, _ := r.VerifyWeight(ctx, 40); ok {
		t.Error("weight 40 verified while 0 is set")
	}

	beta := &v1alpha1.SetHeaderRoute{Name: "beta", Match: []v1alpha1.HeaderRoutingMatch{
		{HeaderName: "X-Beta", HeaderValue: &v1alpha1.StringMatch{Exact: "yes"}},
		{HeaderName: "X-Team", HeaderValue: &v1alpha1.StringMatch{Prefix: "qa."}},
	}}
	if err := r.SetHeaderRoute(ctx, beta); err != nil {
		t.Fatal(err)
	}
	http := get("rollouts-apisix-route-beta")
	if len(http) != 2 {
		t.Fatalf("header route has %d rules", len(http))
	}
	first, second := http[0].(map[string]any), http[1].(map[string]any)
	if first["name"] != "rollouts-apisix-beta" || first["priority"] != int64(1) || second["priority"] != int64(4) {
		t.Errorf("names and priorities: %v %v / %v %v", first["name"], first["priority"], second["name"], second["priority"])
	}
	if got := weights(first); got != "rollout-apisix-canary-canary=<nil>" {
		t.Errorf("header route backends: %s", got)
	}
	if got := fmt.Sprint(second["match"].(map[string]any)["exprs"]); got != `[map[op:Equal subject:map[name:v scope:Query] value:2] map[op:Equal subject:map[name:X-Beta scope:Header] value:yes] map[op:RegexMatch subject:map[name:X-Team scope:Header] value:^qa\.]]` {
		t.Errorf("exprs: %s", got)
	}
	if err := r.RemoveManagedRoutes(ctx); err != nil {
		t.Fatal(err)
	}
	gone := &unstructured.Unstructured{}
	gone.SetAPIVersion("apisix.apache.org/v2")
	gone.SetKind("ApisixRoute")
	if err := c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "rollouts-apisix-route-beta"}, gone); err == nil {
		t.Error("header route left after RemoveManagedRoutes")
	}

	// Routes Vireo cannot use are named.
	ro.Spec.Strategy.Canary.TrafficRouting.Apisix.Route.Rules = []string{"static"}
	if err := r.SetWeight(ctx, 10); err == nil || !strings.Contains(err.Error(), "rule static of ApisixRoute rollouts-apisix-route must have backends for both") {
		t.Errorf("rule without the Services: %v", err)
	}
	ro.Spec.Strategy.Canary.TrafficRouting.Apisix.Route.Rules = []string{"api", "gone"}
	if err := r.SetWeight(ctx, 10); err == nil || !strings.Contains(err.Error(), "has 1 of the http rules [api gone]") {
		t.Errorf("missing rule: %v", err)
	}
	ro.Spec.Strategy.Canary.TrafficRouting.Apisix.Route.Name = "nope"
	if err := r.SetWeight(ctx, 10); err == nil || !strings.Contains(err.Error(), "ApisixRoute nope not found") {
		t.Errorf("missing route: %v", err)
	}
	if err := r.SetMirrorRoute(ctx, &v1alpha1.SetMirrorRoute{Name: "m"}); err == nil {
		t.Error("mirror accepted")
	}
}
