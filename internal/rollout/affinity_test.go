package rollout

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

func TestAntiAffinityOnNewReplicaSet(t *testing.T) {
	for _, tc := range []struct {
		name string
		aa   v1alpha1.AntiAffinity
	}{
		{"preferred", v1alpha1.AntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: &v1alpha1.PreferredDuringSchedulingIgnoredDuringExecution{Weight: 40}}},
		{"required", v1alpha1.AntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1alpha1.RequiredDuringSchedulingIgnoredDuringExecution{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ro := validCanary()
			ro.Spec.Strategy.Canary.AntiAffinity = tc.aa.DeepCopy()
			// The user's own affinity must survive.
			ro.Spec.Template.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 1, PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "zone"}}},
			}}
			first := Decide(Observed{Rollout: ro, Now: time.Now()})
			if first.Create == nil || first.Create.Spec.Template.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil ||
				len(first.Create.Spec.Template.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 {
				t.Fatalf("the first version has nothing to keep away from: %+v", first.Create.Spec.Template.Spec.Affinity)
			}
			stableHash := first.Create.Labels[PodTemplateHashLabel]
			stable := first.Create.DeepCopy()
			stable.CreationTimestamp = metav1.Now()
			ro.Status = first.Status
			ro.Spec.Template.Spec.Containers[0].Image = "demo:green"

			next := Decide(Observed{Rollout: ro, ReplicaSets: []*appsv1.ReplicaSet{stable}, Now: time.Now()})
			paa := next.Create.Spec.Template.Spec.Affinity.PodAntiAffinity
			var terms []corev1.PodAffinityTerm
			if tc.aa.RequiredDuringSchedulingIgnoredDuringExecution != nil {
				terms = paa.RequiredDuringSchedulingIgnoredDuringExecution
			} else {
				for _, w := range paa.PreferredDuringSchedulingIgnoredDuringExecution[1:] {
					if w.Weight != 40 {
						t.Errorf("weight %d, want 40", w.Weight)
					}
					terms = append(terms, w.PodAffinityTerm)
				}
			}
			if len(terms) != 1 || terms[0].TopologyKey != corev1.LabelHostname ||
				terms[0].LabelSelector.MatchExpressions[0].Values[0] != stableHash {
				t.Fatalf("no term against the stable pods (%s): %+v", stableHash, paa)
			}
			if paa.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey != "zone" {
				t.Error("the user's own term was lost")
			}
			if ro.Spec.Template.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
				t.Error("the Rollout's own template was modified")
			}
		})
	}
}
