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

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// recheck is how long a kind found without a status subresource is written
// through the object before the subresource is tried again (the CRDs may
// be replaced while the controller runs).
const recheck = 5 * time.Minute

// withObject remembers, by Go type, when a kind was found to have no status
// subresource.
var withObject sync.Map // reflect.Type -> time.Time

// mayLack lists the kinds whose CRD may lack a status subresource: Argo's
// AnalysisRun and Experiment. A Rollout (and a Flagger Canary) always has
// one, in Argo's CRDs and Vireo's, so its status is never written through
// the object: Vireo's RBAC does not let it patch a Rollout.
var mayLack = map[reflect.Type]bool{
	reflect.TypeOf(&v1alpha1.AnalysisRun{}): true,
	reflect.TypeOf(&v1alpha1.Experiment{}):  true,
}

// Patch applies patch to obj's status, through the status subresource when
// the kind has one and through the object when it has none. obj is updated
// from the API server's answer, as client.Patch does.
//
// A 404 from the status subresource means the object is gone or the kind
// has no subresource. Which one is found out by patching the object itself,
// not by reading it: a read from an informer's cache can still hold an
// object the API server has deleted (a namespace being torn down), and
// taking that for a missing subresource once sent every later Rollout
// status write to the object, where RBAC refused it.
func Patch(ctx context.Context, c client.Client, obj client.Object, patch client.Patch) error {
	// Computed once: after a first attempt, obj holds the server's answer.
	data, err := patch.Data(obj)
	if err != nil {
		return err
	}
	raw := client.RawPatch(patch.Type(), data)
	t := reflect.TypeOf(obj)
	if !mayLack[t] {
		return c.Status().Patch(ctx, obj, raw)
	}
	if at, ok := withObject.Load(t); ok && time.Since(at.(time.Time)) < recheck {
		return c.Patch(ctx, obj, raw)
	}
	err = c.Status().Patch(ctx, obj, raw)
	if !apierrors.IsNotFound(err) {
		return err
	}
	// The object patch succeeds only if the object exists (and, with the
	// caller's optimistic lock, is the one read): then the kind has no
	// status subresource. A 404 here too means the object is gone.
	if objErr := c.Patch(ctx, obj, raw); objErr != nil {
		if apierrors.IsNotFound(objErr) {
			return err
		}
		return objErr
	}
	withObject.Store(t, time.Now())
	return nil
}
