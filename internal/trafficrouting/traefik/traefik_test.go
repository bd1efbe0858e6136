package traefik_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/testenv"
	"github.com/vireo-dev/vireo/internal/trafficrouting/traefik"
	"github.com/vireo-dev/vireo/internal/trafficrouting/trafficshare"
)

// seed001Rollout is seed 001's rollout with its commented-out Traefik
// routing in place of NGINX.
func seed001Rollout(ns string) *v1alpha1.Rollout {
	return &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "canary-demo"},
		Spec: v1alpha1.RolloutSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "canary-demo"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "canary-demo"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "canary-demo", Image: "argoproj/rollouts-demo:blue"}}}},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
				CanaryService: "canary-demo-canary", StableService: "canary-demo",
				TrafficRouting: &v1alpha1.RolloutTrafficRouting{Traefik: &v1alpha1.TraefikTrafficRouting{WeightedTraefikServiceName: "traefik-service"}},
			}},
		}}
}

// The TraefikService of seed 001: the two Services, no weights yet.
const seed001TraefikService = `{"apiVersion":"%s/v1alpha1","kind":"TraefikService","metadata":{"name":"traefik-service","namespace":"%s"},
"spec":{"weighted":{"services":[{"name":"canary-demo","port":80},{"name":"canary-demo-canary","port":80}]}}}`

func TestTraefikService(t *testing.T) {
	for _, group := range []string{"traefik.io", "traefik.containo.us"} {
		t.Run(group, func(t *testing.T) {
			env := testenv.Start(t, testenv.TraefikCRDs(t, group != "traefik.io"))
			c := env.Client
			ctx := context.Background()
			ns := "seed001"
			if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
				t.Fatal(err)
			}
			ts := &unstructured.Unstructured{}
			if err := ts.UnmarshalJSON([]byte(strings.ReplaceAll(strings.ReplaceAll(seed001TraefikService, "%s/", group+"/"), `"%s"`, `"`+ns+`"`))); err != nil {
				t.Fatal(err)
			}
			if err := c.Create(ctx, ts); err != nil {
				t.Fatal(err)
			}
			ro := seed001Rollout(ns)
			r := traefik.Router{Client: c, Rollout: ro}
			weights := func() map[string]int64 {
				t.Helper()
				u := &unstructured.Unstructured{}
				u.SetGroupVersionKind(schema.GroupVersionKind{Group: group, Version: "v1alpha1", Kind: "TraefikService"})
				if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "traefik-service"}, u); err != nil {
					t.Fatal(err)
				}
				out := map[string]int64{}
				list, _, _ := unstructured.NestedSlice(u.Object, "spec", "weighted", "services")
				for _, item := range list {
					svc := item.(map[string]any)
					if svc["port"] != int64(80) {
						t.Errorf("port of %v lost", svc)
					}
					w, _ := svc["weight"].(int64)
					out[svc["name"].(string)] = w
				}
				return out
			}
			for _, w := range []int32{20, 50, 70, 100, 0} {
				if err := r.SetWeight(ctx, w); err != nil {
					t.Fatal(err)
				}
				got := weights()
				if got["canary-demo-canary"] != int64(w) || got["canary-demo"] != int64(100-w) {
					t.Errorf("weight %d: %v", w, got)
				}
				if ok, err := r.VerifyWeight(ctx, w); !ok || err != nil {
					t.Errorf("weight %d not verified: %v", w, err)
				}
			}
			if ok, _ := r.VerifyWeight(ctx, 30); ok {
				t.Error("weight 30 verified while 0 is set")
			}

			// An experiment's Services take their share beside the canary's;
			// when the experiment is done they go, and a Service the user
			// listed stays.
			extra := []trafficshare.Destination{{Service: "exp-baseline", Weight: 5}, {Service: "exp-canary", Weight: 5}}
			if err := r.SetWeights(ctx, 20, extra); err != nil {
				t.Fatal(err)
			}
			if got := weights(); len(got) != 4 || got["canary-demo-canary"] != 20 || got["canary-demo"] != 70 || got["exp-baseline"] != 5 || got["exp-canary"] != 5 {
				t.Errorf("split with an experiment: %v", got)
			}
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(schema.GroupVersionKind{Group: group, Version: "v1alpha1", Kind: "TraefikService"})
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "traefik-service"}, u); err != nil {
				t.Fatal(err)
			}
			list, _, _ := unstructured.NestedSlice(u.Object, "spec", "weighted", "services")
			u.Object["spec"].(map[string]any)["weighted"].(map[string]any)["services"] = append(list, map[string]any{"name": "users-own", "port": int64(80), "weight": int64(0)})
			if err := c.Update(ctx, u); err != nil {
				t.Fatal(err)
			}
			if err := r.SetWeights(ctx, 50, nil); err != nil {
				t.Fatal(err)
			}
			if got := weights(); len(got) != 3 || got["canary-demo-canary"] != 50 || got["canary-demo"] != 50 || got["users-own"] != 0 {
				t.Errorf("after the experiment: %v, want the two Services and the user's own", got)
			}
			if err := r.SetHeaderRoute(ctx, &v1alpha1.SetHeaderRoute{Name: "h"}); err == nil {
				t.Error("header route accepted")
			}

			// A TraefikService without the canary Service, or none at all: errors that name them.
			ro.Spec.Strategy.Canary.CanaryService = "elsewhere"
			if err := r.SetWeight(ctx, 10); err == nil || !strings.Contains(err.Error(), "canary Service elsewhere") {
				t.Errorf("missing canary Service: %v", err)
			}
			ro.Spec.Strategy.Canary.TrafficRouting.Traefik.WeightedTraefikServiceName = "nope"
			if err := r.SetWeight(ctx, 10); err == nil || !strings.Contains(err.Error(), "TraefikService nope not found") {
				t.Errorf("missing TraefikService: %v", err)
			}
		})
	}
}
