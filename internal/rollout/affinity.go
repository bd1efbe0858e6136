package rollout

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// antiAffinity returns the Rollout's antiAffinity setting, whichever strategy.
func antiAffinity(ro *v1alpha1.Rollout) *v1alpha1.AntiAffinity {
	switch s := ro.Spec.Strategy; {
	case s.Canary != nil:
		return s.Canary.AntiAffinity
	case s.BlueGreen != nil:
		return s.BlueGreen.AntiAffinity
	}
	return nil
}

// injectAntiAffinity adds to a new ReplicaSet's pod template an anti-affinity
// term that keeps its pods off the nodes running the stable version (the
// hash stableHash), so a bad node cannot hold both versions: preferred with
// the given weight, or required. Terms the user wrote are kept.
func injectAntiAffinity(t *corev1.PodTemplateSpec, aa *v1alpha1.AntiAffinity, stableHash string) {
	if aa == nil || stableHash == "" {
		return
	}
	term := corev1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: PodTemplateHashLabel, Operator: metav1.LabelSelectorOpIn, Values: []string{stableHash}},
		}},
		TopologyKey: corev1.LabelHostname,
	}
	if t.Spec.Affinity == nil {
		t.Spec.Affinity = &corev1.Affinity{}
	}
	if t.Spec.Affinity.PodAntiAffinity == nil {
		t.Spec.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{}
	}
	paa := t.Spec.Affinity.PodAntiAffinity
	if p := aa.PreferredDuringSchedulingIgnoredDuringExecution; p != nil {
		paa.PreferredDuringSchedulingIgnoredDuringExecution = append(paa.PreferredDuringSchedulingIgnoredDuringExecution,
			corev1.WeightedPodAffinityTerm{Weight: p.Weight, PodAffinityTerm: term})
		return
	}
	paa.RequiredDuringSchedulingIgnoredDuringExecution = append(paa.RequiredDuringSchedulingIgnoredDuringExecution, term)
}
