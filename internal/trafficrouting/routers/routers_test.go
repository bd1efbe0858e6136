package routers

import (
	"strings"
	"testing"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/utils/ptr"

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
		{"alb: header by prefix is fine, mirror is not, the port is needed", rollout(&v1alpha1.RolloutTrafficRouting{
			ALB: &v1alpha1.ALBTrafficRouting{Ingress: "web"}}, header, mirror),
			[]string{
				"spec.strategy.canary.trafficRouting.alb.servicePort: Invalid value: 0",
				"spec.strategy.canary.steps[1].setMirrorRoute: Forbidden: the alb router cannot mirror",
			}},
		{"alb: header by regex", rollout(&v1alpha1.RolloutTrafficRouting{ALB: &v1alpha1.ALBTrafficRouting{Ingresses: []string{"web"}, ServicePort: 80}},
			v1alpha1.CanaryStep{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "h", Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "X", HeaderValue: &v1alpha1.StringMatch{Regex: "a.*"}}}}}),
			[]string{`spec.strategy.canary.steps[0].setHeaderRoute: Invalid value: "h": match[0].headerValue: ALB cannot match a header by regular expression`}},
		{"ambassador and apisix: names, mirror on apisix, a managed route named canary", rollout(&v1alpha1.RolloutTrafficRouting{
			Ambassador: &v1alpha1.AmbassadorTrafficRouting{}, Apisix: &v1alpha1.ApisixTrafficRouting{},
			ManagedRoutes: []v1alpha1.MangedRoutes{{Name: "canary"}}}, mirror),
			[]string{
				"spec.strategy.canary.trafficRouting.ambassador.mappings: Required value",
				`spec.strategy.canary.trafficRouting.managedRoutes[0].name: Invalid value: "canary"`,
				"spec.strategy.canary.trafficRouting.apisix.route.name: Required value",
				"spec.strategy.canary.steps[0].setMirrorRoute: Forbidden: the apisix router cannot mirror",
			}},
		{"ambassador: two mirror matches", rollout(&v1alpha1.RolloutTrafficRouting{Ambassador: &v1alpha1.AmbassadorTrafficRouting{Mappings: []string{"m"}}},
			v1alpha1.CanaryStep{SetMirrorRoute: &v1alpha1.SetMirrorRoute{Name: "m", Match: []v1alpha1.RouteMatch{{}, {}}}}),
			[]string{`spec.strategy.canary.steps[0].setMirrorRoute: Invalid value: "m": ambassador mirrors one match per route; the route has 2`}},
		{"weighted experiment: traefik splits, nginx cannot", rollout(&v1alpha1.RolloutTrafficRouting{
			Nginx: &v1alpha1.NginxTrafficRouting{StableIngress: "i"}, Traefik: &v1alpha1.TraefikTrafficRouting{WeightedTraefikServiceName: "w"}},
			v1alpha1.CanaryStep{Experiment: &v1alpha1.RolloutExperimentStep{Templates: []v1alpha1.RolloutExperimentTemplate{
				{Name: "a", SpecRef: v1alpha1.StableSpecRef}, {Name: "b", SpecRef: v1alpha1.CanarySpecRef, Weight: ptr.To[int32](5)}}}}),
			[]string{"spec.strategy.canary.steps[0].experiment.templates[1].weight: Forbidden: the nginx router cannot send a share of the traffic to an experiment's Service"}},
		{"app mesh", rollout(&v1alpha1.RolloutTrafficRouting{AppMesh: &v1alpha1.AppMeshTrafficRouting{}}),
			[]string{"spec.strategy.canary.trafficRouting.appMesh: Forbidden: AWS App Mesh is not supported"}},
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
