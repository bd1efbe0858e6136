package rollout

import (
	"fmt"
	"maps"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/analysis"
	"github.com/vireo-dev/vireo/internal/conditions"
	"github.com/vireo-dev/vireo/internal/reasons"
	"github.com/vireo-dev/vireo/internal/trafficrouting/trafficshare"
)

// InstanceIDLabel marks the objects of one controller instance; a Rollout's
// Experiments and AnalysisRuns carry the Rollout's.
const InstanceIDLabel = "argo-rollouts.argoproj.io/controller-instance-id"

// experimentName is the base name of an experiment step's Experiment:
// <rollout>-<hash>-<revision>-<step index>.
func experimentName(ro *v1alpha1.Rollout, hash, rev string, step int32) string {
	return fmt.Sprintf("%s-%s-%s-%d", ro.Name, hash, rev, step)
}

// stepExperiment runs an experiment step: it asks for the Experiment, then
// waits for it. A Successful experiment ends the step; a Failed or Error one
// aborts the rollout; an Inconclusive one pauses it until promoted.
func stepExperiment(plan *Plan, ro *v1alpha1.Rollout, sets *replicaSets, newRS *appsv1.ReplicaSet, index int32, now metav1.Time) bool {
	st := &plan.Status
	rev := currentRevision(plan, newRS)
	base := experimentName(ro, st.CurrentPodHash, rev, index)
	name := st.Canary.CurrentExperiment
	if name == "" || !belongs(name, base) {
		name = freeName(func(n string) bool { return plan.experiments[n] != nil }, base)
		st.Canary.CurrentExperiment = name
	}
	ex := plan.experiments[name]
	if ex == nil {
		// New, not yet seen, or deleted by someone: asking again is
		// harmless, as creating an existing name changes nothing.
		plan.CreateExperiment = buildExperiment(ro, sets, newRS, ro.Spec.Strategy.Canary.Steps[index].Experiment, name, rev, index)
		plan.waitingOnAnalysis = true
		return false
	}
	switch phase := ex.Status.Phase; {
	case phase == v1alpha1.AnalysisPhaseSuccessful:
		st.Canary.CurrentExperiment = ""
		return true
	case invalidExperiment(ex):
		// Made from the rollout's spec, it cannot be fixed but there.
		if !st.Abort {
			st.Abort, st.AbortedAt = true, nil
			plan.event(corev1.EventTypeWarning, reasons.ExperimentPrefix+string(v1alpha1.AnalysisPhaseError), "Experiment %s cannot run: %s", ex.Name, ex.Status.Message)
		}
		return false
	case phase == v1alpha1.AnalysisPhaseFailed, phase == v1alpha1.AnalysisPhaseError:
		if !st.Abort {
			st.Abort, st.AbortedAt = true, nil
			plan.event(corev1.EventTypeWarning, reasons.ExperimentPrefix+string(ex.Status.Phase), "Experiment %s %s%s", ex.Name, ex.Status.Phase, colon(ex.Status.Message))
		}
		return false
	case phase == v1alpha1.AnalysisPhaseInconclusive:
		outcome, started := pauseGate(plan, v1alpha1.PauseReasonInconclusiveExperiment, nil, now)
		if started {
			plan.event(corev1.EventTypeWarning, reasons.ExperimentPrefix+string(v1alpha1.AnalysisPhaseInconclusive), "Experiment %s Inconclusive%s; paused until promoted", ex.Name, colon(ex.Status.Message))
		}
		if outcome == gateHeld {
			return false
		}
		st.Canary.CurrentExperiment = ""
		return true
	}
	plan.waitingOnAnalysis = true
	return false
}

// buildExperiment makes the Experiment of an experiment step: each template
// copies the stable or the canary pod template, the analyses' args are
// resolved against the rollout, and the Experiment is owned by the rollout.
func buildExperiment(ro *v1alpha1.Rollout, sets *replicaSets, newRS *appsv1.ReplicaSet, step *v1alpha1.RolloutExperimentStep, name, rev string, index int32) *v1alpha1.Experiment {
	st := &ro.Status
	stableTemplate := &ro.Spec.Template
	if stable := sets.byHash(st.StableRS); stable != nil {
		stableTemplate = withoutHashLabel(&stable.Spec.Template)
	}
	hash := newRS.Labels[PodTemplateHashLabel]
	ex := &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       ro.Namespace,
			Labels:          map[string]string{PodTemplateHashLabel: hash},
			Annotations:     map[string]string{RevisionAnnotation: rev},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))},
		},
		Spec: v1alpha1.ExperimentSpec{
			Duration:                step.Duration,
			ProgressDeadlineSeconds: ro.Spec.ProgressDeadlineSeconds,
			ScaleDownDelaySeconds:   step.ScaleDownDelaySeconds,
			DryRun:                  step.DryRun,
			AnalysisRunMetadata:     step.AnalysisRunMetadata,
		},
	}
	if id, ok := ro.Labels[InstanceIDLabel]; ok {
		ex.Labels[InstanceIDLabel] = id
	}
	routed := Routed(ro)
	for _, t := range step.Templates {
		pod := ro.Spec.Template.DeepCopy()
		if t.SpecRef == v1alpha1.StableSpecRef {
			pod = stableTemplate.DeepCopy()
		}
		if pod.Labels == nil {
			pod.Labels = map[string]string{}
		}
		maps.Copy(pod.Labels, t.Metadata.Labels)
		if len(t.Metadata.Annotations) > 0 {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			maps.Copy(pod.Annotations, t.Metadata.Annotations)
		}
		sel := t.Selector.DeepCopy()
		if sel == nil {
			sel = ro.Spec.Selector.DeepCopy()
		}
		svc := t.Service.DeepCopy()
		if svc == nil && t.Weight != nil && routed {
			svc = &v1alpha1.TemplateService{} // the routers send the weight to it
		}
		ex.Spec.Templates = append(ex.Spec.Templates, v1alpha1.TemplateSpec{
			Name: t.Name, Replicas: ptr.To(ptr.Deref(t.Replicas, 1)), MinReadySeconds: ro.Spec.MinReadySeconds,
			Selector: sel, Template: *pod, Service: svc,
		})
	}
	for _, a := range step.Analyses {
		ref := v1alpha1.ExperimentAnalysisTemplateRef{Name: a.Name, TemplateName: a.TemplateName, ClusterScope: a.ClusterScope, RequiredForCompletion: a.RequiredForCompletion}
		for _, arg := range a.Args {
			v, ok := stepArg(ro, arg, hash)
			if !ok {
				continue // named without a value: the template's default applies
			}
			ref.Args = append(ref.Args, v1alpha1.Argument{Name: arg.Name, Value: ptr.To(v)})
		}
		ex.Spec.Analyses = append(ex.Spec.Analyses, ref)
	}
	return ex
}

// stepArg is the value of an experiment step's analysis arg: a literal (which
// may hold {{templates.…}} references, expanded by the Experiment), a pod
// template hash of the rollout, or a field of the rollout.
func stepArg(ro *v1alpha1.Rollout, arg v1alpha1.AnalysisRunArgument, latest string) (string, bool) {
	f := arg.ValueFrom
	switch {
	case f == nil:
		return arg.Value, arg.Value != ""
	case f.PodTemplateHashValue != nil && *f.PodTemplateHashValue == v1alpha1.Stable:
		return ro.Status.StableRS, true
	case f.PodTemplateHashValue != nil:
		return latest, true
	case f.FieldRef != nil:
		v, err := analysis.FieldValue(ro, f.FieldRef.FieldPath)
		return v, err == nil
	}
	return "", false
}

// sweepExperiments terminates the rollout's Experiments that nothing waits
// for any more (all of them on abort), and deletes ended ones beyond the
// history limits, which they share with AnalysisRuns.
func sweepExperiments(plan *Plan, ro *v1alpha1.Rollout) {
	st := &plan.Status
	var done []ended
	for _, ex := range plan.experiments {
		if ex.DeletionTimestamp != nil {
			continue
		}
		current := ex.Name == st.Canary.CurrentExperiment
		switch over := analysis.Completed(ex.Status.Phase); {
		case !over && !ex.Spec.Terminate && (!current || st.Abort):
			plan.TerminateExperiments = append(plan.TerminateExperiments, ex.Name)
		case over && !current:
			done = append(done, ended{ex.Name, ex.CreationTimestamp, ex.Status.Phase})
		}
	}
	sort.Strings(plan.TerminateExperiments)
	plan.DeleteExperiments = pastHistory(ro, done)
}

// experimentCause is why the current experiment aborted the rollout, for its
// message; "" when it did not.
func experimentCause(plan *Plan) string {
	ex := plan.experiments[plan.Status.Canary.CurrentExperiment]
	if ex == nil || (ex.Status.Phase != v1alpha1.AnalysisPhaseFailed && ex.Status.Phase != v1alpha1.AnalysisPhaseError && !invalidExperiment(ex)) {
		return ""
	}
	if invalidExperiment(ex) {
		return "experiment " + ex.Name + " cannot run: " + ex.Status.Message
	}
	return "experiment " + ex.Name + " " + string(ex.Status.Phase) + colon(ex.Status.Message)
}

// invalidExperiment reports whether an experiment refuses its spec.
func invalidExperiment(ex *v1alpha1.Experiment) bool {
	return conditions.IsTrue(ex.Status.Conditions, ReasonInvalidSpec)
}

// experimentsByName indexes the rollout's Experiments.
func experimentsByName(list []*v1alpha1.Experiment) map[string]*v1alpha1.Experiment {
	out := map[string]*v1alpha1.Experiment{}
	for _, ex := range list {
		out[ex.Name] = ex
	}
	return out
}

// experimentTraffic is the share of the traffic a running experiment step
// sends to its weighted templates' Services: once the experiment is running
// (every template available), until it ends or the rollout aborts.
func experimentTraffic(plan *Plan, ro *v1alpha1.Rollout) ([]trafficshare.Destination, []v1alpha1.WeightDestination) {
	st := &plan.Status
	steps := ro.Spec.Strategy.Canary.Steps
	if st.Abort || st.CurrentStepIndex == nil || int(*st.CurrentStepIndex) >= len(steps) {
		return nil, nil
	}
	step := steps[*st.CurrentStepIndex].Experiment
	ex := plan.experiments[st.Canary.CurrentExperiment]
	if step == nil || ex == nil || ex.Status.AvailableAt == nil || analysis.Completed(ex.Status.Phase) {
		return nil, nil
	}
	var extra []trafficshare.Destination
	var recorded []v1alpha1.WeightDestination
	for _, t := range step.Templates {
		if t.Weight == nil {
			continue
		}
		for _, ts := range ex.Status.TemplateStatuses {
			if ts.Name == t.Name && ts.ServiceName != "" {
				extra = append(extra, trafficshare.Destination{Service: ts.ServiceName, Weight: *t.Weight})
				recorded = append(recorded, v1alpha1.WeightDestination{ServiceName: ts.ServiceName, PodTemplateHash: ts.PodTemplateHash, Weight: *t.Weight})
			}
		}
	}
	return extra, recorded
}
