package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DurationString is a Go duration written as a string: "30s", "10m", "1h".
type DurationString string

// PodTemplateMetadata is the metadata Vireo adds to the pods or runs it creates.
type PodTemplateMetadata struct {
	// Labels to add.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations to add.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// AnalysisRunMetadata is extra metadata for the AnalysisRuns a Rollout or
// Experiment creates.
type AnalysisRunMetadata struct {
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Argument is a named value passed to an analysis.
type Argument struct {
	// Name of the argument, used as {{args.NAME}}.
	Name string `json:"name"`
	// Value is a literal value.
	// +optional
	Value *string `json:"value,omitempty"`
	// ValueFrom reads the value from a Secret or a field of the owning object.
	// +optional
	ValueFrom *ValueFrom `json:"valueFrom,omitempty"`
}

// ValueFrom says where an argument's value comes from.
type ValueFrom struct {
	// SecretKeyRef reads a key of a Secret in the same namespace.
	// +optional
	SecretKeyRef *SecretKeyRef `json:"secretKeyRef,omitempty"`
	// FieldRef reads a field of the owning object, such as metadata.labels['app'].
	// +optional
	FieldRef *FieldRef `json:"fieldRef,omitempty"`
}

// SecretKeyRef names one key of a Secret.
type SecretKeyRef struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// FieldRef is a path into the owning object.
type FieldRef struct {
	FieldPath string `json:"fieldPath"`
}

// AnalysisRunArgument is an argument a Rollout passes to its analyses; besides a
// literal or a field it can carry a pod-template hash.
type AnalysisRunArgument struct {
	Name string `json:"name"`
	// +optional
	Value string `json:"value,omitempty"`
	// +optional
	ValueFrom *ArgumentValueFrom `json:"valueFrom,omitempty"`
}

// ArgumentValueFrom is the source of an AnalysisRunArgument's value.
type ArgumentValueFrom struct {
	// PodTemplateHashValue is Stable or Latest: the hash of that ReplicaSet.
	// +optional
	PodTemplateHashValue *ValueFromPodTemplateHash `json:"podTemplateHashValue,omitempty"`
	// +optional
	FieldRef *FieldRef `json:"fieldRef,omitempty"`
}

// ValueFromPodTemplateHash selects which ReplicaSet's hash an argument gets.
type ValueFromPodTemplateHash string

const (
	// Stable is the hash of the stable ReplicaSet.
	Stable ValueFromPodTemplateHash = "Stable"
	// Latest is the hash of the newest ReplicaSet.
	Latest ValueFromPodTemplateHash = "Latest"
)

// DryRun marks a metric whose result is recorded but never fails a run.
type DryRun struct {
	// MetricName is a metric's name or a regular expression; ".*" means all.
	MetricName string `json:"metricName"`
}

// MeasurementRetention caps how many measurements are kept for a metric.
type MeasurementRetention struct {
	// MetricName is a metric's name or a regular expression.
	MetricName string `json:"metricName"`
	// Limit is the number of most recent measurements kept.
	Limit int32 `json:"limit"`
}

// TemplateService asks for a Service in front of a template's pods.
type TemplateService struct {
	// Name of the Service; defaults to the template's generated name.
	// +optional
	Name string `json:"name,omitempty"`
}

// AnalysisPhase is the phase of an AnalysisRun, a metric or a measurement.
type AnalysisPhase string

const (
	AnalysisPhasePending      AnalysisPhase = "Pending"
	AnalysisPhaseRunning      AnalysisPhase = "Running"
	AnalysisPhaseSuccessful   AnalysisPhase = "Successful"
	AnalysisPhaseFailed       AnalysisPhase = "Failed"
	AnalysisPhaseError        AnalysisPhase = "Error"
	AnalysisPhaseInconclusive AnalysisPhase = "Inconclusive"
)

// Completed reports whether the phase is final.
func (p AnalysisPhase) Completed() bool {
	switch p {
	case AnalysisPhaseSuccessful, AnalysisPhaseFailed, AnalysisPhaseError, AnalysisPhaseInconclusive:
		return true
	}
	return false
}

// Condition is a Deployment-style condition, with both an update and a
// transition time, as Argo CD and kubectl users read it.
type Condition struct {
	Type               string                 `json:"type"`
	Status             metav1.ConditionStatus `json:"status"`
	LastUpdateTime     metav1.Time            `json:"lastUpdateTime"`
	LastTransitionTime metav1.Time            `json:"lastTransitionTime"`
	Reason             string                 `json:"reason"`
	Message            string                 `json:"message"`
}
