package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
	planner "github.com/vireo-dev/vireo/internal/canary"
	"github.com/vireo-dev/vireo/pkg/actions"
)

// Canary is a Flagger Canary as the page lists it.
type Canary struct {
	Name         string                `json:"name"`
	Status       string                `json:"status"`
	Message      string                `json:"message,omitempty"`
	Provider     string                `json:"provider,omitempty"`
	Weight       int                   `json:"weight"`
	MaxWeight    int                   `json:"maxWeight"`
	FailedChecks int                   `json:"failedChecks"`
	Threshold    int                   `json:"threshold"`
	Checks       []v1beta1.CanaryCheck `json:"checks,omitempty"`
}

// canaries lists a namespace's Canaries; an API server without Flagger's
// CRDs lists none.
func (s *Server) canaries(ctx context.Context, ns string) ([]Canary, error) {
	var l v1beta1.CanaryList
	if err := s.Client.List(ctx, &l, client.InNamespace(ns)); err != nil {
		if meta.IsNoMatchError(err) {
			return []Canary{}, nil
		}
		return nil, fmt.Errorf("listing canaries in namespace %s: %w", ns, err)
	}
	out := make([]Canary, 0, len(l.Items))
	for i := range l.Items {
		c := &l.Items[i]
		v := Canary{Name: c.Name, Status: string(c.Status.Phase), Provider: c.Spec.Provider, Weight: c.Status.CanaryWeight,
			MaxWeight: planner.MaxWeight(c), FailedChecks: c.Status.FailedChecks, Threshold: planner.Threshold(c), Checks: c.Status.Checks}
		if v.Status == "" {
			v.Status = "Pending"
		}
		for _, cond := range c.Status.Conditions {
			if cond.Type == v1beta1.PromotedCondition || cond.Type == planner.InvalidSpecCondition {
				v.Message = cond.Message
			}
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b Canary) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (s *Server) listCanaries(w http.ResponseWriter, r *http.Request) {
	l, err := s.canaries(r.Context(), r.PathValue("ns"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

// actCanary promotes or aborts a Canary's analysis, as kubectl vireo canary
// does.
func (s *Server) actCanary(w http.ResponseWriter, r *http.Request) {
	key := types.NamespacedName{Namespace: r.PathValue("ns"), Name: r.PathValue("name")}
	var err error
	switch action := r.PathValue("action"); action {
	case "promote":
		_, err = actions.PromoteCanary(r.Context(), s.Client, key)
	case "abort":
		_, err = actions.AbortCanary(r.Context(), s.Client, key)
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no canary action %q: promote or abort", action)})
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"result": fmt.Sprintf("canary %s: %s requested", key.Name, r.PathValue("action"))})
}
