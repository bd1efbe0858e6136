package v1beta1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// AlertProvider is a chat service that a Canary's alerts are sent to.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=all
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
type AlertProvider struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AlertProviderSpec `json:"spec,omitempty"`
}

// AlertProviderList is a list of AlertProviders.
//
// +kubebuilder:object:root=true
type AlertProviderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AlertProvider `json:"items"`
}

// AlertProviderSpec is the service, where to post and as whom.
type AlertProviderSpec struct {
	// +kubebuilder:validation:Enum=slack;msteams;discord;rocket;gchat
	// +optional
	Type string `json:"type,omitempty"`
	// Address is the webhook URL; secretRef's "address" key overrides it.
	// +optional
	Address string `json:"address,omitempty"`
	// +optional
	Channel string `json:"channel,omitempty"`
	// +optional
	Username string `json:"username,omitempty"`
	// Proxy for the HTTP requests.
	// +optional
	Proxy string `json:"proxy,omitempty"`
	// SecretRef names a Secret with "address" (and "proxy") keys.
	// +optional
	SecretRef *SecretReference `json:"secretRef,omitempty"`
}
