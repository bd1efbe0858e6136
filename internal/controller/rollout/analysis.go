package rollout

import (
	"context"
	"fmt"
	"maps"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/analysis"
	"github.com/vireo-dev/vireo/internal/analysis/templates"
	"github.com/vireo-dev/vireo/internal/controller/owned"
	"github.com/vireo-dev/vireo/internal/reasons"
	planner "github.com/vireo-dev/vireo/internal/rollout"
)

// templateKeys lists the templates a Rollout's analyses name: "name" for an
// AnalysisTemplate, "cluster/name" for a ClusterAnalysisTemplate.
func templateKeys(ro *v1alpha1.Rollout) []string {
	var keys []string
	add := func(t v1alpha1.AnalysisTemplateRef) {
		key := t.TemplateName
		if t.ClusterScope {
			key = "cluster/" + key
		}
		keys = append(keys, key)
	}
	for _, a := range specAnalyses(ro) {
		for _, t := range a.Templates {
			add(t)
		}
	}
	for _, refs := range experimentAnalyses(ro) {
		for _, t := range refs {
			add(t)
		}
	}
	return keys
}

// experimentAnalyses lists the templates each experiment step's analyses
// name, by the analysis's field.
func experimentAnalyses(ro *v1alpha1.Rollout) map[*field.Path][]v1alpha1.AnalysisTemplateRef {
	out := map[*field.Path][]v1alpha1.AnalysisTemplateRef{}
	c := ro.Spec.Strategy.Canary
	if c == nil {
		return out
	}
	for i, s := range c.Steps {
		if s.Experiment == nil {
			continue
		}
		for j, a := range s.Experiment.Analyses {
			p := field.NewPath("spec", "strategy", "canary", "steps").Index(i).Child("experiment", "analyses").Index(j)
			out[p] = []v1alpha1.AnalysisTemplateRef{{TemplateName: a.TemplateName, ClusterScope: a.ClusterScope}}
		}
	}
	return out
}

// specAnalyses lists the analyses a Rollout's strategy names, with their fields.
func specAnalyses(ro *v1alpha1.Rollout) map[*field.Path]*v1alpha1.RolloutAnalysis {
	out := map[*field.Path]*v1alpha1.RolloutAnalysis{}
	s := field.NewPath("spec", "strategy")
	if c := ro.Spec.Strategy.Canary; c != nil {
		if c.Analysis != nil {
			out[s.Child("canary", "analysis")] = &c.Analysis.RolloutAnalysis
		}
		for i := range c.Steps {
			if a := c.Steps[i].Analysis; a != nil {
				out[s.Child("canary", "steps").Index(i).Child("analysis")] = a
			}
		}
	}
	if bg := ro.Spec.Strategy.BlueGreen; bg != nil {
		if bg.PrePromotionAnalysis != nil {
			out[s.Child("blueGreen", "prePromotionAnalysis")] = bg.PrePromotionAnalysis
		}
		if bg.PostPromotionAnalysis != nil {
			out[s.Child("blueGreen", "postPromotionAnalysis")] = bg.PostPromotionAnalysis
		}
	}
	return out
}

// checkAnalyses reads the templates every analysis of the spec names and
// merges them with the Rollout's args, as a run would be built: a missing
// template, a metric defined twice, conflicting or missing args are
// reported against the analysis's field.
func (r *Reconciler) checkAnalyses(ctx context.Context, ro *v1alpha1.Rollout) field.ErrorList {
	var errs field.ErrorList
	for path, a := range specAnalyses(ro) {
		if len(a.Templates) == 0 {
			errs = append(errs, field.Required(path.Child("templates"), "name at least one AnalysisTemplate or ClusterAnalysisTemplate"))
			continue
		}
		if _, err := r.runSpec(ctx, ro, a, "stable-hash", "latest-hash"); err != nil {
			errs = append(errs, field.Invalid(path.Child("templates"), templateNames(a), err.Error()))
		}
	}
	// An experiment's args are its own to check: they may name its templates'
	// hashes, which only it knows. The templates must exist.
	for path, refs := range experimentAnalyses(ro) {
		if refs[0].TemplateName == "" {
			continue // validation reports it
		}
		if _, err := analysis.MergeTemplates(ctx, r.templates(ro), refs); err != nil {
			errs = append(errs, field.Invalid(path.Child("templateName"), refs[0].TemplateName, err.Error()))
		}
	}
	return errs
}

// templates reads the analysis templates a rollout's analyses name.
func (r *Reconciler) templates(ro *v1alpha1.Rollout) templates.Client {
	cluster := client.Reader(r.Client)
	if r.NamespaceOnly {
		cluster = r.APIReader
	}
	return templates.Client{Namespaced: r.Client, Cluster: cluster, Namespace: ro.Namespace}
}

func templateNames(a *v1alpha1.RolloutAnalysis) string {
	names := ""
	for i, t := range a.Templates {
		if i > 0 {
			names += ","
		}
		names += t.TemplateName
	}
	return names
}

// runSpec builds the spec of a run of an analysis: the templates' metrics,
// their args with the Rollout's laid over them.
func (r *Reconciler) runSpec(ctx context.Context, ro *v1alpha1.Rollout, a *v1alpha1.RolloutAnalysis, stable, latest string) (*v1alpha1.AnalysisRunSpec, error) {
	tmpl, err := analysis.MergeTemplates(ctx, r.templates(ro), a.Templates)
	if err != nil {
		return nil, err
	}
	given := make([]v1alpha1.Argument, 0, len(a.Args))
	for _, arg := range a.Args {
		if arg.Value == "" && arg.ValueFrom == nil {
			continue // names the arg without giving it a value
		}
		v := arg.Value
		if f := arg.ValueFrom; f != nil {
			switch {
			case f.PodTemplateHashValue != nil && *f.PodTemplateHashValue == v1alpha1.Stable:
				v = stable
			case f.PodTemplateHashValue != nil && *f.PodTemplateHashValue == v1alpha1.Latest:
				v = latest
			case f.PodTemplateHashValue != nil:
				return nil, fmt.Errorf("args.%s: podTemplateHashValue %q: must be Stable or Latest", arg.Name, *f.PodTemplateHashValue)
			case f.FieldRef != nil:
				if v, err = analysis.FieldValue(ro, f.FieldRef.FieldPath); err != nil {
					return nil, fmt.Errorf("args.%s: fieldRef: %w", arg.Name, err)
				}
			}
		}
		given = append(given, v1alpha1.Argument{Name: arg.Name, Value: ptr.To(v)})
	}
	return analysis.RunSpec(tmpl, given, ro, a.DryRun, a.MeasurementRetention)
}

// applyRuns creates, terminates and deletes AnalysisRuns.
func (r *Reconciler) applyRuns(ctx context.Context, ro *v1alpha1.Rollout, create []planner.RunRequest, terminate, del []string) error {
	for _, req := range create {
		run, err := r.buildRun(ctx, ro, req)
		if err != nil {
			r.Recorder.Eventf(ro, corev1.EventTypeWarning, reasons.AnalysisRunError, "Cannot create analysis run %s: %v", req.Name, err)
			return fmt.Errorf("building analysis run %s of rollout %s: %w", req.Name, klog.KObj(ro), err)
		}
		if err := r.Client.Create(ctx, run); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating analysis run %s of rollout %s: %w", req.Name, klog.KObj(ro), err)
		} else if err == nil {
			r.Recorder.Eventf(ro, corev1.EventTypeNormal, reasons.AnalysisRunCreated, "Created %s analysis run %s", req.Kind, req.Name)
		}
	}
	for _, name := range terminate {
		run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: ro.Namespace, Name: name}}
		patch := client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"terminate":true}}`))
		if err := r.Client.Patch(ctx, run, patch); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("terminating analysis run %s: %w", name, err)
		}
	}
	for _, name := range del {
		run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: ro.Namespace, Name: name}}
		if err := r.Client.Delete(ctx, run); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting analysis run %s: %w", name, err)
		}
	}
	return nil
}

// buildRun makes the AnalysisRun a plan asks for, owned by the Rollout and
// labelled as Argo Rollouts labels them.
func (r *Reconciler) buildRun(ctx context.Context, ro *v1alpha1.Rollout, req planner.RunRequest) (*v1alpha1.AnalysisRun, error) {
	spec, err := r.runSpec(ctx, ro, req.Analysis, req.Stable, req.Latest)
	if err != nil {
		return nil, err
	}
	labels := maps.Clone(req.Analysis.AnalysisRunMetadata.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[planner.RunTypeLabel] = req.Kind
	labels[planner.PodTemplateHashLabel] = req.Latest
	if req.Step != nil {
		labels[planner.RunStepIndexLabel] = strconv.Itoa(int(*req.Step))
	}
	owned.CarryInstanceID(ro.Labels, labels)
	annotations := maps.Clone(req.Analysis.AnalysisRunMetadata.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[planner.RevisionAnnotation] = req.Revision
	return &v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{
			Name: req.Name, Namespace: ro.Namespace, Labels: labels, Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))},
		},
		Spec: *spec,
	}, nil
}
