package rollout

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/reasons"
	"github.com/vireo-dev/vireo/internal/trafficrouting/trafficshare"
)

// A canary with spec.strategy.canary.trafficRouting moves traffic with its
// routers' weights rather than with pod counts. The planner keeps two rules,
// so that no request is sent to a pod that is not there:
//
//   - a weight rises only once the canary's pods for it are available;
//   - a pod goes away only once status.canary.weights, as verified by the
//     routers on an earlier pass, sends it nothing (or, after a promotion or
//     an abort, once its scale-down deadline has passed).
//
// status.canary.weights is the memory of what the routers hold, and the
// planner alone decides what it says. Every pass of a routed canary has the
// routers hold the plan's traffic (a router writes only what differs, so
// this also undoes an edit by hand). A change that sends the canary more
// (a higher weight, a new destination, a new route) is recorded first, with
// verified false, and set on the routers after; the next pass, finding the
// same weights, sets the routers before its status write, and records them
// verified in it. Anything else (the same weights, a retreat) goes to the
// routers first and is recorded verified at once. So the status never
// claims less traffic to the canary than the routers may send it, and a
// controller that restarts reads it back and moves nothing until it knows.

// Traffic is what every router of a rollout should hold once the plan is
// applied.
type Traffic struct {
	// Weight is the canary Service's share, out of MaxWeight; the stable
	// Service has the rest.
	Weight, MaxWeight int32
	// Routes are the managed routes the steps name, in the order of
	// trafficRouting.managedRoutes; a route without match is to be removed.
	// When none has a match, the routers remove every managed route.
	Routes []ManagedRoute
	// Additional are the Services of a running experiment step's weighted
	// templates, each with its share; the stable Service's is then the
	// rest after the canary's and theirs.
	Additional []trafficshare.Destination `json:",omitempty"`
	// First says the routers are set before the status is written, which
	// then records the weights verified: the traffic sends the canary
	// nothing that status.canary.weights does not already record (the same
	// weights, or a retreat, an abort above all). Otherwise the status goes
	// first, unverified, and the routers after it.
	First bool `json:",omitempty"`
}

// ManagedRoute is one managed route: exactly one of Header and Mirror is set.
type ManagedRoute struct {
	Header *v1alpha1.SetHeaderRoute
	Mirror *v1alpha1.SetMirrorRoute
}

// Active reports whether the route sends anything to the canary.
func (r ManagedRoute) Active() bool {
	if r.Header != nil {
		return len(r.Header.Match) > 0
	}
	return r.Mirror != nil && len(r.Mirror.Match) > 0
}

// AnyRoute reports whether any managed route is in force.
func (t *Traffic) AnyRoute() bool {
	for _, r := range t.Routes {
		if r.Active() {
			return true
		}
	}
	return false
}

// Routed reports whether a rollout moves traffic through routers.
func Routed(ro *v1alpha1.Rollout) bool {
	c := ro.Spec.Strategy.Canary
	return c != nil && c.TrafficRouting != nil
}

// routing is what the planner knows of the routers as the pass starts: the
// weights the last pass recorded, and whether the routers were seen to hold them.
type routing struct {
	stored  *v1alpha1.TrafficWeights
	settled bool
}

func readRouting(st *v1alpha1.RolloutStatus, held bool) *routing {
	w := st.Canary.Weights
	if w == nil {
		return &routing{}
	}
	return &routing{stored: w.DeepCopy(), settled: held || w.Verified != nil && *w.Verified}
}

// sentTo is the canary weight the routers verifiably send to the pods of hash
// through the canary Service.
func (r *routing) sentTo(hash string) int32 {
	if !r.settled {
		return 0
	}
	return r.recorded(hash)
}

// recorded is the canary weight status.canary.weights gives the pods of hash
// through the canary Service, verified or not: a weight once recorded was
// decided with the pods for it available, so it may be held on to.
func (r *routing) recorded(hash string) int32 {
	if r.stored == nil || r.stored.Canary.PodTemplateHash != hash {
		return 0
	}
	return r.stored.Canary.Weight
}

// mayReceive reports whether the routers may still send the pods of hash any
// traffic: they do by the record, or the record is not verified yet.
func (r *routing) mayReceive(hash string) bool {
	if r.stored == nil {
		return false
	}
	w := r.stored
	named := w.Canary.PodTemplateHash == hash || w.Stable.PodTemplateHash == hash
	if !r.settled {
		return named
	}
	return (w.Canary.PodTemplateHash == hash && w.Canary.Weight > 0) || (w.Stable.PodTemplateHash == hash && w.Stable.Weight > 0)
}

// stepWeight is the canary weight the steps ask for now, out of maxWeight:
// none for a promoted or aborted rollout, all of it once the steps are done
// (the promotion itself then moves the stable Service to the new pods).
func stepWeight(ro *v1alpha1.Rollout, st *v1alpha1.RolloutStatus) int32 {
	steps := ro.Spec.Strategy.Canary.Steps
	switch {
	case st.Abort, st.CurrentPodHash == st.StableRS:
		return 0
	case st.PromoteFull, st.CurrentStepIndex == nil && len(steps) == 0:
		return trafficshare.Max(ro)
	case st.CurrentStepIndex != nil && int(*st.CurrentStepIndex) >= len(steps):
		return trafficshare.Max(ro)
	}
	var w int32
	for i := 0; st.CurrentStepIndex != nil && i <= int(*st.CurrentStepIndex); i++ {
		if s := steps[i].SetWeight; s != nil {
			w = *s
		}
	}
	return w
}

// share is the number of replicas that carries weight out of total: rounded
// up, so any weight gets a pod.
func share(replicas, weight, total int32) int32 {
	if weight <= 0 || replicas <= 0 {
		return 0
	}
	if weight >= total {
		return replicas
	}
	return int32(math.Ceil(float64(replicas) * float64(weight) / float64(total)))
}

// withMinPods raises a ReplicaSet that carries traffic to minPodsPerReplicaSet.
func withMinPods(ro *v1alpha1.Rollout, n int32, carries bool) int32 {
	c := ro.Spec.Strategy.Canary
	if !carries || c.MinPodsPerReplicaSet == nil {
		return n
	}
	return max(n, min(*c.MinPodsPerReplicaSet, desiredReplicas(ro)))
}

// canaryScale is the canary's size for a weight: its share of the replicas,
// unless a setCanaryScale step in force says otherwise.
func canaryScale(ro *v1alpha1.Rollout, st *v1alpha1.RolloutStatus, weight int32) int32 {
	replicas := desiredReplicas(ro)
	steps := ro.Spec.Strategy.Canary.Steps
	n := share(replicas, weight, trafficshare.Max(ro))
	if st.CurrentStepIndex != nil && int(*st.CurrentStepIndex) < len(steps) && !st.PromoteFull {
		var scale *v1alpha1.SetCanaryScale
		for i := 0; i <= int(*st.CurrentStepIndex); i++ {
			if s := steps[i].SetCanaryScale; s != nil {
				scale = s
			}
		}
		switch {
		case scale == nil || scale.MatchTrafficWeight:
		case scale.Replicas != nil:
			return min(*scale.Replicas, replicas)
		case scale.Weight != nil:
			return share(replicas, *scale.Weight, 100)
		}
	}
	if n == 0 && routesNeedPods(ro, st) {
		n = 1 // a header or mirror route sends requests to the canary
	}
	return withMinPods(ro, n, n > 0)
}

// routesNeedPods reports whether a header or mirror route is, or is about to
// be, in force: set by the current step or one before it.
func routesNeedPods(ro *v1alpha1.Rollout, st *v1alpha1.RolloutStatus) bool {
	if st.CurrentStepIndex == nil || ro.Spec.Strategy.Canary.TrafficRouting == nil {
		return false
	}
	next := *st.DeepCopy()
	next.CurrentStepIndex = ptr.To(*st.CurrentStepIndex + 1)
	for _, r := range routesInForce(ro, &next) {
		if r.Active() {
			return true
		}
	}
	return false
}

// stableScale is the stable ReplicaSet's size while the canary has weight:
// all the replicas, or with dynamicStableScale its share of them.
func stableScale(ro *v1alpha1.Rollout, canaryWeight int32) int32 {
	replicas := desiredReplicas(ro)
	if !ro.Spec.Strategy.Canary.DynamicStableScale {
		return replicas
	}
	total := trafficshare.Max(ro)
	return withMinPods(ro, share(replicas, total-canaryWeight, total), canaryWeight < total)
}

// planTraffic decides the weight the routers get, the Services' selectors and
// status.canary.weights, once the steps have been walked.
func planTraffic(plan *Plan, ro *v1alpha1.Rollout, sets *replicaSets, newRS *appsv1.ReplicaSet, hash string) {
	st := &plan.Status
	c := ro.Spec.Strategy.Canary
	r := plan.routing
	total := trafficshare.Max(ro)

	// The canary Service follows the new pods, or the stable ones on abort,
	// but leaves pods it sends traffic to only once their weight is 0, and
	// moves to new pods only once they all serve: a Service without ready
	// endpoints makes proxies such as Traefik drop the whole weighted route,
	// stable share included, even at weight 0.
	want := hash
	if st.Abort {
		want = st.StableRS
	}
	svcHash := want
	newReady := newRS != nil && specReplicas(newRS) > 0 && available(newRS, specReplicas(newRS))
	switch {
	case r.stored != nil && r.stored.Canary.PodTemplateHash != "" && r.stored.Canary.PodTemplateHash != want &&
		(!r.settled || r.stored.Canary.Weight > 0):
		svcHash = r.stored.Canary.PodTemplateHash
	case want == hash && !newReady && st.StableRS != "" && (r.stored == nil || r.stored.Canary.PodTemplateHash != hash):
		svcHash = st.StableRS // the stable pods serve meanwhile, at weight 0
	}

	target := stepWeight(ro, st)
	held := r.recorded(svcHash)
	var w int32
	switch {
	case svcHash != hash || st.Abort:
		// The canary Service points at pods it is leaving (a newer template,
		// a rollback) or the rollout is aborted: back to stable at once;
		// with dynamicStableScale, as fast as the stable pods come back.
		if c.DynamicStableScale {
			w = min(held, dynamicAbortWeight(ro, sets.byHash(st.StableRS)))
		}
	case target > held && newRS.Status.AvailableReplicas < canaryScale(ro, st, target):
		w = held // the pods first, then the traffic
	case target < held && c.DynamicStableScale:
		// The stable pods first, then the traffic back to them.
		w = max(target, min(held, dynamicAbortWeight(ro, sets.byHash(st.StableRS))))
	default:
		w = target
	}

	extra, additional := experimentTraffic(plan, ro)
	stable := total - w
	for _, d := range extra {
		stable -= d.Weight
	}
	next := &v1alpha1.TrafficWeights{
		Canary:     v1alpha1.WeightDestination{Weight: w, ServiceName: c.CanaryService, PodTemplateHash: svcHash},
		Stable:     v1alpha1.WeightDestination{Weight: max(stable, 0), ServiceName: c.StableService, PodTemplateHash: st.StableRS},
		Additional: additional,
	}
	st.Canary.Weights = next
	plan.Traffic = &Traffic{Weight: w, MaxWeight: total, Routes: routesInForce(ro, st), Additional: extra}
	if sendsMore(r.stored, next, routesInForce(ro, &ro.Status), plan.Traffic.Routes) {
		next.Verified = ptr.To(false)
		plan.requeue(verifyRetry)
	} else {
		plan.Traffic.First = true
		next.Verified = ptr.To(true)
	}
	if msg, changed := weightsChanged(r.stored, next); changed {
		plan.event(corev1.EventTypeNormal, reasons.TrafficWeightUpdated, "Traffic weight updated %s", msg)
	}
	plan.Services[c.CanaryService] = svcHash
	plan.Services[c.StableService] = st.StableRS
}

// weightsChanged reports whether next differs from the recorded weights
// (verified aside) and, as Argo words it, how: "to W" the first time, "from
// A to B" for the canary, and the experiment Services' shares when they
// changed.
func weightsChanged(before, next *v1alpha1.TrafficWeights) (string, bool) {
	if before == nil {
		return fmt.Sprintf("to %d", next.Canary.Weight), true
	}
	if before.Canary == next.Canary && before.Stable == next.Stable && equality.Semantic.DeepEqual(before.Additional, next.Additional) {
		return "", false
	}
	var details []string
	if before.Canary.Weight != next.Canary.Weight {
		details = append(details, fmt.Sprintf("from %d to %d", before.Canary.Weight, next.Canary.Weight))
	}
	if !equality.Semantic.DeepEqual(before.Additional, next.Additional) {
		details = append(details, fmt.Sprintf("additional: %v", next.Additional))
	}
	return strings.Join(details, ", "), true
}

// verifyRetry is when a pass that recorded new weights unverified looks
// again, should no event bring it back sooner: the next pass sets the
// routers first and records them verified.
const verifyRetry = 2 * time.Second

// sendsMore reports whether the next weights or routes send the canary (or
// an experiment's Services) anything the recorded weights and the routes in
// force before do not: a higher weight, a destination not recorded, a route
// newly matching requests.
func sendsMore(before, next *v1alpha1.TrafficWeights, routesBefore, routes []ManagedRoute) bool {
	if before == nil || next.Canary.PodTemplateHash != before.Canary.PodTemplateHash && next.Canary.Weight > 0 ||
		next.Canary.Weight > before.Canary.Weight {
		return true
	}
	for _, d := range next.Additional {
		i := slices.IndexFunc(before.Additional, func(b v1alpha1.WeightDestination) bool {
			return b.ServiceName == d.ServiceName && b.PodTemplateHash == d.PodTemplateHash
		})
		if d.Weight > 0 && (i < 0 || d.Weight > before.Additional[i].Weight) {
			return true
		}
	}
	for _, r := range routes {
		if r.Active() && !slices.ContainsFunc(routesBefore, func(b ManagedRoute) bool { return equality.Semantic.DeepEqual(b, r) }) {
			return true
		}
	}
	return false
}

// dynamicAbortWeight is the weight the canary must keep, with
// dynamicStableScale, while the stable pods come back: what the available
// stable pods cannot carry yet.
func dynamicAbortWeight(ro *v1alpha1.Rollout, stable *appsv1.ReplicaSet) int32 {
	total, replicas := trafficshare.Max(ro), desiredReplicas(ro)
	if stable == nil || replicas == 0 {
		return 0
	}
	carried := int32(math.Floor(float64(total) * float64(stable.Status.AvailableReplicas) / float64(replicas)))
	return max(total-carried, 0)
}

// routesInForce lists the managed routes the steps name, each as the last
// completed step set it; none once the rollout is promoted or aborted.
func routesInForce(ro *v1alpha1.Rollout, st *v1alpha1.RolloutStatus) []ManagedRoute {
	c := ro.Spec.Strategy.Canary
	done := 0
	if st.CurrentStepIndex != nil && !st.Abort && st.CurrentPodHash != st.StableRS {
		done = int(*st.CurrentStepIndex)
	}
	var out []ManagedRoute
	for _, m := range c.TrafficRouting.ManagedRoutes {
		var route *ManagedRoute
		for i, s := range c.Steps {
			var r ManagedRoute
			switch {
			case s.SetHeaderRoute != nil && s.SetHeaderRoute.Name == m.Name:
				r.Header = &v1alpha1.SetHeaderRoute{Name: m.Name}
				if i < done {
					r.Header = s.SetHeaderRoute.DeepCopy()
				}
			case s.SetMirrorRoute != nil && s.SetMirrorRoute.Name == m.Name:
				r.Mirror = &v1alpha1.SetMirrorRoute{Name: m.Name}
				if i < done {
					r.Mirror = s.SetMirrorRoute.DeepCopy()
				}
			default:
				continue
			}
			// The first step naming the route gives its kind; the last
			// completed one, its state.
			if route == nil || i < done {
				route = &r
			}
		}
		if route != nil {
			out = append(out, *route)
		}
	}
	return out
}

// routedTargets is the replica count each ReplicaSet of a routed canary
// should have: the canary its scale for the weight it is getting, the stable
// one all the replicas (or its share, with dynamicStableScale), and the rest
// none, except while traffic may still reach them or a scale-down deadline
// keeps them.
func routedTargets(plan *Plan, ro *v1alpha1.Rollout, sets *replicaSets, newRS *appsv1.ReplicaSet, now metav1.Time) map[string]int32 {
	st := &plan.Status
	r := plan.routing
	replicas := desiredReplicas(ro)
	hash := newRS.Labels[PodTemplateHashLabel]
	stable := sets.byHash(st.StableRS)
	target := stepWeight(ro, st)
	targets := map[string]int32{}
	if stable == nil {
		stable = newRS // nothing else can serve
	}
	limit, kept := ro.Spec.Strategy.Canary.ScaleDownDelayRevisionLimit, int32(0)
	for _, rs := range sets.all { // newest first
		h := rs.Labels[PodTemplateHashLabel]
		if _, has := scaleDownDeadline(rs, plan); has && (rs == stable || rs == newRS && !st.Abort) {
			keepUntil(plan, rs, time.Time{}) // current or stable again: no longer on its way out
		}
		switch {
		case rs == stable && stable == newRS:
			targets[rs.Name] = replicas
		case rs == stable:
			sent := r.sentTo(hash)
			if st.Abort {
				sent = 0
			}
			n := max(stableScale(ro, sent), stableScale(ro, min(target, sent)))
			if !r.settled {
				n = max(n, specReplicas(rs))
			}
			targets[rs.Name] = n
		case rs == newRS && !st.Abort:
			n := canaryScale(ro, st, target)
			if stepsDone(ro, st) {
				n = replicas
			}
			if r.mayReceive(h) {
				n = max(n, canaryScale(ro, st, r.sentTo(h)))
				if !r.settled {
					n = max(n, specReplicas(rs))
				}
			}
			targets[rs.Name] = n
		case rs == newRS && st.Abort:
			targets[rs.Name] = abortedCanaryScale(plan, ro, rs, stable, now)
		case r.mayReceive(h):
			targets[rs.Name] = specReplicas(rs)
		case scaleDownPending(rs, plan, now) && (limit == nil || kept < *limit):
			// Waiting out scaleDownDelaySeconds: at most
			// scaleDownDelayRevisionLimit of them, the newest.
			kept++
			targets[rs.Name] = specReplicas(rs)
			if d, ok := scaleDownDeadline(rs, plan); ok && now.Time.Before(d) {
				plan.requeue(d.Sub(now.Time))
			}
		default:
			targets[rs.Name] = 0
			if _, has := scaleDownDeadline(rs, plan); has && specReplicas(rs) == 0 {
				keepUntil(plan, rs, time.Time{}) // scaled down: the deadline has served
			}
		}
	}
	return targets
}

// abortedCanaryScale is the aborted canary's size, as Argo keeps it:
//   - abortScaleDownDelaySeconds 0: all its pods, for good;
//   - dynamicStableScale with no abortScaleDownDelaySeconds: what its
//     weight needs (ceil(weight*replicas/total)) as the weight follows the
//     stable pods back, with no delay;
//   - otherwise all its pods until the stable ReplicaSet is fully
//     available; then the delay (default 30 s) starts, and once it has
//     passed, and no traffic may reach them, none.
func abortedCanaryScale(plan *Plan, ro *v1alpha1.Rollout, rs, stable *appsv1.ReplicaSet, now metav1.Time) int32 {
	c := ro.Spec.Strategy.Canary
	r := plan.routing
	h := rs.Labels[PodTemplateHashLabel]
	switch {
	case neverScaleDown(ro):
		return specReplicas(rs)
	case c.DynamicStableScale && c.AbortScaleDownDelaySeconds == nil:
		n := canaryScale(ro, &plan.Status, r.recorded(h))
		if !r.settled && r.mayReceive(h) {
			n = max(n, specReplicas(rs))
		}
		return min(n, specReplicas(rs))
	}
	if specReplicas(rs) == 0 {
		if _, has := scaleDownDeadline(rs, plan); has {
			keepUntil(plan, rs, time.Time{}) // done with
		}
		return 0
	}
	if _, has := scaleDownDeadline(rs, plan); !has {
		if stable != rs && available(stable, desiredReplicas(ro)) {
			retireAbortedCanary(plan, ro, rs, now)
		}
		return specReplicas(rs)
	}
	if scaleDownPending(rs, plan, now) {
		if d, ok := scaleDownDeadline(rs, plan); ok && now.Time.Before(d) {
			plan.requeue(d.Sub(now.Time))
		}
		return specReplicas(rs)
	}
	if r.mayReceive(h) {
		return specReplicas(rs)
	}
	return 0
}

// neverScaleDown: abortScaleDownDelaySeconds 0 leaves an aborted canary up.
func neverScaleDown(ro *v1alpha1.Rollout) bool {
	d := ro.Spec.Strategy.Canary.AbortScaleDownDelaySeconds
	return d != nil && *d == 0
}

// stepsDone reports whether the canary has no step left: all walked, or
// promoted in full.
func stepsDone(ro *v1alpha1.Rollout, st *v1alpha1.RolloutStatus) bool {
	n := len(ro.Spec.Strategy.Canary.Steps)
	return st.PromoteFull || n == 0 || (st.CurrentStepIndex != nil && int(*st.CurrentStepIndex) >= n)
}

// weightHeld reports whether the routers verifiably send weight to the pods of hash.
func (r *routing) weightHeld(hash string, weight int32) bool {
	return r.settled && r.stored != nil && r.stored.Canary.PodTemplateHash == hash && r.stored.Canary.Weight == weight
}

// routedStepDone reports whether a setWeight step of a routed canary is
// done: its pods are up and the routers hold its weight.
func routedStepDone(plan *Plan, ro *v1alpha1.Rollout, sets *replicaSets, newRS *appsv1.ReplicaSet, now metav1.Time) bool {
	st := &plan.Status
	w := stepWeight(ro, st)
	return atTargets(routedTargets(plan, ro, sets, newRS, now), sets) && plan.routing.weightHeld(newRS.Labels[PodTemplateHashLabel], w)
}

// promoteRouted makes the canary stable once all its pods are up and the
// routers send it all the traffic; the stable Service then moves to it
// before the weight drops. The old stable pods stay until
// scaleDownDelaySeconds (default 30) have passed, so that proxies that have
// not caught up yet still reach a pod.
func promoteRouted(plan *Plan, ro *v1alpha1.Rollout, sets *replicaSets, newRS *appsv1.ReplicaSet, hash string, now metav1.Time) bool {
	st := &plan.Status
	replicas := desiredReplicas(ro)
	if !available(newRS, replicas) || !plan.routing.weightHeld(hash, trafficshare.Max(ro)) {
		return false
	}
	if old := sets.byHash(st.StableRS); old != nil && old != newRS {
		if d := seconds32(ro.Spec.Strategy.Canary.ScaleDownDelaySeconds, defaultScaleDownDelaySeconds); d > 0 {
			keepUntil(plan, old, now.Add(d))
		}
	}
	st.StableRS = hash
	return true
}

// retireAbortedCanary sets the aborted canary's scale-down deadline,
// abortScaleDownDelaySeconds (default 30) from now.
func retireAbortedCanary(plan *Plan, ro *v1alpha1.Rollout, newRS *appsv1.ReplicaSet, now metav1.Time) {
	d := seconds32(ro.Spec.Strategy.Canary.AbortScaleDownDelaySeconds, defaultAbortScaleDownDelaySeconds)
	keepUntil(plan, newRS, now.Add(d))
	plan.event(corev1.EventTypeNormal, reasons.ScaleDownScheduled, "Canary ReplicaSet %s scales down in %s, once its traffic is gone", newRS.Name, d)
}
