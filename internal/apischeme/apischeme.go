// Package apischeme builds the runtime.Scheme every Vireo program decodes
// with: Kubernetes' built-in kinds, the Gateway API, argoproj.io/v1alpha1
// and flagger.app/v1beta1.
// It is apart from the controller so that the CLI builds its clients without
// linking the controller manager and its metric providers.
package apischeme

import (
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	flaggerv1beta1 "github.com/vireo-dev/vireo/api/flagger/v1beta1"
	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// New returns a scheme with every kind Vireo reads or writes.
func New() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := gatewayv1.Install(s); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := flaggerv1beta1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}
