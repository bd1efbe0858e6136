package v1beta1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// MetricTemplate is a query that a Canary's check names by templateRef. The
// query is a Go text template over the canary: {{ name }}, {{ namespace }},
// {{ target }}, {{ service }}, {{ ingress }}, {{ route }}, {{ interval }} and
// {{ variables.NAME }}.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=all
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Provider",type=string,JSONPath=`.spec.provider.type`
type MetricTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec MetricTemplateSpec `json:"spec,omitempty"`
}

// MetricTemplateList is a list of MetricTemplates.
//
// +kubebuilder:object:root=true
type MetricTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MetricTemplate `json:"items"`
}

// MetricTemplateSpec is the provider and the query.
type MetricTemplateSpec struct {
	// +optional
	Provider MetricTemplateProvider `json:"provider,omitempty"`
	// +optional
	Query string `json:"query,omitempty"`
}

// MetricTemplateProvider is the metrics service a MetricTemplate asks.
type MetricTemplateProvider struct {
	// +kubebuilder:validation:Enum=prometheus;influxdb;datadog;externalmetrics;stackdriver;cloudwatch;newrelic;graphite;dynatrace;keptn;splunk
	// +optional
	Type string `json:"type,omitempty"`
	// Address of the service.
	// +optional
	Address string `json:"address,omitempty"`
	// Region of CloudWatch.
	// +optional
	Region string `json:"region,omitempty"`
	// Headers sent with every query.
	// +optional
	Headers map[string][]string `json:"headers,omitempty"`
	// SecretRef names the Secret with the service's credentials.
	// +optional
	SecretRef *SecretReference `json:"secretRef,omitempty"`
	// InsecureSkipVerify skips verifying the server's certificate.
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// SecretReference names a Secret in the object's namespace.
type SecretReference struct {
	// +optional
	Name string `json:"name,omitempty"`
}
