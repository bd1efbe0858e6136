package rollout

import (
	"testing"

	"k8s.io/utils/ptr"
)

func TestPodTemplateHash(t *testing.T) {
	a := validCanary().Spec.Template
	b := *a.DeepCopy()
	if PodTemplateHash(&a, nil) != PodTemplateHash(&b, nil) {
		t.Fatal("equal templates hash differently")
	}
	b.Labels[PodTemplateHashLabel] = "abc"
	if PodTemplateHash(&a, nil) != PodTemplateHash(&b, nil) {
		t.Error("the hash label itself changes the hash")
	}
	b.Spec.Containers[0].Image = "demo:green"
	if PodTemplateHash(&a, nil) == PodTemplateHash(&b, nil) {
		t.Error("a new image does not change the hash")
	}
	if PodTemplateHash(&a, nil) == PodTemplateHash(&a, ptr.To[int32](1)) {
		t.Error("the collision count does not change the hash")
	}
	h := PodTemplateHash(&a, nil)
	if len(h) == 0 || len(h) > 10 {
		t.Errorf("hash %q: want a short label value", h)
	}
	if _, ok := a.Labels[PodTemplateHashLabel]; ok {
		t.Error("hashing modified the template")
	}
}
