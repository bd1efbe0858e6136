// Package trafficshare holds what the rollout planner and the traffic routers both
// speak of, traffic shares, with no client in it: the planner decides weights
// and the routers write them.
package trafficshare

import "github.com/vireo-dev/vireo/api/v1alpha1"

// Destination is a Service that takes a share of the traffic beside the
// canary and the stable: the Service of an experiment's template.
type Destination struct {
	Service string `json:"service"`
	Weight  int32  `json:"weight"`
}

// Max is the rollout's total traffic weight: trafficRouting.maxTrafficWeight,
// 100 unless set.
func Max(ro *v1alpha1.Rollout) int32 {
	if c := ro.Spec.Strategy.Canary; c != nil && c.TrafficRouting != nil && c.TrafficRouting.MaxTrafficWeight != nil {
		return *c.TrafficRouting.MaxTrafficWeight
	}
	return 100
}
