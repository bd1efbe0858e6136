package canary

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
)

// The primary's ScaledObject is Flagger's copy: it scales the primary, its
// queries name the primary (the canary's too), a named HPA gets -primary,
// primaryScalerReplicas bound it, and primaryScalerQueries replace named
// triggers' queries.
func TestPrimaryScaledObject(t *testing.T) {
	c := &v1beta1.Canary{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test", UID: "u"},
		Spec: v1beta1.CanarySpec{TargetRef: v1beta1.TargetReference{Name: "podinfo"},
			AutoscalerRef: &v1beta1.AutoscalerReference{Kind: "ScaledObject", Name: "so"}}}
	so := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": "so", "labels": map[string]any{"team": "a", "kustomize.toolkit.fluxcd.io/name": "x"}},
		"spec": map[string]any{
			"scaleTargetRef":  map[string]any{"name": "podinfo", "kind": "Deployment", "apiVersion": "apps/v1"},
			"pollingInterval": int64(10), "minReplicaCount": int64(1), "maxReplicaCount": int64(5),
			"advanced": map[string]any{"horizontalPodAutoscalerConfig": map[string]any{"name": "podinfo-hpa"}},
			"triggers": []any{
				map[string]any{"name": "rps", "type": "prometheus", "metadata": map[string]any{
					"query": `sum(rate(requests{app="podinfo"}[1m])) + sum(rate(requests{app="podinfo-canary"}[1m]))`}},
				map[string]any{"type": "cpu", "metadata": map[string]any{"value": "80"}},
			},
		},
	}}
	got := PrimaryScaledObject(c, so)
	spec := got.Object["spec"].(map[string]any)
	if got.GetName() != "so-primary" || got.GetKind() != ScaledObjectKind || len(got.GetOwnerReferences()) != 1 ||
		got.GetLabels()["team"] != "a" || len(got.GetLabels()) != 1 {
		t.Errorf("metadata: %v", got.Object["metadata"])
	}
	if ref := spec["scaleTargetRef"].(map[string]any); ref["name"] != "podinfo-primary" || ref["kind"] != "Deployment" {
		t.Errorf("scaleTargetRef %v", ref)
	}
	if q := spec["triggers"].([]any)[0].(map[string]any)["metadata"].(map[string]any)["query"]; q != `sum(rate(requests{app="podinfo-primary"}[1m])) + sum(rate(requests{app="podinfo-primary"}[1m]))` {
		t.Errorf("query %v", q)
	}
	if n := spec["advanced"].(map[string]any)["horizontalPodAutoscalerConfig"].(map[string]any)["name"]; n != "podinfo-hpa-primary" {
		t.Errorf("HPA name %v", n)
	}
	if q := so.Object["spec"].(map[string]any)["triggers"].([]any)[0].(map[string]any)["metadata"].(map[string]any)["query"].(string); !strings.Contains(q, `"podinfo"`) {
		t.Errorf("the target's ScaledObject was changed: %s", q)
	}
	c.Spec.AutoscalerRef.PrimaryScalerReplicas = &v1beta1.ScalerReplicas{MinReplicas: ptr.To[int32](3), MaxReplicas: ptr.To[int32](9)}
	c.Spec.AutoscalerRef.PrimaryScalerQueries = map[string]string{"rps": "sum(rate(requests{app=\"podinfo-primary\"}[5m]))"}
	spec = PrimaryScaledObject(c, so).Object["spec"].(map[string]any)
	if spec["minReplicaCount"] != int64(3) || spec["maxReplicaCount"] != int64(9) || spec["pollingInterval"] != int64(10) {
		t.Errorf("bounds %v %v, polling %v", spec["minReplicaCount"], spec["maxReplicaCount"], spec["pollingInterval"])
	}
	if q := spec["triggers"].([]any)[0].(map[string]any)["metadata"].(map[string]any)["query"]; q != "sum(rate(requests{app=\"podinfo-primary\"}[5m]))" {
		t.Errorf("primaryScalerQueries not used: %v", q)
	}
}
