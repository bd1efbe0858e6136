// Package rollout holds the pure logic of a Rollout: it reads the objects it is
// given and decides; it performs no I/O.
package rollout

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// DefaultProgressDeadlineSeconds applies when spec.progressDeadlineSeconds is unset.
const DefaultProgressDeadlineSeconds = 600

// Validate checks a Rollout's spec and returns every problem found, each naming
// its field (for example spec.strategy.canary.steps[2].setWeight). Checks that
// need other objects (Services, templates) belong to the reconciler.
func Validate(ro *v1alpha1.Rollout) field.ErrorList {
	spec := &ro.Spec
	p := field.NewPath("spec")
	var errs field.ErrorList
	if v, ok := ro.Annotations[OnAnalysisFailureAnnotation]; ok && v != OnFailureAbort && v != OnFailurePause && v != OnFailureNotify {
		errs = append(errs, field.NotSupported(field.NewPath("metadata", "annotations").Key(OnAnalysisFailureAnnotation), v,
			[]string{OnFailureAbort, OnFailurePause, OnFailureNotify}))
	}

	if spec.Replicas != nil && *spec.Replicas < 0 {
		errs = append(errs, field.Invalid(p.Child("replicas"), *spec.Replicas, "must be greater than or equal to 0"))
	}
	if spec.RevisionHistoryLimit != nil && *spec.RevisionHistoryLimit < 0 {
		errs = append(errs, field.Invalid(p.Child("revisionHistoryLimit"), *spec.RevisionHistoryLimit, "must be greater than or equal to 0"))
	}
	if spec.MinReadySeconds < 0 {
		errs = append(errs, field.Invalid(p.Child("minReadySeconds"), spec.MinReadySeconds, "must be greater than or equal to 0"))
	}
	deadline := int32(DefaultProgressDeadlineSeconds)
	if spec.ProgressDeadlineSeconds != nil {
		deadline = *spec.ProgressDeadlineSeconds
	}
	if deadline <= spec.MinReadySeconds {
		errs = append(errs, field.Invalid(p.Child("progressDeadlineSeconds"), deadline, "must be greater than spec.minReadySeconds"))
	}

	errs = append(errs, validateName(ro)...)
	errs = append(errs, validateTemplate(spec, p)...)
	errs = append(errs, validateStrategy(spec, p.Child("strategy"))...)
	return errs
}

// The names a Rollout gives what it creates start with its own: a
// ReplicaSet's is <rollout>-<hash of up to 10 characters>, an AnalysisRun's
// or an Experiment's adds -<revision>-<step or pre/post> and maybe .<retry>.
// Object names stop at 253 characters.
const (
	maxNameForReplicaSets = 253 - 1 - 10
	maxNameForRuns        = maxNameForReplicaSets - 16
)

// validateName refuses a Rollout name too long for the names of what it
// creates, rather than failing every create.
func validateName(ro *v1alpha1.Rollout) field.ErrorList {
	p := field.NewPath("metadata", "name")
	switch n := len(ro.Name); {
	case n > maxNameForReplicaSets:
		return field.ErrorList{field.TooLong(p, ro.Name, maxNameForReplicaSets)}
	case n > maxNameForRuns && createsRuns(ro):
		return field.ErrorList{field.Invalid(p, fmt.Sprintf("%d characters", n),
			fmt.Sprintf("must be no more than %d characters for a rollout with analysis or experiments (their runs' names add a revision and a step)", maxNameForRuns))}
	}
	return nil
}

// createsRuns reports whether a Rollout may create AnalysisRuns or Experiments.
func createsRuns(ro *v1alpha1.Rollout) bool {
	s := ro.Spec.Strategy
	if bg := s.BlueGreen; bg != nil {
		return bg.PrePromotionAnalysis != nil || bg.PostPromotionAnalysis != nil
	}
	if c := s.Canary; c != nil {
		if c.Analysis != nil {
			return true
		}
		for _, step := range c.Steps {
			if step.Analysis != nil || step.Experiment != nil {
				return true
			}
		}
	}
	return false
}

func validateTemplate(spec *v1alpha1.RolloutSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	hasTemplate := len(spec.Template.Spec.Containers) > 0 || len(spec.Template.Labels) > 0
	if spec.WorkloadRef != nil {
		w := p.Child("workloadRef")
		if hasTemplate {
			// Argo's words, which tools match on.
			errs = append(errs, field.Forbidden(p.Child("template"), "template must be empty for workload reference rollout"))
		}
		if spec.WorkloadRef.Name == "" {
			errs = append(errs, field.Required(w.Child("name"), "name of the Deployment to take the pod template from"))
		}
		if spec.WorkloadRef.Kind != "Deployment" {
			errs = append(errs, field.NotSupported(w.Child("kind"), spec.WorkloadRef.Kind, []string{"Deployment"}))
		}
		if spec.WorkloadRef.APIVersion != "apps/v1" {
			errs = append(errs, field.NotSupported(w.Child("apiVersion"), spec.WorkloadRef.APIVersion, []string{"apps/v1"}))
		}
		switch spec.WorkloadRef.ScaleDown {
		case "", v1alpha1.ScaleDownNever, v1alpha1.ScaleDownOnSuccess, v1alpha1.ScaleDownProgressively:
		default:
			errs = append(errs, field.NotSupported(w.Child("scaleDown"), spec.WorkloadRef.ScaleDown,
				[]string{v1alpha1.ScaleDownNever, v1alpha1.ScaleDownOnSuccess, v1alpha1.ScaleDownProgressively}))
		}
		if spec.Selector != nil {
			if _, err := metav1.LabelSelectorAsSelector(spec.Selector); err != nil {
				errs = append(errs, field.Invalid(p.Child("selector"), spec.Selector, err.Error()))
			}
		}
		return errs
	}

	t := p.Child("template")
	if len(spec.Template.Spec.Containers) == 0 {
		errs = append(errs, field.Required(t.Child("spec", "containers"), "a Rollout needs a pod template with at least one container, or spec.workloadRef"))
	}
	for i, c := range spec.Template.Spec.Containers {
		if c.Name == "" {
			errs = append(errs, field.Required(t.Child("spec", "containers").Index(i).Child("name"), ""))
		}
		if c.Image == "" {
			errs = append(errs, field.Required(t.Child("spec", "containers").Index(i).Child("image"), ""))
		}
	}
	if rp := spec.Template.Spec.RestartPolicy; rp != "" && rp != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(t.Child("spec", "restartPolicy"), rp, []string{string(corev1.RestartPolicyAlways)}))
	}
	if spec.Selector == nil {
		return append(errs, field.Required(p.Child("selector"), "a label selector that matches spec.template.metadata.labels"))
	}
	sel, err := metav1.LabelSelectorAsSelector(spec.Selector)
	switch {
	case err != nil:
		errs = append(errs, field.Invalid(p.Child("selector"), spec.Selector, err.Error()))
	case sel.Empty():
		errs = append(errs, field.Invalid(p.Child("selector"), spec.Selector, "empty selector is not allowed: it would select every pod in the namespace"))
	case !sel.Matches(labels.Set(spec.Template.Labels)):
		errs = append(errs, field.Invalid(p.Child("selector"), metav1.FormatLabelSelector(spec.Selector),
			"does not match spec.template.metadata.labels"))
	}
	return errs
}

func validateStrategy(spec *v1alpha1.RolloutSpec, p *field.Path) field.ErrorList {
	s := &spec.Strategy
	switch {
	case s.Canary != nil && s.BlueGreen != nil:
		return field.ErrorList{field.Forbidden(p, "only one of canary and blueGreen may be set")}
	case s.Canary == nil && s.BlueGreen == nil:
		return field.ErrorList{field.Required(p, "one of canary or blueGreen")}
	case s.BlueGreen != nil:
		return validateBlueGreen(s.BlueGreen, p.Child("blueGreen"))
	default:
		return validateCanary(s.Canary, p.Child("canary"))
	}
}

func validateBlueGreen(bg *v1alpha1.BlueGreenStrategy, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if bg.ActiveService == "" {
		errs = append(errs, field.Required(p.Child("activeService"), "the Service that receives production traffic"))
	}
	if bg.PreviewService != "" && bg.PreviewService == bg.ActiveService {
		errs = append(errs, field.Invalid(p.Child("previewService"), bg.PreviewService, "must differ from activeService"))
	}
	errs = append(errs, nonNegative(p.Child("previewReplicaCount"), bg.PreviewReplicaCount)...)
	errs = append(errs, nonNegative(p.Child("scaleDownDelaySeconds"), bg.ScaleDownDelaySeconds)...)
	errs = append(errs, nonNegative(p.Child("scaleDownDelayRevisionLimit"), bg.ScaleDownDelayRevisionLimit)...)
	errs = append(errs, nonNegative(p.Child("abortScaleDownDelaySeconds"), bg.AbortScaleDownDelaySeconds)...)
	if bg.AutoPromotionSeconds < 0 {
		errs = append(errs, field.Invalid(p.Child("autoPromotionSeconds"), bg.AutoPromotionSeconds, "must be greater than or equal to 0"))
	}
	if bg.AutoPromotionSeconds > 0 && bg.AutoPromotionEnabled != nil && !*bg.AutoPromotionEnabled {
		errs = append(errs, field.Forbidden(p.Child("autoPromotionSeconds"), "cannot be used with autoPromotionEnabled: false"))
	}
	errs = append(errs, validateIntOrPercent(p.Child("maxUnavailable"), bg.MaxUnavailable)...)
	errs = append(errs, validateAnalysis(p.Child("prePromotionAnalysis"), bg.PrePromotionAnalysis)...)
	errs = append(errs, validateAnalysis(p.Child("postPromotionAnalysis"), bg.PostPromotionAnalysis)...)
	errs = append(errs, validateAntiAffinity(p.Child("antiAffinity"), bg.AntiAffinity)...)
	return errs
}

func validateCanary(c *v1alpha1.CanaryStrategy, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if c.CanaryService != "" && c.CanaryService == c.StableService {
		errs = append(errs, field.Invalid(p.Child("canaryService"), c.CanaryService, "must differ from stableService"))
	}
	errs = append(errs, validateIntOrPercent(p.Child("maxSurge"), c.MaxSurge)...)
	errs = append(errs, validateIntOrPercent(p.Child("maxUnavailable"), c.MaxUnavailable)...)
	if isZero(c.MaxSurge) && isZero(c.MaxUnavailable) {
		errs = append(errs, field.Invalid(p.Child("maxUnavailable"), c.MaxUnavailable.String(), "maxSurge and maxUnavailable cannot both be 0"))
	}
	errs = append(errs, nonNegative(p.Child("scaleDownDelaySeconds"), c.ScaleDownDelaySeconds)...)
	errs = append(errs, nonNegative(p.Child("scaleDownDelayRevisionLimit"), c.ScaleDownDelayRevisionLimit)...)
	errs = append(errs, nonNegative(p.Child("abortScaleDownDelaySeconds"), c.AbortScaleDownDelaySeconds)...)
	errs = append(errs, nonNegative(p.Child("minPodsPerReplicaSet"), c.MinPodsPerReplicaSet)...)
	errs = append(errs, validateAntiAffinity(p.Child("antiAffinity"), c.AntiAffinity)...)
	if c.Analysis != nil {
		errs = append(errs, validateAnalysis(p.Child("analysis"), &c.Analysis.RolloutAnalysis)...)
		if s := c.Analysis.StartingStep; s != nil && (*s < 0 || int(*s) > len(c.Steps)) {
			errs = append(errs, field.Invalid(p.Child("analysis", "startingStep"), *s, fmt.Sprintf("must be between 0 and the number of steps (%d)", len(c.Steps))))
		}
	}
	if c.PingPong != nil && (c.CanaryService != "" || c.StableService != "") {
		errs = append(errs, field.Forbidden(p.Child("pingPong"), "cannot be used with canaryService or stableService"))
	}

	if c.DynamicStableScale && c.TrafficRouting == nil {
		errs = append(errs, field.Forbidden(p.Child("dynamicStableScale"), "requires spec.strategy.canary.trafficRouting"))
	}
	maxWeight := int32(100)
	managed := map[string]bool{}
	if tr := c.TrafficRouting; tr != nil {
		for _, f := range []struct{ name, svc string }{{"canaryService", c.CanaryService}, {"stableService", c.StableService}} {
			if f.svc == "" {
				errs = append(errs, field.Required(p.Child(f.name), "traffic routing sends the canary's weight to canaryService and the rest to stableService"))
			}
		}
		if tr.MaxTrafficWeight != nil {
			maxWeight = *tr.MaxTrafficWeight
			if maxWeight < 1 {
				errs = append(errs, field.Invalid(p.Child("trafficRouting", "maxTrafficWeight"), maxWeight, "must be at least 1"))
			}
		}
		for i, r := range tr.ManagedRoutes {
			errs = append(errs, UniqueName(p.Child("trafficRouting", "managedRoutes").Index(i).Child("name"), r.Name, managed)...)
		}
	}
	for i := range c.Steps {
		errs = append(errs, validateStep(&c.Steps[i], p.Child("steps").Index(i), maxWeight, c.TrafficRouting != nil, managed)...)
	}
	return errs
}

func validateStep(step *v1alpha1.CanaryStep, p *field.Path, maxWeight int32, routed bool, managed map[string]bool) field.ErrorList {
	var errs field.ErrorList
	var set []string
	if step.SetWeight != nil {
		set = append(set, "setWeight")
		if w := *step.SetWeight; w < 0 || w > maxWeight {
			errs = append(errs, field.Invalid(p.Child("setWeight"), w, fmt.Sprintf("must be between 0 and %d", maxWeight)))
		}
	}
	if step.Pause != nil {
		set = append(set, "pause")
		if step.Pause.Duration != nil {
			if _, err := PauseDuration(*step.Pause.Duration); err != nil {
				errs = append(errs, field.Invalid(p.Child("pause", "duration"), step.Pause.Duration.String(), err.Error()))
			}
		}
	}
	if step.Analysis != nil {
		set = append(set, "analysis")
		errs = append(errs, validateAnalysis(p.Child("analysis"), step.Analysis)...)
	}
	if step.Experiment != nil {
		set = append(set, "experiment")
		errs = append(errs, validateExperimentStep(p.Child("experiment"), step.Experiment)...)
	}
	if sc := step.SetCanaryScale; sc != nil {
		set = append(set, "setCanaryScale")
		n := 0
		if sc.Weight != nil {
			n++
			if *sc.Weight < 0 || *sc.Weight > 100 {
				errs = append(errs, field.Invalid(p.Child("setCanaryScale", "weight"), *sc.Weight, "must be between 0 and 100"))
			}
		}
		if sc.Replicas != nil {
			n++
			if *sc.Replicas < 0 {
				errs = append(errs, field.Invalid(p.Child("setCanaryScale", "replicas"), *sc.Replicas, "must be greater than or equal to 0"))
			}
		}
		if sc.MatchTrafficWeight {
			n++
		}
		if n != 1 {
			errs = append(errs, field.Invalid(p.Child("setCanaryScale"), n, "exactly one of weight, replicas and matchTrafficWeight must be set"))
		}
		if !routed {
			errs = append(errs, field.Forbidden(p.Child("setCanaryScale"), "requires spec.strategy.canary.trafficRouting: without a traffic router the canary's share of traffic is its share of pods, set by setWeight"))
		}
	}
	if hr := step.SetHeaderRoute; hr != nil {
		set = append(set, "setHeaderRoute")
		errs = append(errs, validateManagedRoute(p.Child("setHeaderRoute", "name"), hr.Name, routed, managed)...)
		for i, m := range hr.Match {
			mp := p.Child("setHeaderRoute", "match").Index(i)
			if m.HeaderName == "" {
				errs = append(errs, field.Required(mp.Child("headerName"), ""))
			}
			errs = append(errs, validateStringMatch(mp.Child("headerValue"), m.HeaderValue)...)
		}
	}
	if mr := step.SetMirrorRoute; mr != nil {
		set = append(set, "setMirrorRoute")
		errs = append(errs, validateManagedRoute(p.Child("setMirrorRoute", "name"), mr.Name, routed, managed)...)
		if mr.Percentage != nil && (*mr.Percentage < 0 || *mr.Percentage > 100) {
			errs = append(errs, field.Invalid(p.Child("setMirrorRoute", "percentage"), *mr.Percentage, "must be between 0 and 100"))
		}
	}
	if step.Plugin != nil {
		set = append(set, "plugin")
		if step.Plugin.Name == "" {
			errs = append(errs, field.Required(p.Child("plugin", "name"), ""))
		}
	}
	switch len(set) {
	case 0:
		errs = append(errs, field.Required(p, "a step needs one of setWeight, pause, analysis, experiment, setCanaryScale, setHeaderRoute, setMirrorRoute, plugin"))
	case 1:
	default:
		errs = append(errs, field.Forbidden(p, "a step may set only one action, found "+strings.Join(set, ", ")))
	}
	return errs
}

func validateManagedRoute(p *field.Path, name string, routed bool, managed map[string]bool) field.ErrorList {
	switch {
	case !routed:
		return field.ErrorList{field.Forbidden(p, "header and mirror routes need spec.strategy.canary.trafficRouting")}
	case name == "":
		return field.ErrorList{field.Required(p, "the name of a route in spec.strategy.canary.trafficRouting.managedRoutes")}
	case !managed[name]:
		return field.ErrorList{field.NotFound(p, name)}
	}
	return nil
}

// UniqueName reports an empty name, or one already in seen, and records it.
func UniqueName(p *field.Path, name string, seen map[string]bool) field.ErrorList {
	switch {
	case name == "":
		return field.ErrorList{field.Required(p, "")}
	case seen[name]:
		return field.ErrorList{field.Duplicate(p, name)}
	}
	seen[name] = true
	return nil
}

func validateStringMatch(p *field.Path, m *v1alpha1.StringMatch) field.ErrorList {
	if m == nil {
		return field.ErrorList{field.Required(p, "one of exact, prefix, regex")}
	}
	n := 0
	for _, v := range []string{m.Exact, m.Prefix, m.Regex} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return field.ErrorList{field.Invalid(p, n, "exactly one of exact, prefix and regex must be set")}
	}
	return nil
}

func validateAnalysis(p *field.Path, a *v1alpha1.RolloutAnalysis) field.ErrorList {
	if a == nil {
		return nil
	}
	var errs field.ErrorList
	if len(a.Templates) == 0 {
		errs = append(errs, field.Required(p.Child("templates"), "at least one AnalysisTemplate or ClusterAnalysisTemplate"))
	}
	for i, t := range a.Templates {
		if t.TemplateName == "" {
			errs = append(errs, field.Required(p.Child("templates").Index(i).Child("templateName"), ""))
		}
	}
	seen := map[string]bool{}
	for i, arg := range a.Args {
		ap := p.Child("args").Index(i)
		errs = append(errs, UniqueName(ap.Child("name"), arg.Name, seen)...)
		if vf := arg.ValueFrom; vf != nil {
			if vf.PodTemplateHashValue != nil && vf.FieldRef != nil {
				errs = append(errs, field.Forbidden(ap.Child("valueFrom"), "only one of podTemplateHashValue and fieldRef may be set"))
			}
			if h := vf.PodTemplateHashValue; h != nil && *h != v1alpha1.Stable && *h != v1alpha1.Latest {
				errs = append(errs, field.NotSupported(ap.Child("valueFrom", "podTemplateHashValue"), string(*h), []string{string(v1alpha1.Stable), string(v1alpha1.Latest)}))
			}
		}
	}
	return errs
}

func validateExperimentStep(p *field.Path, e *v1alpha1.RolloutExperimentStep) field.ErrorList {
	var errs field.ErrorList
	if len(e.Templates) == 0 {
		errs = append(errs, field.Required(p.Child("templates"), "at least one template"))
	}
	names := map[string]bool{}
	for i, t := range e.Templates {
		tp := p.Child("templates").Index(i)
		errs = append(errs, UniqueName(tp.Child("name"), t.Name, names)...)
		if t.SpecRef != v1alpha1.StableSpecRef && t.SpecRef != v1alpha1.CanarySpecRef {
			errs = append(errs, field.NotSupported(tp.Child("specRef"), string(t.SpecRef), []string{string(v1alpha1.StableSpecRef), string(v1alpha1.CanarySpecRef)}))
		}
	}
	if e.Duration != "" {
		if _, err := ParseDuration(string(e.Duration)); err != nil {
			errs = append(errs, field.Invalid(p.Child("duration"), e.Duration, err.Error()))
		}
	}
	for i, a := range e.Analyses {
		ap := p.Child("analyses").Index(i)
		if a.Name == "" {
			errs = append(errs, field.Required(ap.Child("name"), ""))
		}
		if a.TemplateName == "" {
			errs = append(errs, field.Required(ap.Child("templateName"), ""))
		}
	}
	return errs
}

func validateAntiAffinity(p *field.Path, a *v1alpha1.AntiAffinity) field.ErrorList {
	if a == nil {
		return nil
	}
	pref, req := a.PreferredDuringSchedulingIgnoredDuringExecution, a.RequiredDuringSchedulingIgnoredDuringExecution
	if (pref == nil) == (req == nil) {
		return field.ErrorList{field.Invalid(p, "", "exactly one of preferredDuringSchedulingIgnoredDuringExecution and requiredDuringSchedulingIgnoredDuringExecution must be set")}
	}
	if pref != nil && (pref.Weight < 1 || pref.Weight > 100) {
		return field.ErrorList{field.Invalid(p.Child("preferredDuringSchedulingIgnoredDuringExecution", "weight"), pref.Weight, "must be between 1 and 100")}
	}
	return nil
}

func validateIntOrPercent(p *field.Path, v *intstr.IntOrString) field.ErrorList {
	if v == nil {
		return nil
	}
	if v.Type == intstr.Int {
		if v.IntVal < 0 {
			return field.ErrorList{field.Invalid(p, v.IntVal, "must be greater than or equal to 0")}
		}
		return nil
	}
	s := v.StrVal
	n, err := strconv.Atoi(strings.TrimSuffix(s, "%"))
	if !strings.HasSuffix(s, "%") || err != nil {
		return field.ErrorList{field.Invalid(p, s, "must be an integer or a percentage such as \"25%\"")}
	}
	if n < 0 || n > 100 {
		return field.ErrorList{field.Invalid(p, s, "percentage must be between 0% and 100%")}
	}
	return nil
}

func isZero(v *intstr.IntOrString) bool {
	if v == nil {
		return false
	}
	if v.Type == intstr.Int {
		return v.IntVal == 0
	}
	return v.StrVal == "0%" || v.StrVal == "0"
}

func nonNegative(p *field.Path, v *int32) field.ErrorList {
	if v != nil && *v < 0 {
		return field.ErrorList{field.Invalid(p, *v, "must be greater than or equal to 0")}
	}
	return nil
}

// maxSeconds is the largest number of seconds a time.Duration holds.
const maxSeconds = int64(math.MaxInt64 / int64(time.Second))

// PauseDuration converts a pause step's duration, an integer number of seconds
// or a string such as "30s", "10m" or "1h", to a time.Duration.
func PauseDuration(d intstr.IntOrString) (time.Duration, error) {
	if d.Type == intstr.Int {
		return seconds(int64(d.IntVal))
	}
	return ParseDuration(d.StrVal)
}

// ParseDuration reads a duration written as a Go duration ("90s", "1h30m") or
// as a plain number of seconds ("30"). Negative durations are errors.
func ParseDuration(s string) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return seconds(n)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("must be a number of seconds or a duration such as \"30s\", \"10m\", \"1h\"")
	}
	if d < 0 {
		return 0, fmt.Errorf("must not be negative")
	}
	return d, nil
}

func seconds(n int64) (time.Duration, error) {
	switch {
	case n < 0:
		return 0, fmt.Errorf("must not be negative")
	case n > maxSeconds:
		return 0, fmt.Errorf("must be at most %d seconds", maxSeconds)
	}
	return time.Duration(n) * time.Second, nil
}
