package rollout

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/reasons"
	planner "github.com/vireo-dev/vireo/internal/rollout"
	"github.com/vireo-dev/vireo/internal/trafficrouting"
	"github.com/vireo-dev/vireo/internal/trafficrouting/routers"
)

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

// setRouters has every router of the rollout hold the plan's traffic; a
// router writes only what differs from what its objects hold (read from
// the API server, not the cache).
func (r *Reconciler) setRouters(ctx context.Context, ro *v1alpha1.Rollout, t *planner.Traffic, status *v1alpha1.RolloutStatus) error {
	// Routers read the pod-template hashes to send to (Istio's subsets)
	// from the status as planned.
	planned := ro.DeepCopy()
	planned.Status = *status.DeepCopy()
	list, err := routers.New(apiReads{Client: r.Client, reader: r.APIReader}, planned)
	if err != nil {
		return r.trafficFailed(ro, err)
	}
	managed := len(ro.Spec.Strategy.Canary.TrafficRouting.ManagedRoutes) > 0
	for _, router := range list {
		if err := setTraffic(ctx, router, t, managed); err != nil {
			return r.trafficFailed(ro, fmt.Errorf("%s router: %w", router.Type(), err))
		}
	}
	return nil
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

// trafficFailed reports a router's error on the Rollout and returns it, so
// that the pass is retried with backoff; nothing is scaled meanwhile.
func (r *Reconciler) trafficFailed(ro *v1alpha1.Rollout, err error) error {
	r.Recorder.Event(ro, corev1.EventTypeWarning, reasons.TrafficRoutingError, err.Error())
	return errors.Join(fmt.Errorf("traffic routing of rollout %s", klog.KObj(ro)), err)
}
