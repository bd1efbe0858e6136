package canary

import (
	"context"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
	planner "github.com/vireo-dev/vireo/internal/canary"
)

// gatewayRouter owns an HTTPRoute named after the apex Service, attached
// to spec.service.gatewayRefs, with the Service's hosts as hostnames and one
// rule sending to the primary and canary Services by weight (two with A/B
// matches: the matched requests by weight, the rest to the primary).
type gatewayRouter struct {
	objects
	version string // v1 or v1beta1
}

func (r *gatewayRouter) gvk() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: r.version, Kind: "HTTPRoute"}
}

func (r *gatewayRouter) Routes(ctx context.Context, c *v1beta1.Canary) (planner.Routes, error) {
	apex, primary, canary := planner.ServiceNames(c)
	u, err := r.get(ctx, c, r.gvk(), apex)
	if err != nil || u == nil {
		return planner.Routes{Primary: planner.TotalWeight}, err
	}
	// The last rule that sends to the canary holds the weights: the only
	// one, the A/B rule (ahead of the primary's), or the weighted rule
	// behind the sticky ones.
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	for _, rule := range slices.Backward(rules) {
		refs, _ := rule.(map[string]any)["backendRefs"].([]any)
		var out planner.Routes
		found := false
		for _, ref := range refs {
			m, _ := ref.(map[string]any)
			switch m["name"] {
			case primary:
				out.Primary = toInt(m["weight"])
			case canary:
				out.Canary, found = toInt(m["weight"]), true
			}
		}
		if found {
			return out, nil
		}
	}
	return planner.Routes{Primary: planner.TotalWeight}, nil
}

func (r *gatewayRouter) Reconcile(ctx context.Context, c *v1beta1.Canary, sticky *planner.Sticky) error {
	w, err := r.Routes(ctx, c)
	if err != nil {
		return err
	}
	w.Sticky = sticky
	return r.SetRoutes(ctx, c, w)
}

func (r *gatewayRouter) SetRoutes(ctx context.Context, c *v1beta1.Canary, w planner.Routes) error {
	apex, _, _ := planner.ServiceNames(c)
	labels, annotations := map[string]string{}, map[string]string{}
	if m := c.Spec.Service.Apex; m != nil {
		labels, annotations = m.Labels, m.Annotations
	}
	return r.ensure(ctx, c, r.gvk(), apex, httpRouteSpec(c, w), labels, annotations)
}

// httpRouteSpec writes the HTTPRoute with the API server's defaults spelled
// out (backend group and kind, parent group and kind, the "/" prefix match),
// so that the object read back equals the one built and an idle pass writes
// nothing.
func httpRouteSpec(c *v1beta1.Canary, w planner.Routes) map[string]any {
	s := &c.Spec.Service
	_, primary, canary := planner.ServiceNames(c)
	backend := func(name string, weight int, setCookie ...string) any {
		out := map[string]any{"group": "", "kind": "Service", "name": name, "port": int64(s.Port), "weight": int64(weight)}
		if len(setCookie) > 0 && setCookie[0] != "" {
			out["filters"] = []any{map[string]any{"type": "ResponseHeaderModifier", "responseHeaderModifier": map[string]any{
				"add": []any{map[string]any{"name": planner.SetCookieHeader, "value": setCookie[0]}}}}}
		}
		return out
	}
	matches := routeMatches(s.Match)
	rule := func(m []any, refs ...any) map[string]any {
		out := map[string]any{"matches": m, "backendRefs": refs}
		if f := routeFilters(s); len(f) > 0 {
			out["filters"] = f
		}
		if s.Timeout != "" {
			out["timeouts"] = map[string]any{"request": s.Timeout}
		}
		return out
	}
	rules := []any{rule(matches, backend(primary, w.Primary), backend(canary, w.Canary))}
	if st := w.Sticky; st != nil {
		// The weighted rule's backends set the cookies; sticky rules ahead
		// of it match them.
		var sticky []any
		if st.Canary != "" {
			sticky = append(sticky, rule(cookieMatches(matches, st.Canary), backend(primary, 0), backend(canary, planner.TotalWeight)))
		}
		if st.Primary != "" {
			sticky = append(sticky, rule(cookieMatches(matches, st.Primary), backend(primary, planner.TotalWeight), backend(canary, 0)))
		}
		if st.Expire != "" {
			r := rule(cookieMatches(matches, st.Expire), backend(primary, w.Primary), backend(canary, w.Canary))
			r["filters"] = addResponseFilter(r["filters"], planner.SetCookieHeader, st.SetExpire)
			sticky = append(sticky, r)
		}
		rules = append(sticky, rule(matches, backend(primary, w.Primary, st.SetPrimary), backend(canary, w.Canary, st.SetCanary)))
	}
	if a := c.Spec.Analysis; a != nil && len(a.Match) > 0 {
		var ab []any
		for _, m := range a.Match {
			for _, base := range matches {
				merged := toMap(base)
				if len(m.Headers) > 0 {
					merged["headers"] = headerMatches(m.Headers)
				}
				ab = append(ab, merged)
			}
		}
		rules = []any{rule(ab, backend(primary, w.Primary), backend(canary, w.Canary)), rule(matches, backend(primary, planner.TotalWeight))}
	}
	var parents []any
	for _, p := range s.GatewayRefs {
		ref := map[string]any{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": p.Name}
		if p.Group != nil {
			ref["group"] = *p.Group
		}
		if p.Kind != nil {
			ref["kind"] = *p.Kind
		}
		if p.Namespace != nil {
			ref["namespace"] = *p.Namespace
		}
		if p.SectionName != nil {
			ref["sectionName"] = *p.SectionName
		}
		if p.Port != nil {
			ref["port"] = int64(*p.Port)
		}
		parents = append(parents, ref)
	}
	spec := map[string]any{"parentRefs": parents, "rules": rules}
	if len(s.Hosts) > 0 {
		spec["hostnames"] = toAny(s.Hosts)
	}
	return spec
}

// cookieMatches are the matches each also asking for a cookie in the
// Cookie header.
func cookieMatches(matches []any, cookie string) []any {
	out := make([]any, 0, len(matches))
	for _, m := range matches {
		next := toMap(m)
		headers, _ := next["headers"].([]any)
		next["headers"] = append(headers, map[string]any{"name": planner.CookieHeader, "type": "RegularExpression", "value": planner.CookieMatch(cookie)})
		out = append(out, next)
	}
	return out
}

// addResponseFilter adds a header to a rule's answers: into the Service's
// ResponseHeaderModifier when it has one (a filter type may appear once in
// a rule), else as a filter of its own.
func addResponseFilter(filters any, name, value string) []any {
	list, _ := toAny(filters).([]any)
	header := map[string]any{"name": name, "value": value}
	for _, f := range list {
		fm, _ := f.(map[string]any)
		if fm["type"] != "ResponseHeaderModifier" {
			continue
		}
		mod, _ := fm["responseHeaderModifier"].(map[string]any)
		add, _ := mod["add"].([]any)
		mod["add"] = append(add, header)
		return list
	}
	return append(list, map[string]any{"type": "ResponseHeaderModifier", "responseHeaderModifier": map[string]any{"add": []any{header}}})
}

// routeMatches turns the Service's Istio-style matches into HTTPRoute
// matches; none is the "/" prefix.
func routeMatches(in []v1beta1.HTTPMatchRequest) []any {
	var out []any
	for _, m := range in {
		rm := map[string]any{}
		if u := m.URI; u != nil {
			switch {
			case u.Exact != "":
				rm["path"] = map[string]any{"type": "Exact", "value": string(u.Exact)}
			case u.Prefix != "":
				rm["path"] = map[string]any{"type": "PathPrefix", "value": string(u.Prefix)}
			case u.Regex != "":
				rm["path"] = map[string]any{"type": "RegularExpression", "value": string(u.Regex)}
			}
		}
		if _, ok := rm["path"]; !ok {
			rm["path"] = map[string]any{"type": "PathPrefix", "value": "/"}
		}
		if len(m.Headers) > 0 {
			h := map[string]v1beta1.StringMatch{}
			for k, v := range m.Headers {
				h[k] = v1beta1.StringMatch{Exact: v.Exact, Prefix: v.Prefix, Regex: v.Regex}
			}
			rm["headers"] = headerMatches(h)
		}
		if m.Method != nil && m.Method.Exact != "" {
			rm["method"] = string(m.Method.Exact)
		}
		out = append(out, rm)
	}
	if len(out) == 0 {
		out = []any{map[string]any{"path": map[string]any{"type": "PathPrefix", "value": "/"}}}
	}
	return out
}

// headerMatches are exact or regular-expression header matches, sorted by
// name (a prefix becomes the regular expression it means).
func headerMatches(in map[string]v1beta1.StringMatch) []any {
	names := make([]string, 0, len(in))
	for k := range in {
		names = append(names, k)
	}
	slices.Sort(names)
	var out []any
	for _, name := range names {
		m := in[name]
		switch {
		case m.Exact != "":
			out = append(out, map[string]any{"name": name, "type": "Exact", "value": string(m.Exact)})
		case m.Regex != "":
			out = append(out, map[string]any{"name": name, "type": "RegularExpression", "value": string(m.Regex)})
		case m.Prefix != "":
			out = append(out, map[string]any{"name": name, "type": "RegularExpression", "value": "^" + regexpQuote(string(m.Prefix)) + ".*"})
		}
	}
	return out
}

func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteRune('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// routeFilters: the Service's header operations and path rewrite.
func routeFilters(s *v1beta1.CanaryService) []any {
	var out []any
	mod := func(ops *v1beta1.HeaderOperations) map[string]any {
		m := map[string]any{}
		pairs := func(in map[string]v1beta1.FormattedString) []any {
			names := make([]string, 0, len(in))
			for k := range in {
				names = append(names, k)
			}
			slices.Sort(names)
			var l []any
			for _, k := range names {
				l = append(l, map[string]any{"name": k, "value": string(in[k])})
			}
			return l
		}
		if len(ops.Set) > 0 {
			m["set"] = pairs(ops.Set)
		}
		if len(ops.Add) > 0 {
			m["add"] = pairs(ops.Add)
		}
		if len(ops.Remove) > 0 {
			m["remove"] = toAny(ops.Remove)
		}
		return m
	}
	if h := s.Headers; h != nil {
		if h.Request != nil {
			out = append(out, map[string]any{"type": "RequestHeaderModifier", "requestHeaderModifier": mod(h.Request)})
		}
		if h.Response != nil {
			out = append(out, map[string]any{"type": "ResponseHeaderModifier", "responseHeaderModifier": mod(h.Response)})
		}
	}
	if rw := s.Rewrite; rw != nil && rw.URI != "" {
		kind := "ReplacePrefixMatch"
		key := "replacePrefixMatch"
		if rw.Type == "ReplaceFullPath" {
			kind, key = "ReplaceFullPath", "replaceFullPath"
		}
		out = append(out, map[string]any{"type": "URLRewrite", "urlRewrite": map[string]any{"path": map[string]any{"type": kind, key: string(rw.URI)}}})
	}
	return out
}
