package controller

import (
	"fmt"
	"runtime"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// realisticPod is a pod as the API server sends it: managedFields, the
// last-applied annotation, a spec with env and volumes, container statuses.
func realisticPod(i int) *corev1.Pod {
	env := make([]corev1.EnvVar, 20)
	for j := range env {
		env[j] = corev1.EnvVar{Name: fmt.Sprintf("SETTING_%02d", j), Value: fmt.Sprintf("value-%d-%d-with-some-length", i, j)}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("demo-6d4f8b7c9-%05d", i), Namespace: "team-a", UID: types.UID(fmt.Sprintf("uid-%d", i)),
			Labels:          map[string]string{"app": "demo", "rollouts-pod-template-hash": "6d4f8b7c9"},
			Annotations:     map[string]string{lastApplied: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"demo"},"spec":{"containers":[{"name":"demo","image":"demo:1"}]}}`, "team": "a"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "demo-6d4f8b7c9", UID: "rs", Controller: ptr.To(true)}},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate,
				FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{".":{},"f:app":{},"f:rollouts-pod-template-hash":{}},"f:ownerReferences":{}},"f:spec":{"f:containers":{}}}`)}}},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "demo", Image: "registry.example.com/team-a/demo:1.2.3", Env: env,
				Resources: corev1.ResourceRequirements{}, VolumeMounts: []corev1.VolumeMount{{Name: "token", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}}}},
			Volumes: []corev1.Volume{{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}}},
		},
		Status: corev1.PodStatus{
			Phase:             corev1.PodRunning,
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}, {Type: corev1.PodScheduled, Status: corev1.ConditionTrue}},
			PodIP:             "10.244.0.17",
			ContainerStatuses: []corev1.ContainerStatus{{Name: "demo", Ready: true, Image: "registry.example.com/team-a/demo:1.2.3", ImageID: "sha256:0123456789abcdef"}},
		},
	}
}

// A slimmed pod keeps what the Rollout controller reads (labels, owners,
// timestamps, readiness) and drops the rest.
func TestSlimPodKeepsWhatTheControllerReads(t *testing.T) {
	p := realisticPod(1)
	p.DeletionTimestamp = &metav1.Time{}
	out, err := slimPod(p.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	s := out.(*corev1.Pod)
	if s.Name != p.Name || s.Labels["rollouts-pod-template-hash"] != "6d4f8b7c9" || len(s.OwnerReferences) != 1 || s.DeletionTimestamp == nil ||
		s.Annotations["team"] != "a" || s.Status.Phase != corev1.PodRunning || len(s.Status.Conditions) != 2 {
		t.Errorf("slimmed pod lost what is read: %+v", s)
	}
	if s.ManagedFields != nil || len(s.Spec.Containers) != 0 || len(s.Status.ContainerStatuses) != 0 || s.Status.PodIP != "" {
		t.Errorf("slimmed pod kept what is never read: %+v", s)
	}
	if _, has := s.Annotations[lastApplied]; has {
		t.Error("slimmed pod kept the last-applied annotation")
	}
	if _, has := p.Annotations[lastApplied]; !has {
		t.Error("the informer's object had its annotations changed in place")
	}
	// Other kinds only lose managedFields.
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "r", Annotations: map[string]string{lastApplied: "{}"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}}
	got, _ := stripManagedFields(ro)
	if r := got.(*v1alpha1.Rollout); r.ManagedFields != nil || r.Annotations[lastApplied] != "{}" {
		t.Errorf("rollout after the default transform: %+v", r.ObjectMeta)
	}
}

// BenchmarkCachedPods reports the heap that 10,000 cached pods hold, as the
// API server sends them and slimmed.
func BenchmarkCachedPods(b *testing.B) {
	const n = 10000
	for _, c := range []struct {
		name      string
		transform func(any) (any, error)
	}{{"as-sent", func(o any) (any, error) { return o, nil }}, {"slimmed", slimPod}} {
		b.Run(c.name, func(b *testing.B) {
			var held []any
			for b.Loop() {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				held = make([]any, n)
				for i := range held {
					held[i], _ = c.transform(realisticPod(i))
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB/10k-pods")
			}
			runtime.KeepAlive(held)
		})
	}
}
