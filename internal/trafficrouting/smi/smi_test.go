package smi_test

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
	"github.com/vireo-dev/vireo/internal/trafficrouting/smi"
)

func TestTrafficSplit(t *testing.T) {
	env := testenv.Start(t, testenv.SMICRDs(t))
	c := env.Client
	ctx := context.Background()
	ns := "mesh"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	for _, version := range []string{"v1alpha1", "v1alpha2", "v1alpha3", ""} {
		name := "rollout-" + version
		if version == "" {
			name = "rollout-newest"
		}
		t.Run(name, func(t *testing.T) {
			ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
				Spec: v1alpha1.RolloutSpec{
					Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
					Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
						Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "demo", Image: "demo:blue"}}}},
					Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
						CanaryService: "demo-canary", StableService: "demo-stable",
						TrafficRouting: &v1alpha1.RolloutTrafficRouting{SMI: &v1alpha1.SMITrafficRouting{RootService: "demo"}},
					}},
				}}
			if err := c.Create(ctx, ro); err != nil {
				t.Fatal(err)
			}
			r := smi.Router{Client: c, Rollout: ro, APIVersion: version}
			read := func() *unstructured.Unstructured {
				t.Helper()
				u := &unstructured.Unstructured{}
				v := version
				if v == "" {
					v = "v1alpha4"
				}
				u.SetGroupVersionKind(schema.GroupVersionKind{Group: smi.Group, Version: v, Kind: "TrafficSplit"})
				if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
					t.Fatal(err)
				}
				return u
			}
			if ok, err := r.VerifyWeight(ctx, 0); ok || err != nil {
				t.Errorf("no TrafficSplit yet: verified %v %v", ok, err)
			}
			for _, w := range []int32{20, 50, 100, 0} {
				if err := r.SetWeight(ctx, w); err != nil {
					t.Fatal(err)
				}
				u := read()
				if !metav1.IsControlledBy(u, ro) {
					t.Errorf("TrafficSplit not owned by the rollout: %v", u.GetOwnerReferences())
				}
				svc, _, _ := unstructured.NestedString(u.Object, "spec", "service")
				backends, _, _ := unstructured.NestedSlice(u.Object, "spec", "backends")
				want := []any{map[string]any{"service": "demo-canary", "weight": int64(w)}, map[string]any{"service": "demo-stable", "weight": int64(100 - w)}}
				if svc != "demo" || len(backends) != 2 || backends[0].(map[string]any)["weight"] != want[0].(map[string]any)["weight"] ||
					backends[1].(map[string]any)["weight"] != want[1].(map[string]any)["weight"] {
					t.Errorf("weight %d: service %q backends %v", w, svc, backends)
				}
				if ok, err := r.VerifyWeight(ctx, w); !ok || err != nil {
					t.Errorf("weight %d not verified: %v", w, err)
				}
			}
		})
	}

	// A TrafficSplit of the same name that the rollout does not own is left alone.
	foreign := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"service": "x", "backends": []any{}}}}
	foreign.SetGroupVersionKind(schema.GroupVersionKind{Group: smi.Group, Version: "v1alpha3", Kind: "TrafficSplit"})
	foreign.SetNamespace(ns)
	foreign.SetName("taken")
	if err := c.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "taken", UID: "other"},
		Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{CanaryService: "a", StableService: "b",
			TrafficRouting: &v1alpha1.RolloutTrafficRouting{SMI: &v1alpha1.SMITrafficRouting{}}}}}}
	if err := (smi.Router{Client: c, Rollout: ro}).SetWeight(ctx, 10); err == nil || !strings.Contains(err.Error(), "not this rollout's") {
		t.Errorf("foreign TrafficSplit: %v", err)
	}
}
