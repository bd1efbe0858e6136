// Package actions holds the user actions on a Rollout: promote, abort, retry,
// pause, restart, undo and set image. Each changes the fields that Argo
// Rollouts' kubectl plugin changes, so a Rollout can be driven by that plugin, by Argo
// CD's resource actions, by Vireo's CLI or by its dashboard alike. The CLI
// and the dashboard both call this package.
package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/analysis"
	"github.com/vireo-dev/vireo/internal/analysis/templates"
	planner "github.com/vireo-dev/vireo/internal/rollout"
	"github.com/vireo-dev/vireo/internal/statuspatch"
)

// PromoteOptions says how far a promote goes.
type PromoteOptions struct {
	// Full skips every remaining step, pause and analysis (status.promoteFull).
	Full bool
}

// Promote releases a paused Rollout: it unpauses spec.paused and clears
// status.pauseConditions; a canary that is not paused moves to its next step
// (for a step that waits on something other than a pause). With Full it asks
// for the new version to be promoted at once.
func Promote(ctx context.Context, c client.Client, key types.NamespacedName, opts PromoteOptions) (*v1alpha1.Rollout, error) {
	ro, err := get(ctx, c, key)
	if err != nil {
		return nil, err
	}
	if opts.Full {
		if ro.Status.CurrentPodHash != "" && ro.Status.CurrentPodHash == ro.Status.StableRS {
			return ro, nil // nothing in flight: already promoted
		}
		return ro, patchStatus(ctx, c, ro, map[string]any{"promoteFull": true})
	}
	if ro.Spec.Paused {
		if err := patchSpec(ctx, c, ro, map[string]any{"paused": false}); err != nil {
			return nil, err
		}
	}
	switch {
	case len(ro.Status.PauseConditions) > 0:
		return ro, patchStatus(ctx, c, ro, map[string]any{"pauseConditions": nil})
	case ro.Spec.Strategy.Canary != nil && !ro.Spec.Paused:
		// Nothing to release: skip the step the canary is on. Promote never
		// does both, so a pause just released is not skipped as well.
		steps := int32(len(ro.Spec.Strategy.Canary.Steps))
		if steps == 0 {
			return ro, nil
		}
		next := int32(0)
		if ro.Status.CurrentStepIndex != nil {
			next = *ro.Status.CurrentStepIndex
		}
		if next < steps {
			next++
		}
		return ro, patchStatus(ctx, c, ro, map[string]any{"currentStepIndex": next})
	}
	return ro, nil
}

// Abort stops the update and goes back to the stable version.
func Abort(ctx context.Context, c client.Client, key types.NamespacedName) (*v1alpha1.Rollout, error) {
	ro, err := get(ctx, c, key)
	if err != nil {
		return nil, err
	}
	return ro, patchStatus(ctx, c, ro, map[string]any{"abort": true})
}

// Retry starts an aborted update again from its first step.
func Retry(ctx context.Context, c client.Client, key types.NamespacedName) (*v1alpha1.Rollout, error) {
	ro, err := get(ctx, c, key)
	if err != nil {
		return nil, err
	}
	return ro, patchStatus(ctx, c, ro, map[string]any{"abort": false})
}

// Pause stops the Rollout where it is (spec.paused); promote resumes it.
func Pause(ctx context.Context, c client.Client, key types.NamespacedName) (*v1alpha1.Rollout, error) {
	ro, err := get(ctx, c, key)
	if err != nil {
		return nil, err
	}
	return ro, patchSpec(ctx, c, ro, map[string]any{"paused": true})
}

// Restart asks for every pod created before at to be replaced
// (spec.restartAt), a few at a time within maxUnavailable.
func Restart(ctx context.Context, c client.Client, key types.NamespacedName, at time.Time) (*v1alpha1.Rollout, error) {
	ro, err := get(ctx, c, key)
	if err != nil {
		return nil, err
	}
	return ro, patchSpec(ctx, c, ro, map[string]any{"restartAt": at.UTC().Truncate(time.Second).Format(time.RFC3339)})
}

// Undo rolls the template back to that of an earlier revision: toRevision, or
// the one before the current when it is 0. Going back to the stable revision
// is a fast rollback that skips the steps; going further back is a new update
// through the steps, on the old ReplicaSet. For a Rollout with a workloadRef
// the referenced Deployment's template is the one rolled back.
func Undo(ctx context.Context, c client.Client, key types.NamespacedName, toRevision int64) (*v1alpha1.Rollout, error) {
	if toRevision < 0 {
		return nil, fmt.Errorf("--to-revision %d: a revision is a positive number (0 means the previous one)", toRevision)
	}
	ro, err := get(ctx, c, key)
	if err != nil {
		return nil, err
	}
	var workload *appsv1.Deployment
	if ref := ro.Spec.WorkloadRef; ref != nil {
		workload = &appsv1.Deployment{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: ro.Namespace, Name: ref.Name}, workload); err != nil {
			return nil, fmt.Errorf("reading Deployment %s (spec.workloadRef of rollout %s): %w", ref.Name, key.Name, err)
		}
	}
	rs, err := revisionReplicaSet(ctx, c, ro, workload, toRevision)
	if err != nil {
		return nil, err
	}
	template := rs.Spec.Template.DeepCopy()
	delete(template.Labels, planner.PodTemplateHashLabel)
	patch, err := json.Marshal([]map[string]any{{"op": "replace", "path": "/spec/template", "value": template}})
	if err != nil {
		return nil, err
	}
	if workload != nil {
		if err := c.Patch(ctx, workload, client.RawPatch(types.JSONPatchType, patch)); err != nil {
			return nil, fmt.Errorf("rolling back Deployment %s to revision %s: %w", workload.Name, rs.Annotations[planner.RevisionAnnotation], err)
		}
		return ro, nil
	}
	if err := c.Patch(ctx, ro, client.RawPatch(types.JSONPatchType, patch)); err != nil {
		return nil, fmt.Errorf("rolling back rollout %s to revision %s: %w", key.Name, rs.Annotations[planner.RevisionAnnotation], err)
	}
	return ro, nil
}

// SetImage sets the image of a container of the Rollout's pod template, or
// of every container with container "*". It is a JSON patch that tests each
// container's name before replacing its image, so a template changed
// meanwhile is refused rather than patched in the wrong place.
func SetImage(ctx context.Context, c client.Client, key types.NamespacedName, container, image string) (*v1alpha1.Rollout, error) {
	if container == "" || image == "" {
		return nil, fmt.Errorf("set image: give CONTAINER=IMAGE, for example demo=argoproj/rollouts-demo:yellow")
	}
	ro, err := get(ctx, c, key)
	if err != nil {
		return nil, err
	}
	if ro.Spec.WorkloadRef != nil {
		return nil, fmt.Errorf("rollout %s takes its template from %s %s (spec.workloadRef): set the image there", ro.Name, ro.Spec.WorkloadRef.Kind, ro.Spec.WorkloadRef.Name)
	}
	var ops []map[string]any
	var names []string
	for _, list := range []struct {
		path       string
		containers []corev1.Container
	}{{"containers", ro.Spec.Template.Spec.Containers}, {"initContainers", ro.Spec.Template.Spec.InitContainers}} {
		for i, ctr := range list.containers {
			names = append(names, ctr.Name)
			if container != "*" && ctr.Name != container {
				continue
			}
			p := fmt.Sprintf("/spec/template/spec/%s/%d", list.path, i)
			ops = append(ops,
				map[string]any{"op": "test", "path": p + "/name", "value": ctr.Name},
				map[string]any{"op": "replace", "path": p + "/image", "value": image})
		}
	}
	if len(ops) == 0 {
		return nil, fmt.Errorf("rollout %s has no container %q (it has %s)", ro.Name, container, strings.Join(names, ", "))
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return nil, err
	}
	if err := c.Patch(ctx, ro, client.RawPatch(types.JSONPatchType, patch)); err != nil {
		return nil, fmt.Errorf("setting image of rollout %s: %w", ro.Name, err)
	}
	return ro, nil
}

// revisionReplicaSet finds the Rollout's ReplicaSet of a revision; 0 means
// the newest revision before the current one.
func revisionReplicaSet(ctx context.Context, c client.Client, ro *v1alpha1.Rollout, workload *appsv1.Deployment, toRevision int64) (*appsv1.ReplicaSet, error) {
	selector := planner.EffectiveSelector(ro, workload)
	if selector == nil {
		return nil, fmt.Errorf("rollout %s has no spec.selector to find its ReplicaSets by", ro.Name)
	}
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return nil, fmt.Errorf("rollout %s: spec.selector: %w", ro.Name, err)
	}
	var list appsv1.ReplicaSetList
	if err := c.List(ctx, &list, client.InNamespace(ro.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, fmt.Errorf("listing ReplicaSets of rollout %s: %w", ro.Name, err)
	}
	byRevision := map[int64]*appsv1.ReplicaSet{}
	var revisions []int64
	for i := range list.Items {
		rs := &list.Items[i]
		if owner := metav1.GetControllerOf(rs); owner == nil || owner.UID != ro.UID {
			continue
		}
		n := planner.Revision(rs)
		if n <= 0 {
			continue
		}
		byRevision[n] = rs
		revisions = append(revisions, n)
	}
	sort.Slice(revisions, func(i, j int) bool { return revisions[i] > revisions[j] })
	if toRevision == 0 {
		if len(revisions) < 2 {
			return nil, fmt.Errorf("rollout %s has no earlier revision to go back to", ro.Name)
		}
		return byRevision[revisions[1]], nil
	}
	if rs := byRevision[toRevision]; rs != nil {
		return rs, nil
	}
	known := make([]string, len(revisions))
	for i, n := range revisions {
		known[i] = strconv.FormatInt(n, 10)
	}
	return nil, fmt.Errorf("--to-revision %d: rollout %s has no such revision (it has %s)", toRevision, ro.Name, orNone(strings.Join(known, ", ")))
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// ErrNotFound is returned, wrapped, when the Rollout does not exist.
var ErrNotFound = errors.New("not found")

func get(ctx context.Context, c client.Client, key types.NamespacedName) (*v1alpha1.Rollout, error) {
	if key.Name == "" {
		return nil, errors.New("a rollout name is required")
	}
	var ro v1alpha1.Rollout
	if err := c.Get(ctx, key, &ro); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("rollout %q in namespace %q: %w", key.Name, key.Namespace, ErrNotFound)
		}
		return nil, fmt.Errorf("reading rollout %s/%s: %w", key.Namespace, key.Name, err)
	}
	return &ro, nil
}

// patchStatus sends {"status": fields} to the status subresource.
func patchStatus(ctx context.Context, c client.Client, ro *v1alpha1.Rollout, fields map[string]any) error {
	data, err := json.Marshal(map[string]any{"status": fields})
	if err != nil {
		return err
	}
	if err := c.Status().Patch(ctx, ro, client.RawPatch(types.MergePatchType, data)); err != nil {
		return fmt.Errorf("patching status of rollout %s with %s: %w", ro.Name, data, err)
	}
	return nil
}

// patchSpec sends {"spec": fields}.
func patchSpec(ctx context.Context, c client.Client, ro *v1alpha1.Rollout, fields map[string]any) error {
	data, err := json.Marshal(map[string]any{"spec": fields})
	if err != nil {
		return err
	}
	if err := c.Patch(ctx, ro, client.RawPatch(types.MergePatchType, data)); err != nil {
		return fmt.Errorf("patching rollout %s with %s: %w", ro.Name, data, err)
	}
	return nil
}

// TerminateAnalysisRun stops an AnalysisRun (spec.terminate): it takes no
// more measurements and ends with the outcome of those it has.
func TerminateAnalysisRun(ctx context.Context, c client.Client, key types.NamespacedName) (*v1alpha1.AnalysisRun, error) {
	if key.Name == "" {
		return nil, errors.New("an AnalysisRun name is required")
	}
	var run v1alpha1.AnalysisRun
	if err := c.Get(ctx, key, &run); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("AnalysisRun %q in namespace %q: %w", key.Name, key.Namespace, ErrNotFound)
		}
		return nil, fmt.Errorf("reading AnalysisRun %s/%s: %w", key.Namespace, key.Name, err)
	}
	if err := c.Patch(ctx, &run, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"terminate":true}}`))); err != nil {
		return nil, fmt.Errorf("terminating AnalysisRun %s: %w", key.Name, err)
	}
	return &run, nil
}

// AnalysisRunFrom says which template a new AnalysisRun comes from, and
// what it is called and given.
type AnalysisRunFrom struct {
	// Template names an AnalysisTemplate of the namespace, or with Cluster a
	// ClusterAnalysisTemplate.
	Template string
	Cluster  bool
	// Name is the run's name; without it the API server makes one from
	// "<template>-".
	Name string
	// Args are values for the template's args, by name.
	Args map[string]string
}

// CreateAnalysisRun creates a standalone AnalysisRun from a template (and
// the templates it pulls in), with args given by name. An arg the template
// declares without a value must be given one (MergeArgs says which).
func CreateAnalysisRun(ctx context.Context, c client.Client, namespace string, from AnalysisRunFrom) (*v1alpha1.AnalysisRun, error) {
	if from.Template == "" {
		return nil, errors.New("name the template to create the AnalysisRun from (--from)")
	}
	ref := v1alpha1.AnalysisTemplateRef{TemplateName: from.Template, ClusterScope: from.Cluster}
	tmpl, err := analysis.MergeTemplates(ctx, templates.Client{Namespaced: c, Cluster: c, Namespace: namespace}, []v1alpha1.AnalysisTemplateRef{ref})
	if err != nil {
		return nil, err
	}
	given := make([]v1alpha1.Argument, 0, len(from.Args))
	for _, name := range slices.Sorted(maps.Keys(from.Args)) {
		given = append(given, v1alpha1.Argument{Name: name, Value: ptr.To(from.Args[name])})
	}
	args, err := analysis.MergeArgs(tmpl.Args, given)
	if err != nil {
		return nil, fmt.Errorf("%w (give args as -a NAME=VALUE)", err)
	}
	run := &v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: from.Name},
		Spec: v1alpha1.AnalysisRunSpec{Metrics: tmpl.Metrics, Args: args, DryRun: tmpl.DryRun,
			MeasurementRetention: tmpl.MeasurementRetention},
	}
	if from.Name == "" {
		run.GenerateName = from.Template + "-"
	}
	if err := c.Create(ctx, run); err != nil {
		return nil, fmt.Errorf("creating an AnalysisRun from %s: %w", from.Template, err)
	}
	return run, nil
}

// getExperiment reads an Experiment, saying plainly when it does not exist.
func getExperiment(ctx context.Context, c client.Client, key types.NamespacedName) (*v1alpha1.Experiment, error) {
	if key.Name == "" {
		return nil, errors.New("an experiment name is required")
	}
	var ex v1alpha1.Experiment
	if err := c.Get(ctx, key, &ex); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("experiment %q in namespace %q: %w", key.Name, key.Namespace, ErrNotFound)
		}
		return nil, fmt.Errorf("reading experiment %s/%s: %w", key.Namespace, key.Name, err)
	}
	return &ex, nil
}

// TerminateExperiment ends an Experiment early (spec.terminate): its
// analyses stop, and its pods go after its scale-down delay.
func TerminateExperiment(ctx context.Context, c client.Client, key types.NamespacedName) (*v1alpha1.Experiment, error) {
	ex, err := getExperiment(ctx, c, key)
	if err != nil {
		return nil, err
	}
	if err := c.Patch(ctx, ex, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"terminate":true}}`))); err != nil {
		return nil, fmt.Errorf("terminating experiment %s: %w", key.Name, err)
	}
	return ex, nil
}

// RetryExperiment starts an ended Experiment again: its status is cleared,
// so its ReplicaSets scale up again and its analyses run anew (in new
// AnalysisRuns; the old ones stay as they ended). A terminated experiment is
// no longer terminated.
func RetryExperiment(ctx context.Context, c client.Client, key types.NamespacedName) (*v1alpha1.Experiment, error) {
	ex, err := getExperiment(ctx, c, key)
	if err != nil {
		return nil, err
	}
	switch ex.Status.Phase {
	case v1alpha1.AnalysisPhaseSuccessful, v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError, v1alpha1.AnalysisPhaseInconclusive:
	default:
		return nil, fmt.Errorf("experiment %s is %s: only an experiment that has ended can be retried", key.Name, orNone(string(ex.Status.Phase)))
	}
	if ex.Spec.Terminate {
		if err := c.Patch(ctx, ex, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"terminate":false}}`))); err != nil {
			return nil, fmt.Errorf("clearing spec.terminate of experiment %s: %w", key.Name, err)
		}
	}
	if err := statuspatch.Patch(ctx, c, ex, client.RawPatch(types.MergePatchType, []byte(`{"status":null}`))); err != nil {
		return nil, fmt.Errorf("clearing the status of experiment %s: %w", key.Name, err)
	}
	return ex, nil
}
