package istio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/testenv"
	"github.com/vireo-dev/vireo/internal/trafficrouting/istio"
)

const ns = "mesh"

func create(t *testing.T, c client.Client, kind, name, spec string) {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal([]byte(fmt.Sprintf(`{"apiVersion":"networking.istio.io/v1","kind":%q,"metadata":{"name":%q,"namespace":%q},"spec":%s}`, kind, name, ns, spec)), &u.Object); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(context.Background(), u); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, c client.Client, kind, name string) map[string]any {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: istio.Group, Version: "v1", Kind: kind})
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
		t.Fatal(err)
	}
	return u.Object["spec"].(map[string]any)
}

// weights lists the weights of every route of a protocol: "80/20 ...".
func weights(spec map[string]any, protocol string) string {
	var out []string
	routes, _ := spec[protocol].([]any)
	for _, r := range routes {
		var ws []string
		for _, d := range r.(map[string]any)["route"].([]any) {
			ws = append(ws, fmt.Sprint(d.(map[string]any)["weight"]))
		}
		name, _ := r.(map[string]any)["name"].(string)
		out = append(out, name+"="+strings.Join(ws, "/"))
	}
	return strings.Join(out, " ")
}

func rollout(tr *v1alpha1.IstioTrafficRouting, managed ...string) *v1alpha1.Rollout {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reviews"},
		Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
			StableService: "reviews-stable", CanaryService: "reviews-canary",
			TrafficRouting: &v1alpha1.RolloutTrafficRouting{Istio: tr}}}}}
	for _, m := range managed {
		ro.Spec.Strategy.Canary.TrafficRouting.ManagedRoutes = append(ro.Spec.Strategy.Canary.TrafficRouting.ManagedRoutes, v1alpha1.MangedRoutes{Name: m})
	}
	return ro
}

// Host-level: http, tls and tcp routes of two VirtualServices, with header
// and mirror routes, against Istio's own CRDs.
func TestHostLevel(t *testing.T) {
	env := testenv.Start(t, testenv.IstioCRDs(t))
	c := env.Client
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	create(t, c, "VirtualService", "reviews", `{"hosts":["reviews"],
	  "http":[{"name":"primary","route":[{"destination":{"host":"reviews-stable"},"weight":100},{"destination":{"host":"reviews-canary.mesh.svc.cluster.local"},"weight":0}]},
	          {"name":"other","route":[{"destination":{"host":"ratings"}}]}],
	  "tls":[{"match":[{"port":443,"sniHosts":["reviews.example.com"]}],"route":[{"destination":{"host":"reviews-stable"},"weight":100},{"destination":{"host":"reviews-canary"},"weight":0}]}],
	  "tcp":[{"match":[{"port":3306}],"route":[{"destination":{"host":"reviews-stable"},"weight":100},{"destination":{"host":"reviews-canary"},"weight":0}]}]}`)
	create(t, c, "VirtualService", "reviews-internal", `{"hosts":["reviews.internal"],
	  "http":[{"route":[{"destination":{"host":"reviews-stable"},"weight":100},{"destination":{"host":"reviews-canary"},"weight":0}]}]}`)
	ro := rollout(&v1alpha1.IstioTrafficRouting{VirtualServices: []v1alpha1.IstioVirtualService{
		{Name: "reviews", Routes: []string{"primary"}, TLSRoutes: []v1alpha1.TLSRoute{{Port: 443, SNIHosts: []string{"reviews.example.com"}}}, TCPRoutes: []v1alpha1.TCPRoute{{Port: 3306}}},
		{Name: "reviews-internal"},
	}}, "by-header", "mirror")
	r := istio.Router{Client: c, Rollout: ro}

	for _, w := range []int32{20, 50, 0} {
		if err := r.SetWeight(ctx, w); err != nil {
			t.Fatal(err)
		}
		spec := get(t, c, "VirtualService", "reviews")
		want := fmt.Sprintf("%d/%d", 100-w, w)
		if got := weights(spec, "http"); got != "primary="+want+" other=<nil>" {
			t.Errorf("weight %d: http %s", w, got)
		}
		if got := weights(spec, "tls"); got != "="+want {
			t.Errorf("weight %d: tls %s", w, got)
		}
		if got := weights(spec, "tcp"); got != "="+want {
			t.Errorf("weight %d: tcp %s", w, got)
		}
		if got := weights(get(t, c, "VirtualService", "reviews-internal"), "http"); got != "="+want {
			t.Errorf("weight %d: second VirtualService %s", w, got)
		}
		if ok, err := r.VerifyWeight(ctx, w); !ok || err != nil {
			t.Errorf("weight %d not verified: %v", w, err)
		}
	}
	if ok, _ := r.VerifyWeight(ctx, 30); ok {
		t.Error("weight 30 verified while 0 is set")
	}

	// Header and mirror routes go on top, in managedRoutes order, whatever
	// order they are set in; weights leave them alone.
	if err := r.SetMirrorRoute(ctx, &v1alpha1.SetMirrorRoute{Name: "mirror", Percentage: ptr.To[int32](35),
		Match: []v1alpha1.RouteMatch{{Method: &v1alpha1.StringMatch{Exact: "GET"}, Path: &v1alpha1.StringMatch{Prefix: "/api"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := r.SetHeaderRoute(ctx, &v1alpha1.SetHeaderRoute{Name: "by-header",
		Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "X-Canary", HeaderValue: &v1alpha1.StringMatch{Exact: "yes"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := r.SetWeight(ctx, 10); err != nil {
		t.Fatal(err)
	}
	spec := get(t, c, "VirtualService", "reviews")
	if got := weights(spec, "http"); got != "by-header=100 mirror=100 primary=90/10 other=<nil>" {
		t.Errorf("with managed routes: %s", got)
	}
	http := spec["http"].([]any)
	header := http[0].(map[string]any)
	if dest := header["route"].([]any)[0].(map[string]any)["destination"].(map[string]any); dest["host"] != "reviews-canary.mesh.svc.cluster.local" {
		t.Errorf("header route goes to %v", dest)
	}
	if m := fmt.Sprint(header["match"]); m != "[map[headers:map[X-Canary:map[exact:yes]]]]" {
		t.Errorf("header match %s", m)
	}
	mirror := http[1].(map[string]any)
	if fmt.Sprint(mirror["mirror"]) != "map[host:reviews-canary.mesh.svc.cluster.local]" || fmt.Sprint(mirror["mirrorPercentage"]) != "map[value:35]" ||
		fmt.Sprint(mirror["match"]) != "[map[method:map[exact:GET] uri:map[prefix:/api]]]" {
		t.Errorf("mirror route %v", mirror)
	}
	if ok, err := r.VerifyWeight(ctx, 10); !ok || err != nil {
		t.Errorf("weight 10 with managed routes not verified: %v", err)
	}
	// Setting the same route again changes nothing.
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: istio.Group, Version: "v1", Kind: "VirtualService"})
	_ = c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "reviews"}, u)
	rv := u.GetResourceVersion()
	if err := r.SetMirrorRoute(ctx, &v1alpha1.SetMirrorRoute{Name: "mirror", Percentage: ptr.To[int32](35),
		Match: []v1alpha1.RouteMatch{{Method: &v1alpha1.StringMatch{Exact: "GET"}, Path: &v1alpha1.StringMatch{Prefix: "/api"}}}}); err != nil {
		t.Fatal(err)
	}
	_ = c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "reviews"}, u)
	if u.GetResourceVersion() != rv {
		t.Error("the same mirror route rewrote the VirtualService")
	}
	if err := r.RemoveManagedRoutes(ctx); err != nil {
		t.Fatal(err)
	}
	if got := weights(get(t, c, "VirtualService", "reviews"), "http"); got != "primary=90/10 other=<nil>" {
		t.Errorf("after removing managed routes: %s", got)
	}

	// A route the rollout names that is not there.
	ro.Spec.Strategy.Canary.TrafficRouting.Istio.VirtualServices[0].Routes = []string{"primary", "missing"}
	if err := r.SetWeight(ctx, 10); err == nil || !strings.Contains(err.Error(), "found 1 of the http routes") {
		t.Errorf("missing route: %v", err)
	}
}

// Subset-level: the DestinationRule's subsets follow the pod-template hashes.
func TestSubsetLevel(t *testing.T) {
	env := testenv.Start(t, testenv.IstioCRDs(t))
	c := env.Client
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	create(t, c, "VirtualService", "reviews", `{"hosts":["reviews"],
	  "http":[{"route":[{"destination":{"host":"reviews","subset":"stable"},"weight":100},{"destination":{"host":"reviews","subset":"canary"},"weight":0}]}]}`)
	create(t, c, "DestinationRule", "reviews", `{"host":"reviews","subsets":[{"name":"stable","labels":{"app":"reviews"}},{"name":"canary","labels":{"app":"reviews"}}]}`)
	ro := rollout(&v1alpha1.IstioTrafficRouting{VirtualService: &v1alpha1.IstioVirtualService{Name: "reviews"},
		DestinationRule: &v1alpha1.IstioDestinationRule{Name: "reviews", StableSubsetName: "stable", CanarySubsetName: "canary"}})
	ro.Status.Canary.Weights = &v1alpha1.TrafficWeights{Canary: v1alpha1.WeightDestination{Weight: 25, PodTemplateHash: "green1"},
		Stable: v1alpha1.WeightDestination{Weight: 75, PodTemplateHash: "blue1"}}
	r := istio.Router{Client: c, Rollout: ro}
	if err := r.SetWeight(ctx, 25); err != nil {
		t.Fatal(err)
	}
	if got := weights(get(t, c, "VirtualService", "reviews"), "http"); got != "=75/25" {
		t.Errorf("subset weights %s", got)
	}
	if got := fmt.Sprint(get(t, c, "DestinationRule", "reviews")["subsets"]); got != "[map[labels:map[app:reviews rollouts-pod-template-hash:blue1] name:stable] map[labels:map[app:reviews rollouts-pod-template-hash:green1] name:canary]]" {
		t.Errorf("subsets %s", got)
	}
	// Promoted: both subsets on the new pods, all traffic to stable.
	ro.Status.Canary.Weights = &v1alpha1.TrafficWeights{Canary: v1alpha1.WeightDestination{PodTemplateHash: "green1"},
		Stable: v1alpha1.WeightDestination{Weight: 100, PodTemplateHash: "green1"}}
	if err := r.SetWeight(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(get(t, c, "DestinationRule", "reviews")["subsets"]); !strings.Contains(got, "rollouts-pod-template-hash:green1] name:stable") {
		t.Errorf("subsets after promotion %s", got)
	}
}
