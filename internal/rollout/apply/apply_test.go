package apply

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/rollout"
)

// journal is a Target that notes each kind of write, and fails the one
// named in fail.
type journal struct {
	writes   []string
	fail     string
	conflict bool
}

func (j *journal) note(kind string) error {
	j.writes = append(j.writes, kind)
	if kind == j.fail {
		return errors.New(kind + " refused")
	}
	return nil
}

func (j *journal) Adopt(context.Context, []string) error                  { return j.note("adopt") }
func (j *journal) Create(context.Context, *appsv1.ReplicaSet) error       { return j.note("create") }
func (j *journal) PointServices(context.Context, map[string]string) error { return j.note("services") }
func (j *journal) ReleaseServices(context.Context, []string) error        { return j.note("release") }
func (j *journal) SetRouters(context.Context, *rollout.Traffic, *v1alpha1.RolloutStatus) error {
	return j.note("routers")
}
func (j *journal) WriteStatus(context.Context, v1alpha1.RolloutStatus) (bool, error) {
	return j.conflict, j.note("status")
}
func (j *journal) PatchReplicaSets(context.Context, map[string]ReplicaSetChange) error {
	return j.note("replicasets")
}
func (j *journal) PatchPods(context.Context, map[string]rollout.MetadataChange) error {
	return j.note("pods")
}
func (j *journal) ScaleWorkload(context.Context, int32) error        { return j.note("workload") }
func (j *journal) DeleteReplicaSets(context.Context, []string) error { return j.note("delete") }
func (j *journal) Runs(context.Context, []rollout.RunRequest, []string, []string) error {
	return j.note("runs")
}
func (j *journal) Experiments(context.Context, *v1alpha1.Experiment, []string, []string) error {
	return j.note("experiments")
}
func (j *journal) Evict(context.Context, []string) bool    { _ = j.note("evict"); return false }
func (j *journal) Record(context.Context, []rollout.Event) { _ = j.note("events") }

// plan is a plan with one intent of every kind.
func plan(first bool) *rollout.Plan {
	n := int32(1)
	return &rollout.Plan{
		Adopt: []string{"orphan"}, Create: &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "new"}},
		Services: map[string]string{"canary": "h"}, ReleaseServices: []string{"old"},
		Traffic: &rollout.Traffic{Weight: 10, MaxWeight: 100, First: first},
		Scale:   map[string]int32{"new": 1}, PodMetadata: map[string]rollout.MetadataChange{"pod": {}},
		ScaleWorkload: &n, Delete: []string{"older"}, CreateRuns: []rollout.RunRequest{{Name: "run"}},
		TerminateExperiments: []string{"ex"}, Evict: []string{"pod"},
		Events: []rollout.Event{{Reason: "R"}},
	}
}

func TestOrderOfWrites(t *testing.T) {
	for _, tc := range []struct {
		name     string
		first    bool
		fail     string
		conflict bool
		want     string
		err      bool
	}{
		{name: "more to the canary: status, then routers", want: "adopt create status services release routers replicasets pods workload delete runs experiments evict events"},
		{name: "a retreat: routers, then status", first: true, want: "adopt create services routers status release replicasets pods workload delete runs experiments evict events"},
		{name: "routers refuse after the status: nothing scales, no Event", fail: "routers", want: "adopt create status services release routers", err: true},
		{name: "routers refuse a retreat: the status is not written", first: true, fail: "routers", want: "adopt create services routers", err: true},
		{name: "the Rollout changed meanwhile: nothing after the status", conflict: true, want: "adopt create status"},
		{name: "a create refused: nothing else", fail: "create", want: "adopt create", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := &journal{fail: tc.fail, conflict: tc.conflict}
			out, err := Apply(context.Background(), j, plan(tc.first))
			if (err != nil) != tc.err {
				t.Errorf("error %v, want one: %t", err, tc.err)
			}
			if out.Conflict != tc.conflict {
				t.Errorf("conflict %t, want %t", out.Conflict, tc.conflict)
			}
			if got := strings.Join(j.writes, " "); got != tc.want {
				t.Errorf("writes\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestOneChangePerReplicaSet(t *testing.T) {
	p := &rollout.Plan{
		Annotate:         map[string]map[string]string{"a": {"k": "v"}},
		Scale:            map[string]int32{"a": 2, "b": 0},
		TemplateMetadata: map[string]rollout.MetadataChange{"b": {}},
	}
	got := ReplicaSetChanges(p)
	if len(got) != 2 || got["a"].Replicas == nil || *got["a"].Replicas != 2 || got["a"].Annotations["k"] != "v" ||
		got["b"].Replicas == nil || *got["b"].Replicas != 0 || got["b"].Template == nil {
		t.Errorf("changes %+v", got)
	}
	if names := slices.Sorted(maps.Keys(got)); !slices.Equal(names, []string{"a", "b"}) {
		t.Errorf("ReplicaSets %v", names)
	}
}
