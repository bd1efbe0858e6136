// Package nginx is the NGINX Ingress router: for each stable Ingress, Vireo
// owns a canary Ingress that copies its rules towards the canary Service and
// carries NGINX's canary annotations (canary, canary-weight, and
// canary-by-header for header routes).
package nginx

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/trafficrouting"
	"github.com/vireo-dev/vireo/internal/trafficrouting/trafficshare"
)

// IngressClassAnnotation names an Ingress's class, before spec.ingressClassName.
const IngressClassAnnotation = "kubernetes.io/ingress.class"

// DefaultAnnotationPrefix is ingress-nginx's annotation prefix.
const DefaultAnnotationPrefix = "nginx.ingress.kubernetes.io"

// Router manages the canary Ingresses of one rollout.
type Router struct {
	Client  client.Client
	Rollout *v1alpha1.Rollout
}

var _ trafficrouting.Router = Router{}

// Type is "nginx".
func (Router) Type() string { return "nginx" }

func (r Router) spec() *v1alpha1.NginxTrafficRouting {
	return r.Rollout.Spec.Strategy.Canary.TrafficRouting.Nginx
}

func (r Router) prefix() string {
	if p := r.spec().AnnotationPrefix; p != "" {
		return p
	}
	return DefaultAnnotationPrefix
}

// StableIngresses are the Ingresses the rollout names.
func StableIngresses(n *v1alpha1.NginxTrafficRouting) []string {
	if n.StableIngress != "" {
		return append([]string{n.StableIngress}, n.StableIngresses...)
	}
	return n.StableIngresses
}

// CanaryIngressName is the name of the canary Ingress of a stable one.
func CanaryIngressName(rollout, stable string) string {
	name := rollout + "-" + stable + "-canary"
	if len(name) > 253 {
		name = name[:253]
	}
	return name
}

// SetWeight writes the weight on every canary Ingress, creating them from
// their stable Ingress when needed.
func (r Router) SetWeight(ctx context.Context, weight int32) error {
	return r.each(ctx, func(a map[string]string) {
		a[r.prefix()+"/canary-weight"] = strconv.Itoa(int(weight))
		if max := trafficshare.Max(r.Rollout); max != 100 {
			a[r.prefix()+"/canary-weight-total"] = strconv.Itoa(int(max))
		}
	})
}

// VerifyWeight reads the weight back from every canary Ingress.
func (r Router) VerifyWeight(ctx context.Context, weight int32) (bool, error) {
	for _, stable := range StableIngresses(r.spec()) {
		var ing networkingv1.Ingress
		key := client.ObjectKey{Namespace: r.Rollout.Namespace, Name: CanaryIngressName(r.Rollout.Name, stable)}
		if err := r.Client.Get(ctx, key, &ing); err != nil {
			if apierrors.IsNotFound(err) {
				return false, nil
			}
			return false, fmt.Errorf("reading canary Ingress %s: %w", key.Name, err)
		}
		if ing.Annotations[r.prefix()+"/canary-weight"] != strconv.Itoa(int(weight)) {
			return false, nil
		}
	}
	return true, nil
}

// SetHeaderRoute sends requests whose header matches to the canary with
// NGINX's canary-by-header annotations. NGINX matches one header, exactly
// or by regular expression.
func (r Router) SetHeaderRoute(ctx context.Context, route *v1alpha1.SetHeaderRoute) error {
	if err := ValidateHeaderRoute(route); err != nil {
		return err
	}
	p := r.prefix()
	return r.each(ctx, func(a map[string]string) {
		delete(a, p+"/canary-by-header-value")
		delete(a, p+"/canary-by-header-pattern")
		if len(route.Match) == 0 {
			delete(a, p+"/canary-by-header")
			// What the user asks for in additionalIngressAnnotations (seed
			// 001's canary-by-header: X-Canary) stays once a step's route goes.
			for _, k := range []string{"canary-by-header", "canary-by-header-value", "canary-by-header-pattern"} {
				if v, ok := r.spec().AdditionalIngressAnnotations[k]; ok {
					a[p+"/"+k] = v
				}
			}
			return
		}
		m := route.Match[0]
		a[p+"/canary-by-header"] = m.HeaderName
		if m.HeaderValue.Exact != "" {
			a[p+"/canary-by-header-value"] = m.HeaderValue.Exact
		} else {
			a[p+"/canary-by-header-pattern"] = m.HeaderValue.Regex
		}
	})
}

// ValidateHeaderRoute says why NGINX cannot express a header route, if it cannot.
func ValidateHeaderRoute(route *v1alpha1.SetHeaderRoute) error {
	switch {
	case len(route.Match) > 1:
		return errors.New("nginx matches one header per canary Ingress; the route has " + strconv.Itoa(len(route.Match)))
	case len(route.Match) == 1 && route.Match[0].HeaderValue == nil:
		return errors.New("match[0].headerValue is required")
	case len(route.Match) == 1 && route.Match[0].HeaderValue.Prefix != "":
		return errors.New("nginx cannot match a header by prefix; use exact or regex")
	case len(route.Match) == 1 && route.Match[0].HeaderValue.Exact == "" && route.Match[0].HeaderValue.Regex == "":
		return errors.New("match[0].headerValue: set exact or regex")
	}
	return nil
}

// ErrMirrorUnsupported is NGINX's answer to mirror routes.
var ErrMirrorUnsupported = errors.New("nginx cannot mirror traffic to a canary Ingress")

// SetMirrorRoute is refused: NGINX's canary Ingresses cannot mirror.
func (Router) SetMirrorRoute(context.Context, *v1alpha1.SetMirrorRoute) error {
	return ErrMirrorUnsupported
}

// RemoveManagedRoutes removes the header route.
func (r Router) RemoveManagedRoutes(ctx context.Context) error {
	return r.SetHeaderRoute(ctx, &v1alpha1.SetHeaderRoute{})
}

// each brings every canary Ingress up to date with its stable Ingress and
// lets edit change its annotations, writing only what changed.
func (r Router) each(ctx context.Context, edit func(map[string]string)) error {
	n := r.spec()
	stables := StableIngresses(n)
	if len(stables) == 0 {
		return errors.New("trafficRouting.nginx: stableIngress or stableIngresses is required")
	}
	for _, name := range stables {
		var stable networkingv1.Ingress
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: r.Rollout.Namespace, Name: name}, &stable); err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("trafficRouting.nginx: stable Ingress %s not found in namespace %s", name, r.Rollout.Namespace)
			}
			return fmt.Errorf("reading stable Ingress %s: %w", name, err)
		}
		if err := r.apply(ctx, &stable, edit); err != nil {
			return err
		}
	}
	return nil
}

func (r Router) apply(ctx context.Context, stable *networkingv1.Ingress, edit func(map[string]string)) error {
	c := r.Rollout.Spec.Strategy.Canary
	spec, err := CanarySpec(stable, c.StableService, c.CanaryService)
	if err != nil {
		return fmt.Errorf("trafficRouting.nginx: %w", err)
	}
	name := CanaryIngressName(r.Rollout.Name, stable.Name)
	var current networkingv1.Ingress
	err = r.Client.Get(ctx, client.ObjectKey{Namespace: stable.Namespace, Name: name}, &current)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading canary Ingress %s: %w", name, err)
	}
	p := r.prefix()
	annotations := map[string]string{}
	// Managed annotations carry over from the canary Ingress as it is (the
	// weight and header route in force); the rest comes from the spec.
	for _, k := range []string{"canary-weight", "canary-weight-total", "canary-by-header", "canary-by-header-value", "canary-by-header-pattern"} {
		if v, ok := current.Annotations[p+"/"+k]; ok {
			annotations[p+"/"+k] = v
		}
	}
	for k, v := range r.spec().AdditionalIngressAnnotations {
		annotations[p+"/"+k] = v
	}
	// The class, when the stable Ingress names it by the old annotation, so
	// that the same controller serves the canary Ingress.
	if class, ok := stable.Annotations[IngressClassAnnotation]; ok {
		annotations[IngressClassAnnotation] = class
	}
	maps.Copy(annotations, r.spec().CanaryIngressAnnotations)
	edit(annotations)
	annotations[p+"/canary"] = "true"
	if _, ok := annotations[p+"/canary-weight"]; !ok {
		annotations[p+"/canary-weight"] = "0"
	}

	want := networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: stable.Namespace, Name: name, Annotations: annotations,
			Labels:          map[string]string{"rollouts.argoproj.io/managed-by": r.Rollout.Name},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(r.Rollout, v1alpha1.GroupVersion.WithKind("Rollout"))}},
		Spec: spec,
	}
	if !exists {
		if err := r.Client.Create(ctx, &want); err != nil {
			return fmt.Errorf("creating canary Ingress %s: %w", name, err)
		}
		return nil
	}
	if !metav1.IsControlledBy(&current, r.Rollout) {
		return fmt.Errorf("trafficRouting.nginx: Ingress %s exists and is not this rollout's canary Ingress", name)
	}
	if maps.Equal(current.Annotations, want.Annotations) && equalSpec(current.Spec, want.Spec) {
		return nil
	}
	current.Annotations, current.Spec = want.Annotations, want.Spec
	if err := r.Client.Update(ctx, &current); err != nil {
		return fmt.Errorf("updating canary Ingress %s: %w", name, err)
	}
	return nil
}
