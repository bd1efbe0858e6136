// Package rolloutview gathers what a person wants to see of a Rollout: its
// status, step and weights, its revisions with their ReplicaSets, pods and
// analysis runs. The CLI draws it as a tree; the dashboard sends it as JSON.
package rolloutview

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/judge"
	planner "github.com/vireo-dev/vireo/internal/rollout"
)

// Rollout is one Rollout as shown.
type Rollout struct {
	Name      string    `json:"name"`
	Namespace string    `json:"namespace"`
	Created   time.Time `json:"created"`
	// Status is Healthy, Progressing, Paused or Degraded; Message says why.
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
	// Strategy is Canary or BlueGreen.
	Strategy string `json:"strategy"`
	// Step is the index of the current step (the number of steps done), of
	// Steps, as Argo's plugin shows it: 1/8 while paused after the first.
	Step  int `json:"step"`
	Steps int `json:"steps"`
	// StepList describes each canary step: "setWeight 20", "pause 10s".
	StepList []string `json:"stepList,omitempty"`
	// SetWeight is the weight the steps ask for, ActualWeight the one in
	// force (the routers' verified weight, or the canary's share of pods).
	SetWeight    *int32     `json:"setWeight,omitempty"`
	ActualWeight *int32     `json:"actualWeight,omitempty"`
	Images       []Image    `json:"images"`
	Replicas     Replicas   `json:"replicas"`
	Revisions    []Revision `json:"revisions"`
}

// Image is a container image and the roles of the ReplicaSets running it.
type Image struct {
	Image string   `json:"image"`
	Roles []string `json:"roles"`
}

// Replicas are the Rollout's pod counts.
type Replicas struct {
	Desired   int32 `json:"desired"`
	Current   int32 `json:"current"`
	Updated   int32 `json:"updated"`
	Ready     int32 `json:"ready"`
	Available int32 `json:"available"`
}

// Revision is one revision of the template: its ReplicaSet and its analysis runs.
type Revision struct {
	Number       int64         `json:"number"`
	ReplicaSets  []ReplicaSet  `json:"replicaSets"`
	AnalysisRuns []AnalysisRun `json:"analysisRuns,omitempty"`
}

// ReplicaSet is one ReplicaSet of the Rollout and its pods.
type ReplicaSet struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	// Status: Healthy (all available), Progressing, or ScaledDown.
	Status    string   `json:"status"`
	Roles     []string `json:"roles"` // stable, canary, preview, active
	Images    []string `json:"images"`
	Desired   int32    `json:"desired"`
	Available int32    `json:"available"`
	Pods      []Pod    `json:"pods"`
}

// Pod is one pod.
type Pod struct {
	Name     string    `json:"name"`
	Created  time.Time `json:"created"`
	Status   string    `json:"status"` // Running, Pending, Terminating, ...
	Ready    string    `json:"ready"`  // "1/1"
	Restarts int32     `json:"restarts"`
	IP       string    `json:"ip,omitempty"`
}

// AnalysisRun is one analysis run and its measurements.
type AnalysisRun struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Status  string    `json:"status"` // Pending, Running, Successful, Failed, Error, Inconclusive
	Message string    `json:"message,omitempty"`
	// Kind says which: Background, Step, PrePromotion, PostPromotion, or "".
	Kind    string   `json:"kind,omitempty"`
	Summary Summary  `json:"summary"`
	Metrics []Metric `json:"metrics"`
}

// Summary counts measurements by outcome.
type Summary struct {
	Successful   int32 `json:"successful"`
	Failed       int32 `json:"failed"`
	Inconclusive int32 `json:"inconclusive"`
	Error        int32 `json:"error"`
}

// Metric is one metric's measurements.
type Metric struct {
	Name         string        `json:"name"`
	Status       string        `json:"status"`
	Measurements []Measurement `json:"measurements"`
}

// Measurement is one measured value.
type Measurement struct {
	At     time.Time `json:"at"`
	Status string    `json:"status"`
	Value  string    `json:"value"`
	// Number is Value read as a number, for charts; nil when it is not one.
	Number *float64 `json:"number,omitempty"`
	// Judge is where the canary judge's test stood, for its measurements.
	Judge *JudgeReading `json:"judge,omitempty"`
}

// JudgeReading is one judge measurement: the e-value and where it fails,
// and the confidence interval on the canary/stable ratio with the
// tolerated ratio. High is nil while the interval is unbounded.
type JudgeReading struct {
	EValue    float64  `json:"eValue"`
	FailsAt   float64  `json:"failsAt"`
	Low       float64  `json:"low"`
	High      *float64 `json:"high,omitempty"`
	Tolerated float64  `json:"tolerated"`
	Counts    string   `json:"counts,omitempty"`
	Boundary  string   `json:"boundary,omitempty"`
}

// judgeReading reads the judge's record from a measurement's metadata;
// nil when it has none.
func judgeReading(meta map[string]string) *JudgeReading {
	num := func(k string) (float64, bool) {
		f, err := strconv.ParseFloat(meta[k], 64)
		return f, err == nil
	}
	e, ok := num(judge.MetaEValue)
	if !ok {
		return nil
	}
	r := &JudgeReading{EValue: e, Counts: meta[judge.MetaCounts], Boundary: meta[judge.MetaBoundary]}
	r.FailsAt, _ = num(judge.MetaFailsAt)
	r.Low, _ = num(judge.MetaLow)
	r.Tolerated, _ = num(judge.MetaTolerated)
	if h, ok := num(judge.MetaHigh); ok && !math.IsInf(h, 1) {
		r.High = &h
	}
	return r
}

// Objects are what a view is built from: the Rollout and the objects it owns.
type Objects struct {
	Rollout      *v1alpha1.Rollout
	ReplicaSets  []appsv1.ReplicaSet
	Pods         []corev1.Pod
	AnalysisRuns []v1alpha1.AnalysisRun
}

// Build makes the view of a Rollout from its objects.
func Build(o Objects) Rollout {
	ro := o.Rollout
	st := ro.Status
	v := Rollout{
		Name: ro.Name, Namespace: ro.Namespace, Created: ro.CreationTimestamp.Time,
		Status: string(st.Phase), Message: st.Message,
		Replicas: Replicas{Desired: ptr.Deref(ro.Spec.Replicas, 1), Current: st.Replicas, Updated: st.UpdatedReplicas, Ready: st.ReadyReplicas, Available: st.AvailableReplicas},
	}
	if v.Status == "" {
		v.Status = "Progressing"
	}
	roles := roleByHash(ro)
	switch {
	case ro.Spec.Strategy.BlueGreen != nil:
		v.Strategy = "BlueGreen"
	default:
		v.Strategy = "Canary"
		canary(&v, ro, o.ReplicaSets)
	}

	byRevision := map[int64]*Revision{}
	revision := func(n int64) *Revision {
		if byRevision[n] == nil {
			byRevision[n] = &Revision{Number: n}
		}
		return byRevision[n]
	}
	images := map[string][]string{}
	var imageOrder []string
	for _, rs := range o.ReplicaSets {
		hash := rs.Labels[planner.PodTemplateHashLabel]
		r := ReplicaSet{Name: rs.Name, Created: rs.CreationTimestamp.Time, Roles: roles[hash],
			Desired: ptr.Deref(rs.Spec.Replicas, 1), Available: rs.Status.AvailableReplicas}
		for _, c := range rs.Spec.Template.Spec.Containers {
			r.Images = append(r.Images, c.Image)
		}
		switch {
		case r.Desired == 0 && rs.Status.Replicas == 0:
			r.Status = "ScaledDown"
		case r.Available >= r.Desired && rs.Status.Replicas == r.Desired:
			r.Status = "Healthy"
		default:
			r.Status = "Progressing"
		}
		for _, p := range o.Pods {
			if metav1.IsControlledBy(&p, &rs) {
				r.Pods = append(r.Pods, pod(p))
			}
		}
		sort.Slice(r.Pods, func(i, j int) bool { return r.Pods[i].Name < r.Pods[j].Name })
		if r.Status != "ScaledDown" || len(r.Roles) > 0 {
			for _, img := range r.Images {
				if _, seen := images[img]; !seen {
					imageOrder = append(imageOrder, img)
				}
				images[img] = appendUnique(images[img], r.Roles...)
			}
		}
		rev := revision(planner.Revision(&rs))
		rev.ReplicaSets = append(rev.ReplicaSets, r)
	}
	for _, img := range imageOrder {
		v.Images = append(v.Images, Image{Image: img, Roles: images[img]})
	}

	inForce := runsInForce(ro)
	for _, run := range o.AnalysisRuns {
		n, _ := strconv.ParseInt(run.Annotations[planner.RevisionAnnotation], 10, 64)
		a := analysisRun(run)
		a.Kind = inForce[run.Name]
		rev := revision(n)
		rev.AnalysisRuns = append(rev.AnalysisRuns, a)
	}
	for _, r := range byRevision {
		sort.Slice(r.AnalysisRuns, func(i, j int) bool {
			a, b := r.AnalysisRuns[i], r.AnalysisRuns[j]
			if !a.Created.Equal(b.Created) {
				return a.Created.Before(b.Created)
			}
			return a.Name < b.Name
		})
		v.Revisions = append(v.Revisions, *r)
	}
	sort.Slice(v.Revisions, func(i, j int) bool { return v.Revisions[i].Number > v.Revisions[j].Number })
	return v
}

func appendUnique(list []string, items ...string) []string {
	for _, it := range items {
		if !slices.Contains(list, it) {
			list = append(list, it)
		}
	}
	return list
}

// roleByHash names what each pod-template hash is to the Rollout.
func roleByHash(ro *v1alpha1.Rollout) map[string][]string {
	st := ro.Status
	out := map[string][]string{}
	add := func(hash, role string) {
		if hash != "" {
			out[hash] = appendUnique(out[hash], role)
		}
	}
	if ro.Spec.Strategy.BlueGreen != nil {
		add(st.StableRS, "stable")
		add(st.BlueGreen.ActiveSelector, "active")
		if st.BlueGreen.PreviewSelector != st.BlueGreen.ActiveSelector {
			add(st.BlueGreen.PreviewSelector, "preview")
		}
		return out
	}
	add(st.StableRS, "stable")
	if st.CurrentPodHash != st.StableRS && !st.Abort {
		add(st.CurrentPodHash, "canary")
	}
	return out
}

// canary fills in the step and weights of a canary.
func canary(v *Rollout, ro *v1alpha1.Rollout, sets []appsv1.ReplicaSet) {
	c := ro.Spec.Strategy.Canary
	st := ro.Status
	v.Steps = len(c.Steps)
	v.Step = min(int(ptr.Deref(st.CurrentStepIndex, 0)), v.Steps)
	for _, s := range c.Steps {
		v.StepList = append(v.StepList, stepText(s))
	}
	promoted := st.CurrentPodHash != "" && st.CurrentPodHash == st.StableRS
	set := planner.CurrentWeight(ro, &st)
	v.SetWeight = &set
	if w := st.Canary.Weights; w != nil {
		actual := w.Canary.Weight
		if promoted {
			actual = set
		}
		v.ActualWeight = &actual
		return
	}
	// Without a router the canary's share is its share of available pods.
	var canaryPods, all int32
	for _, rs := range sets {
		all += rs.Status.AvailableReplicas
		if rs.Labels[planner.PodTemplateHashLabel] == st.CurrentPodHash {
			canaryPods += rs.Status.AvailableReplicas
		}
	}
	actual := int32(100)
	if all > 0 {
		actual = canaryPods * 100 / all
	}
	v.ActualWeight = &actual
}

// runsInForce names the analysis runs the Rollout's status points at, by kind.
func runsInForce(ro *v1alpha1.Rollout) map[string]string {
	out := map[string]string{}
	for kind, s := range map[string]*v1alpha1.RolloutAnalysisRunStatus{
		"Step": ro.Status.Canary.CurrentStepAnalysisRunStatus, "Background": ro.Status.Canary.CurrentBackgroundAnalysisRunStatus,
		"PrePromotion": ro.Status.BlueGreen.PrePromotionAnalysisRunStatus, "PostPromotion": ro.Status.BlueGreen.PostPromotionAnalysisRunStatus,
	} {
		if s != nil && s.Name != "" {
			out[s.Name] = kind
		}
	}
	return out
}

func pod(p corev1.Pod) Pod {
	out := Pod{Name: p.Name, Created: p.CreationTimestamp.Time, Status: string(p.Status.Phase), IP: p.Status.PodIP}
	ready := 0
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Ready {
			ready++
		}
		out.Restarts += cs.RestartCount
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			out.Status = w.Reason
		}
	}
	if p.DeletionTimestamp != nil {
		out.Status = "Terminating"
	}
	if out.Status == "" {
		out.Status = "Pending"
	}
	out.Ready = fmt.Sprintf("%d/%d", ready, len(p.Spec.Containers))
	return out
}

func analysisRun(run v1alpha1.AnalysisRun) AnalysisRun {
	st := run.Status
	a := AnalysisRun{Name: run.Name, Created: run.CreationTimestamp.Time, Status: string(st.Phase), Message: st.Message}
	if a.Status == "" {
		a.Status = "Pending"
	}
	for _, m := range st.MetricResults {
		a.Summary.Successful += m.Successful
		a.Summary.Failed += m.Failed
		a.Summary.Inconclusive += m.Inconclusive
		a.Summary.Error += m.Error
		metric := Metric{Name: m.Name, Status: string(m.Phase)}
		for _, ms := range m.Measurements {
			at := time.Time{}
			switch {
			case ms.FinishedAt != nil:
				at = ms.FinishedAt.Time
			case ms.StartedAt != nil:
				at = ms.StartedAt.Time
			}
			meas := Measurement{At: at, Status: string(ms.Phase), Value: ms.Value}
			if f, err := strconv.ParseFloat(strings.Trim(ms.Value, "[] "), 64); err == nil {
				meas.Number = &f
			}
			meas.Judge = judgeReading(ms.Metadata)
			metric.Measurements = append(metric.Measurements, meas)
		}
		a.Metrics = append(a.Metrics, metric)
	}
	return a
}

// stepText says what a canary step does, in the manifest's words.
func stepText(s v1alpha1.CanaryStep) string {
	switch {
	case s.SetWeight != nil:
		return fmt.Sprintf("setWeight %d", *s.SetWeight)
	case s.Pause != nil && s.Pause.Duration == nil:
		return "pause (until promoted)"
	case s.Pause != nil:
		if d, err := planner.PauseDuration(*s.Pause.Duration); err == nil {
			return "pause " + d.String()
		}
		return "pause " + s.Pause.Duration.String()
	case s.Analysis != nil:
		var names []string
		for _, t := range s.Analysis.Templates {
			names = append(names, t.TemplateName)
		}
		return "analysis " + strings.Join(names, ", ")
	case s.Experiment != nil:
		return "experiment"
	case s.SetCanaryScale != nil:
		switch sc := s.SetCanaryScale; {
		case sc.Replicas != nil:
			return fmt.Sprintf("setCanaryScale %d replicas", *sc.Replicas)
		case sc.Weight != nil:
			return fmt.Sprintf("setCanaryScale %d%%", *sc.Weight)
		default:
			return "setCanaryScale matchTrafficWeight"
		}
	case s.SetHeaderRoute != nil:
		return "setHeaderRoute " + s.SetHeaderRoute.Name
	case s.SetMirrorRoute != nil:
		return "setMirrorRoute " + s.SetMirrorRoute.Name
	case s.Plugin != nil:
		return "plugin " + s.Plugin.Name
	}
	return "step"
}
