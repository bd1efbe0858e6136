package canary

import (
	"strings"
	"testing"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
)

// Every bad session affinity is refused naming its field; a good one on a
// router that can route by cookie passes.
func TestValidateSessionAffinity(t *testing.T) {
	base := func(provider string, sa v1beta1.SessionAffinity) *v1beta1.Canary {
		return &v1beta1.Canary{Spec: v1beta1.CanarySpec{
			Provider:  provider,
			TargetRef: v1beta1.TargetReference{Kind: "Deployment", Name: "podinfo"},
			Service:   v1beta1.CanaryService{Port: 9898, GatewayRefs: []v1beta1.ParentReference{{Name: "gw"}}},
			Analysis:  &v1beta1.CanaryAnalysis{Interval: "1m", StepWeight: 10, MaxWeight: 50, SessionAffinity: &sa},
		}}
	}
	for _, tc := range []struct {
		provider string
		sa       v1beta1.SessionAffinity
		want     string // "" when valid
	}{
		{"istio", v1beta1.SessionAffinity{CookieName: "canary", PrimaryCookieName: "primary", Path: "/", Domain: "example.com", SameSite: "Lax"}, ""},
		{"gatewayapi:v1", v1beta1.SessionAffinity{CookieName: "flagger-cookie"}, ""},
		{"traefik", v1beta1.SessionAffinity{CookieName: "c"}, "spec.analysis.sessionAffinity: Invalid value: \"\": the traefik provider cannot pin sessions"},
		{"istio", v1beta1.SessionAffinity{}, "spec.analysis.sessionAffinity.cookieName: Required value"},
		{"istio", v1beta1.SessionAffinity{CookieName: "a b"}, "spec.analysis.sessionAffinity.cookieName: Invalid value: \"a b\""},
		{"istio", v1beta1.SessionAffinity{CookieName: "c", PrimaryCookieName: "c"}, "spec.analysis.sessionAffinity.primaryCookieName: Invalid value: \"c\": must differ from cookieName"},
		{"istio", v1beta1.SessionAffinity{CookieName: "c", PrimaryCookieName: "p;x"}, "spec.analysis.sessionAffinity.primaryCookieName: Invalid value"},
		{"istio", v1beta1.SessionAffinity{CookieName: "c", MaxAge: -5}, "spec.analysis.sessionAffinity.maxAge: Invalid value: -5"},
		{"istio", v1beta1.SessionAffinity{CookieName: "c", Path: "/; Domain=evil.example"}, "spec.analysis.sessionAffinity.path: Invalid value"},
		{"istio", v1beta1.SessionAffinity{CookieName: "c", Domain: "a\r\nX-Injected: 1"}, "spec.analysis.sessionAffinity.domain: Invalid value"},
		{"istio", v1beta1.SessionAffinity{CookieName: "c", SameSite: "lax"}, "spec.analysis.sessionAffinity.sameSite: Unsupported value: \"lax\""},
	} {
		errs := Validate(base(tc.provider, tc.sa), "istio")
		got := errs.ToAggregate()
		switch {
		case tc.want == "" && got != nil:
			t.Errorf("%s %+v: refused: %v", tc.provider, tc.sa, got)
		case tc.want != "" && (got == nil || !strings.Contains(got.Error(), tc.want)):
			t.Errorf("%s %+v: got %v, want an error with %q", tc.provider, tc.sa, got, tc.want)
		}
	}
}
