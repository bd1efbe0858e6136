package rollout

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/analysis"
	"github.com/vireo-dev/vireo/internal/reasons"
)

// Labels of the AnalysisRuns a Rollout creates, as Argo Rollouts sets them.
const (
	RunTypeLabel      = "rollout-type"
	RunStepIndexLabel = "step-index"
)

// The kinds of a Rollout's AnalysisRuns: the rollout-type label's values.
const (
	RunBackground    = "Background"
	RunStep          = "Step"
	RunPrePromotion  = "PrePromotion"
	RunPostPromotion = "PostPromotion"
)

// Default AnalysisRun history limits.
const (
	DefaultSuccessfulRunHistoryLimit   = 5
	DefaultUnsuccessfulRunHistoryLimit = 5
)

// RunRequest asks the applier for an AnalysisRun: the applier reads the
// templates, resolves the args and creates it, owned by the Rollout.
type RunRequest struct {
	Name     string
	Kind     string
	Step     *int32
	Analysis *v1alpha1.RolloutAnalysis
	// Latest and Stable are the pod-template hashes podTemplateHashValue reads.
	Latest, Stable string
	Revision       string
}

// runs indexes the Rollout's AnalysisRuns by name.
type runs map[string]*v1alpha1.AnalysisRun

func indexRuns(list []*v1alpha1.AnalysisRun) runs {
	out := runs{}
	for _, r := range list {
		out[r.Name] = r
	}
	return out
}

// runName is the base name of a run: <rollout>-<hash>-<revision>, then the
// step index, or pre or post.
func runName(ro *v1alpha1.Rollout, hash, rev, kind string, step *int32) string {
	name := fmt.Sprintf("%s-%s-%s", ro.Name, hash, rev)
	switch kind {
	case RunStep:
		name += "-" + strconv.Itoa(int(*step))
	case RunPrePromotion:
		name += "-pre"
	case RunPostPromotion:
		name += "-post"
	}
	return name
}

// belongs reports whether a run name is the base name or one of its retries (base.N).
func belongs(name, base string) bool {
	return name == base || strings.HasPrefix(name, base+".")
}

// freeName is base, or base.N for the first N not taken (a retry after an
// abort): the names of AnalysisRuns and Experiments.
func freeName(taken func(string) bool, base string) string {
	if !taken(base) {
		return base
	}
	for n := 1; ; n++ {
		if name := fmt.Sprintf("%s.%d", base, n); !taken(name) {
			return name
		}
	}
}

// gateResult is where an analysis stands after a pass.
type gateResult int

const (
	analysisWaiting gateResult = iota // running, or just created
	analysisPassed                    // Successful, or Inconclusive and promoted by the user
	analysisStopped                   // Failed or Error (the rollout aborts), or Inconclusive (it pauses)
)

// OnAnalysisFailureAnnotation on a Rollout chooses what a Failed or Error
// analysis run does (Vireo's own; the manifest stays valid Argo): abort
// (the default, as Argo), pause (wait for a person: promote goes on, abort
// aborts), or notify (an event, which notifications can send, and the
// rollout goes on).
const OnAnalysisFailureAnnotation = "vireo.dev/on-analysis-failure"

// The values of OnAnalysisFailureAnnotation.
const (
	OnFailureAbort  = "abort"
	OnFailurePause  = "pause"
	OnFailureNotify = "notify"
)

// analysisGate keeps one run of a kind going for the current revision: it
// asks for the run when *ref names none of this revision (or the run is
// gone), records the run's phase in *ref, and acts on its outcome: a Failed
// or Error run aborts the rollout, an Inconclusive one pauses it until
// promoted.
func analysisGate(plan *Plan, ref **v1alpha1.RolloutAnalysisRunStatus, req RunRequest, now metav1.Time) gateResult {
	st := &plan.Status
	all := plan.runs
	base := req.Name
	if *ref == nil || !belongs((*ref).Name, base) {
		req.Name = freeName(func(n string) bool { return all[n] != nil }, base)
		plan.CreateRuns = append(plan.CreateRuns, req)
		*ref = &v1alpha1.RolloutAnalysisRunStatus{Name: req.Name, Status: v1alpha1.AnalysisPhasePending}
		plan.waitingOnAnalysis = true
		return analysisWaiting
	}
	run := all[(*ref).Name]
	if run == nil {
		// Just created (not yet seen) or deleted by someone: asking again is
		// harmless, as creating an existing name changes nothing.
		req.Name = (*ref).Name
		plan.CreateRuns = append(plan.CreateRuns, req)
		plan.waitingOnAnalysis = true
		return analysisWaiting
	}
	recorded := (*ref).Status
	phase := run.Status.Phase
	if phase == "" {
		phase = v1alpha1.AnalysisPhasePending
	}
	**ref = v1alpha1.RolloutAnalysisRunStatus{Name: run.Name, Status: phase, Message: run.Status.Message}
	switch phase {
	case v1alpha1.AnalysisPhaseSuccessful:
		return analysisPassed
	case v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError:
		switch plan.onFailure {
		case OnFailurePause:
			if recorded == phase && pauseCondition(st, v1alpha1.PauseReasonFailedAnalysis) == nil {
				// Paused for it before, and promoted since: the user goes on.
				st.ControllerPause = len(st.PauseConditions) > 0
				return analysisPassed
			}
			if pauseCondition(st, v1alpha1.PauseReasonFailedAnalysis) == nil {
				st.PauseConditions = append(st.PauseConditions, v1alpha1.PauseCondition{Reason: v1alpha1.PauseReasonFailedAnalysis, StartTime: wholeSecondUp(now)})
				st.ControllerPause = true
				plan.event(corev1.EventTypeWarning, reasons.AnalysisRunPrefix+string(phase), "%s analysis run %s %s%s; paused until promoted or aborted (%s: pause)",
					req.Kind, run.Name, phase, colon(run.Status.Message), OnAnalysisFailureAnnotation)
			}
			return analysisStopped
		case OnFailureNotify:
			if recorded != phase {
				plan.event(corev1.EventTypeWarning, reasons.AnalysisRunPrefix+string(phase), "%s analysis run %s %s%s; going on (%s: notify)",
					req.Kind, run.Name, phase, colon(run.Status.Message), OnAnalysisFailureAnnotation)
			}
			return analysisPassed
		}
		if !st.Abort {
			st.Abort, st.AbortedAt = true, nil
			plan.event(corev1.EventTypeWarning, reasons.AnalysisRunPrefix+string(phase), "%s analysis run %s %s%s", req.Kind, run.Name, phase, colon(run.Status.Message))
		}
		return analysisStopped
	case v1alpha1.AnalysisPhaseInconclusive:
		if recorded == v1alpha1.AnalysisPhaseInconclusive && pauseCondition(st, v1alpha1.PauseReasonInconclusiveAnalysis) == nil {
			// Paused for it before, and promoted since: the user accepts the result.
			st.ControllerPause = len(st.PauseConditions) > 0
			return analysisPassed
		}
		if pauseCondition(st, v1alpha1.PauseReasonInconclusiveAnalysis) == nil {
			st.PauseConditions = append(st.PauseConditions, v1alpha1.PauseCondition{Reason: v1alpha1.PauseReasonInconclusiveAnalysis, StartTime: wholeSecondUp(now)})
			st.ControllerPause = true
			plan.event(corev1.EventTypeWarning, reasons.AnalysisRunPrefix+string(v1alpha1.AnalysisPhaseInconclusive), "%s analysis run %s Inconclusive%s; paused until promoted", req.Kind, run.Name, colon(run.Status.Message))
		}
		return analysisStopped
	}
	plan.waitingOnAnalysis = true
	return analysisWaiting
}

// canaryRequest builds the request of a canary's run of a kind.
func canaryRequest(ro *v1alpha1.Rollout, st *v1alpha1.RolloutStatus, hash, rev, kind string, step *int32, a *v1alpha1.RolloutAnalysis) RunRequest {
	return RunRequest{Name: runName(ro, hash, rev, kind, step), Kind: kind, Step: step, Analysis: a, Latest: hash, Stable: st.StableRS, Revision: rev}
}

// backgroundAnalysis runs the canary's background analysis from startingStep
// on, while the new revision is neither stable nor aborted.
func backgroundAnalysis(plan *Plan, ro *v1alpha1.Rollout, hash, rev string, now metav1.Time) {
	st := &plan.Status
	c := ro.Spec.Strategy.Canary
	if c.Analysis == nil || st.CurrentPodHash != hash || hash == st.StableRS || st.Abort || st.PromoteFull {
		return
	}
	if start := c.Analysis.StartingStep; start != nil && (st.CurrentStepIndex == nil || *st.CurrentStepIndex < *start) {
		return
	}
	ref := &st.Canary.CurrentBackgroundAnalysisRunStatus
	req := canaryRequest(ro, st, hash, rev, RunBackground, nil, &c.Analysis.RolloutAnalysis)
	waiting := plan.waitingOnAnalysis
	if analysisGate(plan, ref, req, now) == analysisPassed && (*ref).Status == v1alpha1.AnalysisPhaseInconclusive {
		// Accepted by the user: measuring goes on in a new run.
		*ref = nil
	}
	plan.waitingOnAnalysis = waiting // a background run does not hold the rollout
}

// stepAnalysis runs an inline analysis step; it is done when its run passes.
func stepAnalysis(plan *Plan, ro *v1alpha1.Rollout, hash, rev string, index int32, now metav1.Time) bool {
	st := &plan.Status
	a := ro.Spec.Strategy.Canary.Steps[index].Analysis
	ref := &st.Canary.CurrentStepAnalysisRunStatus
	req := canaryRequest(ro, st, hash, rev, RunStep, &index, a)
	if analysisGate(plan, ref, req, now) != analysisPassed {
		return false
	}
	*ref = nil
	return true
}

// sweepRuns terminates the Rollout's runs that nothing waits for any more
// (all of them on abort), and deletes completed ones beyond the history
// limits, keeping those the status names.
func sweepRuns(plan *Plan, ro *v1alpha1.Rollout, list []*v1alpha1.AnalysisRun) {
	st := &plan.Status
	current := map[string]bool{}
	for _, ref := range []*v1alpha1.RolloutAnalysisRunStatus{st.Canary.CurrentStepAnalysisRunStatus, st.Canary.CurrentBackgroundAnalysisRunStatus,
		st.BlueGreen.PrePromotionAnalysisRunStatus, st.BlueGreen.PostPromotionAnalysisRunStatus} {
		if ref != nil {
			current[ref.Name] = true
		}
	}
	var done []ended
	for _, r := range list {
		if r.DeletionTimestamp != nil {
			continue
		}
		finished := analysis.Completed(r.Status.Phase)
		switch {
		case !finished && !r.Spec.Terminate && (!current[r.Name] || st.Abort):
			plan.TerminateRuns = append(plan.TerminateRuns, r.Name)
		case finished && !current[r.Name]:
			done = append(done, ended{r.Name, r.CreationTimestamp, r.Status.Phase})
		}
	}
	plan.DeleteRuns = pastHistory(ro, done)
}

// ended is a completed AnalysisRun or Experiment that nothing waits for.
type ended struct {
	name    string
	created metav1.Time
	phase   v1alpha1.AnalysisPhase
}

// pastHistory names the ended objects beyond the rollout's history limits:
// the successful ones past the newest successfulRunHistoryLimit, the others
// past unsuccessfulRunHistoryLimit.
func pastHistory(ro *v1alpha1.Rollout, done []ended) []string {
	sort.SliceStable(done, func(i, j int) bool {
		if !done[i].created.Equal(&done[j].created) {
			return done[j].created.Before(&done[i].created)
		}
		return done[i].name > done[j].name
	})
	okLimit, badLimit := historyLimits(ro)
	var ok, bad int32
	var out []string
	for _, e := range done { // newest first
		if e.phase == v1alpha1.AnalysisPhaseSuccessful {
			if ok++; ok > okLimit {
				out = append(out, e.name)
			}
		} else if bad++; bad > badLimit {
			out = append(out, e.name)
		}
	}
	return out
}

// historyLimits are how many successful and unsuccessful completed
// AnalysisRuns (and Experiments) a rollout keeps.
func historyLimits(ro *v1alpha1.Rollout) (ok, bad int32) {
	ok, bad = DefaultSuccessfulRunHistoryLimit, DefaultUnsuccessfulRunHistoryLimit
	if a := ro.Spec.Analysis; a != nil {
		if a.SuccessfulRunHistoryLimit != nil {
			ok = *a.SuccessfulRunHistoryLimit
		}
		if a.UnsuccessfulRunHistoryLimit != nil {
			bad = *a.UnsuccessfulRunHistoryLimit
		}
	}
	return ok, bad
}

// abortCause is why analysis or an experiment aborted the rollout, for its
// message; "" when none did.
func abortCause(plan *Plan) string {
	st := &plan.Status
	if cause := experimentCause(plan); cause != "" {
		return cause
	}
	for _, ref := range []*v1alpha1.RolloutAnalysisRunStatus{st.Canary.CurrentStepAnalysisRunStatus, st.Canary.CurrentBackgroundAnalysisRunStatus,
		st.BlueGreen.PrePromotionAnalysisRunStatus, st.BlueGreen.PostPromotionAnalysisRunStatus} {
		if ref != nil && (ref.Status == v1alpha1.AnalysisPhaseFailed || ref.Status == v1alpha1.AnalysisPhaseError) {
			return "analysis run " + ref.Name + " " + string(ref.Status) + colon(ref.Message)
		}
	}
	return ""
}

// clearAnalysis forgets the runs and the experiment of an attempt: a retry or
// a new revision starts new ones.
func clearAnalysis(st *v1alpha1.RolloutStatus) {
	st.Canary.CurrentExperiment = ""
	st.Canary.CurrentStepAnalysisRunStatus, st.Canary.CurrentBackgroundAnalysisRunStatus = nil, nil
	st.BlueGreen.PrePromotionAnalysisRunStatus, st.BlueGreen.PostPromotionAnalysisRunStatus = nil, nil
}

func colon(msg string) string {
	if msg == "" {
		return ""
	}
	return ": " + msg
}
