// Package istio is the Istio router. It sets the weights of the stable and
// canary destinations in the http, tls and tcp routes of one or more
// VirtualServices: host-level, where the destinations are the two Services,
// or subset-level, where they are two subsets of a DestinationRule whose
// selectors Vireo points at the stable and canary pod-template hashes.
// Header and mirror routes are http routes Vireo adds at the top, named after
// the managed route.
package istio

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/trafficrouting"
)

// Group is Istio's networking API group.
const Group = "networking.istio.io"

// Versions are the networking versions Vireo writes, in order of preference.
var Versions = []string{"v1", "v1beta1", "v1alpha3"}

const hashLabel = "rollouts-pod-template-hash"

// Router manages one rollout's VirtualServices and DestinationRule.
type Router struct {
	Client  client.Client
	Rollout *v1alpha1.Rollout
}

var _ trafficrouting.Router = Router{}

// Type is "istio".
func (Router) Type() string { return "istio" }

func (r Router) spec() *v1alpha1.IstioTrafficRouting {
	return r.Rollout.Spec.Strategy.Canary.TrafficRouting.Istio
}

// VirtualServices lists the VirtualServices the rollout names.
func VirtualServices(s *v1alpha1.IstioTrafficRouting) []v1alpha1.IstioVirtualService {
	var out []v1alpha1.IstioVirtualService
	if s.VirtualService != nil {
		out = append(out, *s.VirtualService)
	}
	return append(out, s.VirtualServices...)
}

func (r Router) kind(kind string) schema.GroupVersionKind {
	gvk := schema.GroupVersionKind{Group: Group, Version: Versions[len(Versions)-1], Kind: kind}
	if m := r.Client.RESTMapper(); m != nil {
		if mapping, err := m.RESTMapping(gvk.GroupKind(), Versions...); err == nil {
			gvk.Version = mapping.GroupVersionKind.Version
		}
	}
	return gvk
}

// key reads "name" or "name.namespace".
func (r Router) key(name string) client.ObjectKey {
	if n, ns, ok := strings.Cut(name, "."); ok {
		return client.ObjectKey{Namespace: ns, Name: n}
	}
	return client.ObjectKey{Namespace: r.Rollout.Namespace, Name: name}
}

// destination tells the stable and canary destinations apart.
type destination struct {
	host, subset string
}

// destinations are the stable and canary destinations: the two Services, or
// the two subsets.
func (r Router) destinations() (stable, canary destination) {
	c := r.Rollout.Spec.Strategy.Canary
	if dr := r.spec().DestinationRule; dr != nil {
		return destination{subset: dr.StableSubsetName}, destination{subset: dr.CanarySubsetName}
	}
	return destination{host: c.StableService}, destination{host: c.CanaryService}
}

// matches reports whether a route destination is d: the same subset, or a
// host that is the Service, short or fully qualified.
func (d destination) matches(dest map[string]any) bool {
	if d.subset != "" {
		return dest["subset"] == d.subset
	}
	host, _ := dest["host"].(string)
	return host == d.host || strings.HasPrefix(host, d.host+".")
}

// weighRoutes sets the weights in the routes of one protocol that select
// pick, and reports how many it set.
func weighRoutes(routes []any, pick func(i int, route map[string]any) bool, stable, canary destination, cw, sw int64) (int, error) {
	n := 0
	for i, item := range routes {
		route, _ := item.(map[string]any)
		if route == nil || !pick(i, route) {
			continue
		}
		dests, _ := route["route"].([]any)
		var sawStable, sawCanary bool
		for _, d := range dests {
			dest, _ := d.(map[string]any)
			target, _ := dest["destination"].(map[string]any)
			switch {
			case target == nil:
			case canary.matches(target):
				dest["weight"], sawCanary = cw, true
			case stable.matches(target):
				dest["weight"], sawStable = sw, true
			}
		}
		if !sawStable || !sawCanary {
			return n, fmt.Errorf("route %d has no stable and canary destinations to weigh", i)
		}
		n++
	}
	return n, nil
}

// SetWeight points the DestinationRule's subsets at the hashes (subset
// level), then writes the weights in every VirtualService.
func (r Router) SetWeight(ctx context.Context, weight int32) error {
	if err := r.pointSubsets(ctx); err != nil {
		return err
	}
	cw, sw := trafficrouting.Weights(r.Rollout, weight)
	stable, canary := r.destinations()
	for i, vs := range VirtualServices(r.spec()) {
		what := fmt.Sprintf("trafficRouting.istio.virtualServices[%d]", i)
		if err := trafficrouting.Update(ctx, r.Client, r.kind("VirtualService"), r.key(vs.Name), what, func(u *unstructured.Unstructured) error {
			return weighVirtualService(u, vs, stable, canary, cw, sw, managedNames(r.Rollout))
		}); err != nil {
			return err
		}
	}
	return nil
}

// weighVirtualService sets the weights of the http routes vs names (all but
// Vireo's own when it names none), and of its tls and tcp routes.
func weighVirtualService(u *unstructured.Unstructured, vs v1alpha1.IstioVirtualService, stable, canary destination, cw, sw int64, managed []string) error {
	total := 0
	http, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
	n, err := weighRoutes(http, func(_ int, route map[string]any) bool {
		name, _ := route["name"].(string)
		if slices.Contains(managed, name) {
			return false
		}
		return len(vs.Routes) == 0 || slices.Contains(vs.Routes, name)
	}, stable, canary, cw, sw)
	if err != nil {
		return fmt.Errorf("VirtualService %s http: %w", u.GetName(), err)
	}
	if len(vs.Routes) > 0 && n != len(vs.Routes) {
		return fmt.Errorf("VirtualService %s: found %d of the http routes %v", u.GetName(), n, vs.Routes)
	}
	total += n
	if len(http) > 0 {
		if err := unstructured.SetNestedSlice(u.Object, http, "spec", "http"); err != nil {
			return err
		}
	}
	tls, _, _ := unstructured.NestedSlice(u.Object, "spec", "tls")
	for _, sel := range vs.TLSRoutes {
		n, err := weighRoutes(tls, func(_ int, route map[string]any) bool { return matchesTLS(route, sel) }, stable, canary, cw, sw)
		if err != nil || n == 0 {
			return fmt.Errorf("VirtualService %s: tls route for port %d and sniHosts %v: %v", u.GetName(), sel.Port, sel.SNIHosts, orMissing(err))
		}
		total += n
	}
	if len(tls) > 0 {
		_ = unstructured.SetNestedSlice(u.Object, tls, "spec", "tls")
	}
	tcp, _, _ := unstructured.NestedSlice(u.Object, "spec", "tcp")
	for _, sel := range vs.TCPRoutes {
		n, err := weighRoutes(tcp, func(_ int, route map[string]any) bool { return matchesPort(route, sel.Port) }, stable, canary, cw, sw)
		if err != nil || n == 0 {
			return fmt.Errorf("VirtualService %s: tcp route for port %d: %v", u.GetName(), sel.Port, orMissing(err))
		}
		total += n
	}
	if len(tcp) > 0 {
		_ = unstructured.SetNestedSlice(u.Object, tcp, "spec", "tcp")
	}
	if total == 0 {
		return fmt.Errorf("VirtualService %s has no route with the stable and canary destinations", u.GetName())
	}
	return nil
}

func orMissing(err error) error {
	if err == nil {
		return fmt.Errorf("not found")
	}
	return err
}

// matchesPort reports whether one of a route's matches is for port (any
// port when 0).
func matchesPort(route map[string]any, port int64) bool {
	matches, _ := route["match"].([]any)
	if port == 0 {
		return true
	}
	for _, m := range matches {
		if mm, _ := m.(map[string]any); mm != nil && mm["port"] == port {
			return true
		}
	}
	return false
}

// matchesTLS reports whether one of a tls route's matches has the port and
// all the SNI hosts of the selector.
func matchesTLS(route map[string]any, sel v1alpha1.TLSRoute) bool {
	matches, _ := route["match"].([]any)
	for _, m := range matches {
		mm, _ := m.(map[string]any)
		if mm == nil || (sel.Port != 0 && mm["port"] != sel.Port) {
			continue
		}
		hosts, _ := mm["sniHosts"].([]any)
		all := true
		for _, want := range sel.SNIHosts {
			all = all && slices.Contains(hosts, any(want))
		}
		if all {
			return true
		}
	}
	return false
}

// pointSubsets sets the DestinationRule's stable and canary subsets to select
// the pod-template hashes status.canary.weights records.
func (r Router) pointSubsets(ctx context.Context) error {
	dr := r.spec().DestinationRule
	w := r.Rollout.Status.Canary.Weights
	if dr == nil || w == nil {
		return nil
	}
	want := map[string]string{dr.StableSubsetName: w.Stable.PodTemplateHash, dr.CanarySubsetName: w.Canary.PodTemplateHash}
	return trafficrouting.Update(ctx, r.Client, r.kind("DestinationRule"), r.key(dr.Name), "trafficRouting.istio.destinationRule", func(u *unstructured.Unstructured) error {
		subsets, _, _ := unstructured.NestedSlice(u.Object, "spec", "subsets")
		found := 0
		for _, item := range subsets {
			s, _ := item.(map[string]any)
			hash, ok := want[fmt.Sprint(s["name"])]
			if !ok {
				continue
			}
			found++
			labels, _ := s["labels"].(map[string]any)
			if labels == nil {
				labels = map[string]any{}
			}
			if hash == "" {
				delete(labels, hashLabel)
			} else {
				labels[hashLabel] = hash
			}
			s["labels"] = labels
		}
		if found != 2 {
			return fmt.Errorf("trafficRouting.istio.destinationRule: DestinationRule %s needs the subsets %s and %s", u.GetName(), dr.StableSubsetName, dr.CanarySubsetName)
		}
		return unstructured.SetNestedSlice(u.Object, subsets, "spec", "subsets")
	})
}

// VerifyWeight reads the weights back from every VirtualService.
func (r Router) VerifyWeight(ctx context.Context, weight int32) (bool, error) {
	cw, sw := trafficrouting.Weights(r.Rollout, weight)
	stable, canary := r.destinations()
	for _, vs := range VirtualServices(r.spec()) {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(r.kind("VirtualService"))
		if err := trafficrouting.Get(ctx, r.Client, r.key(vs.Name), u, "trafficRouting.istio"); err != nil {
			return false, err
		}
		want := u.DeepCopy()
		if err := weighVirtualService(want, vs, stable, canary, cw, sw, managedNames(r.Rollout)); err != nil {
			return false, err
		}
		if !equality.Semantic.DeepEqual(want.Object["spec"], u.Object["spec"]) {
			return false, nil
		}
	}
	return true, nil
}

// managedNames are the names of the rollout's managed routes.
func managedNames(ro *v1alpha1.Rollout) []string {
	var out []string
	for _, m := range ro.Spec.Strategy.Canary.TrafficRouting.ManagedRoutes {
		out = append(out, m.Name)
	}
	return out
}

// editManaged replaces (or, with nil, removes) the http route named name in
// every VirtualService; with no name, it removes them all; managed routes stay at the top, in the order of
// trafficRouting.managedRoutes.
func (r Router) editManaged(ctx context.Context, name string, build func(stable, canary map[string]any) (map[string]any, error)) error {
	order := managedNames(r.Rollout)
	stableDest, canaryDest := r.destinations()
	for _, vs := range VirtualServices(r.spec()) {
		if err := trafficrouting.Update(ctx, r.Client, r.kind("VirtualService"), r.key(vs.Name), "trafficRouting.istio", func(u *unstructured.Unstructured) error {
			http, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
			var stable, canary map[string]any
			var kept, own []any
			for _, item := range http {
				route, _ := item.(map[string]any)
				rn, _ := route["name"].(string)
				if slices.Contains(order, rn) {
					if name != "" && rn != name {
						own = append(own, route) // another managed route stays
					}
					continue
				}
				kept = append(kept, route)
				if stable == nil {
					dests, _ := route["route"].([]any)
					for _, d := range dests {
						target, _ := d.(map[string]any)["destination"].(map[string]any)
						switch {
						case target != nil && canaryDest.matches(target):
							canary = target
						case target != nil && stableDest.matches(target):
							stable = target
						}
					}
				}
			}
			if build != nil {
				if stable == nil || canary == nil {
					return fmt.Errorf("VirtualService %s has no http route with the stable and canary destinations to copy", u.GetName())
				}
				route, err := build(stable, canary)
				if err != nil {
					return err
				}
				route["name"] = name
				own = append(own, route)
			}
			slices.SortStableFunc(own, func(a, b any) int {
				return slices.Index(order, a.(map[string]any)["name"].(string)) - slices.Index(order, b.(map[string]any)["name"].(string))
			})
			return unstructured.SetNestedSlice(u.Object, append(own, kept...), "spec", "http")
		}); err != nil {
			return err
		}
	}
	return nil
}

func stringMatch(m *v1alpha1.StringMatch) (map[string]any, error) {
	switch {
	case m == nil:
		return nil, fmt.Errorf("a match value is required")
	case m.Exact != "":
		return map[string]any{"exact": m.Exact}, nil
	case m.Prefix != "":
		return map[string]any{"prefix": m.Prefix}, nil
	case m.Regex != "":
		return map[string]any{"regex": m.Regex}, nil
	}
	return nil, fmt.Errorf("set exact, prefix or regex")
}

// SetHeaderRoute adds the http route "name": requests whose headers match go
// to the canary. A route without match removes it.
func (r Router) SetHeaderRoute(ctx context.Context, route *v1alpha1.SetHeaderRoute) error {
	if len(route.Match) == 0 {
		return r.editManaged(ctx, route.Name, nil)
	}
	headers := map[string]any{}
	for i, m := range route.Match {
		v, err := stringMatch(m.HeaderValue)
		if err != nil {
			return fmt.Errorf("setHeaderRoute.match[%d].headerValue: %w", i, err)
		}
		headers[m.HeaderName] = v
	}
	return r.editManaged(ctx, route.Name, func(_, canary map[string]any) (map[string]any, error) {
		return map[string]any{
			"match": []any{map[string]any{"headers": headers}},
			"route": []any{map[string]any{"destination": copyMap(canary), "weight": int64(100)}},
		}, nil
	})
}

// SetMirrorRoute adds the http route "name": matching requests go to the
// stable destination and percentage of them are mirrored to the canary.
func (r Router) SetMirrorRoute(ctx context.Context, route *v1alpha1.SetMirrorRoute) error {
	if len(route.Match) == 0 {
		return r.editManaged(ctx, route.Name, nil)
	}
	var matches []any
	for i, m := range route.Match {
		mm := map[string]any{}
		for field, v := range map[string]*v1alpha1.StringMatch{"method": m.Method, "uri": m.Path} {
			if v == nil {
				continue
			}
			s, err := stringMatch(v)
			if err != nil {
				return fmt.Errorf("setMirrorRoute.match[%d].%s: %w", i, field, err)
			}
			mm[field] = s
		}
		if len(m.Headers) > 0 {
			headers := map[string]any{}
			for name, v := range m.Headers {
				s, err := stringMatch(&v)
				if err != nil {
					return fmt.Errorf("setMirrorRoute.match[%d].headers[%s]: %w", i, name, err)
				}
				headers[name] = s
			}
			mm["headers"] = headers
		}
		matches = append(matches, mm)
	}
	percent := int64(100)
	if route.Percentage != nil {
		percent = int64(*route.Percentage)
	}
	return r.editManaged(ctx, route.Name, func(stable, canary map[string]any) (map[string]any, error) {
		return map[string]any{
			"match":            matches,
			"route":            []any{map[string]any{"destination": copyMap(stable), "weight": int64(100)}},
			"mirror":           copyMap(canary),
			"mirrorPercentage": map[string]any{"value": percent},
		}, nil
	})
}

// RemoveManagedRoutes removes every http route Vireo added.
func (r Router) RemoveManagedRoutes(ctx context.Context) error {
	if len(managedNames(r.Rollout)) == 0 {
		return nil
	}
	return r.editManaged(ctx, "", nil)
}

func copyMap(m map[string]any) map[string]any {
	return (&unstructured.Unstructured{Object: m}).DeepCopy().Object
}
