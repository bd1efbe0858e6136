// Package traefik is the Traefik router: it sets the weights of the stable
// and canary Services in a weighted TraefikService, of the traefik.io group
// or, on older Traefik installations, traefik.containo.us.
package traefik

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/trafficrouting"
	"github.com/vireo-dev/vireo/internal/trafficrouting/trafficshare"
)

// The TraefikService kinds, newest group first.
var (
	TraefikService       = schema.GroupVersionKind{Group: "traefik.io", Version: "v1alpha1", Kind: "TraefikService"}
	LegacyTraefikService = schema.GroupVersionKind{Group: "traefik.containo.us", Version: "v1alpha1", Kind: "TraefikService"}
)

const field = "trafficRouting.traefik.weightedTraefikServiceName"

// Router manages one rollout's weighted TraefikService.
type Router struct {
	Client  client.Client
	Rollout *v1alpha1.Rollout
}

var _ trafficrouting.Router = Router{}

// Type is "traefik".
func (Router) Type() string { return "traefik" }

func (r Router) key() client.ObjectKey {
	return client.ObjectKey{Namespace: r.Rollout.Namespace, Name: r.Rollout.Spec.Strategy.Canary.TrafficRouting.Traefik.WeightedTraefikServiceName}
}

// kind is the TraefikService kind the API server serves: traefik.io, or the
// older group when only that is installed.
func (r Router) kind() schema.GroupVersionKind {
	if m := r.Client.RESTMapper(); m != nil {
		if _, err := m.RESTMapping(TraefikService.GroupKind(), TraefikService.Version); meta.IsNoMatchError(err) {
			if _, err := m.RESTMapping(LegacyTraefikService.GroupKind(), LegacyTraefikService.Version); err == nil {
				return LegacyTraefikService
			}
		}
	}
	return TraefikService
}

// services is the spec.weighted.services list of a TraefikService.
func services(u *unstructured.Unstructured) ([]any, error) {
	list, found, err := unstructured.NestedSlice(u.Object, "spec", "weighted", "services")
	if err != nil || !found {
		return nil, fmt.Errorf("%s: TraefikService %s has no spec.weighted.services", field, u.GetName())
	}
	return list, nil
}

var _ trafficrouting.Splitter = Router{}

// ExtraServicesAnnotation lists, on a TraefikService, the Services Vireo
// added to its weighted list beside the canary and the stable (an
// experiment's), so that it removes them, and only them, when they are done.
const ExtraServicesAnnotation = "vireo.dev/extra-services"

// SetWeight writes the canary and stable Services' weights.
func (r Router) SetWeight(ctx context.Context, weight int32) error {
	return r.SetWeights(ctx, weight, nil)
}

// SetWeights writes the canary's, the stable's and each extra Service's
// weights. An extra Service is listed on the canary's port.
func (r Router) SetWeights(ctx context.Context, weight int32, extra []trafficshare.Destination) error {
	c := r.Rollout.Spec.Strategy.Canary
	canary, stable := trafficrouting.Weights(r.Rollout, weight)
	for _, d := range extra {
		stable -= int64(d.Weight)
	}
	return trafficrouting.Update(ctx, r.Client, r.kind(), r.key(), field, func(u *unstructured.Unstructured) error {
		list, err := services(u)
		if err != nil {
			return err
		}
		added := map[string]bool{}
		for _, name := range strings.Split(u.GetAnnotations()[ExtraServicesAnnotation], ",") {
			added[name] = name != ""
		}
		var sawCanary, sawStable bool
		var kept []any
		var canaryEntry map[string]any
		for _, item := range list {
			svc, _ := item.(map[string]any)
			name, _ := svc["name"].(string)
			switch {
			case name == c.CanaryService:
				svc["weight"], sawCanary, canaryEntry = canary, true, svc
			case name == c.StableService:
				svc["weight"], sawStable = max(stable, 0), true
			case added[name]:
				continue // ours, from an earlier split: set again below if still wanted
			}
			kept = append(kept, svc)
		}
		if !sawCanary || !sawStable {
			return fmt.Errorf("%s: TraefikService %s must list both the stable Service %s and the canary Service %s", field, u.GetName(), c.StableService, c.CanaryService)
		}
		var names []string
		for _, d := range extra {
			entry := map[string]any{"name": d.Service, "weight": int64(d.Weight)}
			for _, k := range []string{"port", "kind", "namespace"} {
				if v, ok := canaryEntry[k]; ok {
					entry[k] = v
				}
			}
			kept = append(kept, entry)
			names = append(names, d.Service)
		}
		annotations := u.GetAnnotations()
		if len(names) > 0 {
			if annotations == nil {
				annotations = map[string]string{}
			}
			annotations[ExtraServicesAnnotation] = strings.Join(names, ",")
		} else {
			delete(annotations, ExtraServicesAnnotation)
		}
		u.SetAnnotations(annotations)
		return unstructured.SetNestedSlice(u.Object, kept, "spec", "weighted", "services")
	})
}

// VerifyWeight reads the canary's weight back.
func (r Router) VerifyWeight(ctx context.Context, weight int32) (bool, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(r.kind())
	if err := trafficrouting.Get(ctx, r.Client, r.key(), u, field); err != nil {
		return false, err
	}
	list, err := services(u)
	if err != nil {
		return false, err
	}
	for _, item := range list {
		svc, _ := item.(map[string]any)
		if svc["name"] == r.Rollout.Spec.Strategy.Canary.CanaryService {
			w, ok := svc["weight"].(int64)
			return ok && w == int64(weight), nil
		}
	}
	return false, nil
}

// ErrNoManagedRoutes is the answer of routers that cannot express header or mirror routes.
var ErrNoManagedRoutes = errors.New("the traefik router cannot set header or mirror routes")

// SetHeaderRoute is refused: a weighted TraefikService only splits by weight.
func (Router) SetHeaderRoute(context.Context, *v1alpha1.SetHeaderRoute) error {
	return ErrNoManagedRoutes
}

// SetMirrorRoute is refused, as header routes are.
func (Router) SetMirrorRoute(context.Context, *v1alpha1.SetMirrorRoute) error {
	return ErrNoManagedRoutes
}

// RemoveManagedRoutes has nothing to remove.
func (Router) RemoveManagedRoutes(context.Context) error { return nil }
