// Package trafficrouting moves a canary's share of traffic in the objects of
// a traffic router (an Ingress controller, a mesh, a gateway). Each router
// lives in its own package behind Router.
package trafficrouting

import (
	"context"

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
