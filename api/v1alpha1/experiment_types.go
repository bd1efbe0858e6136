package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Experiment runs one or more ReplicaSets side by side for a while and judges
// them with analyses.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=exp,categories={argoproj,vireo}
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Experiment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ExperimentSpec `json:"spec"`
	// +optional
	Status ExperimentStatus `json:"status,omitempty"`
}

// ExperimentList is a list of Experiments.
//
// +kubebuilder:object:root=true
type ExperimentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Experiment `json:"items"`
}

// ExperimentSpec is what the user asks of an Experiment.
type ExperimentSpec struct {
	// Templates are the ReplicaSets to run.
	Templates []TemplateSpec `json:"templates"`
	// Duration of the experiment; unset means until its analyses finish.
	// +optional
	Duration DurationString `json:"duration,omitempty"`
	// ProgressDeadlineSeconds for the ReplicaSets to become available; 600 when unset.
	// +optional
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`
	// Terminate ends the experiment early.
	// +optional
	Terminate bool `json:"terminate,omitempty"`
	// Analyses judge the experiment.
	// +optional
	Analyses []ExperimentAnalysisTemplateRef `json:"analyses,omitempty"`
	// ScaleDownDelaySeconds keeps the pods after the experiment ends; 30 when unset.
	// +optional
	ScaleDownDelaySeconds *int32 `json:"scaleDownDelaySeconds,omitempty"`
	// +optional
	DryRun []DryRun `json:"dryRun,omitempty"`
	// +optional
	MeasurementRetention []MeasurementRetention `json:"measurementRetention,omitempty"`
	// +optional
	AnalysisRunMetadata AnalysisRunMetadata `json:"analysisRunMetadata,omitempty"`
}

// TemplateSpec is one ReplicaSet of an experiment.
type TemplateSpec struct {
	Name string `json:"name"`
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// +optional
	MinReadySeconds int32                  `json:"minReadySeconds,omitempty"`
	Selector        *metav1.LabelSelector  `json:"selector"`
	Template        corev1.PodTemplateSpec `json:"template"`
	// Service, when set, puts a Service in front of the template's pods.
	// +optional
	Service *TemplateService `json:"service,omitempty"`
}

// ExperimentAnalysisTemplateRef is an analysis of an experiment.
type ExperimentAnalysisTemplateRef struct {
	Name         string `json:"name"`
	TemplateName string `json:"templateName"`
	// +optional
	ClusterScope bool `json:"clusterScope,omitempty"`
	// +optional
	Args []Argument `json:"args,omitempty"`
	// RequiredForCompletion ends the experiment when this analysis completes.
	// +optional
	RequiredForCompletion bool `json:"requiredForCompletion,omitempty"`
}

// ExperimentStatus is what Vireo reports about an Experiment.
type ExperimentStatus struct {
	// Phase is Pending, Running, Successful, Failed or Error.
	// +optional
	Phase AnalysisPhase `json:"phase,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	TemplateStatuses []TemplateStatus `json:"templateStatuses,omitempty"`
	// AvailableAt is when every template first became available.
	// +optional
	AvailableAt *metav1.Time `json:"availableAt,omitempty"`
	// +optional
	Conditions []Condition `json:"conditions,omitempty"`
	// +optional
	AnalysisRuns []ExperimentAnalysisRunStatus `json:"analysisRuns,omitempty"`
}

// TemplateStatus is the state of one template's ReplicaSet.
type TemplateStatus struct {
	Name              string `json:"name"`
	Replicas          int32  `json:"replicas"`
	UpdatedReplicas   int32  `json:"updatedReplicas"`
	ReadyReplicas     int32  `json:"readyReplicas"`
	AvailableReplicas int32  `json:"availableReplicas"`
	// +optional
	CollisionCount *int32 `json:"collisionCount,omitempty"`
	// Status is Pending, Progressing, Running, Successful, Failed or Error.
	// +optional
	Status string `json:"status,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`
	// +optional
	ServiceName string `json:"serviceName,omitempty"`
	// +optional
	PodTemplateHash string `json:"podTemplateHash,omitempty"`
}

// ExperimentAnalysisRunStatus is the state of one analysis of an experiment.
type ExperimentAnalysisRunStatus struct {
	Name        string        `json:"name"`
	AnalysisRun string        `json:"analysisRun"`
	Phase       AnalysisPhase `json:"phase"`
	// +optional
	Message string `json:"message,omitempty"`
}
