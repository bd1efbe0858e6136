package canary

import (
	"crypto/sha256"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
)

// Session affinity (spec.analysis.sessionAffinity), as Flagger routes it:
// while the canary holds weight, its answers in the weighted route carry a
// Set-Cookie of the canary cookie, and a sticky route ahead of the weighted
// one sends every request that shows that cookie to the canary. With a
// primaryCookieName, the primary's answers carry a primary cookie that
// lasts one interval, and a second sticky route holds those requests on
// the primary. When the canary's weight returns to zero, the canary cookie
// becomes the previous one: the sticky route then matches it only to tell
// the browser to drop it (Max-Age=-1).
//
// Flagger draws its cookie values at random when it writes the routes;
// Vireo derives them from the Canary's UID and the revision under test, so
// that a pass repeated after a failed status write writes the same routes,
// and a new revision gets a new cookie.

// Route names of the sticky routes in the Istio VirtualService. The canary's
// is Flagger's.
const (
	StickyRouteName        = "sticky-route"
	StickyPrimaryRouteName = "sticky-primary-route"
)

// CookieHeader and SetCookieHeader are the headers the sticky routes match
// and write.
const (
	CookieHeader    = "Cookie"
	SetCookieHeader = "Set-Cookie"
)

// DefaultCookieMaxAge is the canary cookie's lifetime when maxAge is unset
// (a day, Flagger's default).
const DefaultCookieMaxAge = 86400

// StickyProviders are the routers that can pin sessions by cookie.
var StickyProviders = []string{"istio", "gatewayapi:v1", "gatewayapi:v1beta1"}

// Sticky is session affinity's part of the routes. Cookies are "name=value".
type Sticky struct {
	// Canary is the canary cookie while the canary holds weight: its
	// answers set it (SetCanary) and the sticky route matches it.
	Canary, SetCanary string
	// Primary is the primary cookie, with a primaryCookieName while the
	// canary holds weight: the primary's answers set it (SetPrimary) and a
	// second sticky route matches it.
	Primary, SetPrimary string
	// Expire is the previous release's canary cookie once the canary holds
	// no weight: the sticky route matches it and answers SetExpire, which
	// drops it.
	Expire, SetExpire string
}

// CookieMatch is the regular expression a sticky route matches the Cookie
// header with: the cookie's name, then its value (Flagger's form).
func CookieMatch(cookie string) string {
	name, value, _ := strings.Cut(cookie, "=")
	return ".*" + regexp.QuoteMeta(name) + ".*" + regexp.QuoteMeta(value) + ".*"
}

// sticky decides the cookies for a canary weight, keeping them in status:
// a canary cookie while the weight is above zero, the previous one after.
// It returns nil without session affinity, and with A/B matches (which
// route by their own rules, as in Flagger).
func (d *decider) sticky(canaryWeight int) *Sticky {
	sa := d.a.SessionAffinity
	if sa == nil || len(d.a.Match) > 0 || !slices.Contains(StickyProviders, d.provider) {
		return nil
	}
	s := &d.status
	out := &Sticky{}
	if canaryWeight > 0 {
		if s.SessionAffinityCookie == "" {
			s.SessionAffinityCookie = sa.CookieName + "=" + d.cookieValue("canary")
		}
		out.Canary = s.SessionAffinityCookie
		out.SetCanary = setCookie(sa, s.SessionAffinityCookie, cookieMaxAge(sa))
		if sa.PrimaryCookieName != "" {
			s.PrimarySessionAffinityCookie = sa.PrimaryCookieName + "=" + d.cookieValue("primary")
			out.Primary = s.PrimarySessionAffinityCookie
			out.SetPrimary = setCookie(sa, s.PrimarySessionAffinityCookie, int(Interval(d.c).Seconds()))
		}
		return out
	}
	if s.SessionAffinityCookie != "" {
		s.PreviousSessionAffinityCookie = s.SessionAffinityCookie
	}
	s.SessionAffinityCookie, s.PrimarySessionAffinityCookie = "", ""
	if prev := s.PreviousSessionAffinityCookie; prev != "" {
		out.Expire = prev
		out.SetExpire = setCookie(sa, prev, -1)
	}
	return out
}

// cookieValue is ten letters drawn from the Canary's UID, the revision
// under test and the cookie's role.
func (d *decider) cookieValue(role string) string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	sum := sha256.Sum256([]byte(string(d.c.UID) + "/" + d.c.Namespace + "/" + d.c.Name + "/" + d.targetHash() + "/" + role))
	b := make([]byte, 10)
	for i := range b {
		b[i] = letters[int(sum[i])%len(letters)]
	}
	return string(b)
}

func cookieMaxAge(sa *v1beta1.SessionAffinity) int {
	if sa.MaxAge == 0 {
		return DefaultCookieMaxAge
	}
	return sa.MaxAge
}

// setCookie is a Set-Cookie value: the cookie, its Max-Age and the
// attributes the spec asks for.
func setCookie(sa *v1beta1.SessionAffinity, cookie string, maxAge int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s; Max-Age=%d", cookie, maxAge)
	if sa.Domain != "" {
		b.WriteString("; Domain=" + sa.Domain)
	}
	if sa.Path != "" {
		b.WriteString("; Path=" + sa.Path)
	}
	if sa.HTTPOnly {
		b.WriteString("; HttpOnly")
	}
	if sa.Secure {
		b.WriteString("; Secure")
	}
	if sa.SameSite != "" {
		b.WriteString("; SameSite=" + sa.SameSite)
	}
	if sa.Partitioned {
		b.WriteString("; Partitioned")
	}
	return b.String()
}

// cookieToken: a cookie name is an HTTP token (RFC 6265 section 4.1.1).
var cookieToken = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// cookieAttribute: a Domain or Path value holds no separator, space or
// control character, so that it cannot end the attribute or the header.
var cookieAttribute = regexp.MustCompile(`^[^;\s\x00-\x1f\x7f]*$`)
