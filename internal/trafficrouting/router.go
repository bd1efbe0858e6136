// Package trafficrouting moves a canary's share of traffic in the objects of
// a traffic router (an Ingress controller, a mesh, a gateway). Each router
// lives in its own package behind Router.
package trafficrouting

import (
	"context"
	"fmt"
	"regexp"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/trafficrouting/trafficshare"
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

// Splitter is a Router that can split traffic over more Services than the
// canary and the stable: SetWeights sends weight to the canary, each extra
// destination its own, and the rest to the stable Service; destinations it
// was given before and is not given now lose their place.
type Splitter interface {
	SetWeights(ctx context.Context, weight int32, extra []trafficshare.Destination) error
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
	return writeEdited(ctx, c, obj, edit)
}

// writeEdited lets edit change an object just read, and writes it back
// when it changed.
func writeEdited(ctx context.Context, c client.Client, obj *unstructured.Unstructured, edit func(*unstructured.Unstructured) error) error {
	before := obj.DeepCopy()
	if err := edit(obj); err != nil {
		return err
	}
	if equality.Semantic.DeepEqual(before.Object, obj.Object) {
		return nil
	}
	if err := c.Update(ctx, obj); err != nil {
		return fmt.Errorf("updating %s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	return nil
}

// Get reads a router object, saying plainly when it or its kind is missing.
func Get(ctx context.Context, c client.Client, key client.ObjectKey, obj client.Object, what string) error {
	err := c.Get(ctx, key, obj)
	gvk := obj.GetObjectKind().GroupVersionKind()
	if gvk.Kind == "" { // a typed object: its kind comes from the scheme
		gvk, _ = apiutil.GVKForObject(obj, c.Scheme())
	}
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
	return int64(canary), int64(trafficshare.Max(ro) - canary)
}

// Own creates an object the rollout owns, or brings the one it owns up to
// date. set writes the object's content; it gets an empty object of the kind
// to create, or the current one to change. An object of that name that the
// rollout does not own is left alone and reported.
func Own(ctx context.Context, c client.Client, ro *v1alpha1.Rollout, gvk schema.GroupVersionKind, key client.ObjectKey, what string, set func(*unstructured.Unstructured) error) error {
	current := &unstructured.Unstructured{}
	current.SetGroupVersionKind(gvk)
	err := c.Get(ctx, key, current)
	switch {
	case apierrors.IsNotFound(err):
		obj := &unstructured.Unstructured{Object: map[string]any{}}
		obj.SetGroupVersionKind(gvk)
		obj.SetNamespace(key.Namespace)
		obj.SetName(key.Name)
		obj.SetOwnerReferences([]metav1.OwnerReference{*metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))})
		if err := set(obj); err != nil {
			return err
		}
		if err := c.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %s %s: %w", gvk.Kind, key.Name, err)
		}
		return nil
	case err != nil:
		return Get(ctx, c, key, current, what) // says what is wrong
	}
	if !metav1.IsControlledBy(current, ro) {
		return fmt.Errorf("%s: %s %s exists and is not this rollout's", what, gvk.Kind, key.Name)
	}
	return writeEdited(ctx, c, current, set)
}

// DeleteOwned deletes an object the rollout owns. A missing object is fine;
// one the rollout does not own is left alone.
func DeleteOwned(ctx context.Context, c client.Client, ro *v1alpha1.Rollout, gvk schema.GroupVersionKind, key client.ObjectKey) error {
	current := &unstructured.Unstructured{}
	current.SetGroupVersionKind(gvk)
	err := c.Get(ctx, key, current)
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("reading %s %s: %w", gvk.Kind, key.Name, err)
	case !metav1.IsControlledBy(current, ro):
		return nil
	}
	if err := c.Delete(ctx, current, client.Preconditions{UID: ptr.To(current.GetUID())}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %s %s: %w", gvk.Kind, key.Name, err)
	}
	return nil
}

// CheckHeaderMatches says what is missing or malformed in a header route's
// matches, whatever the router: a header name, a value to match, a regular
// expression that compiles. Routers add what they cannot express.
func CheckHeaderMatches(route *v1alpha1.SetHeaderRoute) error {
	for i, m := range route.Match {
		v := m.HeaderValue
		switch {
		case m.HeaderName == "":
			return fmt.Errorf("match[%d].headerName is required", i)
		case v == nil || (v.Exact == "" && v.Prefix == "" && v.Regex == ""):
			return fmt.Errorf("match[%d].headerValue: set exact, prefix or regex", i)
		case v.Regex != "":
			if _, err := regexp.Compile(v.Regex); err != nil {
				return fmt.Errorf("match[%d].headerValue.regex: %v", i, err)
			}
		}
	}
	return nil
}
