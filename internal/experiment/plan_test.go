package experiment

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/rollout"
)

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func template(name, image string) v1alpha1.TemplateSpec {
	labels := map[string]string{"app": "demo", "variant": name}
	return v1alpha1.TemplateSpec{
		Name:     name,
		Replicas: ptr.To[int32](2),
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image,
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		},
	}
}

func newExperiment() *v1alpha1.Experiment {
	return &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: "ab", Namespace: "default", UID: "ex-uid"},
		Spec: v1alpha1.ExperimentSpec{
			Templates: []v1alpha1.TemplateSpec{template("baseline", "demo:blue"), template("canary", "demo:green")},
		},
	}
}

// world plays the API server, the ReplicaSet controller (pods available
// readyAfter after they are asked for; never for image broken) and the
// AnalysisRun controller (phases from outcome) around the planner, a second
// per tick.
type world struct {
	t          *testing.T
	ex         *v1alpha1.Experiment
	rss        map[string]*appsv1.ReplicaSet
	asked      map[string]time.Time // when each ReplicaSet was last scaled up
	services   map[string]*corev1.Service
	runs       map[string]*v1alpha1.AnalysisRun
	now        time.Time
	readyAfter time.Duration
	broken     string
	outcome    map[string]v1alpha1.AnalysisPhase // analysis name -> phase it ends in
	endsAfter  time.Duration
	events     []string
}

func newWorld(t *testing.T, ex *v1alpha1.Experiment) *world {
	return &world{t: t, ex: ex, rss: map[string]*appsv1.ReplicaSet{}, asked: map[string]time.Time{}, services: map[string]*corev1.Service{},
		runs: map[string]*v1alpha1.AnalysisRun{}, now: start, readyAfter: 5 * time.Second, outcome: map[string]v1alpha1.AnalysisPhase{}}
}

func (w *world) tick() *Plan {
	for name, rs := range w.rss {
		n := ptr.Deref(rs.Spec.Replicas, 1)
		avail := int32(0)
		if rs.Spec.Template.Spec.Containers[0].Image != w.broken && !w.now.Before(w.asked[name].Add(w.readyAfter)) {
			avail = n
		}
		rs.Status = appsv1.ReplicaSetStatus{Replicas: n, ReadyReplicas: avail, AvailableReplicas: avail, ObservedGeneration: rs.Generation}
	}
	for _, r := range w.runs {
		if r.Spec.Terminate || r.Status.Phase == v1alpha1.AnalysisPhaseSuccessful || r.Status.Phase == v1alpha1.AnalysisPhaseFailed {
			continue
		}
		r.Status.Phase = v1alpha1.AnalysisPhaseRunning
		if p, ok := w.outcome[r.Labels["analysis"]]; ok && !w.now.Before(r.CreationTimestamp.Add(w.endsAfter)) {
			r.Status.Phase = p
		}
	}
	obs := Observed{Experiment: w.ex.DeepCopy(), Services: map[string]*corev1.Service{}, Now: w.now}
	for _, rs := range w.rss {
		obs.ReplicaSets = append(obs.ReplicaSets, rs.DeepCopy())
	}
	for i := range w.ex.Spec.Templates {
		name := ServiceName(w.ex, &w.ex.Spec.Templates[i])
		if svc := w.services[name]; svc != nil {
			obs.Services[name] = svc.DeepCopy()
		}
	}
	for _, r := range w.runs {
		obs.AnalysisRuns = append(obs.AnalysisRuns, r.DeepCopy())
	}
	plan := Decide(obs)
	for _, rs := range plan.Create {
		rs = rs.DeepCopy()
		rs.Generation = 1
		w.rss[rs.Name] = rs
		w.asked[rs.Name] = w.now
	}
	for name, n := range plan.Scale {
		rs := w.rss[name]
		if rs == nil {
			w.t.Fatalf("plan scales unknown ReplicaSet %s", name)
		}
		if n > ptr.Deref(rs.Spec.Replicas, 1) {
			w.asked[name] = w.now
		}
		rs.Spec.Replicas = ptr.To(n)
		rs.Generation++
	}
	for _, svc := range plan.CreateServices {
		w.services[svc.Name] = svc.DeepCopy()
	}
	for _, name := range plan.DeleteServices {
		delete(w.services, name)
	}
	for _, req := range plan.CreateRuns {
		if w.runs[req.Name] == nil {
			w.runs[req.Name] = &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: req.Name, CreationTimestamp: metav1.NewTime(w.now),
				Labels: map[string]string{"analysis": req.Analysis.Name}}}
		}
	}
	for _, name := range plan.TerminateRuns {
		w.runs[name].Spec.Terminate = true
		w.runs[name].Status.Phase = v1alpha1.AnalysisPhaseSuccessful
	}
	w.ex.Status = plan.Status
	for _, e := range plan.Events {
		w.events = append(w.events, fmt.Sprintf("%ds %s: %s", int(w.now.Sub(start).Seconds()), e.Reason, e.Message))
	}
	w.now = w.now.Add(time.Second)
	return plan
}

// runUntil ticks until done holds, failing after limit ticks.
func (w *world) runUntil(limit int, what string, done func() bool) {
	w.t.Helper()
	for i := 0; i < limit; i++ {
		w.tick()
		if done() {
			return
		}
	}
	w.t.Fatalf("after %d s, still not %s; status %+v\nevents:\n%s", limit, what, w.ex.Status, strings.Join(w.events, "\n"))
}

func (w *world) replicas() map[string]int32 {
	out := map[string]int32{}
	for name, rs := range w.rss {
		out[name] = ptr.Deref(rs.Spec.Replicas, 1)
	}
	return out
}

func TestAnExperimentRunsForItsDurationThenScalesDown(t *testing.T) {
	ex := newExperiment()
	ex.Spec.Duration = "60s"
	ex.Spec.ScaleDownDelaySeconds = ptr.To[int32](10)
	ex.Spec.Templates[1].Service = &v1alpha1.TemplateService{}
	w := newWorld(t, ex)
	w.tick()
	if ex.Status.Phase != v1alpha1.AnalysisPhasePending || len(w.rss) != 2 || len(w.services) != 1 {
		t.Fatalf("after the first pass: phase %s, %d ReplicaSets, %d Services", ex.Status.Phase, len(w.rss), len(w.services))
	}
	rs, svc := w.rss["ab-canary"], w.services["ab-canary"]
	hash := rs.Spec.Template.Labels[rollout.PodTemplateHashLabel]
	if hash == "" || svc.Spec.Selector[rollout.PodTemplateHashLabel] != hash || rs.Spec.Selector.MatchLabels[rollout.PodTemplateHashLabel] != hash {
		t.Fatalf("the canary's pods, selector and Service do not share the hash %q: %v %v", hash, rs.Spec.Selector, svc.Spec.Selector)
	}
	if w.rss["ab-baseline"].Spec.Template.Labels[rollout.PodTemplateHashLabel] == hash {
		t.Fatal("two templates share a hash")
	}
	if svc.Spec.Ports[0].Port != 8080 || svc.Spec.Ports[0].Name != "http" {
		t.Fatalf("Service ports %+v, want the container's http 8080", svc.Spec.Ports)
	}
	w.runUntil(20, "Running", func() bool { return ex.Status.Phase == v1alpha1.AnalysisPhaseRunning })
	availableAt := ex.Status.AvailableAt.Time
	if got := availableAt.Sub(start); got != 5*time.Second {
		t.Errorf("available after %s, want 5s (readyAfter)", got)
	}
	w.runUntil(120, "Successful", func() bool { return ex.Status.Phase == v1alpha1.AnalysisPhaseSuccessful })
	if got := w.now.Add(-time.Second).Sub(availableAt); got != 60*time.Second {
		t.Errorf("ended %s after becoming available, want the duration, 60s", got)
	}
	if w.replicas()["ab-canary"] != 2 {
		t.Fatal("the pods went at once; scaleDownDelaySeconds keeps them 10s")
	}
	w.runUntil(20, "scaled down", func() bool { return w.replicas()["ab-canary"] == 0 && w.replicas()["ab-baseline"] == 0 })
	if len(w.services) != 0 {
		t.Errorf("Services left after the scale-down: %v", w.services)
	}
	for _, ts := range ex.Status.TemplateStatuses {
		if ts.Status != TemplateSuccessful || ts.PodTemplateHash == "" {
			t.Errorf("template %s: status %q hash %q, want Successful with its hash", ts.Name, ts.Status, ts.PodTemplateHash)
		}
	}
	for i := 0; i < 5; i++ {
		if p := w.tick(); len(p.Create)+len(p.Scale)+len(p.CreateRuns)+len(p.Events) > 0 {
			t.Fatalf("an ended experiment still acts: %+v", p)
		}
	}
}

func TestAFailedAnalysisFailsTheExperimentAndStopsTheOthers(t *testing.T) {
	ex := newExperiment()
	ex.Spec.Duration = "10m"
	ex.Spec.ScaleDownDelaySeconds = ptr.To[int32](0)
	ex.Spec.Analyses = []v1alpha1.ExperimentAnalysisTemplateRef{{Name: "errors", TemplateName: "error-rate"}, {Name: "latency", TemplateName: "latency"}}
	w := newWorld(t, ex)
	w.outcome["errors"] = v1alpha1.AnalysisPhaseFailed
	w.endsAfter = 20 * time.Second
	w.runUntil(60, "Failed", func() bool { return ex.Status.Phase == v1alpha1.AnalysisPhaseFailed })
	if !strings.Contains(ex.Status.Message, "analysis errors Failed") {
		t.Errorf("message %q does not name the failed analysis", ex.Status.Message)
	}
	w.tick()
	if !w.runs["ab-latency"].Spec.Terminate {
		t.Error("the other analysis was not terminated")
	}
	if r := w.replicas(); r["ab-baseline"] != 0 || r["ab-canary"] != 0 {
		t.Errorf("replicas %v after a failed experiment with no scale-down delay", r)
	}
}

func TestWithoutDurationTheRequiredAnalysesEndIt(t *testing.T) {
	ex := newExperiment()
	ex.Spec.Analyses = []v1alpha1.ExperimentAnalysisTemplateRef{{Name: "compare", TemplateName: "compare", RequiredForCompletion: true}, {Name: "watch", TemplateName: "watch"}}
	w := newWorld(t, ex)
	w.outcome["compare"] = v1alpha1.AnalysisPhaseSuccessful
	w.endsAfter = 30 * time.Second
	w.runUntil(60, "Successful", func() bool { return ex.Status.Phase == v1alpha1.AnalysisPhaseSuccessful })
	w.tick()
	if !w.runs["ab-watch"].Spec.Terminate {
		t.Error("the analysis not required for completion was not terminated at the end")
	}
}

func TestWithoutDurationOrAnalysesItRunsUntilTerminated(t *testing.T) {
	ex := newExperiment()
	w := newWorld(t, ex)
	for i := 0; i < 300; i++ {
		w.tick()
	}
	if ex.Status.Phase != v1alpha1.AnalysisPhaseRunning {
		t.Fatalf("phase %s after 300s, want Running", ex.Status.Phase)
	}
	ex.Spec.Terminate = true
	w.runUntil(3, "Successful", func() bool { return ex.Status.Phase == v1alpha1.AnalysisPhaseSuccessful })
	if ex.Status.Message != "Experiment terminated" {
		t.Errorf("message %q", ex.Status.Message)
	}
}

func TestATemplateThatNeverBecomesAvailableFailsAtTheDeadline(t *testing.T) {
	ex := newExperiment()
	ex.Spec.ProgressDeadlineSeconds = ptr.To[int32](30)
	w := newWorld(t, ex)
	w.broken = "demo:green"
	w.runUntil(60, "Failed", func() bool { return ex.Status.Phase == v1alpha1.AnalysisPhaseFailed })
	if got := w.now.Add(-time.Second).Sub(start); got != 30*time.Second {
		t.Errorf("failed after %s, want the 30s deadline", got)
	}
	if !strings.Contains(ex.Status.Message, "template canary") || !strings.Contains(ex.Status.Message, "progressDeadlineSeconds") {
		t.Errorf("message %q does not say which template and why", ex.Status.Message)
	}
	if ex.Status.AvailableAt != nil {
		t.Error("availableAt set though a template never became available")
	}
}

func TestInvalidExperimentsSayWhichField(t *testing.T) {
	for name, c := range map[string]struct {
		edit func(*v1alpha1.Experiment)
		want string
	}{
		"duplicate template": {func(ex *v1alpha1.Experiment) { ex.Spec.Templates[1].Name = "baseline" }, `spec.templates[1].name: Duplicate value: "baseline"`},
		"selector mismatch": {func(ex *v1alpha1.Experiment) {
			ex.Spec.Templates[0].Selector.MatchLabels = map[string]string{"app": "other"}
		},
			`spec.templates[0].selector: Invalid value: "app=other": does not match the template's labels`},
		"no templates": {func(ex *v1alpha1.Experiment) { ex.Spec.Templates = nil }, "spec.templates: Required value"},
		"bad duration": {func(ex *v1alpha1.Experiment) { ex.Spec.Duration = "soon" }, "spec.duration: Invalid value"},
		"no port": {func(ex *v1alpha1.Experiment) {
			ex.Spec.Templates[0].Service = &v1alpha1.TemplateService{}
			ex.Spec.Templates[0].Template.Spec.Containers[0].Ports = nil
		}, "spec.templates[0].service: Invalid value"},
		"analysis without template": {func(ex *v1alpha1.Experiment) {
			ex.Spec.Analyses = []v1alpha1.ExperimentAnalysisTemplateRef{{Name: "a"}}
		}, "spec.analyses[0].templateName: Required value"},
	} {
		t.Run(name, func(t *testing.T) {
			ex := newExperiment()
			c.edit(ex)
			w := newWorld(t, ex)
			for i := 0; i < 3; i++ {
				if p := w.tick(); len(p.Create)+len(p.CreateRuns)+len(p.CreateServices) > 0 || p.RequeueAfter != 0 {
					t.Fatalf("an invalid experiment acts: %+v", p)
				}
			}
			if !strings.Contains(ex.Status.Message, c.want) {
				t.Errorf("message %q, want it to contain %q", ex.Status.Message, c.want)
			}
			if cond := ex.Status.Conditions; len(cond) != 1 || cond[0].Type != ConditionInvalidSpec {
				t.Errorf("conditions %+v, want InvalidSpec", cond)
			}
		})
	}
}

func TestTheHashDiffersFromTheRollouts(t *testing.T) {
	ex := newExperiment()
	tmpl := &ex.Spec.Templates[0]
	if TemplateHash(ex, tmpl) == rollout.PodTemplateHash(&tmpl.Template, nil) {
		t.Fatal("an experiment's pods share the hash of a Rollout's with the same template")
	}
	if TemplateHash(ex, tmpl) != TemplateHash(ex.DeepCopy(), tmpl.DeepCopy()) {
		t.Fatal("the hash is not deterministic")
	}
	vars := Vars(ex)
	if vars["templates.baseline.podTemplateHash"] != TemplateHash(ex, tmpl) || vars["templates.canary.replicaset.name"] != "ab-canary" {
		t.Fatalf("vars %v", vars)
	}
}

func TestARetriedExperimentMeasuresAnew(t *testing.T) {
	ex := newExperiment()
	ex.Spec.ScaleDownDelaySeconds = ptr.To[int32](0)
	ex.Spec.Analyses = []v1alpha1.ExperimentAnalysisTemplateRef{{Name: "errors", TemplateName: "error-rate", RequiredForCompletion: true}}
	w := newWorld(t, ex)
	w.outcome["errors"] = v1alpha1.AnalysisPhaseFailed
	w.endsAfter = 5 * time.Second
	w.runUntil(60, "Failed", func() bool { return ex.Status.Phase == v1alpha1.AnalysisPhaseFailed })
	w.runUntil(5, "scaled down", func() bool { return w.replicas()["ab-canary"] == 0 })

	// kubectl vireo retry experiment: the status goes.
	ex.Status = v1alpha1.ExperimentStatus{}
	w.outcome["errors"] = v1alpha1.AnalysisPhaseSuccessful
	w.runUntil(60, "Successful", func() bool { return ex.Status.Phase == v1alpha1.AnalysisPhaseSuccessful })
	if got := ex.Status.AnalysisRuns[0].AnalysisRun; got != "ab-errors.1" {
		t.Errorf("the retry's run is %q, want a new one, ab-errors.1", got)
	}
	if w.runs["ab-errors"].Status.Phase != v1alpha1.AnalysisPhaseFailed {
		t.Error("the first attempt's run lost its outcome")
	}
}
