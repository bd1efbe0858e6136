package canary

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
	planner "github.com/vireo-dev/vireo/internal/canary"
)

// traefikServiceGVKs are Traefik's TraefikService, in the API group of
// Traefik 3 first and then in Traefik 2's, which Flagger writes.
var traefikServiceGVKs = []schema.GroupVersionKind{
	{Group: "traefik.io", Version: "v1alpha1", Kind: "TraefikService"},
	{Group: "traefik.containo.us", Version: "v1alpha1", Kind: "TraefikService"},
}

// traefikRouter owns a weighted TraefikService named after the apex
// Service: the primary's Service with its weight, and the canary's while it
// has one. The user's IngressRoute sends to that TraefikService.
type traefikRouter struct {
	objects
}

// find returns the TraefikService and the group it is served in; nil when
// it does not exist yet (the first served group is then the one to create).
func (r *traefikRouter) find(ctx context.Context, c *v1beta1.Canary) (*unstructured.Unstructured, schema.GroupVersionKind, error) {
	apex, _, _ := planner.ServiceNames(c)
	var lastErr error
	for _, gvk := range traefikServiceGVKs {
		u, err := r.get(ctx, c, gvk, apex)
		if isNoKind(err) {
			lastErr = err
			continue
		}
		return u, gvk, err
	}
	return nil, schema.GroupVersionKind{}, fmt.Errorf("the API server serves no TraefikService (install Traefik's CRDs): %w", lastErr)
}

// isNoKind: the API server does not serve the kind.
func isNoKind(err error) bool {
	var kind *meta.NoKindMatchError
	var resource *meta.NoResourceMatchError
	return errors.As(err, &kind) || errors.As(err, &resource)
}

func (r *traefikRouter) Routes(ctx context.Context, c *v1beta1.Canary) (planner.Routes, error) {
	u, _, err := r.find(ctx, c)
	if err != nil || u == nil {
		return planner.Routes{Primary: planner.TotalWeight}, err
	}
	_, primary, canary := planner.ServiceNames(c)
	services, _, _ := unstructured.NestedSlice(u.Object, "spec", "weighted", "services")
	var out planner.Routes
	for _, s := range services {
		m, _ := s.(map[string]any)
		name, _ := m["name"].(string)
		switch name {
		case primary:
			out.Primary = toInt(m["weight"])
		case canary:
			out.Canary = toInt(m["weight"])
		}
	}
	return out, nil
}

func (r *traefikRouter) Reconcile(ctx context.Context, c *v1beta1.Canary, _ *planner.Sticky) error {
	w, err := r.Routes(ctx, c)
	if err != nil {
		return err
	}
	return r.SetRoutes(ctx, c, w)
}

func (r *traefikRouter) SetRoutes(ctx context.Context, c *v1beta1.Canary, w planner.Routes) error {
	u, gvk, err := r.find(ctx, c)
	if err != nil {
		return err
	}
	if u != nil {
		gvk = u.GroupVersionKind()
	}
	apex, primary, canary := planner.ServiceNames(c)
	svc := func(name string, weight int) any {
		return map[string]any{"name": name, "namespace": c.Namespace, "port": int64(c.Spec.Service.Port), "weight": int64(weight)}
	}
	services := []any{svc(primary, w.Primary)}
	if w.Canary > 0 {
		services = append(services, svc(canary, w.Canary))
	}
	labels, annotations := map[string]string{}, map[string]string{}
	if m := c.Spec.Service.Apex; m != nil {
		labels, annotations = m.Labels, m.Annotations
	}
	return r.ensure(ctx, c, gvk, apex, map[string]any{"weighted": map[string]any{"services": services}}, labels, annotations)
}
