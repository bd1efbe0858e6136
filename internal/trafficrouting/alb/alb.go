// Package alb is the AWS Load Balancer Controller router. It writes the
// weights of the stable and canary Services into a forward action
// annotation on the user's Ingress; the load balancer controller turns it
// into target group weights. Vireo makes no AWS calls: it verifies the
// weight it wrote on the Ingress, not the target groups in AWS.
package alb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/trafficrouting"
)

// DefaultPrefix is the load balancer controller's annotation prefix.
const DefaultPrefix = "alb.ingress.kubernetes.io"

// UseAnnotation is the port name with which an Ingress backend says that
// its action comes from an annotation.
const UseAnnotation = "use-annotation"

const field = "trafficRouting.alb"

// Router manages the action annotations of one rollout's Ingresses.
type Router struct {
	Client  client.Client
	Rollout *v1alpha1.Rollout
}

var _ trafficrouting.Router = Router{}

// Type is "alb".
func (Router) Type() string { return "alb" }

func (r Router) spec() *v1alpha1.ALBTrafficRouting {
	return r.Rollout.Spec.Strategy.Canary.TrafficRouting.ALB
}

// Ingresses are the Ingresses an ALB configuration names: ingress, then ingresses.
func Ingresses(a *v1alpha1.ALBTrafficRouting) []string {
	var out []string
	if a.Ingress != "" {
		out = append(out, a.Ingress)
	}
	for _, n := range a.Ingresses {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func (r Router) prefix() string {
	if p := r.spec().AnnotationPrefix; p != "" {
		return p
	}
	return DefaultPrefix
}

// ActionService is the name the Ingress backend gives for the weighted
// action: rootService, or the stable Service.
func ActionService(ro *v1alpha1.Rollout) string {
	if s := ro.Spec.Strategy.Canary.TrafficRouting.ALB.RootService; s != "" {
		return s
	}
	return ro.Spec.Strategy.Canary.StableService
}

func (r Router) actionKey(name string) string    { return r.prefix() + "/actions." + name }
func (r Router) conditionKey(name string) string { return r.prefix() + "/conditions." + name }

// The load balancer controller's forward action, as JSON.
type action struct {
	Type          string        `json:"type"`
	ForwardConfig forwardConfig `json:"forwardConfig"`
}

type forwardConfig struct {
	TargetGroups                []targetGroup     `json:"targetGroups"`
	TargetGroupStickinessConfig *stickinessConfig `json:"targetGroupStickinessConfig,omitempty"`
}

type targetGroup struct {
	ServiceName string `json:"serviceName"`
	ServicePort string `json:"servicePort"`
	Weight      *int64 `json:"weight,omitempty"`
}

type stickinessConfig struct {
	Enabled         bool  `json:"enabled"`
	DurationSeconds int64 `json:"durationSeconds,omitempty"`
}

func (r Router) forward(groups ...targetGroup) string {
	a := action{Type: "forward", ForwardConfig: forwardConfig{TargetGroups: groups}}
	if s := r.spec().StickinessConfig; s != nil {
		a.ForwardConfig.TargetGroupStickinessConfig = &stickinessConfig{Enabled: s.Enabled, DurationSeconds: s.DurationSeconds}
	}
	out, _ := json.Marshal(a)
	return string(out)
}

func (r Router) group(service string, weight int64) targetGroup {
	return targetGroup{ServiceName: service, ServicePort: strconv.Itoa(int(r.spec().ServicePort)), Weight: &weight}
}

// SetWeight writes the weighted forward action on every Ingress.
func (r Router) SetWeight(ctx context.Context, weight int32) error {
	c := r.Rollout.Spec.Strategy.Canary
	canary, stable := trafficrouting.Weights(r.Rollout, weight)
	value := r.forward(r.group(c.CanaryService, canary), r.group(c.StableService, stable))
	return r.each(ctx, func(in *networkingv1.Ingress) error {
		setAnnotation(in, r.actionKey(ActionService(r.Rollout)), value)
		return nil
	})
}

// VerifyWeight reads the action annotations back. It does not ask AWS.
func (r Router) VerifyWeight(ctx context.Context, weight int32) (bool, error) {
	for _, name := range Ingresses(r.spec()) {
		in := &networkingv1.Ingress{}
		if err := trafficrouting.Get(ctx, r.Client, r.key(name), in, field+".ingress"); err != nil {
			return false, err
		}
		var a action
		if err := json.Unmarshal([]byte(in.Annotations[r.actionKey(ActionService(r.Rollout))]), &a); err != nil {
			return false, nil
		}
		found := false
		for _, g := range a.ForwardConfig.TargetGroups {
			if g.ServiceName == r.Rollout.Spec.Strategy.Canary.CanaryService {
				found = g.Weight != nil && *g.Weight == int64(weight)
			}
		}
		if !found {
			return false, nil
		}
	}
	return true, nil
}

func (r Router) key(name string) client.ObjectKey {
	return client.ObjectKey{Namespace: r.Rollout.Namespace, Name: name}
}

// each checks every Ingress routes through the action annotation, lets edit
// change it, and writes it back when it changed.
func (r Router) each(ctx context.Context, edit func(*networkingv1.Ingress) error) error {
	names := Ingresses(r.spec())
	if len(names) == 0 {
		return errors.New(field + ".ingress: name the Ingress that carries the action annotations")
	}
	for _, name := range names {
		in := &networkingv1.Ingress{}
		if err := trafficrouting.Get(ctx, r.Client, r.key(name), in, field+".ingress"); err != nil {
			return err
		}
		if err := CheckIngress(in, ActionService(r.Rollout)); err != nil {
			return err
		}
		before := in.DeepCopy()
		if err := edit(in); err != nil {
			return err
		}
		if equality.Semantic.DeepEqual(before, in) {
			continue
		}
		if err := r.Client.Update(ctx, in); err != nil {
			return fmt.Errorf("updating Ingress %s: %w", name, err)
		}
	}
	return nil
}

// CheckIngress says why an Ingress does not take its action for service
// from an annotation: the load balancer controller needs a backend naming
// the service with the port name use-annotation.
func CheckIngress(in *networkingv1.Ingress, service string) error {
	found := false
	for _, b := range backends(in) {
		if b.Service == nil || b.Service.Name != service {
			continue
		}
		if b.Service.Port.Name != UseAnnotation {
			return fmt.Errorf("Ingress %s: the backend for %s must use port name %q, so that the load balancer controller reads its action from the annotation", in.Name, service, UseAnnotation)
		}
		found = true
	}
	if !found {
		return fmt.Errorf("Ingress %s has no backend for the Service %s (port name %q)", in.Name, service, UseAnnotation)
	}
	return nil
}

func backends(in *networkingv1.Ingress) []networkingv1.IngressBackend {
	var out []networkingv1.IngressBackend
	if in.Spec.DefaultBackend != nil {
		out = append(out, *in.Spec.DefaultBackend)
	}
	for _, rule := range in.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for _, p := range rule.HTTP.Paths {
			out = append(out, p.Backend)
		}
	}
	return out
}

func setAnnotation(in *networkingv1.Ingress, key, value string) {
	if in.Annotations == nil {
		in.Annotations = map[string]string{}
	}
	in.Annotations[key] = value
}

// The load balancer controller's rule condition, as JSON.
type condition struct {
	Field            string            `json:"field"`
	HTTPHeaderConfig *httpHeaderConfig `json:"httpHeaderConfig"`
}

type httpHeaderConfig struct {
	HTTPHeaderName string   `json:"httpHeaderName"`
	Values         []string `json:"values"`
}

// ValidateHeaderRoute says why an ALB listener rule cannot express a
// header route, if it cannot. ALB compares header values with * and ?
// wildcards: exact values and prefixes can be written, regular expressions
// cannot.
func ValidateHeaderRoute(route *v1alpha1.SetHeaderRoute) error {
	if err := trafficrouting.CheckHeaderMatches(route); err != nil {
		return err
	}
	for i, m := range route.Match {
		v := m.HeaderValue
		switch {
		case v.Regex != "":
			return fmt.Errorf("match[%d].headerValue: ALB cannot match a header by regular expression; use exact or prefix", i)
		case strings.ContainsAny(v.Exact+v.Prefix, "*?"):
			return fmt.Errorf("match[%d].headerValue: ALB reads * and ? as wildcards; the value cannot contain them", i)
		}
	}
	return nil
}

// SetHeaderRoute sends requests whose headers match to the canary: a
// condition and an action annotation named after the route, and a path
// for it ahead of each path of the weighted action. A route without match
// removes it.
func (r Router) SetHeaderRoute(ctx context.Context, route *v1alpha1.SetHeaderRoute) error {
	if err := ValidateHeaderRoute(route); err != nil {
		return err
	}
	if len(route.Match) == 0 {
		return r.each(ctx, func(in *networkingv1.Ingress) error {
			r.removeRoute(in, route.Name)
			return nil
		})
	}
	var conds []condition
	for _, m := range route.Match {
		value := m.HeaderValue.Exact
		if m.HeaderValue.Prefix != "" {
			value = m.HeaderValue.Prefix + "*"
		}
		conds = append(conds, condition{Field: "http-header", HTTPHeaderConfig: &httpHeaderConfig{HTTPHeaderName: m.HeaderName, Values: []string{value}}})
	}
	condJSON, _ := json.Marshal(conds)
	act := r.forward(r.group(r.Rollout.Spec.Strategy.Canary.CanaryService, 100))
	return r.each(ctx, func(in *networkingv1.Ingress) error {
		r.removeRoute(in, route.Name)
		setAnnotation(in, r.conditionKey(route.Name), string(condJSON))
		setAnnotation(in, r.actionKey(route.Name), act)
		r.addPaths(in, route.Name)
		return nil
	})
}

// addPaths puts a path for the route ahead of every path of the weighted
// action, so that the listener rule with the condition is tried first.
func (r Router) addPaths(in *networkingv1.Ingress, name string) {
	action := ActionService(r.Rollout)
	for i, rule := range in.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		var paths []networkingv1.HTTPIngressPath
		for _, p := range rule.HTTP.Paths {
			if p.Backend.Service != nil && p.Backend.Service.Name == action {
				own := *p.DeepCopy()
				own.Backend.Service.Name = name
				own.Backend.Service.Port = networkingv1.ServiceBackendPort{Name: UseAnnotation}
				paths = append(paths, own)
			}
			paths = append(paths, p)
		}
		in.Spec.Rules[i].HTTP.Paths = r.inManagedOrder(paths)
	}
}

// inManagedOrder sorts each run of managed-route paths in the order of
// trafficRouting.managedRoutes: the first listed is tried first.
func (r Router) inManagedOrder(paths []networkingv1.HTTPIngressPath) []networkingv1.HTTPIngressPath {
	var order []string
	for _, m := range r.Rollout.Spec.Strategy.Canary.TrafficRouting.ManagedRoutes {
		order = append(order, m.Name)
	}
	rank := func(p networkingv1.HTTPIngressPath) int {
		if p.Backend.Service == nil {
			return -1
		}
		return slices.Index(order, p.Backend.Service.Name)
	}
	for start := 0; start < len(paths); {
		end := start
		for end < len(paths) && rank(paths[end]) >= 0 {
			end++
		}
		slices.SortStableFunc(paths[start:end], func(a, b networkingv1.HTTPIngressPath) int { return rank(a) - rank(b) })
		start = end + 1
	}
	return paths
}

// removeRoute takes a managed route's annotations and paths out.
func (r Router) removeRoute(in *networkingv1.Ingress, name string) {
	delete(in.Annotations, r.conditionKey(name))
	delete(in.Annotations, r.actionKey(name))
	for i, rule := range in.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		in.Spec.Rules[i].HTTP.Paths = slices.DeleteFunc(rule.HTTP.Paths, func(p networkingv1.HTTPIngressPath) bool {
			return p.Backend.Service != nil && p.Backend.Service.Name == name
		})
	}
}

// ErrMirrorUnsupported is ALB's answer to mirror routes.
var ErrMirrorUnsupported = errors.New("an ALB cannot mirror requests")

// SetMirrorRoute is refused: ALB listener rules cannot mirror.
func (Router) SetMirrorRoute(context.Context, *v1alpha1.SetMirrorRoute) error {
	return ErrMirrorUnsupported
}

// RemoveManagedRoutes removes every header route of trafficRouting.managedRoutes.
func (r Router) RemoveManagedRoutes(ctx context.Context) error {
	managed := r.Rollout.Spec.Strategy.Canary.TrafficRouting.ManagedRoutes
	if len(managed) == 0 {
		return nil
	}
	return r.each(ctx, func(in *networkingv1.Ingress) error {
		for _, m := range managed {
			r.removeRoute(in, m.Name)
		}
		return nil
	})
}
