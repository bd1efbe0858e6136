package actions

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/testenv"
)

// The actions against a real API server: what each leaves in the Rollout, and
// the errors a user sees. The controller is not running; its reaction to
// these patches is tested end to end (test/e2e/actions_test.go).
func TestActionsOnARealAPIServer(t *testing.T) {
	env := testenv.Start(t)
	c := env.Client
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "actions"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	ro := canary("demo", 3)
	if err := c.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(ro)
	setStatus(t, c, key, func(st *v1alpha1.RolloutStatus) {
		st.CurrentPodHash, st.StableRS = "new", "old"
		st.CurrentStepIndex = ptr.To[int32](1)
		st.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep, StartTime: metav1.Now()}}
		st.ControllerPause = true
	})

	t.Run("pause sets spec.paused", func(t *testing.T) {
		must(t)(Pause(ctx, c, key))
		if got := read(t, c, key); !got.Spec.Paused {
			t.Error("spec.paused not set")
		}
	})
	t.Run("promote unpauses and clears the pause conditions, and does not skip a step", func(t *testing.T) {
		must(t)(Promote(ctx, c, key, PromoteOptions{}))
		got := read(t, c, key)
		if got.Spec.Paused || len(got.Status.PauseConditions) != 0 || *got.Status.CurrentStepIndex != 1 {
			t.Errorf("after promote: paused %v, pauseConditions %v, step %d", got.Spec.Paused, got.Status.PauseConditions, *got.Status.CurrentStepIndex)
		}
		if !got.Status.ControllerPause {
			t.Error("promote touched controllerPause, which the controller owns")
		}
	})
	t.Run("promote with nothing paused skips the current step", func(t *testing.T) {
		must(t)(Promote(ctx, c, key, PromoteOptions{}))
		if got := read(t, c, key); *got.Status.CurrentStepIndex != 2 {
			t.Errorf("step %d, want 2", *got.Status.CurrentStepIndex)
		}
		must(t)(Promote(ctx, c, key, PromoteOptions{}))
		must(t)(Promote(ctx, c, key, PromoteOptions{}))
		if got := read(t, c, key); *got.Status.CurrentStepIndex != 3 {
			t.Errorf("step %d, want 3: never past the last step", *got.Status.CurrentStepIndex)
		}
	})
	t.Run("promote --full", func(t *testing.T) {
		must(t)(Promote(ctx, c, key, PromoteOptions{Full: true}))
		if got := read(t, c, key); !got.Status.PromoteFull {
			t.Error("status.promoteFull not set")
		}
	})
	t.Run("abort and retry", func(t *testing.T) {
		must(t)(Abort(ctx, c, key))
		if got := read(t, c, key); !got.Status.Abort {
			t.Error("status.abort not set")
		}
		must(t)(Retry(ctx, c, key))
		if got := read(t, c, key); got.Status.Abort {
			t.Error("status.abort still set after retry")
		}
	})
	t.Run("restart", func(t *testing.T) {
		at := time.Date(2026, 11, 21, 10, 0, 0, 500, time.UTC)
		must(t)(Restart(ctx, c, key, at))
		if got := read(t, c, key); got.Spec.RestartAt == nil || !got.Spec.RestartAt.Time.Equal(at.Truncate(time.Second)) {
			t.Errorf("spec.restartAt %v, want %v", got.Spec.RestartAt, at)
		}
	})

	t.Run("undo", func(t *testing.T) {
		cur := read(t, c, key)
		for rev, image := range map[string]string{"1": "app:v1", "2": "app:v2", "3": "app:v3"} {
			createReplicaSet(t, c, cur, rev, image)
		}
		must(t)(Undo(ctx, c, key, 0))
		got := read(t, c, key)
		if img := got.Spec.Template.Spec.Containers[0].Image; img != "app:v2" {
			t.Errorf("undo: image %q, want app:v2 (the revision before the newest)", img)
		}
		if _, ok := got.Spec.Template.Labels["rollouts-pod-template-hash"]; ok {
			t.Error("undo copied the pod-template-hash label into the template")
		}
		must(t)(Undo(ctx, c, key, 1))
		if img := read(t, c, key).Spec.Template.Spec.Containers[0].Image; img != "app:v1" {
			t.Errorf("undo --to-revision 1: image %q", img)
		}
		_, err := Undo(ctx, c, key, 7)
		if err == nil || !strings.Contains(err.Error(), "--to-revision 7") || !strings.Contains(err.Error(), "3, 2, 1") {
			t.Errorf("undo to a missing revision: %v", err)
		}
		if _, err := Undo(ctx, c, key, -1); err == nil || !strings.Contains(err.Error(), "--to-revision -1") {
			t.Errorf("undo to a negative revision: %v", err)
		}
	})
	t.Run("undo without history", func(t *testing.T) {
		lone := canary("lone", 1)
		if err := c.Create(ctx, lone); err != nil {
			t.Fatal(err)
		}
		_, err := Undo(ctx, c, client.ObjectKeyFromObject(lone), 0)
		if err == nil || !strings.Contains(err.Error(), "no earlier revision") {
			t.Errorf("undo with no history: %v", err)
		}
	})
	t.Run("a missing rollout is named", func(t *testing.T) {
		_, err := Promote(ctx, c, types.NamespacedName{Namespace: "actions", Name: "nope"}, PromoteOptions{})
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"nope"`) {
			t.Errorf("promote of a missing rollout: %v", err)
		}
		if _, err := Abort(ctx, c, types.NamespacedName{Namespace: "actions"}); err == nil || !strings.Contains(err.Error(), "name is required") {
			t.Errorf("abort without a name: %v", err)
		}
	})
}

func canary(name string, steps int) *v1alpha1.Rollout {
	labels := map[string]string{"app": name}
	ro := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: "actions", Name: name},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:v3"}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{}},
		},
	}
	for i := 0; i < steps; i++ {
		ro.Spec.Strategy.Canary.Steps = append(ro.Spec.Strategy.Canary.Steps, v1alpha1.CanaryStep{Pause: &v1alpha1.RolloutPause{}})
	}
	return ro
}

func createReplicaSet(t *testing.T, c client.Client, ro *v1alpha1.Rollout, revision, image string) {
	t.Helper()
	hash := "h" + revision
	labels := map[string]string{"app": ro.Name, "rollouts-pod-template-hash": hash}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ro.Namespace, Name: ro.Name + "-" + hash, Labels: labels,
			Annotations:     map[string]string{"rollout.argoproj.io/revision": revision},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](0),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
			},
		},
	}
	if err := c.Create(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
}

func setStatus(t *testing.T, c client.Client, key types.NamespacedName, f func(*v1alpha1.RolloutStatus)) {
	t.Helper()
	ro := read(t, c, key)
	f(&ro.Status)
	if err := c.Status().Update(context.Background(), ro); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, c client.Client, key types.NamespacedName) *v1alpha1.Rollout {
	t.Helper()
	var ro v1alpha1.Rollout
	if err := c.Get(context.Background(), key, &ro); err != nil {
		t.Fatal(err)
	}
	return &ro
}

func must(t *testing.T) func(*v1alpha1.Rollout, error) {
	return func(_ *v1alpha1.Rollout, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// terminate and retry of an Experiment against a real API server: what each
// leaves in it, and the refusal to retry one still running.
func TestExperimentActionsOnARealAPIServer(t *testing.T) {
	env := testenv.Start(t)
	c := env.Client
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "experiments"}}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "demo"}
	ex := &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Name: "ab", Namespace: "experiments"},
		Spec: v1alpha1.ExperimentSpec{Templates: []v1alpha1.TemplateSpec{{Name: "a", Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "demo:blue"}}}}}}}}
	if err := c.Create(ctx, ex); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(ex)
	// As in Argo's CRD, an Experiment has no status subresource: its status
	// is written with it.
	ex.Status = v1alpha1.ExperimentStatus{Phase: v1alpha1.AnalysisPhaseRunning, Message: "running until terminated"}
	if err := c.Update(ctx, ex); err != nil {
		t.Fatal(err)
	}
	if _, err := RetryExperiment(ctx, c, key); err == nil || !strings.Contains(err.Error(), "is Running: only an experiment that has ended can be retried") {
		t.Errorf("retry of a running experiment: %v", err)
	}
	if _, err := TerminateExperiment(ctx, c, key); err != nil {
		t.Fatal(err)
	}
	var got v1alpha1.Experiment
	if err := c.Get(ctx, key, &got); err != nil || !got.Spec.Terminate {
		t.Fatalf("after terminate: terminate %v, %v", got.Spec.Terminate, err)
	}
	got.Status = v1alpha1.ExperimentStatus{Phase: v1alpha1.AnalysisPhaseSuccessful, Message: "Experiment terminated"}
	if err := c.Update(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if _, err := RetryExperiment(ctx, c, key); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, key, &got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.Terminate || got.Status.Phase != "" || got.Status.Message != "" {
		t.Errorf("after retry: terminate %v, status %+v; want neither", got.Spec.Terminate, got.Status)
	}
	if _, err := TerminateExperiment(ctx, c, types.NamespacedName{Namespace: "experiments", Name: "nosuch"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("terminate of a missing experiment: %v", err)
	}
}
