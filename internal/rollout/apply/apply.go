// Package apply carries out a rollout.Plan, in the one order the Plan
// documents, against a Target. The controller's Target writes to the API
// server; the golden simulations' Target is their simulated world. So the
// order of writes, and what a failed write leaves undone, are the same code
// in both: a write that fails ends the pass, and the next pass plans again.
package apply

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/rollout"
)

// Target is where a plan's intents are written. Each method is one kind of
// write; all but WriteStatus are idempotent, so the next pass completes a
// pass that failed half-way.
type Target interface {
	Adopt(ctx context.Context, names []string) error
	Create(ctx context.Context, rs *appsv1.ReplicaSet) error
	// PointServices points each named Service at its pod-template hash.
	PointServices(ctx context.Context, services map[string]string) error
	ReleaseServices(ctx context.Context, names []string) error
	// SetRouters has every router hold t; status is the planned status
	// (routers read the hashes to send to from it).
	SetRouters(ctx context.Context, t *rollout.Traffic, status *v1alpha1.RolloutStatus) error
	// WriteStatus writes the status, conditional on the Rollout as it was
	// read: conflict means it changed meanwhile and nothing was written.
	WriteStatus(ctx context.Context, status v1alpha1.RolloutStatus) (conflict bool, err error)
	// PatchReplicaSets writes each ReplicaSet's changes in one patch.
	PatchReplicaSets(ctx context.Context, changes map[string]ReplicaSetChange) error
	PatchPods(ctx context.Context, changes map[string]rollout.MetadataChange) error
	ScaleWorkload(ctx context.Context, replicas int32) error
	DeleteReplicaSets(ctx context.Context, names []string) error
	Runs(ctx context.Context, create []rollout.RunRequest, terminate, del []string) error
	Experiments(ctx context.Context, create *v1alpha1.Experiment, terminate, del []string) error
	// Evict evicts pods; blocked says some were refused (a disruption
	// budget) and are to be tried again.
	Evict(ctx context.Context, pods []string) (blocked bool)
	Record(ctx context.Context, events []rollout.Event)
}

// ReplicaSetChange is all that changes in one ReplicaSet: annotations (an
// empty value removes one), spec.replicas, pod template metadata.
type ReplicaSetChange struct {
	Annotations map[string]string
	Replicas    *int32
	Template    *rollout.MetadataChange
}

// Outcome says what the pass leaves to come back for.
type Outcome struct {
	// Conflict: the Rollout changed since it was read; nothing after the
	// status was done, and a new pass should look again at once.
	Conflict bool
	// EvictionBlocked: some pods were not evicted yet.
	EvictionBlocked bool
}

// Apply performs plan on t in the Plan's documented order.
func Apply(ctx context.Context, t Target, plan *rollout.Plan) (Outcome, error) {
	if len(plan.Adopt) > 0 {
		if err := t.Adopt(ctx, plan.Adopt); err != nil {
			return Outcome{}, err
		}
	}
	if plan.Create != nil {
		if err := t.Create(ctx, plan.Create); err != nil {
			return Outcome{}, err
		}
	}
	first := plan.Traffic != nil && plan.Traffic.First
	if first {
		if err := t.PointServices(ctx, plan.Services); err != nil {
			return Outcome{}, err
		}
		if err := t.SetRouters(ctx, plan.Traffic, &plan.Status); err != nil {
			return Outcome{}, err
		}
	}
	if conflict, err := t.WriteStatus(ctx, plan.Status); err != nil || conflict {
		return Outcome{Conflict: conflict}, err
	}
	if !first {
		if err := t.PointServices(ctx, plan.Services); err != nil {
			return Outcome{}, err
		}
	}
	if len(plan.ReleaseServices) > 0 {
		if err := t.ReleaseServices(ctx, plan.ReleaseServices); err != nil {
			return Outcome{}, err
		}
	}
	if plan.Traffic != nil && !first {
		if err := t.SetRouters(ctx, plan.Traffic, &plan.Status); err != nil {
			return Outcome{}, err
		}
	}
	if changes := ReplicaSetChanges(plan); len(changes) > 0 {
		if err := t.PatchReplicaSets(ctx, changes); err != nil {
			return Outcome{}, err
		}
	}
	if len(plan.PodMetadata) > 0 {
		if err := t.PatchPods(ctx, plan.PodMetadata); err != nil {
			return Outcome{}, err
		}
	}
	if plan.ScaleWorkload != nil {
		if err := t.ScaleWorkload(ctx, *plan.ScaleWorkload); err != nil {
			return Outcome{}, err
		}
	}
	if len(plan.Delete) > 0 {
		if err := t.DeleteReplicaSets(ctx, plan.Delete); err != nil {
			return Outcome{}, err
		}
	}
	if len(plan.CreateRuns)+len(plan.TerminateRuns)+len(plan.DeleteRuns) > 0 {
		if err := t.Runs(ctx, plan.CreateRuns, plan.TerminateRuns, plan.DeleteRuns); err != nil {
			return Outcome{}, err
		}
	}
	if plan.CreateExperiment != nil || len(plan.TerminateExperiments)+len(plan.DeleteExperiments) > 0 {
		if err := t.Experiments(ctx, plan.CreateExperiment, plan.TerminateExperiments, plan.DeleteExperiments); err != nil {
			return Outcome{}, err
		}
	}
	var out Outcome
	if len(plan.Evict) > 0 {
		out.EvictionBlocked = t.Evict(ctx, plan.Evict)
	}
	if len(plan.Events) > 0 {
		t.Record(ctx, plan.Events)
	}
	return out, nil
}

// ReplicaSetChanges gathers, by ReplicaSet, what the plan changes in it.
func ReplicaSetChanges(plan *rollout.Plan) map[string]ReplicaSetChange {
	out := map[string]ReplicaSetChange{}
	for name, a := range plan.Annotate {
		c := out[name]
		c.Annotations = a
		out[name] = c
	}
	for name, n := range plan.Scale {
		c := out[name]
		c.Replicas = &n
		out[name] = c
	}
	for name, m := range plan.TemplateMetadata {
		c := out[name]
		c.Template = &m
		out[name] = c
	}
	return out
}
