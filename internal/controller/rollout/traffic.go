package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/reasons"
	planner "github.com/vireo-dev/vireo/internal/rollout"
	"github.com/vireo-dev/vireo/internal/trafficrouting"
	"github.com/vireo-dev/vireo/internal/trafficrouting/routers"
)

// trafficRefresh is how long the routers are trusted to still hold what was
// set: after it, a pass writes them again (cheaply: a router writes only what
// differs), so that an edit by hand is undone.
const trafficRefresh = time.Minute

// applied is what the routers of one rollout were last given.
type applied struct {
	fingerprint string
	at          time.Time
}

// apiReads is a client whose reads go to the API server, not the cache:
// routers compare against, and verify, what is really there.
type apiReads struct {
	client.Client
	reader client.Reader
}

func (c apiReads) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return c.reader.Get(ctx, key, obj, opts...)
}

func (c apiReads) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return c.reader.List(ctx, list, opts...)
}

// applyTraffic gives every router of the rollout the plan's weight and
// managed routes, then records in status.canary.weights that they hold them.
// The caller runs it after the Services and before any scaling.
func (r *Reconciler) applyTraffic(ctx context.Context, ro *v1alpha1.Rollout, plan *planner.Plan, before *v1alpha1.TrafficWeights) error {
	t := plan.Traffic
	if t == nil {
		return nil
	}
	key := types.NamespacedName{Namespace: ro.Namespace, Name: ro.Name}
	fp := fingerprint(t)
	w := plan.Status.Canary.Weights
	verified := w != nil && w.Verified != nil && *w.Verified
	if verified && r.recentlyApplied(key, fp) {
		return nil
	}
	held, err := r.setRouters(ctx, ro, plan, before)
	if err != nil {
		return err
	}
	if w == nil || (w.Verified != nil && *w.Verified == held) {
		return nil
	}
	return r.markVerified(ctx, ro, held)
}

// trafficFirst sets the routers before the status is written when the
// planner says so (Traffic.First: a retreat), and the status write then
// records them verified, in one write. When the routers already hold the
// plan's traffic (this process set it moments ago), the status records that
// too. It reports whether the traffic is done with for this pass.
func (r *Reconciler) trafficFirst(ctx context.Context, ro *v1alpha1.Rollout, plan *planner.Plan, services map[string]*corev1.Service) (bool, error) {
	t, w, before := plan.Traffic, plan.Status.Canary.Weights, ro.Status.Canary.Weights
	if t == nil || w == nil {
		return false, nil
	}
	key := types.NamespacedName{Namespace: ro.Namespace, Name: ro.Name}
	if r.recentlyApplied(key, fingerprint(t)) {
		w.Verified = ptr.To(true)
		return true, nil
	}
	if !t.First {
		return false, nil
	}
	if err := r.pointServices(ctx, ro, plan, services); err != nil {
		return false, err
	}
	held, err := r.setRouters(ctx, ro, plan, before)
	if err != nil {
		return false, err
	}
	w.Verified = ptr.To(held)
	return true, nil
}

// setRouters gives every router the traffic and reports whether they all
// hold it.
func (r *Reconciler) setRouters(ctx context.Context, ro *v1alpha1.Rollout, plan *planner.Plan, before *v1alpha1.TrafficWeights) (bool, error) {
	key := types.NamespacedName{Namespace: ro.Namespace, Name: ro.Name}
	t := plan.Traffic
	// Routers read the pod-template hashes to send to (Istio's subsets)
	// from the status as planned.
	planned := ro.DeepCopy()
	planned.Status = *plan.Status.DeepCopy()
	list, err := routers.New(apiReads{Client: r.Client, reader: r.APIReader}, planned)
	if err != nil {
		return false, r.trafficFailed(ro, err)
	}
	managed := len(ro.Spec.Strategy.Canary.TrafficRouting.ManagedRoutes) > 0
	for _, router := range list {
		if err := setTraffic(ctx, router, t, managed); err != nil {
			return false, r.trafficFailed(ro, fmt.Errorf("%s router: %w", router.Type(), err))
		}
	}
	// A write the API server accepted is what it holds. The first time this
	// process sets a rollout's routers (after a restart, say), their objects
	// are read back as well, which catches a router object that something
	// else keeps changing.
	held := true
	for _, router := range list {
		if r.hasApplied(key) {
			break
		}
		ok, err := router.VerifyWeight(ctx, t.Weight)
		if err != nil {
			return false, r.trafficFailed(ro, fmt.Errorf("%s router: verifying weight %d: %w", router.Type(), t.Weight, err))
		}
		held = held && ok
	}
	r.rememberApplied(key, fingerprint(t))
	if before == nil || before.Canary.Weight != t.Weight {
		from := int32(0)
		if before != nil {
			from = before.Canary.Weight
		}
		r.Recorder.Eventf(ro, corev1.EventTypeNormal, reasons.TrafficWeightUpdated, "Traffic weight updated from %d to %d (of %d)", from, t.Weight, t.MaxWeight)
	}
	return held, nil
}

// setTraffic gives one router the weight (and an experiment's Services
// theirs, when it can split further) and, when the rollout has managed
// routes, the routes.
func setTraffic(ctx context.Context, router trafficrouting.Router, t *planner.Traffic, managed bool) error {
	if s, ok := router.(trafficrouting.Splitter); ok {
		if err := s.SetWeights(ctx, t.Weight, t.Additional); err != nil {
			return fmt.Errorf("setting weight %d and %d more: %w", t.Weight, len(t.Additional), err)
		}
	} else if err := router.SetWeight(ctx, t.Weight); err != nil {
		return fmt.Errorf("setting weight %d: %w", t.Weight, err)
	}
	if !managed {
		return nil
	}
	if !t.AnyRoute() {
		if err := router.RemoveManagedRoutes(ctx); err != nil {
			return fmt.Errorf("removing managed routes: %w", err)
		}
		return nil
	}
	for _, route := range t.Routes {
		var err error
		switch {
		case route.Header != nil:
			err = router.SetHeaderRoute(ctx, route.Header)
		case route.Mirror != nil:
			err = router.SetMirrorRoute(ctx, route.Mirror)
		}
		if err != nil {
			return fmt.Errorf("managed route %s: %w", routeName(route), err)
		}
	}
	return nil
}

func routeName(r planner.ManagedRoute) string {
	if r.Header != nil {
		return r.Header.Name
	}
	return r.Mirror.Name
}

// markVerified records whether the routers hold the weights, conditional on
// the Rollout as this pass wrote it: weights decided since are not marked.
func (r *Reconciler) markVerified(ctx context.Context, ro *v1alpha1.Rollout, held bool) error {
	before := ro.DeepCopy()
	ro.Status.Canary.Weights.Verified = ptr.To(held)
	if err := r.Client.Status().Patch(ctx, ro, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsConflict(err) {
			return nil // a newer pass decides again
		}
		return fmt.Errorf("recording verified traffic weights of rollout %s: %w", klog.KObj(ro), err)
	}
	r.wrote(ro.UID, before.ResourceVersion)
	if !held {
		log.FromContext(ctx).Info("routers do not hold the weight yet", "rollout", klog.KObj(ro), "weight", ro.Status.Canary.Weights.Canary.Weight)
	}
	return nil
}

// trafficFailed reports a router's error on the Rollout and returns it, so
// that the pass is retried with backoff; nothing is scaled meanwhile.
func (r *Reconciler) trafficFailed(ro *v1alpha1.Rollout, err error) error {
	r.Recorder.Event(ro, corev1.EventTypeWarning, reasons.TrafficRoutingError, err.Error())
	r.forgetApplied(types.NamespacedName{Namespace: ro.Namespace, Name: ro.Name})
	return errors.Join(fmt.Errorf("traffic routing of rollout %s", klog.KObj(ro)), err)
}

func fingerprint(t *planner.Traffic) string {
	data, _ := json.Marshal(t)
	return string(data)
}

func (r *Reconciler) recentlyApplied(key types.NamespacedName, fp string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.traffic[key]
	return ok && a.fingerprint == fp && r.Clock.Since(a.at) < trafficRefresh
}

func (r *Reconciler) hasApplied(key types.NamespacedName) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.traffic[key]
	return ok
}

func (r *Reconciler) rememberApplied(key types.NamespacedName, fp string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.traffic == nil {
		r.traffic = map[types.NamespacedName]applied{}
	}
	r.traffic[key] = applied{fingerprint: fp, at: r.Clock.Now()}
}

func (r *Reconciler) forgetApplied(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.traffic, key)
}
