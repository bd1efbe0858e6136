package controller

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	toolscache "k8s.io/client-go/tools/cache"
)

// lastApplied is the annotation kubectl apply keeps the whole applied
// manifest in: often the largest part of an object's metadata.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// stripManagedFields drops every cached object's managedFields, which Vireo
// never reads. Writes stay safe: an update or patch without managedFields
// leaves the server's as they are.
func stripManagedFields(obj any) (any, error) {
	if o, err := meta.Accessor(obj); err == nil && o.GetManagedFields() != nil {
		o.SetManagedFields(nil)
	}
	return obj, nil
}

// slimPod keeps of a cached pod only what the Rollout controller reads:
// its metadata (labels, annotations for role metadata, owners, creation
// and deletion times), its phase and its conditions (readiness). The spec
// and the container statuses, most of a pod's size, are dropped. Pods are
// only ever written by name (a label patch, an eviction), never from the
// cached copy, so nothing dropped here can be written back.
func slimPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return stripManagedFields(obj)
	}
	slim := &corev1.Pod{TypeMeta: p.TypeMeta, ObjectMeta: p.ObjectMeta}
	slim.ManagedFields = nil
	if _, has := slim.Annotations[lastApplied]; has {
		a := make(map[string]string, len(slim.Annotations)-1)
		for k, v := range slim.Annotations {
			if k != lastApplied {
				a[k] = v
			}
		}
		slim.Annotations = a
	}
	slim.Status.Phase = p.Status.Phase
	slim.Status.Conditions = p.Status.Conditions
	return slim, nil
}

var (
	_ toolscache.TransformFunc = stripManagedFields
	_ toolscache.TransformFunc = slimPod
)
