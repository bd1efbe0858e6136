// Package apisix is the Apache APISIX router. It sets the weights of the
// stable and canary backends in the http rules of the user's ApisixRoute.
// A header route is an ApisixRoute Vireo creates and owns: the same rules,
// one priority higher, matching the headers and sending to the canary.
package apisix

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/trafficrouting"
)

// ApisixRoute is the kind, at the version the API server prefers (v2, or
// v2beta3 on older controllers).
var ApisixRoute = schema.GroupKind{Group: "apisix.apache.org", Kind: "ApisixRoute"}

const field = "trafficRouting.apisix.route"

// Router manages one rollout's ApisixRoute weights and header routes.
type Router struct {
	Client  client.Client
	Rollout *v1alpha1.Rollout
}

var _ trafficrouting.Router = Router{}

// Type is "apisix".
func (Router) Type() string { return "apisix" }

func (r Router) spec() *v1alpha1.ApisixRoute {
	return r.Rollout.Spec.Strategy.Canary.TrafficRouting.Apisix.Route
}

func (r Router) kind() schema.GroupVersionKind {
	if m := r.Client.RESTMapper(); m != nil {
		if mapping, err := m.RESTMapping(ApisixRoute); err == nil {
			return mapping.GroupVersionKind
		}
	}
	return ApisixRoute.WithVersion("v2")
}

func (r Router) key(name string) client.ObjectKey {
	return client.ObjectKey{Namespace: r.Rollout.Namespace, Name: name}
}

// RouteName is the name of the ApisixRoute a header route gets.
func RouteName(route, managed string) string { return route + "-" + managed }

// backend finds a rule's backend for a Service.
func backend(rule map[string]any, service string) map[string]any {
	list, _ := rule["backends"].([]any)
	for _, item := range list {
		if b, _ := item.(map[string]any); b != nil && b["serviceName"] == service {
			return b
		}
	}
	return nil
}

// weighted picks the http rules that carry the weights: those named in
// rules, or, when none are named, every rule with both a stable and a canary
// backend. It says which are missing.
func (r Router) weighted(u *unstructured.Unstructured) ([]map[string]any, []any, error) {
	c := r.Rollout.Spec.Strategy.Canary
	http, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
	names := r.spec().Rules
	var out []map[string]any
	for _, item := range http {
		rule, _ := item.(map[string]any)
		name, _ := rule["name"].(string)
		switch {
		case len(names) > 0 && !slices.Contains(names, name):
			continue
		case backend(rule, c.StableService) != nil && backend(rule, c.CanaryService) != nil:
			out = append(out, rule)
		case len(names) > 0:
			return nil, nil, fmt.Errorf("%s: rule %s of ApisixRoute %s must have backends for both the stable Service %s and the canary Service %s", field, name, u.GetName(), c.StableService, c.CanaryService)
		}
	}
	if len(names) > 0 && len(out) != len(names) {
		return nil, nil, fmt.Errorf("%s: ApisixRoute %s has %d of the http rules %v", field, u.GetName(), len(out), names)
	}
	if len(out) == 0 {
		return nil, nil, fmt.Errorf("%s: ApisixRoute %s has no http rule with backends for both the stable Service %s and the canary Service %s", field, u.GetName(), c.StableService, c.CanaryService)
	}
	return out, http, nil
}

// SetWeight writes the stable and canary backends' weights.
func (r Router) SetWeight(ctx context.Context, weight int32) error {
	c := r.Rollout.Spec.Strategy.Canary
	canary, stable := trafficrouting.Weights(r.Rollout, weight)
	return trafficrouting.Update(ctx, r.Client, r.kind(), r.key(r.spec().Name), field, func(u *unstructured.Unstructured) error {
		rules, http, err := r.weighted(u)
		if err != nil {
			return err
		}
		for _, rule := range rules {
			backend(rule, c.CanaryService)["weight"] = canary
			backend(rule, c.StableService)["weight"] = stable
		}
		return unstructured.SetNestedSlice(u.Object, http, "spec", "http")
	})
}

// VerifyWeight reads the canary backends' weights back.
func (r Router) VerifyWeight(ctx context.Context, weight int32) (bool, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(r.kind())
	if err := trafficrouting.Get(ctx, r.Client, r.key(r.spec().Name), u, field); err != nil {
		return false, err
	}
	rules, _, err := r.weighted(u)
	if err != nil {
		return false, err
	}
	for _, rule := range rules {
		if w, _ := backend(rule, r.Rollout.Spec.Strategy.Canary.CanaryService)["weight"].(int64); w != int64(weight) {
			return false, nil
		}
	}
	return true, nil
}

// ValidateHeaderRoute says why an ApisixRoute cannot express a header
// route, if it cannot: its match expressions compare exactly or by regular
// expression, and a prefix is written as one.
func ValidateHeaderRoute(route *v1alpha1.SetHeaderRoute) error {
	return trafficrouting.CheckHeaderMatches(route)
}

// expr is one of APISIX's match expressions for a header.
func expr(m v1alpha1.HeaderRoutingMatch) map[string]any {
	e := map[string]any{"subject": map[string]any{"scope": "Header", "name": m.HeaderName}}
	switch v := m.HeaderValue; {
	case v.Exact != "":
		e["op"], e["value"] = "Equal", v.Exact
	case v.Prefix != "":
		e["op"], e["value"] = "RegexMatch", "^"+regexp.QuoteMeta(v.Prefix)
	default:
		e["op"], e["value"] = "RegexMatch", v.Regex
	}
	return e
}

// SetHeaderRoute creates the rollout's ApisixRoute for the route: each
// weighted rule, one priority higher, with the headers added to its match
// and the canary as its only backend. A route without match removes it.
func (r Router) SetHeaderRoute(ctx context.Context, route *v1alpha1.SetHeaderRoute) error {
	if err := ValidateHeaderRoute(route); err != nil {
		return err
	}
	name := RouteName(r.spec().Name, route.Name)
	if len(route.Match) == 0 {
		return trafficrouting.DeleteOwned(ctx, r.Client, r.Rollout, r.kind(), r.key(name))
	}
	base := &unstructured.Unstructured{}
	base.SetGroupVersionKind(r.kind())
	if err := trafficrouting.Get(ctx, r.Client, r.key(r.spec().Name), base, field); err != nil {
		return err
	}
	rules, _, err := r.weighted(base)
	if err != nil {
		return err
	}
	canaryService := r.Rollout.Spec.Strategy.Canary.CanaryService
	var http []any
	for _, rule := range rules {
		own := (&unstructured.Unstructured{Object: rule}).DeepCopy().Object
		own["name"] = fmt.Sprintf("%s-%s", own["name"], route.Name)
		priority, _ := own["priority"].(int64)
		own["priority"] = priority + 1
		match, _ := own["match"].(map[string]any)
		if match == nil {
			match = map[string]any{}
			own["match"] = match
		}
		exprs, _ := match["exprs"].([]any)
		for _, m := range route.Match {
			exprs = append(exprs, expr(m))
		}
		match["exprs"] = exprs
		canary := backend(own, canaryService)
		delete(canary, "weight")
		own["backends"] = []any{canary}
		http = append(http, own)
	}
	class, hasClass, _ := unstructured.NestedString(base.Object, "spec", "ingressClassName")
	return trafficrouting.Own(ctx, r.Client, r.Rollout, r.kind(), r.key(name), field, func(u *unstructured.Unstructured) error {
		if hasClass {
			_ = unstructured.SetNestedField(u.Object, class, "spec", "ingressClassName")
		}
		return unstructured.SetNestedSlice(u.Object, http, "spec", "http")
	})
}

// ErrMirrorUnsupported is the answer to mirror routes.
var ErrMirrorUnsupported = errors.New("the apisix router cannot mirror requests to the canary")

// SetMirrorRoute is refused: APISIX mirrors to a host, not to a Service's backends.
func (Router) SetMirrorRoute(context.Context, *v1alpha1.SetMirrorRoute) error {
	return ErrMirrorUnsupported
}

// RemoveManagedRoutes deletes the header routes' ApisixRoutes.
func (r Router) RemoveManagedRoutes(ctx context.Context) error {
	for _, m := range r.Rollout.Spec.Strategy.Canary.TrafficRouting.ManagedRoutes {
		if err := trafficrouting.DeleteOwned(ctx, r.Client, r.Rollout, r.kind(), r.key(RouteName(r.spec().Name, m.Name))); err != nil {
			return err
		}
	}
	return nil
}
