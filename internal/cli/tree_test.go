package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/judge"
	"github.com/vireo-dev/vireo/internal/rolloutview"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var now = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

// fixture builds a rollout's objects the way the controller leaves them.
type fixture struct{ o rolloutview.Objects }

func newFixture(strategy v1alpha1.RolloutStrategy, replicas int32) *fixture {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "rollouts-demo", Namespace: "default", UID: "ro-uid", CreationTimestamp: ago(30 * time.Minute)},
		Spec: v1alpha1.RolloutSpec{Replicas: ptr.To(replicas), Strategy: strategy}}
	return &fixture{o: rolloutview.Objects{Rollout: ro}}
}

// rs adds a ReplicaSet of revision rev, image tag, with ready pods of which
// available are available.
func (f *fixture) rs(rev, hash, tag string, replicas, available int32, created time.Duration) {
	ro := f.o.Rollout
	rs := appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: ro.Name + "-" + hash, Namespace: ro.Namespace, UID: types.UID("rs-" + hash),
		CreationTimestamp: ago(created),
		Labels:            map[string]string{"rollouts-pod-template-hash": hash},
		Annotations:       map[string]string{"rollout.argoproj.io/revision": rev},
		OwnerReferences:   []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: ro.Name, UID: ro.UID, Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(replicas), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "demo", Image: "argoproj/rollouts-demo:" + tag}}}}},
		Status: appsv1.ReplicaSetStatus{Replicas: replicas, ReadyReplicas: available, AvailableReplicas: available}}
	f.o.ReplicaSets = append(f.o.ReplicaSets, rs)
	for i := int32(0); i < replicas; i++ {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: rs.Name + "-" + string(rune('a'+i)) + "x7q", Namespace: ro.Namespace, CreationTimestamp: ago(created),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}}},
			Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "demo"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "demo", Ready: i < available}}}}
		if i >= available {
			p.Status.Phase = corev1.PodPending
			p.Status.ContainerStatuses[0].State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
		}
		f.o.Pods = append(f.o.Pods, p)
	}
}

func (f *fixture) run(name, rev, hash string, phase v1alpha1.AnalysisPhase, values ...string) {
	ro := f.o.Rollout
	run := v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ro.Namespace, CreationTimestamp: ago(3 * time.Minute),
		Labels:          map[string]string{"rollouts-pod-template-hash": hash},
		Annotations:     map[string]string{"rollout.argoproj.io/revision": rev},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: ro.Name, UID: ro.UID, Controller: ptr.To(true)}}},
		Status: v1alpha1.AnalysisRunStatus{Phase: phase}}
	m := v1alpha1.MetricResult{Name: "success-rate", Phase: phase}
	for i, v := range values {
		p := v1alpha1.AnalysisPhaseSuccessful
		if v < "0.95" {
			p = v1alpha1.AnalysisPhaseFailed
			m.Failed++
		} else {
			m.Successful++
		}
		at := ago(time.Duration(len(values)-i) * 30 * time.Second)
		m.Measurements = append(m.Measurements, v1alpha1.Measurement{Phase: p, Value: v, StartedAt: &at, FinishedAt: &at})
	}
	m.Count = int32(len(values))
	run.Status.MetricResults = []v1alpha1.MetricResult{m}
	f.o.AnalysisRuns = append(f.o.AnalysisRuns, run)
}

// judgeRun adds a run of the canary judge whose canary has twice the
// stable's error rate: the test's own numbers, look after look, until it
// fails.
func (f *fixture) judgeRun(name, rev, hash string) {
	ro := f.o.Rollout
	run := v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ro.Namespace, CreationTimestamp: ago(3 * time.Minute),
		Labels:          map[string]string{"rollouts-pod-template-hash": hash},
		Annotations:     map[string]string{"rollout.argoproj.io/revision": rev},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: ro.Name, UID: ro.UID, Controller: ptr.To(true)}}},
		Status: v1alpha1.AnalysisRunStatus{Phase: v1alpha1.AnalysisPhaseFailed}}
	m := v1alpha1.MetricResult{Name: "judge", Phase: v1alpha1.AnalysisPhaseFailed}
	var st judge.State
	for i := 1; i <= 40; i++ {
		canary := judge.Counts{Requests: float64(200 * i), Errors: float64(4 * i)}
		stable := judge.Counts{Requests: float64(800 * i), Errors: float64(8 * i)}
		var r judge.Result
		st, r = judge.Update(judge.Defaults, st, canary, stable)
		p := v1alpha1.AnalysisPhaseSuccessful
		if r.Verdict == judge.Harm {
			p = v1alpha1.AnalysisPhaseFailed
		}
		at := ago(time.Duration(40-i) * 10 * time.Second)
		f := func(x float64) string { return strconv.FormatFloat(x, 'g', 4, 64) }
		m.Measurements = append(m.Measurements, v1alpha1.Measurement{Phase: p, Value: f(r.EValue), StartedAt: &at, FinishedAt: &at,
			Metadata: map[string]string{judge.MetaEValue: f(r.EValue), judge.MetaFailsAt: "100", judge.MetaLow: f(r.Low), judge.MetaHigh: f(r.High), judge.MetaTolerated: "1.1"}})
		if p == v1alpha1.AnalysisPhaseFailed {
			m.Failed++
			break
		}
		m.Successful++
	}
	m.Count = int32(len(m.Measurements))
	m.Measurements = m.Measurements[max(0, len(m.Measurements)-10):]
	run.Status.MetricResults = []v1alpha1.MetricResult{m}
	f.o.AnalysisRuns = append(f.o.AnalysisRuns, run)
}

func canarySteps() v1alpha1.RolloutStrategy {
	return v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{
		{SetWeight: ptr.To[int32](20)}, {Pause: &v1alpha1.RolloutPause{}},
		{SetWeight: ptr.To[int32](40)}, {Pause: &v1alpha1.RolloutPause{Duration: ptr.To(intstr.FromInt32(10))}},
		{SetWeight: ptr.To[int32](60)}, {Pause: &v1alpha1.RolloutPause{Duration: ptr.To(intstr.FromInt32(10))}},
		{SetWeight: ptr.To[int32](80)}, {Pause: &v1alpha1.RolloutPause{Duration: ptr.To(intstr.FromInt32(10))}},
	}}}
}

func states() map[string]rolloutview.Objects {
	out := map[string]rolloutview.Objects{}

	healthy := newFixture(canarySteps(), 5)
	healthy.rs("2", "6cf78c66c5", "yellow", 5, 5, 10*time.Minute)
	healthy.rs("1", "687d76d795", "blue", 0, 0, 30*time.Minute)
	healthy.o.Rollout.Status = v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutPhaseHealthy, StableRS: "6cf78c66c5", CurrentPodHash: "6cf78c66c5",
		CurrentStepIndex: ptr.To[int32](8), Replicas: 5, UpdatedReplicas: 5, ReadyReplicas: 5, AvailableReplicas: 5}
	out["healthy"] = healthy.o

	paused := newFixture(canarySteps(), 5)
	paused.rs("2", "6cf78c66c5", "yellow", 1, 1, 15*time.Second)
	paused.rs("1", "687d76d795", "blue", 4, 4, 30*time.Minute)
	paused.o.Rollout.Status = v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutPhasePaused, Message: "CanaryPauseStep", StableRS: "687d76d795", CurrentPodHash: "6cf78c66c5",
		CurrentStepIndex: ptr.To[int32](1), Replicas: 5, UpdatedReplicas: 1, ReadyReplicas: 5, AvailableReplicas: 5,
		PauseConditions: []v1alpha1.PauseCondition{{Reason: "CanaryPauseStep", StartTime: ago(10 * time.Second)}}}
	out["paused"] = paused.o

	progressing := newFixture(canarySteps(), 5)
	progressing.rs("2", "6cf78c66c5", "yellow", 2, 1, time.Minute)
	progressing.rs("1", "687d76d795", "blue", 3, 3, 30*time.Minute)
	progressing.o.Rollout.Status = v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutPhaseProgressing, Message: "more replicas need to be updated", StableRS: "687d76d795", CurrentPodHash: "6cf78c66c5",
		CurrentStepIndex: ptr.To[int32](2), Replicas: 5, UpdatedReplicas: 2, ReadyReplicas: 4, AvailableReplicas: 4}
	out["progressing"] = progressing.o

	degraded := newFixture(canarySteps(), 5)
	degraded.rs("3", "5b9d6c8f74", "red", 0, 0, 2*time.Minute)
	degraded.rs("2", "6cf78c66c5", "yellow", 5, 5, 10*time.Minute)
	degraded.o.Rollout.Status = v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutPhaseDegraded, Message: "RolloutAborted: Rollout aborted update to revision 3", Abort: true,
		StableRS: "6cf78c66c5", CurrentPodHash: "5b9d6c8f74", CurrentStepIndex: ptr.To[int32](0), Replicas: 5, ReadyReplicas: 5, AvailableReplicas: 5}
	out["degraded"] = degraded.o

	bg := newFixture(v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{ActiveService: "demo-active", PreviewService: "demo-preview"}}, 3)
	bg.rs("2", "7d8c9b6f5a", "green", 3, 3, time.Minute)
	bg.rs("1", "687d76d795", "blue", 3, 3, 30*time.Minute)
	bg.o.Rollout.Status = v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutPhasePaused, Message: "BlueGreenPause", StableRS: "687d76d795", CurrentPodHash: "7d8c9b6f5a",
		Replicas: 6, UpdatedReplicas: 3, ReadyReplicas: 6, AvailableReplicas: 6,
		BlueGreen:       v1alpha1.BlueGreenStatus{ActiveSelector: "687d76d795", PreviewSelector: "7d8c9b6f5a"},
		PauseConditions: []v1alpha1.PauseCondition{{Reason: "BlueGreenPause", StartTime: ago(20 * time.Second)}}}
	out["bluegreen-preview"] = bg.o

	analysis := newFixture(canarySteps(), 5)
	analysis.o.Rollout.Spec.Strategy.Canary.TrafficRouting = &v1alpha1.RolloutTrafficRouting{Traefik: &v1alpha1.TraefikTrafficRouting{WeightedTraefikServiceName: "demo"}}
	analysis.rs("2", "6cf78c66c5", "yellow", 2, 2, 2*time.Minute)
	analysis.rs("1", "687d76d795", "blue", 5, 5, 30*time.Minute)
	analysis.run("rollouts-demo-6cf78c66c5-2", "2", "6cf78c66c5", v1alpha1.AnalysisPhaseRunning, "0.99", "0.98", "0.97", "0.42")
	analysis.run("rollouts-demo-687d76d795-1", "1", "687d76d795", v1alpha1.AnalysisPhaseSuccessful, "1", "0.99")
	analysis.o.Rollout.Status = v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutPhaseProgressing, Message: "waiting for the canary's weight", StableRS: "687d76d795", CurrentPodHash: "6cf78c66c5",
		CurrentStepIndex: ptr.To[int32](2), Replicas: 7, UpdatedReplicas: 2, ReadyReplicas: 7, AvailableReplicas: 7,
		Canary: v1alpha1.CanaryStatus{
			CurrentBackgroundAnalysisRunStatus: &v1alpha1.RolloutAnalysisRunStatus{Name: "rollouts-demo-6cf78c66c5-2", Status: v1alpha1.AnalysisPhaseRunning},
			Weights: &v1alpha1.TrafficWeights{Canary: v1alpha1.WeightDestination{Weight: 20, ServiceName: "demo-canary", PodTemplateHash: "6cf78c66c5"},
				Stable: v1alpha1.WeightDestination{Weight: 80, ServiceName: "demo-stable", PodTemplateHash: "687d76d795"}}}}
	out["analysis"] = analysis.o

	judged := newFixture(canarySteps(), 5)
	judged.rs("2", "6cf78c66c5", "yellow", 1, 1, 2*time.Minute)
	judged.rs("1", "687d76d795", "blue", 5, 5, 30*time.Minute)
	judged.judgeRun("rollouts-demo-6cf78c66c5-2", "2", "6cf78c66c5")
	judged.o.Rollout.Status = v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutPhaseProgressing, StableRS: "687d76d795", CurrentPodHash: "6cf78c66c5",
		CurrentStepIndex: ptr.To[int32](1), Replicas: 6, UpdatedReplicas: 1, ReadyReplicas: 6, AvailableReplicas: 6}
	out["judge"] = judged.o
	return out
}

// Golden trees of get rollout in every state, without colour; the colour
// version of one is checked to be the same text once its escapes are gone.
func TestRolloutTreeGolden(t *testing.T) {
	for name, o := range states() {
		t.Run(name, func(t *testing.T) {
			var plain, colored bytes.Buffer
			v := rolloutview.Build(o)
			if err := WriteRollout(&plain, v, now, false); err != nil {
				t.Fatal(err)
			}
			if err := WriteRollout(&colored, v, now, true); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(plain.Bytes(), []byte("\x1b[")) {
				t.Error("escape codes without colour")
			}
			if !bytes.Contains(colored.Bytes(), []byte("\x1b[")) {
				t.Error("no colour with colour on")
			}
			if got := ansi.ReplaceAllString(colored.String(), ""); got != plain.String() {
				t.Errorf("coloured tree differs from the plain one:\n%s\n%s", got, plain.String())
			}
			golden(t, filepath.Join("testdata", "get-rollout-"+name+".golden"), plain.Bytes())
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update after checking):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
