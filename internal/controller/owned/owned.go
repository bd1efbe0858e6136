// Package owned is the glue the Rollout, Experiment and AnalysisRun
// controllers share, kept once: the conditional status write, listing the
// AnalysisRuns an object controls, and passing the instance-id label on to
// what a controller creates.
package owned

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	planner "github.com/vireo-dev/vireo/internal/rollout"
	"github.com/vireo-dev/vireo/internal/statuspatch"
)

// PatchStatus writes obj's status, as changed since before (a copy made
// before the change), in one merge patch conditional on the resourceVersion
// before was read at: a user's patch made meanwhile (a promote, an abort, a
// terminate) is never overwritten. conflict means obj changed meanwhile and
// nothing was written; the caller looks again. what names the kind in errors.
// The status subresource is used where the kind has one (see statuspatch).
func PatchStatus(ctx context.Context, c client.Client, what string, obj, before client.Object) (conflict bool, err error) {
	if err := statuspatch.Patch(ctx, c, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsConflict(err) {
			return true, nil
		}
		return false, fmt.Errorf("patching status of %s %s: %w", what, klog.KObj(obj), err)
	}
	return false, nil
}

// AnalysisRuns lists the AnalysisRuns owner controls, from c (the cache).
func AnalysisRuns(ctx context.Context, c client.Reader, owner client.Object) ([]*v1alpha1.AnalysisRun, error) {
	var list v1alpha1.AnalysisRunList
	if err := c.List(ctx, &list, client.InNamespace(owner.GetNamespace())); err != nil {
		return nil, fmt.Errorf("listing AnalysisRuns of %s: %w", klog.KObj(owner), err)
	}
	return controlledBy(list.Items, owner), nil
}

// Experiments lists the Experiments owner controls, from c (the cache).
func Experiments(ctx context.Context, c client.Reader, owner client.Object) ([]*v1alpha1.Experiment, error) {
	var list v1alpha1.ExperimentList
	if err := c.List(ctx, &list, client.InNamespace(owner.GetNamespace())); err != nil {
		return nil, fmt.Errorf("listing Experiments of %s: %w", klog.KObj(owner), err)
	}
	return controlledBy(list.Items, owner), nil
}

// controlledBy keeps the items whose controller is owner.
func controlledBy[T any, P interface {
	*T
	metav1.Object
}](items []T, owner metav1.Object) []P {
	var out []P
	for i := range items {
		if p := P(&items[i]); metav1.IsControlledBy(p, owner) {
			out = append(out, p)
		}
	}
	return out
}

// CarryInstanceID copies the controller-instance-id label, when from has
// one, into to: what a controller creates stays with its instance.
func CarryInstanceID(from, to map[string]string) {
	if id, ok := from[planner.InstanceIDLabel]; ok {
		to[planner.InstanceIDLabel] = id
	}
}
