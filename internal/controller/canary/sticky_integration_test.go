package canary

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
	planner "github.com/vireo-dev/vireo/internal/canary"
	"github.com/vireo-dev/vireo/internal/testenv"
)

// Session affinity against a real API server with Istio's and the Gateway
// API's CRDs (their schemas check the shape written): while the canary
// holds weight, a sticky route sends the canary cookie to the canary and
// another holds the primary cookie on the primary, the weighted route's
// backends set those cookies, the cookie stays the same from step to step
// and an idle pass rewrites nothing; after the promotion the sticky route
// only expires the cookie of the release that ended.
func TestSessionAffinityAgainstRealAPIServer(t *testing.T) {
	env := testenv.Start(t, testenv.IstioCRDs(t), testenv.GatewayCRDs(t))
	for _, tc := range []struct {
		provider string
		gvk      schema.GroupVersionKind
		describe func(*unstructured.Unstructured) string
	}{
		{"istio", virtualServiceGVK, describeVirtualService},
		{"gatewayapi:v1", schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"}, describeHTTPRoute},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			ns := "sticky-" + strings.ReplaceAll(strings.ReplaceAll(tc.provider, ":", "-"), "gatewayapi", "gw")
			f := newFixture(t, env, ns, tc.provider, func(c *v1beta1.Canary) {
				c.Spec.Analysis.SessionAffinity = &v1beta1.SessionAffinity{CookieName: "canary-cookie", PrimaryCookieName: "primary-cookie", MaxAge: 600, Path: "/"}
			})
			routes := func() string { return tc.describe(f.object(tc.gvk, "web")) }
			f.pass()
			f.settle("web-primary")
			f.pass()
			if got, want := routes(), "weighted: web-primary@100 web-canary@0\n"; got != want {
				t.Errorf("after initialization:\n%swant\n%s", got, want)
			}

			f.setImage("web:2")
			f.pass()
			f.settle("web")
			f.tick()
			cookie, primary := f.cn.Status.SessionAffinityCookie, f.cn.Status.PrimarySessionAffinityCookie
			if !regexp.MustCompile(`^canary-cookie=[A-Za-z]{10}$`).MatchString(cookie) || !regexp.MustCompile(`^primary-cookie=[A-Za-z]{10}$`).MatchString(primary) {
				t.Fatalf("status cookies %q and %q", cookie, primary)
			}
			step := fmt.Sprintf("Cookie~%s: web-primary@0 web-canary@100\n", planner.CookieMatch(cookie)) +
				fmt.Sprintf("Cookie~%s: web-primary@100 web-canary@0\n", planner.CookieMatch(primary)) +
				fmt.Sprintf("weighted: web-primary@%%d [%s; Max-Age=30; Path=/] web-canary@%%d [%s; Max-Age=600; Path=/]\n", primary, cookie)
			if got, want := routes(), fmt.Sprintf(step, 75, 25); got != want {
				t.Errorf("at the first step:\n%swant\n%s", got, want)
			}
			rv := f.object(tc.gvk, "web").GetResourceVersion()
			f.pass()
			if f.object(tc.gvk, "web").GetResourceVersion() != rv {
				t.Errorf("an idle pass rewrote the %s", tc.gvk.Kind)
			}
			f.tick()
			if got, want := routes(), fmt.Sprintf(step, 50, 50); got != want || f.cn.Status.SessionAffinityCookie != cookie {
				t.Errorf("at the second step (cookie %q):\n%swant\n%s", f.cn.Status.SessionAffinityCookie, got, want)
			}
			for i := 0; i < 6 && f.cn.Status.Phase != v1beta1.PhaseSucceeded; i++ {
				f.tick()
				f.settle("web-primary")
			}
			if f.cn.Status.Phase != v1beta1.PhaseSucceeded {
				t.Fatalf("phase %s, want Succeeded", f.cn.Status.Phase)
			}
			if s := f.cn.Status; s.SessionAffinityCookie != "" || s.PrimarySessionAffinityCookie != "" || s.PreviousSessionAffinityCookie != cookie {
				t.Errorf("status cookies after the promotion: %q, %q, previous %q", s.SessionAffinityCookie, s.PrimarySessionAffinityCookie, s.PreviousSessionAffinityCookie)
			}
			want := fmt.Sprintf("Cookie~%s: web-primary@100 web-canary@0 answers [%s; Max-Age=-1; Path=/]\n", planner.CookieMatch(cookie), cookie) +
				"weighted: web-primary@100 web-canary@0\n"
			if got := routes(); got != want {
				t.Errorf("after the promotion:\n%swant\n%s", got, want)
			}
		})
	}
}

// describeVirtualService prints each HTTP route: its Cookie match (or
// "weighted"), its destinations with the Set-Cookie they add, and the
// Set-Cookie the route adds.
func describeVirtualService(u *unstructured.Unstructured) string {
	var b strings.Builder
	https, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
	for _, h := range https {
		hm := h.(map[string]any)
		b.WriteString(cookieOf(hm, func(m map[string]any) string {
			re, _, _ := unstructured.NestedString(m, "headers", planner.CookieHeader, "regex")
			return re
		}))
		routes, _ := hm["route"].([]any)
		for _, r := range routes {
			rm := r.(map[string]any)
			host, _, _ := unstructured.NestedString(rm, "destination", "host")
			fmt.Fprintf(&b, " %s@%v", host, rm["weight"])
			if v, ok, _ := unstructured.NestedString(rm, "headers", "response", "add", planner.SetCookieHeader); ok {
				fmt.Fprintf(&b, " [%s]", v)
			}
		}
		if v, ok, _ := unstructured.NestedString(hm, "headers", "response", "add", planner.SetCookieHeader); ok {
			fmt.Fprintf(&b, " answers [%s]", v)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// describeHTTPRoute prints each rule as describeVirtualService prints a
// route.
func describeHTTPRoute(u *unstructured.Unstructured) string {
	var b strings.Builder
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	for _, r := range rules {
		rm := r.(map[string]any)
		b.WriteString(cookieOf(rm, func(m map[string]any) string {
			headers, _ := m["headers"].([]any)
			for _, h := range headers {
				if hm := h.(map[string]any); hm["name"] == planner.CookieHeader && hm["type"] == "RegularExpression" {
					return fmt.Sprint(hm["value"])
				}
			}
			return ""
		}))
		refs, _ := rm["backendRefs"].([]any)
		for _, ref := range refs {
			m := ref.(map[string]any)
			fmt.Fprintf(&b, " %s@%v", m["name"], m["weight"])
			if v := setCookieFilter(m["filters"]); v != "" {
				fmt.Fprintf(&b, " [%s]", v)
			}
		}
		if v := setCookieFilter(rm["filters"]); v != "" {
			fmt.Fprintf(&b, " answers [%s]", v)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// cookieOf is "Cookie~REGEX:" for a route whose (first) match asks for a
// cookie, else "weighted:".
func cookieOf(route map[string]any, regex func(map[string]any) string) string {
	key := "match"
	if _, ok := route["matches"]; ok {
		key = "matches"
	}
	matches, _ := route[key].([]any)
	if len(matches) > 0 {
		if re := regex(matches[0].(map[string]any)); re != "" {
			return "Cookie~" + re + ":"
		}
	}
	return "weighted:"
}

func setCookieFilter(filters any) string {
	list, _ := filters.([]any)
	for _, f := range list {
		adds, _, _ := unstructured.NestedSlice(f.(map[string]any), "responseHeaderModifier", "add")
		for _, a := range adds {
			if am := a.(map[string]any); am["name"] == planner.SetCookieHeader {
				return fmt.Sprint(am["value"])
			}
		}
	}
	return ""
}
