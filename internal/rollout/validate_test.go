package rollout

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

func validCanary() *v1alpha1.Rollout {
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "default"},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr.To[int32](5),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "demo"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "demo"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "demo", Image: "demo:blue"}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
				Steps: []v1alpha1.CanaryStep{
					{SetWeight: ptr.To[int32](20)},
					{Pause: &v1alpha1.RolloutPause{}},
					{SetWeight: ptr.To[int32](40)},
					{Pause: &v1alpha1.RolloutPause{Duration: ptr.To(intstr.FromInt32(10))}},
					{Pause: &v1alpha1.RolloutPause{Duration: ptr.To(intstr.FromString("1m"))}},
				},
			}},
		},
	}
}

func TestValidateAcceptsValidRollouts(t *testing.T) {
	if errs := Validate(validCanary()); len(errs) != 0 {
		t.Fatalf("valid canary rejected: %v", errs.ToAggregate())
	}
	bg := validCanary()
	bg.Spec.Strategy = v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{
		ActiveService: "active", PreviewService: "preview", AutoPromotionEnabled: ptr.To(false),
	}}
	if errs := Validate(bg); len(errs) != 0 {
		t.Fatalf("valid blue-green rejected: %v", errs.ToAggregate())
	}
	wl := validCanary()
	wl.Spec.Template = corev1.PodTemplateSpec{}
	wl.Spec.WorkloadRef = &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "demo", ScaleDown: "progressively"}
	if errs := Validate(wl); len(errs) != 0 {
		t.Fatalf("valid workloadRef rollout rejected: %v", errs.ToAggregate())
	}
}

// Each case breaks one thing; the error must name the field that is wrong.
func TestValidateNamesTheField(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(ro *v1alpha1.Rollout)
		field  string
	}{
		{"no strategy", func(ro *v1alpha1.Rollout) { ro.Spec.Strategy = v1alpha1.RolloutStrategy{} }, "spec.strategy"},
		{"both strategies", func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.BlueGreen = &v1alpha1.BlueGreenStrategy{ActiveService: "a"}
		}, "spec.strategy"},
		{"selector mismatch", func(ro *v1alpha1.Rollout) { ro.Spec.Selector.MatchLabels["app"] = "other" }, "spec.selector"},
		{"no selector", func(ro *v1alpha1.Rollout) { ro.Spec.Selector = nil }, "spec.selector"},
		{"empty selector", func(ro *v1alpha1.Rollout) { ro.Spec.Selector = &metav1.LabelSelector{} }, "spec.selector"},
		{"no containers", func(ro *v1alpha1.Rollout) { ro.Spec.Template.Spec.Containers = nil }, "spec.template.spec.containers"},
		{"no image", func(ro *v1alpha1.Rollout) { ro.Spec.Template.Spec.Containers[0].Image = "" }, "spec.template.spec.containers[0].image"},
		{"restart policy", func(ro *v1alpha1.Rollout) { ro.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever }, "spec.template.spec.restartPolicy"},
		{"negative replicas", func(ro *v1alpha1.Rollout) { ro.Spec.Replicas = ptr.To[int32](-1) }, "spec.replicas"},
		{"weight over 100", func(ro *v1alpha1.Rollout) { ro.Spec.Strategy.Canary.Steps[2].SetWeight = ptr.To[int32](120) }, "spec.strategy.canary.steps[2].setWeight"},
		{"bad pause", func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.Steps[3].Pause.Duration = ptr.To(intstr.FromString("ten minutes"))
		}, "spec.strategy.canary.steps[3].pause.duration"},
		{"negative pause", func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.Steps[3].Pause.Duration = ptr.To(intstr.FromInt32(-5))
		}, "spec.strategy.canary.steps[3].pause.duration"},
		{"two actions in a step", func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.Steps[0].Pause = &v1alpha1.RolloutPause{}
		}, "spec.strategy.canary.steps[0]"},
		{"empty step", func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.Steps = append(ro.Spec.Strategy.Canary.Steps, v1alpha1.CanaryStep{})
		}, "spec.strategy.canary.steps[5]"},
		{"setCanaryScale with two fields", func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.Steps[1] = v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{Weight: ptr.To[int32](10), Replicas: ptr.To[int32](1)}}
		}, "spec.strategy.canary.steps[1].setCanaryScale"},
		{"setCanaryScale without router", func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.Steps[1] = v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{Replicas: ptr.To[int32](1)}}
		}, "spec.strategy.canary.steps[1].setCanaryScale"},
		{"dynamicStableScale without router", func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.DynamicStableScale = true
		}, "spec.strategy.canary.dynamicStableScale"},
		{"header route without router", func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.Steps[1] = v1alpha1.CanaryStep{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "h"}}
		}, "spec.strategy.canary.steps[1].setHeaderRoute.name"},
		{"header route not managed", func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.TrafficRouting = &v1alpha1.RolloutTrafficRouting{ManagedRoutes: []v1alpha1.MangedRoutes{{Name: "other"}}}
			ro.Spec.Strategy.Canary.Steps[1] = v1alpha1.CanaryStep{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "h"}}
		}, "spec.strategy.canary.steps[1].setHeaderRoute.name"},
		{"maxSurge and maxUnavailable zero", func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.MaxSurge = ptr.To(intstr.FromInt32(0))
			ro.Spec.Strategy.Canary.MaxUnavailable = ptr.To(intstr.FromString("0%"))
		}, "spec.strategy.canary.maxUnavailable"},
		{"bad maxSurge", func(ro *v1alpha1.Rollout) { ro.Spec.Strategy.Canary.MaxSurge = ptr.To(intstr.FromString("lots")) }, "spec.strategy.canary.maxSurge"},
		{"same canary and stable service", func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.CanaryService, ro.Spec.Strategy.Canary.StableService = "svc", "svc"
		}, "spec.strategy.canary.canaryService"},
		{"analysis without templates", func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.Steps[1] = v1alpha1.CanaryStep{Analysis: &v1alpha1.RolloutAnalysis{}}
		}, "spec.strategy.canary.steps[1].analysis.templates"},
		{"startingStep out of range", func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.Analysis = &v1alpha1.RolloutAnalysisBackground{
				RolloutAnalysis: v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "t"}}},
				StartingStep:    ptr.To[int32](9),
			}
		}, "spec.strategy.canary.analysis.startingStep"},
		{"blue-green without active service", func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy = v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{}}
		}, "spec.strategy.blueGreen.activeService"},
		{"preview equals active", func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy = v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{ActiveService: "a", PreviewService: "a"}}
		}, "spec.strategy.blueGreen.previewService"},
		{"workloadRef with template", func(ro *v1alpha1.Rollout) {
			ro.Spec.WorkloadRef = &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "d"}
		}, "spec.template"},
		{"workloadRef kind", func(ro *v1alpha1.Rollout) {
			ro.Spec.Template = corev1.PodTemplateSpec{}
			ro.Spec.WorkloadRef = &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "d"}
		}, "spec.workloadRef.kind"},
		{"progress deadline below minReadySeconds", func(ro *v1alpha1.Rollout) {
			ro.Spec.MinReadySeconds = 700
		}, "spec.progressDeadlineSeconds"},
		{"antiAffinity weight", func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.AntiAffinity = &v1alpha1.AntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: &v1alpha1.PreferredDuringSchedulingIgnoredDuringExecution{Weight: 0}}
		}, "spec.strategy.canary.antiAffinity.preferredDuringSchedulingIgnoredDuringExecution.weight"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ro := validCanary()
			tc.break_(ro)
			errs := Validate(ro)
			if len(errs) == 0 {
				t.Fatal("accepted an invalid rollout")
			}
			var fields []string
			for _, e := range errs {
				fields = append(fields, e.Field)
				if e.Field == tc.field {
					if !strings.HasPrefix(e.Error(), tc.field+":") {
						t.Errorf("message %q does not start with the field", e.Error())
					}
					return
				}
			}
			t.Fatalf("no error names %s; got %v", tc.field, fields)
		})
	}
}

func TestPauseDuration(t *testing.T) {
	for in, want := range map[string]string{"30": "30s", "30s": "30s", "10m": "10m0s", "1h": "1h0m0s", "1h30m": "1h30m0s"} {
		d, err := PauseDuration(intstr.FromString(in))
		if err != nil || d.String() != want {
			t.Errorf("PauseDuration(%q) = %v, %v; want %s", in, d, err, want)
		}
	}
	if d, err := PauseDuration(intstr.FromInt32(45)); err != nil || d.String() != "45s" {
		t.Errorf("PauseDuration(45) = %v, %v", d, err)
	}
	for _, bad := range []string{"", "soon", "-5s", "-3", "10 minutes"} {
		if _, err := PauseDuration(intstr.FromString(bad)); err == nil {
			t.Errorf("PauseDuration(%q) accepted", bad)
		}
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30", "30s", "1h30m", "-1", "", "1e9h", "9999999999999h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err == nil && d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative without error", s, d)
		}
	})
}

// Validation runs on every reconcile of every Rollout.
func BenchmarkValidate(b *testing.B) {
	valid := validCanary()
	invalid := validCanary()
	invalid.Spec.Strategy.Canary.Steps[0].SetWeight = ptr.To[int32](150)
	invalid.Spec.Selector.MatchLabels["app"] = "other"
	b.Run("valid", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Validate(valid)
		}
	})
	b.Run("invalid", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Validate(invalid)
		}
	})
}

func TestValidateDuplicateNames(t *testing.T) {
	ro := validCanary()
	ro.Spec.Strategy.Canary.TrafficRouting = &v1alpha1.RolloutTrafficRouting{ManagedRoutes: []v1alpha1.MangedRoutes{{Name: "h"}, {Name: "h"}, {}}}
	ro.Spec.Strategy.Canary.CanaryService, ro.Spec.Strategy.Canary.StableService = "canary", "stable"
	ro.Spec.Strategy.Canary.Steps[1] = v1alpha1.CanaryStep{Analysis: &v1alpha1.RolloutAnalysis{
		Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "t"}},
		Args:      []v1alpha1.AnalysisRunArgument{{Name: "a"}, {Name: "a"}},
	}}
	var got []string
	for _, e := range Validate(ro) {
		got = append(got, e.Field+" "+e.Type.String())
	}
	want := []string{
		"spec.strategy.canary.trafficRouting.managedRoutes[1].name Duplicate value",
		"spec.strategy.canary.trafficRouting.managedRoutes[2].name Required value",
		"spec.strategy.canary.steps[1].analysis.args[1].name Duplicate value",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A name too long for the ReplicaSets' (or the runs') names is an
// InvalidSpec on metadata.name, not a create that fails forever.
func TestValidateNameLength(t *testing.T) {
	for _, tc := range []struct {
		n        int
		analysis bool
		bad      bool
	}{
		{n: 242}, {n: 243, bad: true}, {n: 226, analysis: true}, {n: 227, analysis: true, bad: true}, {n: 240, analysis: true, bad: true},
	} {
		ro := validCanary()
		ro.Name = strings.Repeat("a", tc.n)
		if tc.analysis {
			ro.Spec.Strategy.Canary.Analysis = &v1alpha1.RolloutAnalysisBackground{RolloutAnalysis: v1alpha1.RolloutAnalysis{
				Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "t"}}}}
		}
		errs := Validate(ro)
		named := len(errs) > 0 && errs[0].Field == "metadata.name"
		if named != tc.bad {
			t.Errorf("a %d-character name (analysis %t): %v", tc.n, tc.analysis, errs.ToAggregate())
		}
	}
}
