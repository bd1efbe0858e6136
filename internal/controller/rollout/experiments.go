package rollout

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/reasons"
)

// applyExperiments creates, terminates and deletes Experiments.
func (r *Reconciler) applyExperiments(ctx context.Context, ro *v1alpha1.Rollout, ex *v1alpha1.Experiment, terminate, del []string) error {
	if ex != nil {
		err := r.Client.Create(ctx, ex)
		switch {
		case err == nil:
			r.Recorder.Eventf(ro, corev1.EventTypeNormal, reasons.ExperimentCreated, "Created experiment %s", ex.Name)
		case !apierrors.IsAlreadyExists(err):
			return fmt.Errorf("creating experiment %s of rollout %s: %w", ex.Name, klog.KObj(ro), err)
		}
	}
	for _, name := range terminate {
		ex := &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: ro.Namespace, Name: name}}
		patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"terminate":true}}`))
		if err := r.Client.Patch(ctx, ex, patch); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("terminating experiment %s: %w", name, err)
		}
	}
	for _, name := range del {
		ex := &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: ro.Namespace, Name: name}}
		if err := r.Client.Delete(ctx, ex); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting experiment %s: %w", name, err)
		}
	}
	return nil
}
