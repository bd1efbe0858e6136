// Package templates reads the AnalysisTemplates and ClusterAnalysisTemplates
// an analysis names, through a client, for analysis.MergeTemplates. It is
// kept out of package analysis so that the planners stay free of clients.
package templates

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// Client reads AnalysisTemplates of one namespace and
// ClusterAnalysisTemplates through clients: a cache in the controller, the
// API server in the CLI.
type Client struct {
	Namespaced, Cluster client.Reader
	Namespace           string
}

// Template reads one template; a missing one is "not found".
func (t Client) Template(ctx context.Context, ref v1alpha1.AnalysisTemplateRef) (*v1alpha1.AnalysisTemplateSpec, error) {
	if ref.ClusterScope {
		var ct v1alpha1.ClusterAnalysisTemplate
		if err := t.Cluster.Get(ctx, client.ObjectKey{Name: ref.TemplateName}, &ct); err != nil {
			return nil, notFound(err)
		}
		return &ct.Spec, nil
	}
	var at v1alpha1.AnalysisTemplate
	if err := t.Namespaced.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: ref.TemplateName}, &at); err != nil {
		return nil, notFound(err)
	}
	return &at.Spec, nil
}

func notFound(err error) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("not found")
	}
	return err
}
