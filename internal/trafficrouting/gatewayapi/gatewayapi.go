// Package gatewayapi is the Gateway API router, built in: it sets the
// weights of the stable and canary backendRefs of HTTPRoutes and GRPCRoutes,
// and adds the rules of header and mirror routes to HTTPRoutes. It reads the
// configuration Argo Rollouts users give its Gateway API plugin, under
// trafficRouting.plugins["argoproj-labs/gatewayAPI"].
package gatewayapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/trafficrouting"
	"github.com/vireo-dev/vireo/internal/trafficrouting/trafficshare"
)

// PluginName is the key of the configuration under trafficRouting.plugins.
const PluginName = "argoproj-labs/gatewayAPI"

// ManagedRulePrefix starts the names of the rules Vireo adds for header and
// mirror routes.
const ManagedRulePrefix = "vireo-"

// Config is the plugin's configuration.
type Config struct {
	HTTPRoute  string  `json:"httpRoute,omitempty"`
	HTTPRoutes []Route `json:"httpRoutes,omitempty"`
	GRPCRoute  string  `json:"grpcRoute,omitempty"`
	GRPCRoutes []Route `json:"grpcRoutes,omitempty"`
	// Namespace of the routes; the rollout's when empty.
	Namespace string `json:"namespace,omitempty"`
}

// Route names one route; header and mirror routes go to the HTTPRoutes that
// useHeaderRoutes (and to httpRoute).
type Route struct {
	Name            string `json:"name"`
	UseHeaderRoutes bool   `json:"useHeaderRoutes,omitempty"`
}

// ConfigOf reads the rollout's Gateway API configuration; ok is false when
// it has none.
func ConfigOf(ro *v1alpha1.Rollout) (cfg Config, ok bool, err error) {
	c := ro.Spec.Strategy.Canary
	if c == nil || c.TrafficRouting == nil {
		return cfg, false, nil
	}
	raw, ok := c.TrafficRouting.Plugins[PluginName]
	if !ok {
		return cfg, false, nil
	}
	dec := json.NewDecoder(strings.NewReader(string(raw.Raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return cfg, true, fmt.Errorf("trafficRouting.plugins[%s]: %w", PluginName, err)
	}
	if cfg.HTTPRoute == "" && len(cfg.HTTPRoutes) == 0 && cfg.GRPCRoute == "" && len(cfg.GRPCRoutes) == 0 {
		return cfg, true, fmt.Errorf("trafficRouting.plugins[%s]: name an httpRoute(s) or grpcRoute(s)", PluginName)
	}
	return cfg, true, nil
}

// Router manages one rollout's routes.
type Router struct {
	Client  client.Client
	Rollout *v1alpha1.Rollout
	Config  Config
}

var _ trafficrouting.Router = Router{}

// Type is the plugin's name.
func (Router) Type() string { return PluginName }

func (r Router) namespace() string {
	if r.Config.Namespace != "" {
		return r.Config.Namespace
	}
	return r.Rollout.Namespace
}

func (r Router) httpRoutes(headerRoutesOnly bool) []string {
	var out []string
	if r.Config.HTTPRoute != "" {
		out = append(out, r.Config.HTTPRoute)
	}
	for _, h := range r.Config.HTTPRoutes {
		if h.UseHeaderRoutes || !headerRoutesOnly {
			out = append(out, h.Name)
		}
	}
	return out
}

func (r Router) grpcRoutes() []string {
	var out []string
	if r.Config.GRPCRoute != "" {
		out = append(out, r.Config.GRPCRoute)
	}
	for _, g := range r.Config.GRPCRoutes {
		out = append(out, g.Name)
	}
	return out
}

func (r Router) services() (stable, canary string) {
	c := r.Rollout.Spec.Strategy.Canary
	return c.StableService, c.CanaryService
}

// weigh sets the weights of one rule's backendRefs; found says whether it
// has both Services.
func (r Router) weigh(refs []*gatewayv1.BackendRef, weight int32) (found bool) {
	stable, canary := r.services()
	var s, c *gatewayv1.BackendRef
	for _, ref := range refs {
		switch string(ref.Name) {
		case stable:
			s = ref
		case canary:
			c = ref
		}
	}
	if s == nil || c == nil {
		return false
	}
	c.Weight = ptr.To(weight)
	s.Weight = ptr.To(trafficshare.Max(r.Rollout) - weight)
	return true
}

// SetWeight writes the weights into every route.
func (r Router) SetWeight(ctx context.Context, weight int32) error {
	for _, name := range r.httpRoutes(false) {
		if err := r.updateHTTP(ctx, name, func(route *gatewayv1.HTTPRoute) error {
			found := false
			for i := range route.Spec.Rules {
				if managed(route.Spec.Rules[i].Name) {
					continue
				}
				found = r.weigh(httpRefs(&route.Spec.Rules[i]), weight) || found
			}
			return r.missing(found, "HTTPRoute", name)
		}); err != nil {
			return err
		}
	}
	for _, name := range r.grpcRoutes() {
		if err := r.updateGRPC(ctx, name, func(route *gatewayv1.GRPCRoute) error {
			found := false
			for i := range route.Spec.Rules {
				var refs []*gatewayv1.BackendRef
				for j := range route.Spec.Rules[i].BackendRefs {
					refs = append(refs, &route.Spec.Rules[i].BackendRefs[j].BackendRef)
				}
				found = r.weigh(refs, weight) || found
			}
			return r.missing(found, "GRPCRoute", name)
		}); err != nil {
			return err
		}
	}
	return nil
}

func (r Router) missing(found bool, kind, name string) error {
	if found {
		return nil
	}
	stable, canary := r.services()
	return fmt.Errorf("trafficRouting.plugins[%s]: %s %s has no rule with backendRefs to both the stable Service %s and the canary Service %s",
		PluginName, kind, name, stable, canary)
}

func httpRefs(rule *gatewayv1.HTTPRouteRule) []*gatewayv1.BackendRef {
	var refs []*gatewayv1.BackendRef
	for j := range rule.BackendRefs {
		refs = append(refs, &rule.BackendRefs[j].BackendRef)
	}
	return refs
}

func managed(name *gatewayv1.SectionName) bool {
	return name != nil && strings.HasPrefix(string(*name), ManagedRulePrefix)
}

// VerifyWeight reads the canary's weight back from every route.
func (r Router) VerifyWeight(ctx context.Context, weight int32) (bool, error) {
	_, canary := r.services()
	check := func(refs []gatewayv1.BackendRef) bool {
		for _, ref := range refs {
			if string(ref.Name) == canary && (ref.Weight == nil || *ref.Weight != weight) {
				return false
			}
		}
		return true
	}
	for _, name := range r.httpRoutes(false) {
		var route gatewayv1.HTTPRoute
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: r.namespace(), Name: name}, &route); err != nil {
			return false, fmt.Errorf("reading HTTPRoute %s: %w", name, err)
		}
		for _, rule := range route.Spec.Rules {
			var refs []gatewayv1.BackendRef
			for _, ref := range rule.BackendRefs {
				refs = append(refs, ref.BackendRef)
			}
			if !managed(rule.Name) && !check(refs) {
				return false, nil
			}
		}
	}
	for _, name := range r.grpcRoutes() {
		var route gatewayv1.GRPCRoute
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: r.namespace(), Name: name}, &route); err != nil {
			return false, fmt.Errorf("reading GRPCRoute %s: %w", name, err)
		}
		for _, rule := range route.Spec.Rules {
			var refs []gatewayv1.BackendRef
			for _, ref := range rule.BackendRefs {
				refs = append(refs, ref.BackendRef)
			}
			if !check(refs) {
				return false, nil
			}
		}
	}
	return true, nil
}

// SetHeaderRoute adds (or replaces) the rule "vireo-<name>": the weighted
// rule's matches with the route's headers added, sent to the canary only. A
// route without match removes the rule.
func (r Router) SetHeaderRoute(ctx context.Context, route *v1alpha1.SetHeaderRoute) error {
	if route.Name == "" {
		return errors.New("setHeaderRoute.name is required")
	}
	headers := make([]gatewayv1.HTTPHeaderMatch, 0, len(route.Match))
	for i, m := range route.Match {
		h, err := headerMatch(m.HeaderName, m.HeaderValue, fmt.Sprintf("setHeaderRoute.match[%d].headerValue", i))
		if err != nil {
			return err
		}
		headers = append(headers, h)
	}
	_, canary := r.services()
	return r.eachHeaderRoute(ctx, route.Name, len(route.Match) == 0, func(weighted *gatewayv1.HTTPRouteRule) (gatewayv1.HTTPRouteRule, error) {
		port := canaryPort(weighted, canary)
		matches := weighted.Matches
		if len(matches) == 0 {
			matches = []gatewayv1.HTTPRouteMatch{{}}
		}
		rule := gatewayv1.HTTPRouteRule{BackendRefs: []gatewayv1.HTTPBackendRef{{BackendRef: backend(canary, port)}}}
		for _, m := range matches {
			m = *m.DeepCopy()
			m.Headers = append(m.Headers, headers...)
			rule.Matches = append(rule.Matches, m)
		}
		return rule, nil
	})
}

// SetMirrorRoute adds (or replaces) the rule "vireo-<name>": matching
// requests go to the stable Service and percentage of them are copied to the
// canary. A route without match removes the rule.
func (r Router) SetMirrorRoute(ctx context.Context, route *v1alpha1.SetMirrorRoute) error {
	if route.Name == "" {
		return errors.New("setMirrorRoute.name is required")
	}
	var matches []gatewayv1.HTTPRouteMatch
	for i, m := range route.Match {
		hm, err := routeMatch(m, fmt.Sprintf("setMirrorRoute.match[%d]", i))
		if err != nil {
			return err
		}
		matches = append(matches, hm)
	}
	percent := int32(100)
	if route.Percentage != nil {
		percent = *route.Percentage
	}
	stable, canary := r.services()
	return r.eachHeaderRoute(ctx, route.Name, len(route.Match) == 0, func(weighted *gatewayv1.HTTPRouteRule) (gatewayv1.HTTPRouteRule, error) {
		mirror := backend(canary, canaryPort(weighted, canary))
		return gatewayv1.HTTPRouteRule{
			Matches:     matches,
			BackendRefs: []gatewayv1.HTTPBackendRef{{BackendRef: backend(stable, canaryPort(weighted, stable))}},
			Filters: []gatewayv1.HTTPRouteFilter{{Type: gatewayv1.HTTPRouteFilterRequestMirror,
				RequestMirror: &gatewayv1.HTTPRequestMirrorFilter{BackendRef: mirror.BackendObjectReference, Percent: ptr.To(percent)}}},
		}, nil
	})
}

// RemoveManagedRoutes removes every rule Vireo added.
func (r Router) RemoveManagedRoutes(ctx context.Context) error {
	for _, name := range r.httpRoutes(false) {
		if err := r.updateHTTP(ctx, name, func(route *gatewayv1.HTTPRoute) error {
			rules := route.Spec.Rules[:0]
			for _, rule := range route.Spec.Rules {
				if !managed(rule.Name) {
					rules = append(rules, rule)
				}
			}
			route.Spec.Rules = rules
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// eachHeaderRoute replaces the managed rule of a route name in every
// HTTPRoute that takes header routes, building it from the weighted rule.
func (r Router) eachHeaderRoute(ctx context.Context, routeName string, remove bool, build func(*gatewayv1.HTTPRouteRule) (gatewayv1.HTTPRouteRule, error)) error {
	ruleName := gatewayv1.SectionName(ManagedRulePrefix + routeName)
	for _, name := range r.httpRoutes(true) {
		if err := r.updateHTTP(ctx, name, func(route *gatewayv1.HTTPRoute) error {
			var weighted *gatewayv1.HTTPRouteRule
			rules := make([]gatewayv1.HTTPRouteRule, 0, len(route.Spec.Rules)+1)
			for i := range route.Spec.Rules {
				rule := route.Spec.Rules[i]
				if rule.Name != nil && *rule.Name == ruleName {
					continue
				}
				if weighted == nil && !managed(rule.Name) && r.hasBoth(rule.BackendRefs) {
					weighted = &route.Spec.Rules[i]
				}
				rules = append(rules, rule)
			}
			if !remove {
				if weighted == nil {
					return r.missing(false, "HTTPRoute", name)
				}
				rule, err := build(weighted)
				if err != nil {
					return err
				}
				rule.Name = &ruleName
				rules = append(rules, rule)
			}
			route.Spec.Rules = rules
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// hasBoth reports whether backendRefs name both the stable and canary Services.
func (r Router) hasBoth(refs []gatewayv1.HTTPBackendRef) bool {
	stable, canary := r.services()
	s, c := false, false
	for _, ref := range refs {
		s = s || string(ref.Name) == stable
		c = c || string(ref.Name) == canary
	}
	return s && c
}

func canaryPort(rule *gatewayv1.HTTPRouteRule, service string) *gatewayv1.PortNumber {
	for _, ref := range rule.BackendRefs {
		if string(ref.Name) == service {
			return ref.Port
		}
	}
	return nil
}

func backend(service string, port *gatewayv1.PortNumber) gatewayv1.BackendRef {
	return gatewayv1.BackendRef{BackendObjectReference: gatewayv1.BackendObjectReference{Name: gatewayv1.ObjectName(service), Port: port}}
}

func headerMatch(name string, v *v1alpha1.StringMatch, path string) (gatewayv1.HTTPHeaderMatch, error) {
	h := gatewayv1.HTTPHeaderMatch{Name: gatewayv1.HTTPHeaderName(name)}
	if v == nil {
		return h, fmt.Errorf("%s is required", path)
	}
	switch {
	case v.Exact != "":
		h.Type, h.Value = ptr.To(gatewayv1.HeaderMatchExact), v.Exact
	case v.Regex != "":
		h.Type, h.Value = ptr.To(gatewayv1.HeaderMatchRegularExpression), v.Regex
	case v.Prefix != "":
		h.Type, h.Value = ptr.To(gatewayv1.HeaderMatchRegularExpression), "^"+regexp.QuoteMeta(v.Prefix)+".*"
	default:
		return h, fmt.Errorf("%s: set exact, prefix or regex", path)
	}
	return h, nil
}

func routeMatch(m v1alpha1.RouteMatch, path string) (gatewayv1.HTTPRouteMatch, error) {
	var out gatewayv1.HTTPRouteMatch
	if p := m.Path; p != nil {
		pm := gatewayv1.HTTPPathMatch{}
		switch {
		case p.Exact != "":
			pm.Type, pm.Value = ptr.To(gatewayv1.PathMatchExact), ptr.To(p.Exact)
		case p.Prefix != "":
			pm.Type, pm.Value = ptr.To(gatewayv1.PathMatchPathPrefix), ptr.To(p.Prefix)
		case p.Regex != "":
			pm.Type, pm.Value = ptr.To(gatewayv1.PathMatchRegularExpression), ptr.To(p.Regex)
		default:
			return out, fmt.Errorf("%s.path: set exact, prefix or regex", path)
		}
		out.Path = &pm
	}
	if m.Method != nil {
		if m.Method.Exact == "" {
			return out, fmt.Errorf("%s.method: Gateway API matches a method exactly", path)
		}
		out.Method = ptr.To(gatewayv1.HTTPMethod(m.Method.Exact))
	}
	for name, v := range m.Headers {
		h, err := headerMatch(name, &v, path+".headers["+name+"]")
		if err != nil {
			return out, err
		}
		out.Headers = append(out.Headers, h)
	}
	return out, nil
}

func (r Router) updateHTTP(ctx context.Context, name string, edit func(*gatewayv1.HTTPRoute) error) error {
	var route gatewayv1.HTTPRoute
	return r.update(ctx, "HTTPRoute", name, &route, func() error { return edit(&route) })
}

func (r Router) updateGRPC(ctx context.Context, name string, edit func(*gatewayv1.GRPCRoute) error) error {
	var route gatewayv1.GRPCRoute
	return r.update(ctx, "GRPCRoute", name, &route, func() error { return edit(&route) })
}

// update reads a route into obj, lets edit change it, and writes it back
// when it changed.
func (r Router) update(ctx context.Context, kind, name string, obj client.Object, edit func() error) error {
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: r.namespace(), Name: name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("trafficRouting.plugins[%s]: %s %s not found in namespace %s", PluginName, kind, name, r.namespace())
		}
		return fmt.Errorf("reading %s %s: %w", kind, name, err)
	}
	before := obj.DeepCopyObject()
	if err := edit(); err != nil {
		return err
	}
	if equality.Semantic.DeepEqual(before, obj) {
		return nil
	}
	if err := r.Client.Update(ctx, obj); err != nil {
		return fmt.Errorf("updating %s %s: %w", kind, name, err)
	}
	return nil
}
