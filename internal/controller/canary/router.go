package canary

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
	planner "github.com/vireo-dev/vireo/internal/canary"
)

// Router keeps a Canary's traffic objects and their weights.
type Router interface {
	// Routes reads the weights the router holds; 100/0 before it holds any.
	Routes(ctx context.Context, c *v1beta1.Canary) (planner.Routes, error)
	// Reconcile makes the router's objects match the Canary, keeping the
	// weights they hold, with the session-affinity routes given (routers
	// that cannot pin sessions ignore them: the planner refuses
	// sessionAffinity for their providers).
	Reconcile(ctx context.Context, c *v1beta1.Canary, sticky *planner.Sticky) error
	// SetRoutes writes the weights.
	SetRoutes(ctx context.Context, c *v1beta1.Canary, r planner.Routes) error
}

// RouterFor returns the router of a provider; the planner has already
// refused the ones Vireo does not drive.
func RouterFor(cl client.Client, provider string) Router {
	switch provider {
	case "istio":
		return &istioRouter{objects{cl}}
	case "traefik":
		return &traefikRouter{objects{cl}}
	case "nginx":
		return &nginxRouter{cl}
	case "gatewayapi:v1":
		return &gatewayRouter{objects{cl}, "v1"}
	case "gatewayapi:v1beta1":
		return &gatewayRouter{objects{cl}, "v1beta1"}
	}
	return noRouter{}
}

// noRouter is the kubernetes provider's: Services only, no weights.
type noRouter struct{}

func (noRouter) Routes(context.Context, *v1beta1.Canary) (planner.Routes, error) {
	return planner.Routes{Primary: planner.TotalWeight}, nil
}
func (noRouter) Reconcile(context.Context, *v1beta1.Canary, *planner.Sticky) error { return nil }
func (noRouter) SetRoutes(context.Context, *v1beta1.Canary, planner.Routes) error {
	return nil
}

var (
	virtualServiceGVK  = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1beta1", Kind: "VirtualService"}
	destinationRuleGVK = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1beta1", Kind: "DestinationRule"}
)

// objects reads and writes a router's objects, owned by the Canary.
type objects struct {
	client client.Client
}

// istioRouter owns a VirtualService named after the apex Service and the
// DestinationRules NAME-primary and NAME-canary, as Flagger makes them.
type istioRouter struct {
	objects
}

func (r *objects) get(ctx context.Context, c *v1beta1.Canary, gvk schema.GroupVersionKind, name string) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	err := r.client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: name}, u)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", gvk.Kind, name, err)
	}
	return u, nil
}

func (r *istioRouter) Routes(ctx context.Context, c *v1beta1.Canary) (planner.Routes, error) {
	apex, _, _ := planner.ServiceNames(c)
	vs, err := r.get(ctx, c, virtualServiceGVK, apex)
	if err != nil || vs == nil {
		return planner.Routes{Primary: planner.TotalWeight}, err
	}
	return weightsOf(c, vs.Object), nil
}

// weightsOf reads the weights of the last HTTP route that sends to the
// canary: the only one, the A/B route (ahead of the primary's), or the
// weighted route behind the sticky ones.
func weightsOf(c *v1beta1.Canary, vs map[string]any) planner.Routes {
	_, primary, canary := planner.ServiceNames(c)
	https, _, _ := unstructured.NestedSlice(vs, "spec", "http")
	for _, h := range slices.Backward(https) {
		route, _ := h.(map[string]any)["route"].([]any)
		var out planner.Routes
		_, out.Mirror = h.(map[string]any)["mirror"]
		found := false
		for _, d := range route {
			dm, _ := d.(map[string]any)
			host, _, _ := unstructured.NestedString(dm, "destination", "host")
			w, _, _ := unstructured.NestedFieldNoCopy(dm, "weight")
			n := toInt(w)
			switch host {
			case primary:
				out.Primary = n
			case canary:
				out.Canary, found = n, true
			}
		}
		if found {
			return out
		}
	}
	return planner.Routes{Primary: planner.TotalWeight}
}

func toInt(v any) int {
	switch x := v.(type) {
	case int64:
		return int(x)
	case float64:
		return int(x)
	case int:
		return x
	}
	return 0
}

func (r *istioRouter) Reconcile(ctx context.Context, c *v1beta1.Canary, sticky *planner.Sticky) error {
	_, primary, canary := planner.ServiceNames(c)
	for _, name := range []string{canary, primary} {
		spec := map[string]any{"host": name}
		if c.Spec.Service.TrafficPolicy != nil {
			spec["trafficPolicy"] = toMap(c.Spec.Service.TrafficPolicy)
		}
		if err := r.ensure(ctx, c, destinationRuleGVK, name, spec, nil, nil); err != nil {
			return err
		}
	}
	cur, err := r.Routes(ctx, c)
	if err != nil {
		return err
	}
	cur.Sticky = sticky
	apex, _, _ := planner.ServiceNames(c)
	labels, annotations := map[string]string{}, map[string]string{}
	if m := c.Spec.Service.Apex; m != nil {
		labels, annotations = m.Labels, m.Annotations
	}
	return r.ensure(ctx, c, virtualServiceGVK, apex, virtualServiceSpec(c, cur), labels, annotations)
}

func (r *istioRouter) SetRoutes(ctx context.Context, c *v1beta1.Canary, w planner.Routes) error {
	apex, _, _ := planner.ServiceNames(c)
	return r.ensure(ctx, c, virtualServiceGVK, apex, virtualServiceSpec(c, w), nil, nil)
}

// ensure creates the object or updates its spec (and, when given, its
// labels and annotations) where they differ.
func (r *objects) ensure(ctx context.Context, c *v1beta1.Canary, gvk schema.GroupVersionKind, name string, spec map[string]any, labels, annotations map[string]string) error {
	cur, err := r.get(ctx, c, gvk, name)
	if err != nil {
		return err
	}
	if cur == nil {
		u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
		u.SetGroupVersionKind(gvk)
		u.SetNamespace(c.Namespace)
		u.SetName(name)
		u.SetLabels(labels)
		u.SetAnnotations(annotations)
		u.SetOwnerReferences([]metav1.OwnerReference{*metav1.NewControllerRef(c, v1beta1.GroupVersion.WithKind("Canary"))})
		if err := r.client.Create(ctx, u); err != nil {
			return fmt.Errorf("%s %s create error: %w", gvk.Kind, name, err)
		}
		return nil
	}
	next := cur.DeepCopy()
	next.Object["spec"] = spec
	if labels != nil {
		next.SetLabels(labels)
	}
	if annotations != nil {
		next.SetAnnotations(annotations)
	}
	if equality.Semantic.DeepEqual(cur.Object, next.Object) {
		return nil
	}
	if err := r.client.Update(ctx, next); err != nil {
		return fmt.Errorf("%s %s update error: %w", gvk.Kind, name, err)
	}
	return nil
}

// virtualServiceSpec is Flagger's VirtualService for a Canary: the hosts
// (with the apex Service's name), the gateways (mesh when none), one HTTP
// route to primary and canary with the weights given, carrying the
// Service's match, rewrite, timeout, retries, CORS policy and headers. With
// A/B matches, the first route (the match) holds the weights and a second
// sends everything else to the primary.
func virtualServiceSpec(c *v1beta1.Canary, w planner.Routes) map[string]any {
	s := &c.Spec.Service
	apex, primary, canary := planner.ServiceNames(c)
	hosts := slices.Clone(s.Hosts)
	if !slices.Contains(hosts, apex) && !slices.Contains(hosts, "*") {
		hosts = append(hosts, apex)
	}
	gateways := slices.Clone(s.Gateways)
	if len(gateways) == 0 {
		gateways = []string{"mesh"}
	}
	if s.Delegation {
		hosts, gateways = nil, nil
	}
	dest := func(host string, weight int, setCookie ...string) map[string]any {
		d := map[string]any{"host": host}
		if s.PortDiscovery && (len(s.Gateways) > 0 && s.Gateways[0] != "mesh" || s.Delegation) {
			d["port"] = map[string]any{"number": int64(s.Port)}
		}
		out := map[string]any{"destination": d, "weight": int64(weight)}
		if len(setCookie) > 0 && setCookie[0] != "" {
			out["headers"] = map[string]any{"response": map[string]any{"add": map[string]any{planner.SetCookieHeader: setCookie[0]}}}
		}
		return out
	}
	mirror := w.Mirror
	route := func(match any, dests ...map[string]any) map[string]any {
		h := map[string]any{"route": toSlice(dests)}
		if mirror && len(dests) > 1 {
			d := map[string]any{"host": canary}
			if s.PortDiscovery && (len(s.Gateways) > 0 && s.Gateways[0] != "mesh" || s.Delegation) {
				d["port"] = map[string]any{"number": int64(s.Port)}
			}
			h["mirror"] = d
			if a := c.Spec.Analysis; a != nil && a.MirrorWeight > 0 {
				h["mirrorPercentage"] = map[string]any{"value": int64(a.MirrorWeight)}
			}
		}
		if match != nil {
			h["match"] = match
		}
		if s.Rewrite != nil && (s.Rewrite.URI != "" || s.Rewrite.Authority != "") {
			rw := map[string]any{}
			if s.Rewrite.URI != "" {
				rw["uri"] = string(s.Rewrite.URI)
			}
			if s.Rewrite.Authority != "" {
				rw["authority"] = string(s.Rewrite.Authority)
			}
			h["rewrite"] = rw
		}
		if s.Timeout != "" {
			h["timeout"] = s.Timeout
		}
		if s.Retries != nil {
			h["retries"] = toMap(s.Retries)
		}
		if s.CorsPolicy != nil {
			h["corsPolicy"] = toMap(s.CorsPolicy)
		}
		if s.Headers != nil {
			h["headers"] = toMap(s.Headers)
		}
		return h
	}
	var match any
	if len(s.Match) > 0 {
		match = toAny(s.Match)
	}
	http := []any{route(match, dest(primary, w.Primary), dest(canary, w.Canary))}
	if st := w.Sticky; st != nil {
		// The weighted route sets the cookies; sticky routes ahead of it
		// match them. The mirror stays on the weighted route.
		weighted := route(match, dest(primary, w.Primary, st.SetPrimary), dest(canary, w.Canary, st.SetCanary))
		mirror = false
		var sticky []any
		named := func(name string, h map[string]any) map[string]any {
			h["name"] = name
			return h
		}
		if st.Canary != "" {
			sticky = append(sticky, named(planner.StickyRouteName,
				route(withCookie(s.Match, st.Canary), dest(primary, 0), dest(canary, planner.TotalWeight))))
		}
		if st.Primary != "" {
			sticky = append(sticky, named(planner.StickyPrimaryRouteName,
				route(withCookie(s.Match, st.Primary), dest(primary, planner.TotalWeight), dest(canary, 0))))
		}
		if st.Expire != "" {
			h := named(planner.StickyRouteName, route(withCookie(s.Match, st.Expire), dest(primary, w.Primary), dest(canary, w.Canary)))
			addResponseHeader(h, planner.SetCookieHeader, st.SetExpire)
			sticky = append(sticky, h)
		}
		http = append(sticky, weighted)
	}
	if a := c.Spec.Analysis; a != nil && len(a.Match) > 0 {
		http = []any{
			route(toAny(mergeMatch(a.Match, s.Match)), dest(primary, w.Primary), dest(canary, w.Canary)),
			route(match, dest(primary, planner.TotalWeight)),
		}
	}
	spec := map[string]any{"http": http}
	if len(hosts) > 0 {
		spec["hosts"] = toAny(hosts)
	}
	if len(gateways) > 0 {
		spec["gateways"] = toAny(gateways)
	}
	return spec
}

// withCookie is the Service's matches (or one match) each also asking for
// a cookie in the Cookie header.
func withCookie(base []v1beta1.HTTPMatchRequest, cookie string) []any {
	if len(base) == 0 {
		base = []v1beta1.HTTPMatchRequest{{}}
	}
	var out []any
	for _, b := range base {
		m := toMap(b)
		headers, _ := m["headers"].(map[string]any)
		if headers == nil {
			headers = map[string]any{}
		}
		headers[planner.CookieHeader] = map[string]any{"regex": planner.CookieMatch(cookie)}
		m["headers"] = headers
		out = append(out, m)
	}
	return out
}

// addResponseHeader adds a header to a route's answers, beside the
// Service's own header operations.
func addResponseHeader(route map[string]any, name, value string) {
	headers, _ := route["headers"].(map[string]any)
	if headers == nil {
		headers = map[string]any{}
	} else {
		headers = toMap(headers) // the Service's operations are shared between routes
	}
	response, _ := headers["response"].(map[string]any)
	if response == nil {
		response = map[string]any{}
	}
	add, _ := response["add"].(map[string]any)
	if add == nil {
		add = map[string]any{}
	}
	add[name] = value
	response["add"], headers["response"], route["headers"] = add, response, headers
}

// mergeMatch crosses the A/B rules with the Service's own matches: each
// rule's headers and source labels over each match.
func mergeMatch(ab []v1beta1.AnalysisMatch, base []v1beta1.HTTPMatchRequest) []map[string]any {
	var out []map[string]any
	if len(base) == 0 {
		base = []v1beta1.HTTPMatchRequest{{}}
	}
	for _, r := range ab {
		for _, b := range base {
			m := toMap(b)
			if r.Headers != nil {
				m["headers"] = toAny(r.Headers)
			}
			if r.SourceLabels != nil {
				m["sourceLabels"] = toAny(r.SourceLabels)
			}
			if r.QueryParams != nil {
				m["queryParams"] = toAny(r.QueryParams)
			}
			out = append(out, m)
		}
	}
	return out
}

// toAny round-trips a typed value through JSON into unstructured form.
func toAny(v any) any {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encoding %T: %v", v, err))
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		panic(fmt.Sprintf("decoding %T: %v", v, err))
	}
	return normalize(out)
}

func toMap(v any) map[string]any {
	m, _ := toAny(v).(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return m
}

func toSlice(ms []map[string]any) []any {
	out := make([]any, len(ms))
	for i, m := range ms {
		out[i] = m
	}
	return out
}

// normalize turns JSON numbers into int64 where whole, as the API server's
// decoder gives them, so that a read object equals a built one.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
	}
	return v
}
