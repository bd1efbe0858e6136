// Package conditions reads and writes the Deployment-style conditions of
// Vireo's objects: each has a status, a reason, a message, the time it was last
// written and the time its status last changed.
package conditions

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// Get returns the condition of the given type, or nil.
func Get(conds []v1alpha1.Condition, condType string) *v1alpha1.Condition {
	for i := range conds {
		if conds[i].Type == condType {
			return &conds[i]
		}
	}
	return nil
}

// IsTrue reports whether the condition of the given type exists and is True.
func IsTrue(conds []v1alpha1.Condition, condType string) bool {
	c := Get(conds, condType)
	return c != nil && c.Status == metav1.ConditionTrue
}

// Set adds or updates a condition and returns the new list. When the status,
// reason and message are unchanged the condition is left exactly as it was, so
// that writing the same state twice changes nothing. lastTransitionTime moves
// only when the status changes.
func Set(conds []v1alpha1.Condition, condType string, status metav1.ConditionStatus, reason, message string, now metav1.Time) []v1alpha1.Condition {
	if c := Get(conds, condType); c != nil {
		if c.Status == status && c.Reason == reason && c.Message == message {
			return conds
		}
		if c.Status != status {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message, c.LastUpdateTime = status, reason, message, now
		return conds
	}
	return append(conds, v1alpha1.Condition{
		Type:               condType,
		Status:             status,
		Reason:             reason,
		Message:            message,
		LastUpdateTime:     now,
		LastTransitionTime: now,
	})
}

// Remove returns the list without the condition of the given type.
func Remove(conds []v1alpha1.Condition, condType string) []v1alpha1.Condition {
	out := conds[:0:0]
	for _, c := range conds {
		if c.Type != condType {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Touch moves a condition's lastUpdateTime to now without changing anything
// else; Deployment-style conditions use it to record progress.
func Touch(conds []v1alpha1.Condition, condType string, now metav1.Time) []v1alpha1.Condition {
	if c := Get(conds, condType); c != nil {
		c.LastUpdateTime = now
	}
	return conds
}
