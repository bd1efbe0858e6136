package nginx

import (
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// CanarySpec is a stable Ingress's spec pointed at the canary: every backend
// of the stable Service goes to the canary Service; rules and paths for
// other Services are left out, as NGINX would send their canary share to
// the wrong place.
func CanarySpec(stable *networkingv1.Ingress, stableService, canaryService string) (networkingv1.IngressSpec, error) {
	in := stable.Spec.DeepCopy()
	out := networkingv1.IngressSpec{IngressClassName: in.IngressClassName, TLS: in.TLS}
	found := false
	swap := func(b *networkingv1.IngressBackend) bool {
		if b == nil || b.Service == nil || b.Service.Name != stableService {
			return false
		}
		b.Service.Name = canaryService
		found = true
		return true
	}
	if in.DefaultBackend != nil && swap(in.DefaultBackend) {
		out.DefaultBackend = in.DefaultBackend
	}
	for _, rule := range in.Rules {
		if rule.HTTP == nil {
			continue
		}
		var paths []networkingv1.HTTPIngressPath
		for _, p := range rule.HTTP.Paths {
			if swap(&p.Backend) {
				paths = append(paths, p)
			}
		}
		if len(paths) > 0 {
			rule.HTTP.Paths = paths
			out.Rules = append(out.Rules, rule)
		}
	}
	if !found {
		return out, fmt.Errorf("Ingress %s has no backend for the stable Service %s", stable.Name, stableService)
	}
	return out, nil
}

func equalSpec(a, b networkingv1.IngressSpec) bool {
	return equality.Semantic.DeepEqual(a, b)
}
