package rolloutview

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// Get reads a Rollout, saying plainly when it is not there.
func Get(ctx context.Context, c client.Reader, key types.NamespacedName) (*v1alpha1.Rollout, error) {
	ro := &v1alpha1.Rollout{}
	if err := c.Get(ctx, key, ro); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, plainError{fmt.Sprintf("rollout %s not found in namespace %s", key.Name, key.Namespace), err}
		}
		return nil, fmt.Errorf("reading rollout %s: %w", key.Name, err)
	}
	return ro, nil
}

// Load reads a Rollout and the ReplicaSets, pods and AnalysisRuns it owns.
func Load(ctx context.Context, c client.Reader, key types.NamespacedName) (Objects, error) {
	ro, err := Get(ctx, c, key)
	if err != nil {
		return Objects{}, err
	}
	o := Objects{Rollout: ro}
	in := client.InNamespace(key.Namespace)

	sets := &appsv1.ReplicaSetList{}
	if err := c.List(ctx, sets, in); err != nil {
		return o, fmt.Errorf("listing ReplicaSets: %w", err)
	}
	for _, rs := range sets.Items {
		if metav1.IsControlledBy(&rs, ro) {
			o.ReplicaSets = append(o.ReplicaSets, rs)
		}
	}

	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, in); err != nil {
		return o, fmt.Errorf("listing pods: %w", err)
	}
	for _, p := range pods.Items {
		for i := range o.ReplicaSets {
			if metav1.IsControlledBy(&p, &o.ReplicaSets[i]) {
				o.Pods = append(o.Pods, p)
				break
			}
		}
	}

	runs := &v1alpha1.AnalysisRunList{}
	if err := c.List(ctx, runs, in); err != nil {
		return o, fmt.Errorf("listing AnalysisRuns: %w", err)
	}
	for _, r := range runs.Items {
		if metav1.IsControlledBy(&r, ro) {
			o.AnalysisRuns = append(o.AnalysisRuns, r)
		}
	}
	return o, nil
}

// plainError says in plain words what the API server's error wraps, and
// keeps it for errors.Is and errors.As (a 404 stays a 404).
type plainError struct {
	text string
	err  error
}

func (e plainError) Error() string { return e.text }
func (e plainError) Unwrap() error { return e.err }
