// Package routers knows every traffic router Vireo has: it builds the ones a
// rollout configures and says, field by field, what they cannot do.
package routers

import (
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/trafficrouting"
	"github.com/vireo-dev/vireo/internal/trafficrouting/alb"
	"github.com/vireo-dev/vireo/internal/trafficrouting/ambassador"
	"github.com/vireo-dev/vireo/internal/trafficrouting/apisix"
	"github.com/vireo-dev/vireo/internal/trafficrouting/gatewayapi"
	"github.com/vireo-dev/vireo/internal/trafficrouting/istio"
	"github.com/vireo-dev/vireo/internal/trafficrouting/nginx"
	"github.com/vireo-dev/vireo/internal/trafficrouting/smi"
	"github.com/vireo-dev/vireo/internal/trafficrouting/traefik"
)

// can is what kinds of managed routes a router expresses, and whether it
// splits traffic over more Services than two (an experiment's).
type can struct{ header, mirror, split bool }

// configured is one router a rollout configures.
type configured struct {
	name  string // the field under trafficRouting, or the plugin's key
	can   can
	build func(c client.Client, ro *v1alpha1.Rollout) (trafficrouting.Router, error)
	// check reports what is wrong with its configuration.
	check func(ro *v1alpha1.Rollout) field.ErrorList
	// header, when set, says why the router cannot express a header route.
	header func(*v1alpha1.SetHeaderRoute) error
	// mirror, when set, says why the router cannot express a mirror route.
	mirror func(*v1alpha1.SetMirrorRoute) error
}

func trafficPath() *field.Path {
	return field.NewPath("spec", "strategy", "canary", "trafficRouting")
}

// list finds the routers a rollout configures, in a fixed order.
func list(ro *v1alpha1.Rollout) ([]configured, field.ErrorList) {
	c := ro.Spec.Strategy.Canary
	if c == nil || c.TrafficRouting == nil {
		return nil, nil
	}
	tr := c.TrafficRouting
	p := trafficPath()
	var out []configured
	var errs field.ErrorList
	if tr.Nginx != nil {
		out = append(out, configured{name: "nginx", can: can{header: true},
			build: func(cl client.Client, ro *v1alpha1.Rollout) (trafficrouting.Router, error) {
				return nginx.Router{Client: cl, Rollout: ro}, nil
			},
			check: func(ro *v1alpha1.Rollout) field.ErrorList {
				if len(nginx.StableIngresses(tr.Nginx)) == 0 {
					return field.ErrorList{field.Required(p.Child("nginx", "stableIngress"), "the Ingress the canary Ingress is built from")}
				}
				return nil
			},
			header: nginx.ValidateHeaderRoute})
	}
	for _, name := range sortedPlugins(tr.Plugins) {
		pp := p.Child("plugins").Key(name)
		if name != gatewayapi.PluginName {
			errs = append(errs, field.NotSupported(pp, name, []string{gatewayapi.PluginName}))
			continue
		}
		out = append(out, configured{name: name, can: can{header: true, mirror: true},
			build: func(cl client.Client, ro *v1alpha1.Rollout) (trafficrouting.Router, error) {
				cfg, _, err := gatewayapi.ConfigOf(ro)
				if err != nil {
					return nil, err
				}
				return gatewayapi.Router{Client: cl, Rollout: ro, Config: cfg}, nil
			},
			check: func(ro *v1alpha1.Rollout) field.ErrorList {
				if _, _, err := gatewayapi.ConfigOf(ro); err != nil {
					return field.ErrorList{field.Invalid(pp, "", err.Error())}
				}
				return nil
			}})
	}
	if tr.SMI != nil {
		out = append(out, configured{name: "smi",
			build: func(cl client.Client, ro *v1alpha1.Rollout) (trafficrouting.Router, error) {
				return smi.Router{Client: cl, Rollout: ro}, nil
			},
			check: func(*v1alpha1.Rollout) field.ErrorList { return nil }})
	}
	if tr.Istio != nil {
		ip := p.Child("istio")
		out = append(out, configured{name: "istio", can: can{header: true, mirror: true},
			build: func(cl client.Client, ro *v1alpha1.Rollout) (trafficrouting.Router, error) {
				return istio.Router{Client: cl, Rollout: ro}, nil
			},
			check: func(*v1alpha1.Rollout) field.ErrorList {
				var errs field.ErrorList
				vss := istio.VirtualServices(tr.Istio)
				if len(vss) == 0 {
					errs = append(errs, field.Required(ip.Child("virtualService"), "the VirtualService whose routes carry the weights"))
				}
				for i, vs := range vss {
					if vs.Name == "" {
						errs = append(errs, field.Required(ip.Child("virtualServices").Index(i).Child("name"), ""))
					}
				}
				if dr := tr.Istio.DestinationRule; dr != nil {
					for _, f := range []struct{ name, value string }{{"name", dr.Name}, {"stableSubsetName", dr.StableSubsetName}, {"canarySubsetName", dr.CanarySubsetName}} {
						if f.value == "" {
							errs = append(errs, field.Required(ip.Child("destinationRule", f.name), ""))
						}
					}
				}
				return errs
			}})
	}
	if tr.Traefik != nil {
		out = append(out, configured{name: "traefik", can: can{split: true},
			build: func(cl client.Client, ro *v1alpha1.Rollout) (trafficrouting.Router, error) {
				return traefik.Router{Client: cl, Rollout: ro}, nil
			},
			check: func(*v1alpha1.Rollout) field.ErrorList {
				if tr.Traefik.WeightedTraefikServiceName == "" {
					return field.ErrorList{field.Required(p.Child("traefik", "weightedTraefikServiceName"), "the weighted TraefikService listing the stable and canary Services")}
				}
				return nil
			}})
	}
	if tr.ALB != nil {
		ap := p.Child("alb")
		out = append(out, configured{name: "alb", can: can{header: true},
			build: func(cl client.Client, ro *v1alpha1.Rollout) (trafficrouting.Router, error) {
				return alb.Router{Client: cl, Rollout: ro}, nil
			},
			check: func(*v1alpha1.Rollout) field.ErrorList {
				var errs field.ErrorList
				if len(alb.Ingresses(tr.ALB)) == 0 {
					errs = append(errs, field.Required(ap.Child("ingress"), "the Ingress that carries the action annotations"))
				}
				if tr.ALB.ServicePort <= 0 {
					errs = append(errs, field.Invalid(ap.Child("servicePort"), tr.ALB.ServicePort, "the Services' port, which the load balancer forwards to"))
				}
				return errs
			},
			header: alb.ValidateHeaderRoute})
	}
	if tr.Ambassador != nil {
		out = append(out, configured{name: "ambassador", can: can{header: true, mirror: true},
			build: func(cl client.Client, ro *v1alpha1.Rollout) (trafficrouting.Router, error) {
				return ambassador.Router{Client: cl, Rollout: ro}, nil
			},
			check: func(ro *v1alpha1.Rollout) field.ErrorList {
				var errs field.ErrorList
				if len(tr.Ambassador.Mappings) == 0 {
					errs = append(errs, field.Required(p.Child("ambassador", "mappings"), "the Mappings the canary Mappings are copied from"))
				}
				for i, m := range tr.ManagedRoutes {
					if m.Name == "canary" {
						errs = append(errs, field.Invalid(p.Child("managedRoutes").Index(i).Child("name"), m.Name, "the ambassador router names its canary Mappings <mapping>-canary; choose another name"))
					}
				}
				return errs
			},
			header: ambassador.ValidateHeaderRoute,
			mirror: ambassador.ValidateMirrorRoute})
	}
	if tr.Apisix != nil {
		out = append(out, configured{name: "apisix", can: can{header: true},
			build: func(cl client.Client, ro *v1alpha1.Rollout) (trafficrouting.Router, error) {
				return apisix.Router{Client: cl, Rollout: ro}, nil
			},
			check: func(*v1alpha1.Rollout) field.ErrorList {
				if tr.Apisix.Route == nil || tr.Apisix.Route.Name == "" {
					return field.ErrorList{field.Required(p.Child("apisix", "route", "name"), "the ApisixRoute whose backends carry the weights")}
				}
				return nil
			},
			header: apisix.ValidateHeaderRoute})
	}
	if tr.AppMesh != nil {
		errs = append(errs, field.Forbidden(p.Child("appMesh"), "AWS App Mesh is not supported by this version of Vireo"))
	}
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, field.Required(p, "configure a router: nginx, alb, ambassador, apisix, istio, smi, traefik, or plugins."+gatewayapi.PluginName))
	}
	return out, errs
}

func sortedPlugins[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Check reports what the rollout's routers cannot do, by field: a
// configuration they cannot read, a router Vireo does not have, a header or
// mirror route step that a configured router cannot express.
func Check(ro *v1alpha1.Rollout) field.ErrorList {
	rs, errs := list(ro)
	for _, r := range rs {
		errs = append(errs, r.check(ro)...)
		for i, s := range ro.Spec.Strategy.Canary.Steps {
			sp := field.NewPath("spec", "strategy", "canary", "steps").Index(i)
			if s.SetHeaderRoute != nil && !r.can.header {
				errs = append(errs, field.Forbidden(sp.Child("setHeaderRoute"), fmt.Sprintf("the %s router cannot send requests to the canary by header", r.name)))
			}
			if s.SetHeaderRoute != nil && r.can.header && r.header != nil {
				if err := r.header(s.SetHeaderRoute); err != nil {
					errs = append(errs, field.Invalid(sp.Child("setHeaderRoute"), s.SetHeaderRoute.Name, err.Error()))
				}
			}
			if e := s.Experiment; e != nil && !r.can.split {
				for j, t := range e.Templates {
					if t.Weight != nil {
						errs = append(errs, field.Forbidden(sp.Child("experiment", "templates").Index(j).Child("weight"),
							fmt.Sprintf("the %s router cannot send a share of the traffic to an experiment's Service (the traefik router can)", r.name)))
					}
				}
			}
			if s.SetMirrorRoute != nil && !r.can.mirror {
				errs = append(errs, field.Forbidden(sp.Child("setMirrorRoute"), fmt.Sprintf("the %s router cannot mirror requests to the canary", r.name)))
			}
			if s.SetMirrorRoute != nil && r.can.mirror && r.mirror != nil {
				if err := r.mirror(s.SetMirrorRoute); err != nil {
					errs = append(errs, field.Invalid(sp.Child("setMirrorRoute"), s.SetMirrorRoute.Name, err.Error()))
				}
			}
		}
	}
	return errs
}

// New builds the routers a rollout configures. c serves every read and write;
// give it one that reads from the API server, so that what a router compares
// against is what is there.
func New(c client.Client, ro *v1alpha1.Rollout) ([]trafficrouting.Router, error) {
	rs, errs := list(ro)
	if len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	out := make([]trafficrouting.Router, 0, len(rs))
	for _, r := range rs {
		router, err := r.build(c, ro)
		if err != nil {
			return nil, err
		}
		out = append(out, router)
	}
	return out, nil
}
