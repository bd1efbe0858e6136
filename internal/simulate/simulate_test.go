package simulate

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

func canary(steps ...v1alpha1.CanaryStep) *v1alpha1.Rollout {
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr.To[int32](4),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:1"}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: steps,
				Analysis: &v1alpha1.RolloutAnalysisBackground{StartingStep: ptr.To[int32](1),
					RolloutAnalysis: v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "rate"}}}}}},
		},
	}
}

func weight(w int32) v1alpha1.CanaryStep { return v1alpha1.CanaryStep{SetWeight: ptr.To(w)} }
func pause(d string) v1alpha1.CanaryStep {
	return v1alpha1.CanaryStep{Pause: &v1alpha1.RolloutPause{Duration: ptr.To(intstr.FromString(d))}}
}

// Skipping the quiet stretches of long pauses is only a shortcut: the
// timeline is the one ticking through every second gives, with analyses
// that pass (running through the pauses) or fail inside one.
func TestSkippingQuietTimeChangesNothing(t *testing.T) {
	ro := canary(weight(25), pause("20m"), weight(50), v1alpha1.CanaryStep{Analysis: &v1alpha1.RolloutAnalysis{
		Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "smoke"}}}}, pause("1h"), weight(75), pause("7m"))
	for _, fails := range []bool{false, true} {
		t.Run(fmt.Sprintf("analysis fails %v", fails), func(t *testing.T) {
			o := Options{ReadyAfter: 7 * time.Second, AnalysisFails: fails, AnalysisDuration: 5 * time.Minute, Limit: 24 * time.Hour}
			fast, err := Run(ro, nil, o)
			if err != nil {
				t.Fatal(err)
			}
			o.tickThrough = true
			slow, err := Run(ro, nil, o)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := fmt.Sprint(fast.Moments), fmt.Sprint(slow.Moments); got != want {
				t.Errorf("skipping changed the timeline:\nskipping: %s\nticking:  %s", got, want)
			}
			last := fast.Moments[len(fast.Moments)-1]
			if fast.Unfinished || last.Stable != "4/4" || last.New != "" && last.New != "0/0" {
				t.Errorf("ends unfinished %v, at %+v", fast.Unfinished, last)
			}
		})
	}
}

// BenchmarkSimulate times one simulated update with 1h of pauses and an
// analysis step, skipping quiet time and ticking through every second.
func BenchmarkSimulate(b *testing.B) {
	ro := canary(weight(25), pause("20m"), weight(50), v1alpha1.CanaryStep{Analysis: &v1alpha1.RolloutAnalysis{
		Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "smoke"}}}}, pause("30m"), weight(75), pause("10m"))
	for _, tick := range []bool{false, true} {
		name := "skipping"
		if tick {
			name = "ticking"
		}
		b.Run(name, func(b *testing.B) {
			o := Options{ReadyAfter: 5 * time.Second, AnalysisDuration: time.Minute, Limit: 24 * time.Hour, tickThrough: tick}
			for b.Loop() {
				if _, err := Run(ro, nil, o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
