// Package rollout is the Rollout controller: it reads a Rollout, lets the pure
// planner in internal/rollout decide, and writes the result.
package rollout

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	planner "github.com/vireo-dev/vireo/internal/rollout"
)

// Reconciler brings a Rollout's status in line with its spec.
type Reconciler struct {
	Client client.Client
	Clock  clock.PassiveClock
}

// SetupWithManager registers the reconciler to watch Rollouts.
func (r *Reconciler) SetupWithManager(mgr manager.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	return builder.ControllerManagedBy(mgr).
		For(&v1alpha1.Rollout{}).
		Named("rollout").
		Complete(r)
}

// Reconcile reads the Rollout, records what its spec means in status, and
// patches the status only when it changed.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	logger := log.FromContext(ctx)
	var ro v1alpha1.Rollout
	if err := r.Client.Get(ctx, req.NamespacedName, &ro); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}

	status := ro.Status.DeepCopy()
	valid := planner.ObserveSpec(status, &ro, metav1.NewTime(r.Clock.Now()))
	if equality.Semantic.DeepEqual(status, &ro.Status) {
		return reconcile.Result{}, nil
	}

	before := ro.DeepCopy()
	ro.Status = *status
	if err := r.Client.Status().Patch(ctx, &ro, client.MergeFrom(before)); err != nil {
		return reconcile.Result{}, fmt.Errorf("patching status of rollout %s: %w", klog.KObj(&ro), err)
	}
	if valid {
		logger.V(1).Info("Rollout spec observed", "rollout", klog.KObj(&ro), "generation", ro.Generation)
	} else {
		logger.Info("Rollout spec is invalid", "rollout", klog.KObj(&ro), "message", ro.Status.Message)
	}
	return reconcile.Result{}, nil
}
