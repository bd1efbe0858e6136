package rolloutview

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1beta1 "github.com/vireo-dev/vireo/api/flagger/v1beta1"
	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// Watch watches what views are built from, the Rollouts, ReplicaSets, pods,
// Deployments, Canaries (when their CRD is installed),
// AnalysisRuns and Experiments of a namespace (every namespace with ""), and
// signals on the returned channel when any changes. Signals coalesce: a reader that is
// busy sees one for many changes. The watches end with ctx.
func Watch(ctx context.Context, c client.WithWatch, ns string) (<-chan struct{}, error) {
	changed := make(chan struct{}, 1)
	opts := []client.ListOption{}
	if ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	signal := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	var started []watch.Interface
	for _, list := range []client.ObjectList{&v1alpha1.RolloutList{}, &appsv1.ReplicaSetList{}, &corev1.PodList{}, &v1alpha1.AnalysisRunList{},
		&v1alpha1.ExperimentList{}, &flaggerv1beta1.CanaryList{}, &appsv1.DeploymentList{}} {
		w, err := c.Watch(ctx, list, opts...)
		if _, canaries := list.(*flaggerv1beta1.CanaryList); canaries && err != nil && meta.IsNoMatchError(err) {
			continue // Flagger's CRDs are not installed
		}
		if err != nil {
			for _, s := range started {
				s.Stop()
			}
			return nil, fmt.Errorf("watching %T: %w", list, err)
		}
		started = append(started, w)
		go func() {
			for {
				forward(ctx, w, signal)
				// The API server ends watches now and then: watch again, and
				// signal, since changes may have been missed in between.
				for ctx.Err() == nil {
					select {
					case <-ctx.Done():
					case <-time.After(time.Second):
					}
					if w, err = c.Watch(ctx, list, opts...); err == nil {
						break
					}
				}
				if ctx.Err() != nil {
					return
				}
				signal()
			}
		}()
	}
	return changed, nil
}

// forward signals each event of w until it ends or ctx does, then stops it.
func forward(ctx context.Context, w watch.Interface, signal func()) {
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-w.ResultChan():
			if !ok {
				return
			}
			signal()
		}
	}
}
