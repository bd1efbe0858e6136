package canary

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// Readiness is whether a workload may carry traffic, and if not, whether
// waiting can still help (Retriable) or its progress deadline has passed.
type Readiness struct {
	Ready     bool
	Retriable bool
	// Reason says why it is not ready, in Flagger's words.
	Reason string
}

// DeploymentReadiness judges a Deployment as Flagger does: rolled out (every
// replica updated, no old ones left), with at least threshold percent of the
// updated replicas available. It is not Retriable once the Deployment's own
// progress deadline was exceeded, or once it has been without its minimum
// replicas for longer than deadline.
func DeploymentReadiness(d *appsv1.Deployment, deadline time.Duration, threshold int, now time.Time) Readiness {
	if d.Generation > d.Status.ObservedGeneration {
		return Readiness{Retriable: true, Reason: "waiting for rollout to finish: observed deployment generation less than desired generation"}
	}
	var progressing, available *appsv1.DeploymentCondition
	for i := range d.Status.Conditions {
		switch c := &d.Status.Conditions[i]; c.Type {
		case appsv1.DeploymentProgressing:
			progressing = c
		case appsv1.DeploymentAvailable:
			available = c
		}
	}
	retriable := true
	if progressing != nil && available != nil && available.Status == corev1.ConditionFalse && available.Reason == "MinimumReplicasUnavailable" {
		retriable = !available.LastUpdateTime.Add(deadline).Before(now)
	}
	want := int32(float32(d.Status.UpdatedReplicas) * float32(threshold) / 100)
	switch {
	case progressing != nil && progressing.Reason == "ProgressDeadlineExceeded":
		return Readiness{Reason: fmt.Sprintf("deployment %q exceeded its progress deadline", d.Name)}
	case d.Spec.Replicas != nil && d.Status.UpdatedReplicas < *d.Spec.Replicas:
		return Readiness{Retriable: retriable, Reason: fmt.Sprintf("waiting for rollout to finish: %d out of %d new replicas have been updated",
			d.Status.UpdatedReplicas, *d.Spec.Replicas)}
	case d.Status.Replicas > d.Status.UpdatedReplicas:
		return Readiness{Retriable: retriable, Reason: fmt.Sprintf("waiting for rollout to finish: %d old replicas are pending termination",
			d.Status.Replicas-d.Status.UpdatedReplicas)}
	case d.Status.AvailableReplicas < want:
		return Readiness{Retriable: retriable, Reason: fmt.Sprintf("waiting for rollout to finish: %d of %d (readyThreshold %d%%) updated replicas are available",
			d.Status.AvailableReplicas, want, threshold)}
	}
	return Readiness{Ready: true, Retriable: true}
}
