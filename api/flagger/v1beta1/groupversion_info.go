// Package v1beta1 holds the flagger.app/v1beta1 API that Vireo serves: Canary,
// MetricTemplate and AlertProvider.
//
// The JSON names and types are those of Flagger's API, so that a team's
// existing manifests, `kubectl get canaries` columns, `kubectl wait
// --for=condition=promoted` and Argo CD health checks keep working when Vireo
// replaces Flagger. The Go code and its documentation are Vireo's own.
//
// Every field is optional in the CRD: Vireo checks a Canary itself and reports
// what is wrong in its status and events, naming the field, rather than having
// the API server refuse the object with a schema error.
//
// +kubebuilder:object:generate=true
// +groupName=flagger.app
package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "flagger.app", Version: "v1beta1"}

	// SchemeBuilder registers this package's kinds with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds this package's kinds to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&Canary{}, &CanaryList{},
		&MetricTemplate{}, &MetricTemplateList{},
		&AlertProvider{}, &AlertProviderList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
