package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
)

func TestWriteCanary(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	dep := func(name, image string, replicas int32) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "podinfod", Image: image}}}}},
			Status: appsv1.DeploymentStatus{Replicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas},
		}
	}
	cn := &v1beta1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: v1beta1.CanarySpec{
			Provider:  "istio",
			TargetRef: v1beta1.TargetReference{Kind: "Deployment", Name: "podinfo"},
			Analysis: &v1beta1.CanaryAnalysis{Interval: "1m", Threshold: 5, MaxWeight: 50, StepWeight: 10,
				Metrics: []v1beta1.CanaryMetric{
					{Name: "request-success-rate", ThresholdRange: &v1beta1.ThresholdRange{Min: ptr.To(99.0)}},
					{Name: "request-duration", ThresholdRange: &v1beta1.ThresholdRange{Max: ptr.To(500.0)}},
				},
				Webhooks: []v1beta1.CanaryWebhook{{Name: "acceptance-test", Type: v1beta1.HookPreRollout}, {Name: "load-test"}},
			},
		},
		Status: v1beta1.CanaryStatus{Phase: v1beta1.PhaseProgressing, CanaryWeight: 30, FailedChecks: 1,
			LastTransitionTime: metav1.NewTime(now.Add(-42 * time.Second)),
			Conditions: []v1beta1.CanaryCondition{{Type: "Promoted", Status: "Unknown", Reason: "Progressing",
				Message: "New revision detected, progressing canary analysis."}}},
	}
	var b bytes.Buffer
	if err := WriteCanary(&b, &CanaryView{Canary: cn, Primary: dep("podinfo-primary", "stefanprodan/podinfo:3.1.0", 2),
		Target: dep("podinfo", "stefanprodan/podinfo:3.1.1", 2)}, now, false); err != nil {
		t.Fatal(err)
	}
	want := `Name:          podinfo
Namespace:     test
Status:        ◌ Progressing
Message:       New revision detected, progressing canary analysis.
Provider:      istio
Strategy:      canary, +10% up to 50%, every 1m0s, rolled back at 5 failed checks
Traffic:       primary 70%, canary 30%
Checks:        1 failed of 5 allowed
Last change:   42s ago

DEPLOYMENT       ROLE     IMAGES                      REPLICAS  READY  AVAILABLE
podinfo-primary  primary  stefanprodan/podinfo:3.1.0  2/2       2      2
podinfo          canary   stefanprodan/podinfo:3.1.1  2/2       2      2

CHECK                 KIND                 BOUND
request-success-rate  metric (built-in)    ≥ 99%
request-duration      metric (built-in)    ≤ 500ms
acceptance-test       webhook pre-rollout  answer ≤ 202
load-test             webhook rollout      answer ≤ 202
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}

	b.Reset()
	cn.Status.Checks = []v1beta1.CanaryCheck{
		{Name: "request-success-rate", Kind: "metric", Value: "99.5", Passed: true, Time: metav1.NewTime(now.Add(-70 * time.Second))},
		{Name: "request-duration", Kind: "metric", Value: "612", Message: "Halt podinfo.test advancement request duration 612ms > 500ms", Time: metav1.NewTime(now.Add(-10 * time.Second))},
	}
	if err := WriteCanary(&b, &CanaryView{Canary: cn}, now, false); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); !strings.Contains(got, "LAST CHECKS           KIND    VALUE  RESULT") ||
		!strings.Contains(got, "request-duration      metric  612    ✖ Halt podinfo.test advancement request duration 612ms > 500ms  10s") {
		t.Errorf("the last checks:\n%s", got)
	}
	// Session affinity: the cookie in force, then the one being dropped.
	for _, tc := range []struct{ cookie, previous, want string }{
		{"flagger-cookie=bXMMPZlsIw", "", "Sticky:        cookie flagger-cookie=bXMMPZlsIw keeps its users on the canary\n"},
		{"", "flagger-cookie=bXMMPZlsIw", "Sticky:        cookie flagger-cookie=bXMMPZlsIw of the last release is being dropped\n"},
	} {
		sticky := cn.DeepCopy()
		sticky.Spec.Analysis.SessionAffinity = &v1beta1.SessionAffinity{CookieName: "flagger-cookie"}
		sticky.Status.SessionAffinityCookie, sticky.Status.PreviousSessionAffinityCookie = tc.cookie, tc.previous
		b.Reset()
		if err := WriteCanary(&b, &CanaryView{Canary: sticky}, now, false); err != nil {
			t.Fatal(err)
		}
		if got := b.String(); !strings.Contains(got, tc.want) {
			t.Errorf("sticky: want %q in\n%s", tc.want, got)
		}
	}
	b.Reset()
	other := cn.DeepCopy()
	other.Name, other.Namespace, other.Status = "web", "shop", v1beta1.CanaryStatus{Phase: v1beta1.PhaseSucceeded}
	WriteCanaryList(&b, []v1beta1.Canary{*other, *cn}, true, now, false)
	if got := b.String(); !strings.Contains(got, "shop       web      ✔ Succeeded    0") || !strings.Contains(got, "test       podinfo  ◌ Progressing  30      1             42s ago") {
		t.Errorf("list:\n%s", got)
	}
}
