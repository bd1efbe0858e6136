package rollout

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/reasons"
)

// planRestart carries out spec.restartAt: every pod created before that time
// is evicted, as many at a time as maxUnavailable allows (at least one), the
// unready first; status.restartedAt records the restart once none is left. A
// restartAt in the future is waited for.
func planRestart(plan *Plan, ro *v1alpha1.Rollout, pods []*corev1.Pod, maxUnavailable *intstr.IntOrString, now metav1.Time) {
	st := &plan.Status
	at := ro.Spec.RestartAt
	if at == nil || (st.RestartedAt != nil && !st.RestartedAt.Before(at)) {
		return
	}
	if now.Before(at) {
		plan.requeue(at.Sub(now.Time))
		return
	}
	var old []*corev1.Pod
	ready := int32(0)
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if podReady(p) {
			ready++
		}
		if p.CreationTimestamp.Before(at) {
			old = append(old, p)
		}
	}
	if len(old) == 0 {
		st.RestartedAt = at
		plan.event(corev1.EventTypeNormal, reasons.RolloutRestarted, "Every pod created before %s has been replaced", at.UTC().Format("2006-01-02T15:04:05Z"))
		return
	}
	replicas := desiredReplicas(ro)
	_, unavailable := surgeAndUnavailable(replicas, nil, maxUnavailable)
	budget := ready - (replicas - max(unavailable, 1))
	sort.SliceStable(old, func(i, j int) bool {
		if podReady(old[i]) != podReady(old[j]) {
			return !podReady(old[i]) // unready first: evicting them costs no availability
		}
		return old[i].CreationTimestamp.Before(&old[j].CreationTimestamp)
	})
	for _, p := range old {
		if podReady(p) {
			if budget <= 0 {
				break
			}
			budget--
		}
		plan.Evict = append(plan.Evict, p.Name)
	}
	if len(plan.Evict) > 0 {
		plan.event(corev1.EventTypeNormal, reasons.RestartingPods, "Evicting %d of %d pods created before the restart", len(plan.Evict), len(old))
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
