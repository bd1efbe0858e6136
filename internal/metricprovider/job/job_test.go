package job

import (
	"context"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/apischeme"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func setup(t *testing.T, objs ...client.Object) (Provider, *v1alpha1.AnalysisRun, *v1alpha1.Metric, v1alpha1.Measurement) {
	t.Helper()
	scheme, err := apischeme.New()
	if err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: "run", Namespace: "ns", UID: "uid-run"}}
	metric := &v1alpha1.Metric{Name: "check", Provider: v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "check"}}}}},
	}}}
	now := t0
	p := Provider{Client: c, Pods: c, Now: func() time.Time { return now }}
	m := p.Run(context.Background(), run, metric)
	if m.Phase != v1alpha1.AnalysisPhaseRunning {
		t.Fatalf("Run: %+v", m)
	}
	return p, run, metric, m
}

func podOf(job string, init bool, reason string) *corev1.Pod {
	st := corev1.ContainerStatus{Name: "c", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "pull access denied"}}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: job + "-abcde", Namespace: "ns", Labels: map[string]string{batchv1.JobNameLabel: job}}}
	if init {
		pod.Status.InitContainerStatuses = []corev1.ContainerStatus{st}
	} else {
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{st}
	}
	return pod
}

// A Job whose pod cannot pull its image (in a container or an init
// container) gives an Inconclusive measurement at once; a pod still
// creating does not.
func TestResumeSeesAnImageThatCannotBePulled(t *testing.T) {
	name := "run-check-1"
	for _, tc := range []struct {
		name   string
		pod    *corev1.Pod
		phase  v1alpha1.AnalysisPhase
		reason string
	}{
		{"ErrImagePull", podOf(name, false, "ErrImagePull"), v1alpha1.AnalysisPhaseInconclusive, "ErrImagePull"},
		{"ImagePullBackOff in an init container", podOf(name, true, "ImagePullBackOff"), v1alpha1.AnalysisPhaseInconclusive, "ImagePullBackOff"},
		{"InvalidImageName", podOf(name, false, "InvalidImageName"), v1alpha1.AnalysisPhaseInconclusive, "InvalidImageName"},
		{"ContainerCreating", podOf(name, false, "ContainerCreating"), v1alpha1.AnalysisPhaseRunning, ""},
		{"another Job's pod", podOf("other-job", false, "ErrImagePull"), v1alpha1.AnalysisPhaseRunning, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, run, metric, m := setup(t, tc.pod)
			got := p.Resume(context.Background(), run, metric, m)
			if got.Phase != tc.phase || !strings.Contains(got.Message, tc.reason) {
				t.Errorf("measurement %s %q, want %s naming %q", got.Phase, got.Message, tc.phase, tc.reason)
			}
		})
	}
}

// Terminating a measurement whose Job runs deletes the Job, and the
// measurement is Inconclusive: the Job never said.
func TestTerminateDeletesTheJob(t *testing.T) {
	p, run, metric, m := setup(t)
	got := p.Terminate(context.Background(), run, metric, m)
	if got.Phase != v1alpha1.AnalysisPhaseInconclusive || got.FinishedAt == nil {
		t.Errorf("terminated measurement %+v, want Inconclusive and finished", got)
	}
	err := p.Client.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: m.Metadata[JobNameKey]}, &batchv1.Job{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("the Job is still there: %v", err)
	}
}

// A running Job is looked at soon after it starts, then less often.
func TestPollAfterGrows(t *testing.T) {
	prev := time.Duration(0)
	for _, running := range []time.Duration{0, 2 * time.Second, 8 * time.Second, 32 * time.Second, time.Minute, time.Hour} {
		d := pollAfter(running)
		if d < prev || d < time.Second || d > PollEvery {
			t.Errorf("pollAfter(%v) = %v (previous %v): want growing, within 1s..%v", running, d, prev, PollEvery)
		}
		prev = d
	}
	if pollAfter(0) != time.Second || pollAfter(time.Hour) != PollEvery {
		t.Errorf("pollAfter(0) = %v, pollAfter(1h) = %v", pollAfter(0), pollAfter(time.Hour))
	}
}
