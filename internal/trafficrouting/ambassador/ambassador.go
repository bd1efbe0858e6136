// Package ambassador is the Ambassador (Emissary-ingress) router. For each
// Mapping the rollout names, Vireo creates and owns a canary Mapping: a copy
// pointed at the canary Service, whose weight is the canary's percentage of
// the requests the Mapping matches. Header routes are more copies, matching
// the route's headers and sending everything to the canary (Emissary tries
// Mappings with header constraints before those without); mirror routes are
// shadow copies.
package ambassador

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/trafficrouting"
	"github.com/vireo-dev/vireo/internal/trafficrouting/trafficshare"
)

// The Mapping kinds, in the order Vireo looks for them: getambassador.io at
// the version the API server prefers, then Emissary 2's x.getambassador.io.
var (
	Mapping      = schema.GroupKind{Group: "getambassador.io", Kind: "Mapping"}
	LegacyXGroup = schema.GroupVersionKind{Group: "x.getambassador.io", Version: "v3alpha1", Kind: "Mapping"}
)

const field = "trafficRouting.ambassador.mappings"

// Router manages one rollout's canary Mappings.
type Router struct {
	Client  client.Client
	Rollout *v1alpha1.Rollout
}

var _ trafficrouting.Router = Router{}

// Type is "ambassador".
func (Router) Type() string { return "ambassador" }

func (r Router) mappings() []string {
	return r.Rollout.Spec.Strategy.Canary.TrafficRouting.Ambassador.Mappings
}

// kind is the Mapping kind the API server serves.
func (r Router) kind() schema.GroupVersionKind {
	if m := r.Client.RESTMapper(); m != nil {
		if mapping, err := m.RESTMapping(Mapping); err == nil {
			return mapping.GroupVersionKind
		}
		if _, err := m.RESTMapping(LegacyXGroup.GroupKind(), LegacyXGroup.Version); err == nil {
			return LegacyXGroup
		}
	}
	return Mapping.WithVersion("v2")
}

func (r Router) key(name string) client.ObjectKey {
	return client.ObjectKey{Namespace: r.Rollout.Namespace, Name: name}
}

// CanaryMapping is the name of the canary copy of a Mapping.
func CanaryMapping(base string) string { return base + "-canary" }

// RouteMapping is the name of a header route's copy of a Mapping.
func RouteMapping(base, route string) string { return base + "-" + route }

// percent turns a weight out of maxTrafficWeight into Emissary's percentage.
func (r Router) percent(weight int32) int64 {
	max := trafficshare.Max(r.Rollout)
	return (int64(weight)*100 + int64(max)/2) / int64(max)
}

// canaryService rewrites a Mapping's service (name, name:port,
// name.namespace:port, scheme://name...) to name the canary Service.
func (r Router) canaryService(base *unstructured.Unstructured) (string, error) {
	c := r.Rollout.Spec.Strategy.Canary
	svc, _, _ := unstructured.NestedString(base.Object, "spec", "service")
	scheme, rest := "", svc
	if i := strings.Index(svc, "://"); i >= 0 {
		scheme, rest = svc[:i+3], svc[i+3:]
	}
	host := rest
	if i := strings.IndexAny(rest, ".:/"); i >= 0 {
		host = rest[:i]
	}
	if host != c.StableService {
		return "", fmt.Errorf("%s: Mapping %s sends to service %q, not to the stable Service %s", field, base.GetName(), svc, c.StableService)
	}
	return scheme + c.CanaryService + rest[len(host):], nil
}

// copyOf is the spec of a copy of the base Mapping for the canary: the base's
// own weight, status and identity are not copied.
func (r Router) copyOf(ctx context.Context, baseName string) (map[string]any, error) {
	base := &unstructured.Unstructured{}
	base.SetGroupVersionKind(r.kind())
	if err := trafficrouting.Get(ctx, r.Client, r.key(baseName), base, field); err != nil {
		return nil, err
	}
	if _, set, _ := unstructured.NestedFieldNoCopy(base.Object, "spec", "weight"); set {
		return nil, fmt.Errorf("%s: Mapping %s sets a weight; the stable Mapping takes what the canary Mapping leaves, so remove it", field, baseName)
	}
	svc, err := r.canaryService(base)
	if err != nil {
		return nil, err
	}
	spec, _, _ := unstructured.NestedMap(base.Object, "spec")
	spec["service"] = svc
	return spec, nil
}

// own writes the copy of base named name with spec, owned by the rollout.
func (r Router) own(ctx context.Context, name string, spec map[string]any) error {
	return trafficrouting.Own(ctx, r.Client, r.Rollout, r.kind(), r.key(name), field, func(u *unstructured.Unstructured) error {
		return unstructured.SetNestedMap(u.Object, spec, "spec")
	})
}

// SetWeight writes the canary Mappings' weight, creating them when missing.
func (r Router) SetWeight(ctx context.Context, weight int32) error {
	for _, base := range r.mappings() {
		spec, err := r.copyOf(ctx, base)
		if err != nil {
			return err
		}
		spec["weight"] = r.percent(weight)
		if err := r.own(ctx, CanaryMapping(base), spec); err != nil {
			return err
		}
	}
	return nil
}

// VerifyWeight reads the canary Mappings' weight back.
func (r Router) VerifyWeight(ctx context.Context, weight int32) (bool, error) {
	for _, base := range r.mappings() {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(r.kind())
		if err := trafficrouting.Get(ctx, r.Client, r.key(CanaryMapping(base)), u, field); err != nil {
			return false, err
		}
		if w, _, _ := unstructured.NestedInt64(u.Object, "spec", "weight"); w != r.percent(weight) {
			return false, nil
		}
	}
	return true, nil
}

// ValidateHeaderRoute says why a Mapping cannot express a header route, if
// it cannot: Emissary matches headers exactly or by regular expression, and
// a prefix is written as one.
func ValidateHeaderRoute(route *v1alpha1.SetHeaderRoute) error {
	return trafficrouting.CheckHeaderMatches(route)
}

// SetHeaderRoute creates, for each Mapping, a copy named after the route
// that matches its headers and sends to the canary. A route without match
// removes it.
func (r Router) SetHeaderRoute(ctx context.Context, route *v1alpha1.SetHeaderRoute) error {
	if err := ValidateHeaderRoute(route); err != nil {
		return err
	}
	if len(route.Match) == 0 {
		return r.removeRoute(ctx, route.Name)
	}
	headers := map[string]v1alpha1.StringMatch{}
	for _, m := range route.Match {
		headers[m.HeaderName] = *m.HeaderValue
	}
	return r.routeCopies(ctx, route.Name, func(spec map[string]any) error {
		setHeaders(spec, headers)
		return nil
	})
}

// setHeaders writes header matches as Emissary's exact and regular
// expression header fields, replacing the base Mapping's.
func setHeaders(spec map[string]any, headers map[string]v1alpha1.StringMatch) {
	exact, regex := map[string]any{}, map[string]any{}
	for name, v := range headers {
		switch {
		case v.Exact != "":
			exact[name] = v.Exact
		case v.Prefix != "":
			regex[name] = "^" + regexp.QuoteMeta(v.Prefix) + ".*"
		default:
			regex[name] = v.Regex
		}
	}
	delete(spec, "headers")
	delete(spec, "regex_headers")
	if len(exact) > 0 {
		spec["headers"] = exact
	}
	if len(regex) > 0 {
		spec["regex_headers"] = regex
	}
}

// routeCopies writes, for each Mapping, the copy named after a managed
// route, as edit makes it from the canary copy.
func (r Router) routeCopies(ctx context.Context, name string, edit func(spec map[string]any) error) error {
	for _, base := range r.mappings() {
		spec, err := r.copyOf(ctx, base)
		if err != nil {
			return err
		}
		if err := edit(spec); err != nil {
			return err
		}
		if err := r.own(ctx, RouteMapping(base, name), spec); err != nil {
			return err
		}
	}
	return nil
}

func (r Router) removeRoute(ctx context.Context, name string) error {
	for _, base := range r.mappings() {
		if err := trafficrouting.DeleteOwned(ctx, r.Client, r.Rollout, r.kind(), r.key(RouteMapping(base, name))); err != nil {
			return err
		}
	}
	return nil
}

// ValidateMirrorRoute says why a shadow Mapping cannot express a mirror
// route, if it cannot: one Mapping holds one match.
func ValidateMirrorRoute(route *v1alpha1.SetMirrorRoute) error {
	if len(route.Match) > 1 {
		return fmt.Errorf("ambassador mirrors one match per route; the route has %d", len(route.Match))
	}
	for _, m := range route.Match {
		for what, v := range map[string]*v1alpha1.StringMatch{"method": m.Method, "path": m.Path} {
			if v != nil && v.Exact == "" && v.Prefix == "" && v.Regex == "" {
				return fmt.Errorf("match[0].%s: set exact, prefix or regex", what)
			}
		}
		if m.Method != nil && m.Method.Prefix != "" {
			return errors.New("match[0].method: ambassador matches a method exactly or by regular expression")
		}
	}
	return nil
}

// SetMirrorRoute creates, for each Mapping, a shadow copy named after the
// route: Emissary sends a copy of percentage of the matching requests to
// the canary and ignores its answers. A route without match removes it.
func (r Router) SetMirrorRoute(ctx context.Context, route *v1alpha1.SetMirrorRoute) error {
	if err := ValidateMirrorRoute(route); err != nil {
		return err
	}
	if len(route.Match) == 0 {
		return r.removeRoute(ctx, route.Name)
	}
	m := route.Match[0]
	return r.routeCopies(ctx, route.Name, func(spec map[string]any) error {
		spec["shadow"] = true
		if route.Percentage != nil && *route.Percentage < 100 {
			spec["weight"] = int64(*route.Percentage)
		}
		if len(m.Headers) > 0 {
			setHeaders(spec, m.Headers)
		}
		if v := m.Method; v != nil {
			delete(spec, "method_regex")
			spec["method"] = v.Exact
			if v.Regex != "" {
				spec["method"], spec["method_regex"] = v.Regex, true
			}
		}
		if v := m.Path; v != nil {
			delete(spec, "prefix_exact")
			delete(spec, "prefix_regex")
			switch {
			case v.Exact != "":
				spec["prefix"], spec["prefix_exact"] = v.Exact, true
			case v.Prefix != "":
				spec["prefix"] = v.Prefix
			default:
				spec["prefix"], spec["prefix_regex"] = v.Regex, true
			}
		}
		return nil
	})
}

// RemoveManagedRoutes deletes the header routes' Mappings.
func (r Router) RemoveManagedRoutes(ctx context.Context) error {
	for _, m := range r.Rollout.Spec.Strategy.Canary.TrafficRouting.ManagedRoutes {
		if err := r.removeRoute(ctx, m.Name); err != nil {
			return err
		}
	}
	return nil
}
