package rollout

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// seed002 is the seed tutorials' canary: 5 replicas, 20% then a manual gate,
// then 40/60/80 ten seconds apart. (The simulations in ./sim use the same.)
func seed002() *v1alpha1.Rollout {
	weight := func(w int32) v1alpha1.CanaryStep { return v1alpha1.CanaryStep{SetWeight: ptr.To(w)} }
	pause := func(s int32) v1alpha1.CanaryStep {
		return v1alpha1.CanaryStep{Pause: &v1alpha1.RolloutPause{Duration: ptr.To(intstr.FromInt32(s))}}
	}
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "default", UID: "uid-demo", Generation: 1},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr.To[int32](5),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "demo"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "demo"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "demo", Image: "demo:blue"}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{
				weight(20), {Pause: &v1alpha1.RolloutPause{}}, weight(40), pause(10), weight(60), pause(10), weight(80), pause(10)}}},
		},
	}
}
