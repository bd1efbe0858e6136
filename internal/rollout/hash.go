package rollout

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/dump"
	"k8s.io/apimachinery/pkg/util/rand"
)

// PodTemplateHashLabel marks a Rollout's ReplicaSets, their pods and the
// selectors of its Services with the hash of the pod template.
const PodTemplateHashLabel = "rollouts-pod-template-hash"

// PodTemplateHash is a short, DNS-safe digest of a pod template and the
// rollout's collision count, the value of the rollouts-pod-template-hash label.
// It is computed the way Kubernetes names a Deployment's ReplicaSets: FNV-32a
// over a deterministic dump of the template, then the collision count.
func PodTemplateHash(t *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(dump.ForHash(withoutHashLabel(t))))
	if collisionCount != nil {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(*collisionCount))
		_, _ = h.Write(b[:])
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

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
