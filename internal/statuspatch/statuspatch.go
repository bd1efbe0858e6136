// Package statuspatch writes the status of Argo Rollouts' kinds whatever
// CRDs the cluster holds. Argo's own CRDs give Rollout a status subresource
// but AnalysisRun and Experiment none: their status is an ordinary field,
// written with the object. A cluster taken over from Argo Rollouts keeps
// Argo's CRDs, and older Vireo CRDs gave every kind the subresource, so the
// way to write is found out rather than assumed: the status subresource
// first, and where the API server has none for a kind (it answers 404 for
// an object that exists), the object itself from then on.
package statuspatch

import (
	"context"
	"reflect"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// recheck is how long a kind found without a status subresource is written
// through the object before the subresource is tried again (the CRDs may
// be replaced while the controller runs).
const recheck = 5 * time.Minute

// withObject remembers, by Go type, when a kind was found to have no status
// subresource.
var withObject sync.Map // reflect.Type -> time.Time

// Patch applies patch to obj's status, through the status subresource when
// the kind has one and through the object when it has none. obj is updated
// from the API server's answer, as client.Patch does.
func Patch(ctx context.Context, c client.Client, obj client.Object, patch client.Patch) error {
	// Computed once: after a first attempt, obj holds the server's answer.
	data, err := patch.Data(obj)
	if err != nil {
		return err
	}
	raw := client.RawPatch(patch.Type(), data)
	t := reflect.TypeOf(obj)
	if at, ok := withObject.Load(t); ok && time.Since(at.(time.Time)) < recheck {
		return c.Patch(ctx, obj, raw)
	}
	err = c.Status().Patch(ctx, obj, raw)
	if !apierrors.IsNotFound(err) {
		return err
	}
	// 404: the object is gone, or the kind has no status subresource.
	probe := obj.DeepCopyObject().(client.Object)
	if getErr := c.Get(ctx, client.ObjectKeyFromObject(obj), probe); getErr != nil {
		return err
	}
	withObject.Store(t, time.Now())
	return c.Patch(ctx, obj, raw)
}
