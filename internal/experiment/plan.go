// Package experiment is the planner of Experiments: from an Experiment and the
// objects it owns (a ReplicaSet per template, Services, AnalysisRuns), it
// decides what to create, scale, terminate and report. It performs no I/O;
// the controller in internal/controller/experiment reads and applies.
//
// An experiment's life: each template gets its ReplicaSet (and its Service
// when asked); once every template is available the experiment is Running
// and its analyses start; it ends when its duration has passed and the
// analyses requiredForCompletion are done, when an analysis fails, when a
// template cannot become available within progressDeadlineSeconds, or when
// terminated. Its pods then stay scaleDownDelaySeconds before going to zero.
package experiment

import (
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/analysis"
	"github.com/vireo-dev/vireo/internal/conditions"
	"github.com/vireo-dev/vireo/internal/reasons"
	"github.com/vireo-dev/vireo/internal/rollout"
)

// Defaults of unset fields.
const (
	DefaultProgressDeadlineSeconds = 600
	DefaultScaleDownDelaySeconds   = 30
)

// Statuses of a template, in status.templateStatuses[].status.
const (
	TemplatePending     = "Pending"
	TemplateProgressing = "Progressing"
	TemplateRunning     = "Running"
	TemplateSuccessful  = "Successful"
	TemplateFailed      = "Failed"
	TemplateError       = "Error"
)

// Conditions of an Experiment.
const (
	// ConditionInvalidSpec is True while the spec cannot be acted on.
	ConditionInvalidSpec = "InvalidSpec"
	// ConditionProgressing is True while the experiment runs; it turns False
	// when the experiment ends, and its lastTransitionTime is then the end,
	// from which the scale-down delay counts.
	ConditionProgressing = "Progressing"
)

// Reasons of the Progressing condition.
const (
	ReasonReplicaSetUpdated = "ReplicaSetUpdated"
	ReasonAvailable         = "NewReplicaSetAvailable"
	ReasonCompleted         = "ExperimentCompleted"
	ReasonInvalidSpec       = "InvalidSpec"
)

// Observed is everything the planner reads about one Experiment.
type Observed struct {
	Experiment *v1alpha1.Experiment
	// ReplicaSets owned by the experiment.
	ReplicaSets []*appsv1.ReplicaSet
	// Services are the Services the templates ask for, by name, whoever owns
	// them; a missing one is absent.
	Services map[string]*corev1.Service
	// AnalysisRuns owned by the experiment.
	AnalysisRuns []*v1alpha1.AnalysisRun
	// Errors are problems only other objects show, found by the caller: an
	// analysis template missing or its args in conflict, a ReplicaSet name
	// held by someone else.
	Errors field.ErrorList
	Now    time.Time
}

// RunRequest asks the applier for the AnalysisRun of one analysis: it reads
// the template, lays the args over it (with Vars) and creates the run, owned
// by the experiment.
type RunRequest struct {
	Name     string
	Analysis v1alpha1.ExperimentAnalysisTemplateRef
}

// Plan is what the planner decided; the applier creates, writes the status,
// then scales, deletes and terminates.
type Plan struct {
	// Create are ReplicaSets to create.
	Create []*appsv1.ReplicaSet
	// Scale sets spec.replicas of ReplicaSets, by name.
	Scale map[string]int32
	// CreateServices are Services to create; DeleteServices names the
	// experiment's Services to delete.
	CreateServices []*corev1.Service
	DeleteServices []string
	// CreateRuns are AnalysisRuns to create; TerminateRuns names runs to stop.
	CreateRuns    []RunRequest
	TerminateRuns []string
	Status        v1alpha1.ExperimentStatus
	Events        []rollout.Event
	// RequeueAfter is when to look again though nothing changes: the end of
	// the duration, a progress deadline, the scale-down.
	RequeueAfter time.Duration
}

func (p *Plan) event(typ, reason, format string, args ...any) {
	p.Events = append(p.Events, rollout.Event{Type: typ, Reason: reason, Message: fmt.Sprintf(format, args...)})
}

func (p *Plan) requeue(d time.Duration) {
	if d <= 0 {
		d = time.Second
	}
	if p.RequeueAfter == 0 || d < p.RequeueAfter {
		p.RequeueAfter = d
	}
}

// Decide plans the next move of an Experiment from what is observed.
func Decide(obs Observed) *Plan {
	ex := obs.Experiment
	now := metav1.NewTime(obs.Now)
	plan := &Plan{Status: *ex.Status.DeepCopy(), Scale: map[string]int32{}}
	st := &plan.Status
	sets := map[string]*appsv1.ReplicaSet{}
	for _, rs := range obs.ReplicaSets {
		sets[rs.Name] = rs
	}
	runs := map[string]*v1alpha1.AnalysisRun{}
	for _, r := range obs.AnalysisRuns {
		runs[r.Name] = r
	}

	errs := append(Validate(ex), obs.Errors...)
	if len(errs) > 0 && !analysis.Completed(st.Phase) {
		msg := errs.ToAggregate().Error()
		st.Conditions = conditions.Set(st.Conditions, ConditionInvalidSpec, metav1.ConditionTrue, ReasonInvalidSpec, msg, now)
		if len(obs.ReplicaSets) == 0 {
			// Nothing started: the spec may still be fixed (a template created).
			st.Phase, st.Message = v1alpha1.AnalysisPhasePending, ReasonInvalidSpec+": "+msg
			return plan
		}
		end(plan, ex, v1alpha1.AnalysisPhaseError, ReasonInvalidSpec+": "+msg, now)
	} else if len(errs) == 0 {
		st.Conditions = conditions.Remove(st.Conditions, ConditionInvalidSpec)
	}
	if st.Phase == "" || strings.HasPrefix(st.Message, ReasonInvalidSpec+":") && !analysis.Completed(st.Phase) {
		st.Phase, st.Message = v1alpha1.AnalysisPhasePending, ""
	}

	if !analysis.Completed(st.Phase) {
		templates(plan, ex, sets, obs.Services, now)
		if st.AvailableAt != nil {
			analyses(plan, ex, runs)
		}
		decideEnd(plan, ex, now)
	}
	if analysis.Completed(st.Phase) {
		wrapUp(plan, ex, sets, obs.Services, runs, now)
	}
	return plan
}

// templates keeps each template's ReplicaSet (and Service) in place and
// records how it stands. The experiment becomes available, and Running, the
// first time every template is.
func templates(plan *Plan, ex *v1alpha1.Experiment, sets map[string]*appsv1.ReplicaSet, services map[string]*corev1.Service, now metav1.Time) {
	st := &plan.Status
	deadline := time.Duration(ptr.Deref(ex.Spec.ProgressDeadlineSeconds, DefaultProgressDeadlineSeconds)) * time.Second
	allAvailable := true
	for i := range ex.Spec.Templates {
		t := &ex.Spec.Templates[i]
		ts := templateStatus(st, t.Name)
		hash := TemplateHash(ex, t)
		ts.PodTemplateHash = hash
		rs := sets[ReplicaSetName(ex, t)]
		if rs == nil {
			plan.Create = append(plan.Create, newReplicaSet(ex, t, hash))
			plan.event(corev1.EventTypeNormal, reasons.ReplicaSetCreated, "Created ReplicaSet %s for template %s", ReplicaSetName(ex, t), t.Name)
			setTemplate(ts, TemplateProgressing, "", now)
			allAvailable = false
		} else {
			if ptr.Deref(rs.Spec.Replicas, 1) != desired(t) {
				plan.Scale[rs.Name] = desired(t)
			}
			ts.Replicas, ts.UpdatedReplicas = rs.Status.Replicas, rs.Status.Replicas
			ts.ReadyReplicas, ts.AvailableReplicas = rs.Status.ReadyReplicas, rs.Status.AvailableReplicas
			available := rs.Status.ObservedGeneration >= rs.Generation && ptr.Deref(rs.Spec.Replicas, 1) == desired(t) &&
				rs.Status.AvailableReplicas >= desired(t)
			switch {
			case available:
				setTemplate(ts, TemplateRunning, "", now)
			case ts.Status == TemplateProgressing && ts.LastTransitionTime != nil && now.Sub(ts.LastTransitionTime.Time) >= deadline:
				setTemplate(ts, TemplateFailed, fmt.Sprintf("ReplicaSet %s did not become available within progressDeadlineSeconds (%ds): %d of %d pods available",
					rs.Name, int(deadline.Seconds()), rs.Status.AvailableReplicas, desired(t)), now)
			default:
				setTemplate(ts, TemplateProgressing, "", now)
				plan.requeue(ts.LastTransitionTime.Add(deadline).Sub(now.Time))
			}
			allAvailable = allAvailable && available
		}
		if t.Service != nil {
			name := ServiceName(ex, t)
			switch svc := services[name]; {
			case svc == nil:
				plan.CreateServices = append(plan.CreateServices, newService(ex, t, hash))
				ts.ServiceName = name
			case !metav1.IsControlledBy(svc, ex):
				setTemplate(ts, TemplateError, fmt.Sprintf("Service %s exists and is not this experiment's", name), now)
			default:
				ts.ServiceName = name
			}
		}
	}
	if allAvailable && st.AvailableAt == nil {
		st.AvailableAt = &now
		st.Phase = v1alpha1.AnalysisPhaseRunning
		plan.event(corev1.EventTypeNormal, reasons.ExperimentPrefix+string(v1alpha1.AnalysisPhaseRunning), "Every template is available; experiment running%s", durationNote(ex))
	}
	if st.Phase == v1alpha1.AnalysisPhasePending {
		st.Conditions = conditions.Set(st.Conditions, ConditionProgressing, metav1.ConditionTrue, ReasonReplicaSetUpdated, "waiting for every template to become available", now)
		st.Message = "waiting for every template to become available"
	} else {
		st.Conditions = conditions.Set(st.Conditions, ConditionProgressing, metav1.ConditionTrue, ReasonAvailable, "every template became available", now)
	}
}

func durationNote(ex *v1alpha1.Experiment) string {
	if ex.Spec.Duration == "" {
		return ""
	}
	return " for " + string(ex.Spec.Duration)
}

// templateStatus is the status entry of a template, added when missing.
func templateStatus(st *v1alpha1.ExperimentStatus, name string) *v1alpha1.TemplateStatus {
	return entry(&st.TemplateStatuses, v1alpha1.TemplateStatus{Name: name}, func(t *v1alpha1.TemplateStatus) bool { return t.Name == name })
}

// entry is the element of a status list that is, or is added as, fresh.
func entry[T any](list *[]T, fresh T, is func(*T) bool) *T {
	for i := range *list {
		if is(&(*list)[i]) {
			return &(*list)[i]
		}
	}
	*list = append(*list, fresh)
	return &(*list)[len(*list)-1]
}

// setTemplate records a template's status, moving lastTransitionTime only
// when the status changes.
func setTemplate(ts *v1alpha1.TemplateStatus, status, message string, now metav1.Time) {
	if ts.Status != status || ts.LastTransitionTime == nil {
		ts.LastTransitionTime = &now
	}
	ts.Status, ts.Message = status, message
}

// analyses starts each analysis's run and records how it stands.
func analyses(plan *Plan, ex *v1alpha1.Experiment, runs map[string]*v1alpha1.AnalysisRun) {
	st := &plan.Status
	for _, a := range ex.Spec.Analyses {
		rs := runStatus(st, a.Name)
		if rs.AnalysisRun == "" {
			// A retried experiment (its status cleared) measures anew: the
			// runs of the last attempt keep their names and outcomes.
			rs.AnalysisRun = freeName(runs, RunName(ex, a.Name))
		}
		name := rs.AnalysisRun
		run := runs[name]
		if run == nil {
			if rs.Phase == "" {
				plan.event(corev1.EventTypeNormal, reasons.AnalysisRunCreated, "Created analysis run %s for analysis %s", name, a.Name)
			}
			plan.CreateRuns = append(plan.CreateRuns, RunRequest{Name: name, Analysis: a})
			if !analysis.Completed(rs.Phase) {
				rs.Phase = v1alpha1.AnalysisPhasePending
			}
			continue
		}
		rs.Phase, rs.Message = run.Status.Phase, run.Status.Message
		if rs.Phase == "" {
			rs.Phase = v1alpha1.AnalysisPhasePending
		}
	}
}

// freeName is base, or base.N for the first N no run holds.
func freeName(runs map[string]*v1alpha1.AnalysisRun, base string) string {
	name := base
	for n := 1; runs[name] != nil; n++ {
		name = fmt.Sprintf("%s.%d", base, n)
	}
	return name
}

// runStatus is the status entry of an analysis, added when missing.
func runStatus(st *v1alpha1.ExperimentStatus, name string) *v1alpha1.ExperimentAnalysisRunStatus {
	return entry(&st.AnalysisRuns, v1alpha1.ExperimentAnalysisRunStatus{Name: name}, func(r *v1alpha1.ExperimentAnalysisRunStatus) bool { return r.Name == name })
}

// decideEnd ends the experiment when it is over: a template failed, an
// analysis failed, it was terminated, or its time is up and the analyses it
// waits for are done.
func decideEnd(plan *Plan, ex *v1alpha1.Experiment, now metav1.Time) {
	st := &plan.Status
	for _, ts := range st.TemplateStatuses {
		switch ts.Status {
		case TemplateFailed:
			end(plan, ex, v1alpha1.AnalysisPhaseFailed, "template "+ts.Name+": "+ts.Message, now)
			return
		case TemplateError:
			end(plan, ex, v1alpha1.AnalysisPhaseError, "template "+ts.Name+": "+ts.Message, now)
			return
		}
	}
	for _, r := range st.AnalysisRuns {
		if r.Phase == v1alpha1.AnalysisPhaseFailed || r.Phase == v1alpha1.AnalysisPhaseError {
			end(plan, ex, r.Phase, fmt.Sprintf("analysis %s %s%s", r.Name, r.Phase, colon(r.Message)), now)
			return
		}
	}
	if ex.Spec.Terminate {
		end(plan, ex, outcome(st), "Experiment terminated", now)
		return
	}
	if st.AvailableAt == nil {
		return
	}
	required, all, anyRequired := true, true, false
	for _, a := range ex.Spec.Analyses {
		done := analysis.Completed(runStatus(st, a.Name).Phase)
		all = all && done
		if a.RequiredForCompletion {
			anyRequired = true
			required = required && done
		}
	}
	var over bool
	switch d, err := rollout.ParseDuration(string(ex.Spec.Duration)); {
	case ex.Spec.Duration != "" && err == nil:
		left := st.AvailableAt.Add(d).Sub(now.Time)
		over = left <= 0 && required
		if left > 0 {
			plan.requeue(left)
			st.Message = fmt.Sprintf("running; %s left of %s", left.Round(time.Second), d)
		} else if !required {
			st.Message = "duration passed; waiting for the analyses required for completion"
		}
	case anyRequired:
		over = required
		st.Message = "running until the analyses required for completion finish"
	case len(ex.Spec.Analyses) > 0:
		over = all
		st.Message = "running until its analyses finish"
	default:
		st.Message = "running until terminated"
	}
	if over {
		end(plan, ex, outcome(st), "", now)
	}
}

// outcome is how an experiment that ends now went: its worst completed
// analysis, or Successful.
func outcome(st *v1alpha1.ExperimentStatus) v1alpha1.AnalysisPhase {
	worst := v1alpha1.AnalysisPhaseSuccessful
	for _, r := range st.AnalysisRuns {
		if rank(r.Phase) > rank(worst) {
			worst = r.Phase
		}
	}
	return worst
}

func rank(p v1alpha1.AnalysisPhase) int {
	switch p {
	case v1alpha1.AnalysisPhaseInconclusive:
		return 1
	case v1alpha1.AnalysisPhaseError:
		return 2
	case v1alpha1.AnalysisPhaseFailed:
		return 3
	}
	return 0
}

// end completes the experiment in a phase; its templates are done too.
func end(plan *Plan, ex *v1alpha1.Experiment, phase v1alpha1.AnalysisPhase, message string, now metav1.Time) {
	st := &plan.Status
	st.Phase, st.Message = phase, message
	for i := range st.TemplateStatuses {
		ts := &st.TemplateStatuses[i]
		if ts.Status != TemplateFailed && ts.Status != TemplateError {
			setTemplate(ts, TemplateSuccessful, "", now)
		}
	}
	st.Conditions = conditions.Set(st.Conditions, ConditionProgressing, metav1.ConditionFalse, ReasonCompleted, "experiment "+string(phase)+colon(message), now)
	typ := corev1.EventTypeNormal
	if phase != v1alpha1.AnalysisPhaseSuccessful {
		typ = corev1.EventTypeWarning
	}
	plan.event(typ, "Experiment"+string(phase), "Experiment %s%s", phase, colon(message))
}

// wrapUp stops what an ended experiment still runs: its analyses at once,
// its pods and Services once scaleDownDelaySeconds have passed since the end.
func wrapUp(plan *Plan, ex *v1alpha1.Experiment, sets map[string]*appsv1.ReplicaSet, services map[string]*corev1.Service, runs map[string]*v1alpha1.AnalysisRun, now metav1.Time) {
	st := &plan.Status
	for i := range st.AnalysisRuns {
		if r := runs[st.AnalysisRuns[i].AnalysisRun]; r != nil && r.Status.Phase != "" {
			st.AnalysisRuns[i].Phase, st.AnalysisRuns[i].Message = r.Status.Phase, r.Status.Message
		}
	}
	var names []string
	for name := range runs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if r := runs[name]; !analysis.Completed(r.Status.Phase) && !r.Spec.Terminate {
			plan.TerminateRuns = append(plan.TerminateRuns, name)
		}
	}
	for i := range st.TemplateStatuses {
		ts := &st.TemplateStatuses[i]
		if rs := sets[ReplicaSetName(ex, &v1alpha1.TemplateSpec{Name: ts.Name})]; rs != nil {
			ts.Replicas, ts.UpdatedReplicas = rs.Status.Replicas, rs.Status.Replicas
			ts.ReadyReplicas, ts.AvailableReplicas = rs.Status.ReadyReplicas, rs.Status.AvailableReplicas
		}
	}
	endedAt := now.Time
	if c := conditions.Get(st.Conditions, ConditionProgressing); c != nil && c.Status == metav1.ConditionFalse {
		endedAt = c.LastTransitionTime.Time
	}
	delay := time.Duration(ptr.Deref(ex.Spec.ScaleDownDelaySeconds, DefaultScaleDownDelaySeconds)) * time.Second
	if left := endedAt.Add(delay).Sub(now.Time); left > 0 {
		for _, rs := range sets {
			if ptr.Deref(rs.Spec.Replicas, 1) > 0 {
				plan.requeue(left)
				break
			}
		}
		return
	}
	for _, rs := range sets {
		if ptr.Deref(rs.Spec.Replicas, 1) != 0 {
			plan.Scale[rs.Name] = 0
		}
	}
	for name, svc := range services {
		if svc != nil && metav1.IsControlledBy(svc, ex) {
			plan.DeleteServices = append(plan.DeleteServices, name)
		}
	}
	sort.Strings(plan.DeleteServices)
	for i := range st.TemplateStatuses {
		st.TemplateStatuses[i].ServiceName = ""
	}
}

func colon(msg string) string {
	if msg == "" {
		return ""
	}
	return ": " + msg
}
