package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
)

// canaryInFlight are the phases in which an analysis runs, and a person may
// abort or promote it.
var canaryInFlight = map[v1beta1.CanaryPhase]bool{
	v1beta1.PhaseProgressing: true, v1beta1.PhaseWaiting: true, v1beta1.PhaseWaitingPromotion: true,
}

// AbortCanary asks Vireo to roll a Canary's analysis back at once: it sets
// status.abort, which the controller acts on and clears. Kept in status, it
// is not undone by a GitOps tool syncing the spec.
func AbortCanary(ctx context.Context, c client.Client, key types.NamespacedName) (*v1beta1.Canary, error) {
	return canaryRequest(ctx, c, key, "abort")
}

// PromoteCanary asks Vireo to skip the rest of a Canary's analysis and its
// gates and promote at once (status.promoteFull).
func PromoteCanary(ctx context.Context, c client.Client, key types.NamespacedName) (*v1beta1.Canary, error) {
	return canaryRequest(ctx, c, key, "promoteFull")
}

func canaryRequest(ctx context.Context, c client.Client, key types.NamespacedName, field string) (*v1beta1.Canary, error) {
	if key.Name == "" {
		return nil, errors.New("a canary name is required")
	}
	var cn v1beta1.Canary
	if err := c.Get(ctx, key, &cn); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("canary %q in namespace %q: %w", key.Name, key.Namespace, ErrNotFound)
		}
		return nil, fmt.Errorf("reading canary %s/%s: %w", key.Namespace, key.Name, err)
	}
	if !canaryInFlight[cn.Status.Phase] {
		phase := string(cn.Status.Phase)
		if phase == "" {
			phase = "not yet initialized"
		}
		return nil, fmt.Errorf("canary %s/%s is %s: there is no analysis to %s (an analysis runs while Progressing, Waiting or WaitingPromotion)",
			key.Namespace, key.Name, phase, map[string]string{"abort": "abort", "promoteFull": "promote"}[field])
	}
	data, err := json.Marshal(map[string]any{"status": map[string]any{field: true}})
	if err != nil {
		return nil, err
	}
	if err := c.Status().Patch(ctx, &cn, client.RawPatch(types.MergePatchType, data)); err != nil {
		return nil, fmt.Errorf("patching status of canary %s with %s: %w", cn.Name, data, err)
	}
	return &cn, nil
}
