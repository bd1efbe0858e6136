// Package trafficrouting moves a canary's share of traffic in the objects of
// a traffic router (an Ingress controller, a mesh, a gateway). Each router
// lives in its own package behind Router.
package trafficrouting

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// Router sets a rollout's canary traffic in one kind of router object. A
// Router is made for one rollout and reads the names it manages from it.
type Router interface {
	// Type names the router: the key under spec.strategy.canary.trafficRouting.
	Type() string
	// SetWeight sends weight out of trafficRouting.maxTrafficWeight (100
	// unless set) to the canary Service, the rest to the stable one.
	SetWeight(ctx context.Context, weight int32) error
	// VerifyWeight reports whether the router's objects hold the weight.
	VerifyWeight(ctx context.Context, weight int32) (bool, error)
	// SetHeaderRoute sends requests matching the route to the canary; a
	// route without match removes it.
	SetHeaderRoute(ctx context.Context, route *v1alpha1.SetHeaderRoute) error
	// SetMirrorRoute copies matching requests to the canary; a route
	// without match removes it.
	SetMirrorRoute(ctx context.Context, route *v1alpha1.SetMirrorRoute) error
	// RemoveManagedRoutes removes every header and mirror route the router set.
	RemoveManagedRoutes(ctx context.Context) error
}

// MaxWeight is the rollout's total traffic weight.
func MaxWeight(ro *v1alpha1.Rollout) int32 {
	if c := ro.Spec.Strategy.Canary; c != nil && c.TrafficRouting != nil && c.TrafficRouting.MaxTrafficWeight != nil {
		return *c.TrafficRouting.MaxTrafficWeight
	}
	return 100
}

// Update reads the named object of a kind as unstructured, lets edit change
// it, and writes it back when it changed. what names the object in errors
// ("TraefikService"), with the field of the rollout that names it.
func Update(ctx context.Context, c client.Client, gvk schema.GroupVersionKind, key client.ObjectKey, what string, edit func(*unstructured.Unstructured) error) error {
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(gvk)
	if err := Get(ctx, c, key, obj, what); err != nil {
		return err
	}
	before := obj.DeepCopy()
	if err := edit(obj); err != nil {
		return err
	}
	if equality.Semantic.DeepEqual(before.Object, obj.Object) {
		return nil
	}
	if err := c.Update(ctx, obj); err != nil {
		return fmt.Errorf("updating %s %s: %w", gvk.Kind, key.Name, err)
	}
	return nil
}

// Get reads a router object, saying plainly when it or its kind is missing.
func Get(ctx context.Context, c client.Client, key client.ObjectKey, obj client.Object, what string) error {
	err := c.Get(ctx, key, obj)
	gvk := obj.GetObjectKind().GroupVersionKind()
	switch {
	case err == nil:
		return nil
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s: %s %s not found in namespace %s", what, gvk.Kind, key.Name, key.Namespace)
	case meta.IsNoMatchError(err):
		return fmt.Errorf("%s: the API server does not serve %s (%s): are its CRDs installed?", what, gvk.Kind, gvk.GroupVersion())
	}
	return fmt.Errorf("reading %s %s: %w", gvk.Kind, key.Name, err)
}

// Weights is the canary's weight and the stable's, out of the rollout's total.
func Weights(ro *v1alpha1.Rollout, canary int32) (canaryWeight, stableWeight int64) {
	return int64(canary), int64(MaxWeight(ro) - canary)
}
