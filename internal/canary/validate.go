package canary

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
)

// SupportedProviders are the routers Vireo drives for Canaries. Flagger's
// other providers are valid Flagger but refused here, naming spec.provider.
var SupportedProviders = []string{KubernetesProvider, "istio", "traefik", "nginx", "gatewayapi:v1", "gatewayapi:v1beta1"}

// BuiltinMetrics are the metrics Vireo knows without a template.
var BuiltinMetrics = []string{"request-success-rate", "request-duration"}

var durationPattern = regexp.MustCompile(`^[0-9]+(m|s)`)

// Validate checks what the CRD schema does not, naming each bad field.
// defaultProvider is the controller's -flagger-provider.
func Validate(c *v1beta1.Canary, defaultProvider string) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")

	t := spec.Child("targetRef")
	switch {
	case c.Spec.TargetRef.Name == "":
		errs = append(errs, field.Required(t.Child("name"), "the Deployment to release"))
	case c.Spec.TargetRef.Kind != "" && c.Spec.TargetRef.Kind != "Deployment":
		errs = append(errs, field.NotSupported(t.Child("kind"), c.Spec.TargetRef.Kind, []string{"Deployment"}))
	}

	if p := Provider(c, defaultProvider); !slices.Contains(SupportedProviders, p) {
		errs = append(errs, field.NotSupported(spec.Child("provider"), p, SupportedProviders))
	}

	svc := spec.Child("service")
	if Provider(c, defaultProvider) == "nginx" && (c.Spec.IngressRef == nil || c.Spec.IngressRef.Name == "") {
		errs = append(errs, field.Required(spec.Child("ingressRef", "name"), "the nginx provider needs the Ingress to split"))
	}
	if strings.HasPrefix(Provider(c, defaultProvider), "gatewayapi") && len(c.Spec.Service.GatewayRefs) == 0 {
		errs = append(errs, field.Required(svc.Child("gatewayRefs"), "the Gateway API provider needs the Gateways the HTTPRoute attaches to"))
	}
	if c.Spec.Service.Port <= 0 || c.Spec.Service.Port > 65535 {
		errs = append(errs, field.Invalid(svc.Child("port"), c.Spec.Service.Port, "must be a port number, 1 to 65535"))
	}
	if c.Spec.ProgressDeadlineSeconds != nil && *c.Spec.ProgressDeadlineSeconds < 0 {
		errs = append(errs, field.Invalid(spec.Child("progressDeadlineSeconds"), *c.Spec.ProgressDeadlineSeconds, "must not be negative"))
	}
	if a := c.Spec.Analysis; a != nil {
		errs = append(errs, validateAnalysis(a, spec.Child("analysis"))...)
		if p := Provider(c, defaultProvider); a.Mirror && p != "istio" {
			errs = append(errs, field.Invalid(spec.Child("analysis", "mirror"), true, fmt.Sprintf("the %s provider cannot mirror requests in Vireo (istio can)", p)))
		}
		errs = append(errs, validateSessionAffinity(a, Provider(c, defaultProvider), spec.Child("analysis", "sessionAffinity"))...)
		if a.MirrorWeight > TotalWeight {
			errs = append(errs, field.Invalid(spec.Child("analysis", "mirrorWeight"), a.MirrorWeight, "must be between 0 and 100"))
		}
	}
	return errs
}

func validateAnalysis(a *v1beta1.CanaryAnalysis, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateDuration(a.Interval, p.Child("interval"), true)...)
	if a.Iterations == 0 && a.StepWeight == 0 && len(a.StepWeights) == 0 {
		errs = append(errs, field.Required(p, "one of iterations (blue-green, A/B), stepWeight or stepWeights (canary)"))
	}
	for _, w := range []struct {
		name string
		v    int
	}{{"iterations", a.Iterations}, {"threshold", a.Threshold}, {"mirrorWeight", a.MirrorWeight}} {
		if w.v < 0 {
			errs = append(errs, field.Invalid(p.Child(w.name), w.v, "must not be negative"))
		}
	}
	for _, w := range []struct {
		name string
		v    int
	}{{"maxWeight", a.MaxWeight}, {"stepWeight", a.StepWeight}, {"stepWeightPromotion", a.StepWeightPromotion}} {
		if w.v < 0 || w.v > TotalWeight {
			errs = append(errs, field.Invalid(p.Child(w.name), w.v, "must be between 0 and 100"))
		}
	}
	last := 0
	for i, w := range a.StepWeights {
		if w <= last || w > TotalWeight {
			errs = append(errs, field.Invalid(p.Child("stepWeights").Index(i), w, "weights must increase, each from 1 to 100"))
			break
		}
		last = w
	}
	for _, r := range []struct {
		name string
		v    *int
	}{{"primaryReadyThreshold", a.PrimaryReadyThreshold}, {"canaryReadyThreshold", a.CanaryReadyThreshold}} {
		if r.v != nil && (*r.v < 0 || *r.v > 100) {
			errs = append(errs, field.Invalid(p.Child(r.name), *r.v, "must be a percentage, 0 to 100"))
		}
	}
	for i := range a.Metrics {
		errs = append(errs, validateMetric(&a.Metrics[i], p.Child("metrics").Index(i))...)
	}
	hookTypes := []string{"", string(v1beta1.HookConfirmRollout), string(v1beta1.HookPreRollout), string(v1beta1.HookRollout),
		string(v1beta1.HookConfirmPromotion), string(v1beta1.HookPostRollout), string(v1beta1.HookEvent),
		string(v1beta1.HookRollback), string(v1beta1.HookConfirmTrafficIncrease)}
	for i, h := range a.Webhooks {
		hp := p.Child("webhooks").Index(i)
		if h.Name == "" {
			errs = append(errs, field.Required(hp.Child("name"), ""))
		}
		if u, err := url.Parse(h.URL); h.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, field.Invalid(hp.Child("url"), h.URL, "must be an http or https URL"))
		}
		if !slices.Contains(hookTypes, string(h.Type)) {
			errs = append(errs, field.NotSupported(hp.Child("type"), h.Type, hookTypes[1:]))
		}
		errs = append(errs, validateDuration(h.Timeout, hp.Child("timeout"), false)...)
		if h.Retries < 0 {
			errs = append(errs, field.Invalid(hp.Child("retries"), h.Retries, "must not be negative"))
		}
	}
	for i, al := range a.Alerts {
		if al.ProviderRef.Name == "" {
			errs = append(errs, field.Required(p.Child("alerts").Index(i).Child("providerRef", "name"), ""))
		}
	}
	return errs
}

func validateMetric(m *v1beta1.CanaryMetric, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if m.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	if m.TemplateRef == nil && m.Query == "" && !slices.Contains(BuiltinMetrics, m.Name) {
		errs = append(errs, field.Required(p.Child("templateRef"), "a metric other than "+
			"request-success-rate and request-duration needs a templateRef (or a query)"))
	}
	if m.TemplateRef != nil && m.TemplateRef.Name == "" {
		errs = append(errs, field.Required(p.Child("templateRef", "name"), ""))
	}
	errs = append(errs, validateDuration(m.Interval, p.Child("interval"), false)...)
	if r := m.ThresholdRange; r != nil && r.Min != nil && r.Max != nil && *r.Min > *r.Max {
		errs = append(errs, field.Invalid(p.Child("thresholdRange"), *r.Min, "min is above max"))
	}
	return errs
}

func validateDuration(s string, p *field.Path, required bool) field.ErrorList {
	if s == "" {
		if required {
			return field.ErrorList{field.Required(p, "a duration such as 1m or 30s")}
		}
		return nil
	}
	if _, err := time.ParseDuration(s); err != nil || !durationPattern.MatchString(s) {
		return field.ErrorList{field.Invalid(p, s, "must be a duration in seconds or minutes, such as 1m or 30s")}
	}
	return nil
}

// validateSessionAffinity: the cookies go into the router's header matches
// and Set-Cookie values, so their names are tokens and their attributes
// cannot end the header.
func validateSessionAffinity(a *v1beta1.CanaryAnalysis, provider string, p *field.Path) field.ErrorList {
	sa := a.SessionAffinity
	if sa == nil {
		return nil
	}
	var errs field.ErrorList
	if !slices.Contains(StickyProviders, provider) {
		errs = append(errs, field.Invalid(p, "", fmt.Sprintf("the %s provider cannot pin sessions by cookie in Vireo (%s can)", provider, strings.Join(StickyProviders, ", "))))
	}
	switch {
	case sa.CookieName == "":
		errs = append(errs, field.Required(p.Child("cookieName"), "the name of the canary cookie"))
	case !cookieToken.MatchString(sa.CookieName):
		errs = append(errs, field.Invalid(p.Child("cookieName"), sa.CookieName, "must be a cookie name: letters, digits and !#$%&'*+-.^_`|~"))
	}
	switch {
	case sa.PrimaryCookieName == "":
	case !cookieToken.MatchString(sa.PrimaryCookieName):
		errs = append(errs, field.Invalid(p.Child("primaryCookieName"), sa.PrimaryCookieName, "must be a cookie name: letters, digits and !#$%&'*+-.^_`|~"))
	case sa.PrimaryCookieName == sa.CookieName:
		errs = append(errs, field.Invalid(p.Child("primaryCookieName"), sa.PrimaryCookieName, "must differ from cookieName"))
	}
	if sa.MaxAge < 0 {
		errs = append(errs, field.Invalid(p.Child("maxAge"), sa.MaxAge, "must not be negative"))
	}
	for _, f := range []struct{ name, v string }{{"domain", sa.Domain}, {"path", sa.Path}} {
		if !cookieAttribute.MatchString(f.v) {
			errs = append(errs, field.Invalid(p.Child(f.name), f.v, "must not hold ';', spaces or control characters"))
		}
	}
	if sa.SameSite != "" && !slices.Contains([]string{"Strict", "Lax", "None"}, sa.SameSite) {
		errs = append(errs, field.NotSupported(p.Child("sameSite"), sa.SameSite, []string{"Strict", "Lax", "None"}))
	}
	return errs
}
