// Package smi is the Service Mesh Interface router: Vireo creates and owns a
// TrafficSplit that divides the root Service's traffic between the stable and
// canary Services. It speaks split.smi-spec.io v1alpha1, v1alpha2 and
// v1alpha3 (and v1alpha4), whichever the mesh serves, newest first.
package smi

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/trafficrouting"
)

// Group is SMI's traffic-split API group.
const Group = "split.smi-spec.io"

// Versions are the TrafficSplit versions Vireo writes, in order of preference.
var Versions = []string{"v1alpha4", "v1alpha3", "v1alpha2", "v1alpha1"}

const field = "trafficRouting.smi"

// Router manages one rollout's TrafficSplit.
type Router struct {
	Client  client.Client
	Rollout *v1alpha1.Rollout
	// APIVersion forces a TrafficSplit version; empty picks the newest served.
	APIVersion string
}

var _ trafficrouting.Router = Router{}

// Type is "smi".
func (Router) Type() string { return "smi" }

func (r Router) spec() *v1alpha1.SMITrafficRouting {
	return r.Rollout.Spec.Strategy.Canary.TrafficRouting.SMI
}

// Name is the TrafficSplit's name: trafficSplitName, or the rollout's.
func (r Router) Name() string {
	if n := r.spec().TrafficSplitName; n != "" {
		return n
	}
	return r.Rollout.Name
}

// root is the Service clients call: rootService, or the stable Service.
func (r Router) root() string {
	if s := r.spec().RootService; s != "" {
		return s
	}
	return r.Rollout.Spec.Strategy.Canary.StableService
}

func (r Router) kind() schema.GroupVersionKind {
	gvk := schema.GroupVersionKind{Group: Group, Version: r.APIVersion, Kind: "TrafficSplit"}
	if gvk.Version != "" {
		return gvk
	}
	gvk.Version = Versions[len(Versions)-1]
	if m := r.Client.RESTMapper(); m != nil {
		if mapping, err := m.RESTMapping(gvk.GroupKind(), Versions...); err == nil {
			gvk.Version = mapping.GroupVersionKind.Version
		}
	}
	return gvk
}

func (r Router) backends(weight int32) []any {
	c := r.Rollout.Spec.Strategy.Canary
	canary, stable := trafficrouting.Weights(r.Rollout, weight)
	return []any{
		map[string]any{"service": c.CanaryService, "weight": canary},
		map[string]any{"service": c.StableService, "weight": stable},
	}
}

// SetWeight writes the split, creating the TrafficSplit when it is missing.
func (r Router) SetWeight(ctx context.Context, weight int32) error {
	key := client.ObjectKey{Namespace: r.Rollout.Namespace, Name: r.Name()}
	err := trafficrouting.Own(ctx, r.Client, r.Rollout, r.kind(), key, field, func(u *unstructured.Unstructured) error {
		if err := unstructured.SetNestedField(u.Object, r.root(), "spec", "service"); err != nil {
			return err
		}
		return unstructured.SetNestedSlice(u.Object, r.backends(weight), "spec", "backends")
	})
	if err != nil && strings.Contains(err.Error(), "is not this rollout's") {
		return fmt.Errorf("%w; name another with trafficSplitName", err)
	}
	return err
}

// VerifyWeight reads the canary backend's weight back.
func (r Router) VerifyWeight(ctx context.Context, weight int32) (bool, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(r.kind())
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: r.Rollout.Namespace, Name: r.Name()}, u)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading TrafficSplit %s: %w", r.Name(), err)
	}
	list, _, _ := unstructured.NestedSlice(u.Object, "spec", "backends")
	for _, item := range list {
		b, _ := item.(map[string]any)
		if b["service"] == r.Rollout.Spec.Strategy.Canary.CanaryService {
			w, ok := b["weight"].(int64)
			return ok && w == int64(weight), nil
		}
	}
	return false, nil
}

// ErrNoManagedRoutes: a TrafficSplit splits by weight only.
var ErrNoManagedRoutes = errors.New("the smi router cannot set header or mirror routes")

// SetHeaderRoute is refused.
func (Router) SetHeaderRoute(context.Context, *v1alpha1.SetHeaderRoute) error {
	return ErrNoManagedRoutes
}

// SetMirrorRoute is refused.
func (Router) SetMirrorRoute(context.Context, *v1alpha1.SetMirrorRoute) error {
	return ErrNoManagedRoutes
}

// RemoveManagedRoutes has nothing to remove.
func (Router) RemoveManagedRoutes(context.Context) error { return nil }
