package canary

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
	planner "github.com/vireo-dev/vireo/internal/canary"
)

// nginxPrefix is ingress-nginx's annotation prefix (Flagger's
// -ingress-annotations-prefix default).
const nginxPrefix = "nginx.ingress.kubernetes.io/"

// nginxRouter owns the Ingress INGRESS-canary: a copy of the user's
// ingressRef whose backends name NAME-canary, marked as ingress-nginx's
// canary Ingress, with canary-weight (or, with A/B matches, the header or
// cookie rules) as its annotations.
type nginxRouter struct {
	client client.Client
}

func canaryIngressName(c *v1beta1.Canary) string {
	return c.Spec.IngressRef.Name + planner.CanarySuffix
}

func (r *nginxRouter) Routes(ctx context.Context, c *v1beta1.Canary) (planner.Routes, error) {
	var ing networkingv1.Ingress
	err := r.client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: canaryIngressName(c)}, &ing)
	if apierrors.IsNotFound(err) {
		return planner.Routes{Primary: planner.TotalWeight}, nil
	}
	if err != nil {
		return planner.Routes{}, fmt.Errorf("ingress %s.%s get query error: %w", canaryIngressName(c), c.Namespace, err)
	}
	if a := c.Spec.Analysis; a != nil && len(a.Match) > 0 {
		if _, ok := ing.Annotations[nginxPrefix+"canary-by-header"]; ok {
			return planner.Routes{Canary: planner.TotalWeight}, nil
		}
		if _, ok := ing.Annotations[nginxPrefix+"canary-by-cookie"]; ok {
			return planner.Routes{Canary: planner.TotalWeight}, nil
		}
	}
	w, err := strconv.Atoi(ing.Annotations[nginxPrefix+"canary-weight"])
	if err != nil {
		w = 0
	}
	return planner.Routes{Primary: planner.TotalWeight - w, Canary: w}, nil
}

// Reconcile makes INGRESS-canary a copy of the user's Ingress with the
// apex Service's backends on NAME-canary; its weight stays.
func (r *nginxRouter) Reconcile(ctx context.Context, c *v1beta1.Canary, _ *planner.Sticky) error {
	var src networkingv1.Ingress
	if err := r.client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: c.Spec.IngressRef.Name}, &src); err != nil {
		return fmt.Errorf("ingress %s.%s get query error: %w", c.Spec.IngressRef.Name, c.Namespace, err)
	}
	apex, _, canary := planner.ServiceNames(c)
	spec := *src.Spec.DeepCopy()
	found := false
	for i := range spec.Rules {
		if spec.Rules[i].HTTP == nil {
			continue
		}
		for j := range spec.Rules[i].HTTP.Paths {
			if b := spec.Rules[i].HTTP.Paths[j].Backend.Service; b != nil && b.Name == apex {
				b.Name, found = canary, true
			}
		}
	}
	if !found {
		return fmt.Errorf("backend %s not found in ingress %s", apex, c.Spec.IngressRef.Name)
	}
	var cur networkingv1.Ingress
	err := r.client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: canaryIngressName(c)}, &cur)
	if apierrors.IsNotFound(err) {
		ann := map[string]string{}
		for k, v := range src.Annotations {
			if !strings.HasPrefix(k, nginxPrefix+"canary") && k != "kubectl.kubernetes.io/last-applied-configuration" && !strings.Contains(k, "toolkit.fluxcd.io") {
				ann[k] = v
			}
		}
		ann[nginxPrefix+"canary"], ann[nginxPrefix+"canary-weight"] = "true", "0"
		ing := &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: canaryIngressName(c), Namespace: c.Namespace, Annotations: ann, Labels: src.Labels,
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(c, v1beta1.GroupVersion.WithKind("Canary"))}},
			Spec: spec,
		}
		if err := r.client.Create(ctx, ing); err != nil {
			return fmt.Errorf("ingress %s.%s create error: %w", ing.Name, c.Namespace, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("ingress %s.%s query error: %w", canaryIngressName(c), c.Namespace, err)
	}
	if equality.Semantic.DeepEqual(cur.Spec, spec) {
		return nil
	}
	cur.Spec = spec
	if err := r.client.Update(ctx, &cur); err != nil {
		return fmt.Errorf("ingress %s.%s update error: %w", cur.Name, c.Namespace, err)
	}
	return nil
}

// SetRoutes writes the canary's weight, or with A/B matches its header or
// cookie rule (a match sends all matching requests to the canary).
func (r *nginxRouter) SetRoutes(ctx context.Context, c *v1beta1.Canary, w planner.Routes) error {
	var cur networkingv1.Ingress
	if err := r.client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: canaryIngressName(c)}, &cur); err != nil {
		return fmt.Errorf("ingress %s.%s get query error: %w", canaryIngressName(c), c.Namespace, err)
	}
	next := cur.DeepCopy()
	if next.Annotations == nil {
		next.Annotations = map[string]string{}
	}
	if a := c.Spec.Analysis; a != nil && len(a.Match) > 0 {
		for k := range next.Annotations {
			if strings.HasPrefix(k, nginxPrefix+"canary-by-") || k == nginxPrefix+"canary-weight" {
				delete(next.Annotations, k)
			}
		}
		next.Annotations[nginxPrefix+"canary"] = "true"
		if w.Canary > 0 {
			for _, m := range a.Match {
				for name, v := range m.Headers {
					if name == "cookie" {
						next.Annotations[nginxPrefix+"canary-by-cookie"] = string(v.Exact)
						continue
					}
					next.Annotations[nginxPrefix+"canary-by-header"] = name
					if v.Exact != "" {
						next.Annotations[nginxPrefix+"canary-by-header-value"] = string(v.Exact)
					}
					if v.Regex != "" {
						next.Annotations[nginxPrefix+"canary-by-header-pattern"] = string(v.Regex)
					}
				}
			}
		} else {
			next.Annotations[nginxPrefix+"canary-weight"] = "0"
		}
	} else {
		next.Annotations[nginxPrefix+"canary-weight"] = strconv.Itoa(w.Canary)
	}
	if equality.Semantic.DeepEqual(cur.Annotations, next.Annotations) {
		return nil
	}
	if err := r.client.Update(ctx, next); err != nil {
		return fmt.Errorf("ingress %s.%s update error: %w", next.Name, c.Namespace, err)
	}
	return nil
}
