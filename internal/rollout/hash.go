package rollout

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/dump"
	"k8s.io/apimachinery/pkg/util/rand"
)

// PodTemplateHashLabel marks a Rollout's ReplicaSets, their pods and the
// selectors of its Services with the hash of the pod template.
const PodTemplateHashLabel = "rollouts-pod-template-hash"

// PodTemplateHash is the value of the rollouts-pod-template-hash label for a
// pod template and the rollout's collision count, computed exactly as Argo
// Rollouts computes it, so that Vireo recognises the ReplicaSets Argo created
// (and Argo recognises Vireo's) without restarting a pod:
//
//   - FNV-32a over the JSON encoding of the template (TemplateJSON);
//   - then, when the collision count is set, the count as 4 little-endian
//     bytes followed by 4 zero bytes;
//   - the decimal string of the sum, made DNS-safe by rand.SafeEncodeString.
func PodTemplateHash(t *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	_, _ = h.Write(TemplateJSON(t))
	if collisionCount != nil {
		var b [8]byte
		binary.LittleEndian.PutUint32(b[:4], uint32(*collisionCount))
		_, _ = h.Write(b[:])
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// TemplateJSON is the JSON encoding of a pod template as the hash reads it.
// It is encoding/json's output for corev1.PodTemplateSpec with one exception:
// the metadata keeps "creationTimestamp":null. Argo Rollouts' released
// controllers (k8s.io/apimachinery before the omitzero tag on
// ObjectMeta.CreationTimestamp) wrote it, and Argo pins that form so hashes
// survive library upgrades; every existing ReplicaSet's label depends on it.
func TemplateJSON(t *corev1.PodTemplateSpec) []byte {
	data, err := json.Marshal(struct {
		Metadata hashObjectMeta `json:"metadata,omitempty"`
		Spec     corev1.PodSpec `json:"spec,omitempty"`
	}{hashObjectMeta(t.ObjectMeta), t.Spec})
	if err != nil {
		// A PodTemplateSpec holds only strings, numbers, maps, slices and
		// quantities, which always encode.
		panic(fmt.Sprintf("encoding a pod template: %v", err))
	}
	return data
}

// hashObjectMeta is metav1.ObjectMeta field for field (a conversion between
// the two fails to compile if ObjectMeta changes), with the JSON tags of the
// releases Argo Rollouts' hashes were made with: creationTimestamp is not
// omitted when zero.
type hashObjectMeta struct {
	Name                       string                      `json:"name,omitempty"`
	GenerateName               string                      `json:"generateName,omitempty"`
	Namespace                  string                      `json:"namespace,omitempty"`
	SelfLink                   string                      `json:"selfLink,omitempty"`
	UID                        types.UID                   `json:"uid,omitempty"`
	ResourceVersion            string                      `json:"resourceVersion,omitempty"`
	Generation                 int64                       `json:"generation,omitempty"`
	CreationTimestamp          metav1.Time                 `json:"creationTimestamp"`
	DeletionTimestamp          *metav1.Time                `json:"deletionTimestamp,omitempty"`
	DeletionGracePeriodSeconds *int64                      `json:"deletionGracePeriodSeconds,omitempty"`
	Labels                     map[string]string           `json:"labels,omitempty"`
	Annotations                map[string]string           `json:"annotations,omitempty"`
	OwnerReferences            []metav1.OwnerReference     `json:"ownerReferences,omitempty"`
	Finalizers                 []string                    `json:"finalizers,omitempty"`
	ManagedFields              []metav1.ManagedFieldsEntry `json:"managedFields,omitempty"`
}

// vireo1PodTemplateHash is the hash Vireo's first releases wrote: FNV-32a of
// apimachinery's dump of the template (hash label left out), then the
// collision count's 4 little-endian bytes. The planner still recognises a
// ReplicaSet labelled with it, so upgrading Vireo restarts no pod.
func vireo1PodTemplateHash(t *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(dump.ForHash(withoutHashLabel(t))))
	if collisionCount != nil {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(*collisionCount))
		_, _ = h.Write(b[:])
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// withoutHashLabel is a pod template without the hash label (a ReplicaSet's
// copy carries it; an experiment template, and Vireo 1's hash, leave it out).
func withoutHashLabel(t *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	if _, ok := t.Labels[PodTemplateHashLabel]; !ok {
		return t
	}
	c := t.DeepCopy()
	delete(c.Labels, PodTemplateHashLabel)
	if len(c.Labels) == 0 {
		c.Labels = nil
	}
	return c
}
