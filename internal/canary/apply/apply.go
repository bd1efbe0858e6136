// Package apply carries out a Canary plan in its one documented order,
// against a Target: the controller's writes to the API server and the
// router, or the simulations' world. It decides nothing.
package apply

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
	"github.com/vireo-dev/vireo/internal/canary"
)

// Target receives a plan's writes. Each method is idempotent.
type Target interface {
	// CopyConfigs writes the -primary copies of tracked configs.
	CopyConfigs(ctx context.Context, names []string) error
	// WritePrimary creates the primary or updates it to d's spec.
	WritePrimary(ctx context.Context, d *appsv1.Deployment) error
	WritePrimaryHPA(ctx context.Context, h *autoscalingv2.HorizontalPodAutoscaler) error
	// WritePrimaryScaledObject creates the primary's KEDA ScaledObject or
	// updates it to so's spec.
	WritePrimaryScaledObject(ctx context.Context, so *unstructured.Unstructured) error
	// PauseTargetScaler sets (true) or removes (false) KEDA's
	// paused-replicas annotation on the target's ScaledObject.
	PauseTargetScaler(ctx context.Context, paused bool) error
	WriteServices(ctx context.Context, svcs []*corev1.Service) error
	// ReconcileRouter makes the router's objects match the Canary,
	// keeping the weights they hold, with the session-affinity routes
	// given (nil: none).
	ReconcileRouter(ctx context.Context, sticky *canary.Sticky) error
	SetRoutes(ctx context.Context, r canary.Routes) error
	ScaleTarget(ctx context.Context, replicas int32) error
	// SetFinalizer adds or removes the Canary's finalizer.
	SetFinalizer(ctx context.Context, present bool) error
	// WriteStatus writes the status; conflict: the Canary changed since
	// it was read, and the pass ends there.
	WriteStatus(ctx context.Context, s *v1beta1.CanaryStatus) (conflict bool, err error)
	Event(ctx context.Context, e canary.Event)
	// Alert sends alerts to the Canary's alert providers.
	Alert(ctx context.Context, alerts []canary.Alert)
	// After calls the post-rollout hooks.
	After(ctx context.Context, checks []canary.Check)
}

// Apply writes a plan in this order: an added finalizer, primary configs, primary, primary
// HPA, primary ScaledObject, Services, router objects, routes, the target's ScaledObject paused or resumed, target replicas, status, a removed finalizer,
// events, alerts, post-rollout hooks. Traffic thus leaves the canary before it is scaled
// down, and the primary exists before any Service selects it. A failed
// write ends the pass; the next pass plans again from what it reads.
func Apply(ctx context.Context, t Target, p canary.Plan) (conflict bool, err error) {
	if len(p.Run) > 0 {
		return false, fmt.Errorf("plan still needs %d checks answered", len(p.Run))
	}
	if p.Finalizer != nil && *p.Finalizer {
		if err := t.SetFinalizer(ctx, true); err != nil {
			return false, err
		}
	}
	if len(p.PrimaryConfigs) > 0 {
		if err := t.CopyConfigs(ctx, p.PrimaryConfigs); err != nil {
			return false, err
		}
	}
	if p.Primary != nil {
		if err := t.WritePrimary(ctx, p.Primary); err != nil {
			return false, err
		}
	}
	if p.PrimaryHPA != nil {
		if err := t.WritePrimaryHPA(ctx, p.PrimaryHPA); err != nil {
			return false, err
		}
	}
	if p.PrimaryScaledObject != nil {
		if err := t.WritePrimaryScaledObject(ctx, p.PrimaryScaledObject); err != nil {
			return false, err
		}
	}
	if len(p.Services) > 0 {
		if err := t.WriteServices(ctx, p.Services); err != nil {
			return false, err
		}
	}
	if p.Router {
		if err := t.ReconcileRouter(ctx, p.Sticky); err != nil {
			return false, err
		}
	}
	if p.Routes != nil {
		r := *p.Routes
		r.Sticky = p.Sticky
		if err := t.SetRoutes(ctx, r); err != nil {
			return false, err
		}
	}
	// The target's ScaledObject is resumed before the target is scaled up
	// (paused, KEDA would hold it at zero), and paused as it goes to zero.
	if p.PauseTargetScaler != nil {
		if err := t.PauseTargetScaler(ctx, *p.PauseTargetScaler); err != nil {
			return false, err
		}
	}
	if p.TargetReplicas != nil {
		if err := t.ScaleTarget(ctx, *p.TargetReplicas); err != nil {
			return false, err
		}
	}
	if p.Status != nil {
		conflict, err := t.WriteStatus(ctx, p.Status)
		if err != nil || conflict {
			return conflict, err
		}
	}
	if p.Finalizer != nil && !*p.Finalizer {
		if err := t.SetFinalizer(ctx, false); err != nil {
			return false, err
		}
	}
	for _, e := range p.Events {
		t.Event(ctx, e)
	}
	if len(p.Alerts) > 0 {
		t.Alert(ctx, p.Alerts)
	}
	if len(p.After) > 0 {
		t.After(ctx, p.After)
	}
	return false, nil
}
