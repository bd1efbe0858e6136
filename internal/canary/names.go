// Package canary is the pure planner of Flagger's Canary lifecycle on Vireo's
// engine: given what the controller observed (the Canary, its target
// Deployment, the primary, the Services, the tracked configs and the answers
// of the checks run this pass), Decide returns what to write. It reads no
// clock and does no I/O; the controller in internal/controller/canary
// gathers and applies.
//
// The lifecycle, phases, weights, event texts and status fields are
// Flagger's (flagger.app/v1beta1), so that `kubectl describe canary`, `kubectl
// get canaries` and Argo CD's health check read Vireo's Canaries as Flagger's.
package canary

import (
	"fmt"
	"time"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
)

// Names and defaults Flagger users rely on.
const (
	// PrimarySuffix names the copy of the target that serves the traffic.
	PrimarySuffix = "-primary"
	// CanarySuffix names the Service of the target's pods.
	CanarySuffix = "-canary"

	// EventReason is the reason of every Canary event (Flagger's).
	EventReason = "Synced"

	// PromotionIDAnnotation is set on the primary's pod template at each
	// promotion, so that a promotion always rolls the primary's pods.
	PromotionIDAnnotation = "flagger-id"

	// ConfigTrackingAnnotation on a ConfigMap or Secret, with a value that
	// starts with "disable", leaves it out of the tracked configs.
	ConfigTrackingAnnotation = "flagger.app/config-tracking"

	// toolkitMarker: labels and annotations of Flux's toolkit are not
	// copied to generated objects (Flux would otherwise garbage-collect them).
	toolkitMarker = "toolkit.fluxcd.io"

	// TotalWeight is the sum of the routes' weights.
	TotalWeight = 100

	// DefaultInterval, DefaultProgressDeadline, DefaultReadyThreshold and
	// DefaultMetricInterval are Flagger's defaults.
	DefaultInterval         = time.Minute
	MinInterval             = 10 * time.Second
	DefaultProgressDeadline = 600 * time.Second
	DefaultReadyThreshold   = 100
	DefaultMetricInterval   = "1m"
	DefaultHookTimeout      = 10 * time.Second

	// KubernetesProvider routes by Service only: blue-green.
	KubernetesProvider = "kubernetes"
)

// DefaultSelectorLabels are the pod labels, in order, whose value names the
// workload (Flagger's -selector-labels default).
var DefaultSelectorLabels = []string{"app", "name", "app.kubernetes.io/name"}

// ServiceNames returns the apex, primary and canary Service names.
func ServiceNames(c *v1beta1.Canary) (apex, primary, canary string) {
	apex = c.Spec.TargetRef.Name
	if c.Spec.Service.Name != "" {
		apex = c.Spec.Service.Name
	}
	return apex, apex + PrimarySuffix, apex + CanarySuffix
}

// PrimaryName is the name of the primary Deployment.
func PrimaryName(c *v1beta1.Canary) string { return c.Spec.TargetRef.Name + PrimarySuffix }

// Interval is the analysis interval: spec.analysis.interval, at least 10 s,
// one minute when unset or unreadable (Validate reports the latter).
func Interval(c *v1beta1.Canary) time.Duration {
	a := c.Spec.Analysis
	if a == nil || a.Interval == "" {
		return DefaultInterval
	}
	d, err := time.ParseDuration(a.Interval)
	if err != nil {
		return DefaultInterval
	}
	return max(d, MinInterval)
}

// Threshold is the number of failed checks that rolls back (at least 1).
func Threshold(c *v1beta1.Canary) int {
	if a := c.Spec.Analysis; a != nil && a.Threshold > 0 {
		return a.Threshold
	}
	return 1
}

// ProgressDeadline is how long a workload may stay unavailable.
func ProgressDeadline(c *v1beta1.Canary) time.Duration {
	if c.Spec.ProgressDeadlineSeconds != nil {
		return time.Duration(*c.Spec.ProgressDeadlineSeconds) * time.Second
	}
	return DefaultProgressDeadline
}

// SkipAnalysis: no analysis block, or skipAnalysis set.
func SkipAnalysis(c *v1beta1.Canary) bool {
	return c.Spec.Analysis == nil || c.Spec.SkipAnalysis
}

// Provider is the Canary's router: spec.provider, or the controller's default.
func Provider(c *v1beta1.Canary, def string) string {
	if c.Spec.Provider != "" {
		return c.Spec.Provider
	}
	return def
}

// analysis returns the analysis block, never nil.
func analysis(c *v1beta1.Canary) *v1beta1.CanaryAnalysis {
	if c.Spec.Analysis != nil {
		return c.Spec.Analysis
	}
	return &v1beta1.CanaryAnalysis{}
}

// MaxWeight is the highest canary weight before promotion.
func MaxWeight(c *v1beta1.Canary) int {
	a := analysis(c)
	if n := len(a.StepWeights); n > 0 {
		return min(TotalWeight, a.StepWeights[n-1])
	}
	if a.MaxWeight > 0 {
		return a.MaxWeight
	}
	return TotalWeight
}

// NextStep is how much the canary's weight grows from weight at the next
// step: stepWeight, or the distance to the next stepWeights entry.
func NextStep(c *v1beta1.Canary, weight int) int {
	a := analysis(c)
	if a.StepWeight > 0 || len(a.StepWeights) == 0 {
		return a.StepWeight
	}
	room := TotalWeight - weight
	if room == 0 {
		return 1
	}
	if weight == 0 {
		return min(room, a.StepWeights[0])
	}
	for i := 0; i+1 < len(a.StepWeights); i++ {
		if a.StepWeights[i] == weight {
			return min(room, a.StepWeights[i+1]-weight)
		}
	}
	return room
}

// key is "name.namespace", as Flagger's messages name objects.
func key(name, namespace string) string { return fmt.Sprintf("%s.%s", name, namespace) }
