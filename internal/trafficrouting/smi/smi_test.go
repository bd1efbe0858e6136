package smi_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextv1beta1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/testenv"
	"github.com/vireo-dev/vireo/internal/trafficrouting/smi"
)

// smiCRD is the TrafficSplit CRD of the SMI SDK module. The module ships it
// as apiextensions.k8s.io/v1beta1, which API servers no longer accept; it is
// converted to v1 the way the API server converted it, with every version
// served.
func smiCRD(t *testing.T) string {
	data, err := os.ReadFile(testenv.ModuleFile(t, testenv.SMIModule, "crds/split.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var old apiextv1beta1.CustomResourceDefinition
	if err := yaml.Unmarshal([]byte(strings.TrimPrefix(string(data), "---\n")), &old); err != nil {
		t.Fatal(err)
	}
	apiextv1beta1.SetObjectDefaults_CustomResourceDefinition(&old)
	var internal apiextensions.CustomResourceDefinition
	if err := apiextv1beta1.Convert_v1beta1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(&old, &internal, nil); err != nil {
		t.Fatal(err)
	}
	var crd apiextv1.CustomResourceDefinition
	if err := apiextv1.Convert_apiextensions_CustomResourceDefinition_To_v1_CustomResourceDefinition(&internal, &crd, nil); err != nil {
		t.Fatal(err)
	}
	crd.TypeMeta = metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"}
	crd.Spec.PreserveUnknownFields = false
	for i := range crd.Spec.Versions {
		v := &crd.Spec.Versions[i]
		v.Served = true
		if v.Schema.OpenAPIV3Schema.Type == "" {
			v.Schema.OpenAPIV3Schema.Type = "object"
		}
	}
	out, err := yaml.Marshal(&crd)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "split.yaml"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestTrafficSplit(t *testing.T) {
	env := testenv.Start(t, smiCRD(t))
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
