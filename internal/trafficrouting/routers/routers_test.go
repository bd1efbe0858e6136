package routers

import (
	"strings"
	"testing"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

func rollout(tr *v1alpha1.RolloutTrafficRouting, steps ...v1alpha1.CanaryStep) *v1alpha1.Rollout {
	return &v1alpha1.Rollout{Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
		CanaryService: "c", StableService: "s", TrafficRouting: tr, Steps: steps}}}}
}

func messages(t *testing.T, ro *v1alpha1.Rollout) string {
	t.Helper()
	var out []string
	for _, e := range Check(ro) {
		out = append(out, e.Error())
	}
	return strings.Join(out, "\n")
}

func TestCheck(t *testing.T) {
	header := v1alpha1.CanaryStep{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "h",
		Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "X-Canary", HeaderValue: &v1alpha1.StringMatch{Prefix: "a"}}}}}
	mirror := v1alpha1.CanaryStep{SetMirrorRoute: &v1alpha1.SetMirrorRoute{Name: "m"}}
	for _, tc := range []struct {
		name string
		ro   *v1alpha1.Rollout
		want []string // each must appear; none when empty
	}{
		{"nginx and traefik together", rollout(&v1alpha1.RolloutTrafficRouting{
			Nginx: &v1alpha1.NginxTrafficRouting{StableIngress: "i"}, Traefik: &v1alpha1.TraefikTrafficRouting{WeightedTraefikServiceName: "w"}}), nil},
		{"header route on traefik, mirror on nginx", rollout(&v1alpha1.RolloutTrafficRouting{
			Nginx: &v1alpha1.NginxTrafficRouting{StableIngress: "i"}, Traefik: &v1alpha1.TraefikTrafficRouting{WeightedTraefikServiceName: "w"}}, header, mirror),
			[]string{
				"spec.strategy.canary.steps[0].setHeaderRoute: Invalid value: \"h\": nginx cannot match a header by prefix",
				"spec.strategy.canary.steps[1].setMirrorRoute: Forbidden: the nginx router cannot mirror",
				"spec.strategy.canary.steps[0].setHeaderRoute: Forbidden: the traefik router cannot send requests to the canary by header",
			}},
		{"missing names", rollout(&v1alpha1.RolloutTrafficRouting{Nginx: &v1alpha1.NginxTrafficRouting{}, Traefik: &v1alpha1.TraefikTrafficRouting{}}),
			[]string{"spec.strategy.canary.trafficRouting.nginx.stableIngress: Required value", "spec.strategy.canary.trafficRouting.traefik.weightedTraefikServiceName: Required value"}},
		{"no router", rollout(&v1alpha1.RolloutTrafficRouting{}), []string{"spec.strategy.canary.trafficRouting: Required value: configure a router"}},
		{"unknown plugin", rollout(&v1alpha1.RolloutTrafficRouting{Plugins: map[string]apiextv1.JSON{"acme/router": {Raw: []byte(`{}`)}}}),
			[]string{`spec.strategy.canary.trafficRouting.plugins[acme/router]: Unsupported value: "acme/router"`}},
		{"gateway API without a route", rollout(&v1alpha1.RolloutTrafficRouting{Plugins: map[string]apiextv1.JSON{"argoproj-labs/gatewayAPI": {Raw: []byte(`{"namespace":"x"}`)}}}),
			[]string{`plugins[argoproj-labs/gatewayAPI]: Invalid value`, "name an httpRoute(s) or grpcRoute(s)"}},
		{"app mesh", rollout(&v1alpha1.RolloutTrafficRouting{AppMesh: &v1alpha1.AppMeshTrafficRouting{}}),
			[]string{"spec.strategy.canary.trafficRouting.appMesh: Forbidden: not supported yet"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := messages(t, tc.ro)
			if len(tc.want) == 0 && got != "" {
				t.Errorf("unexpected errors:\n%s", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
		})
	}
}
