package rollout

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/conditions"
)

func service(name string, selector map[string]string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{Selector: selector}}
}

// A Service that is missing, or that could never select the Rollout's pods,
// makes the spec invalid, named by the field that points at it; nothing is
// created or scaled.
func TestDecideChecksServices(t *testing.T) {
	for _, tc := range []struct {
		name     string
		services map[string]*corev1.Service
		want     string
	}{
		{"missing", map[string]*corev1.Service{"stable": service("stable", map[string]string{"app": "demo"}), "canary": nil},
			"spec.strategy.canary.canaryService: Not found: \"canary\""},
		{"selects nothing", map[string]*corev1.Service{"stable": service("stable", map[string]string{"app": "other"}), "canary": service("canary", map[string]string{"app": "demo"})},
			"spec.strategy.canary.stableService: Invalid value: \"stable\": Service stable selects no pod of this Rollout"},
		{"empty selector", map[string]*corev1.Service{"stable": service("stable", nil), "canary": service("canary", map[string]string{"app": "demo"})},
			"spec.strategy.canary.stableService: Invalid value: \"stable\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ro := validCanary()
			ro.Spec.Strategy.Canary.CanaryService, ro.Spec.Strategy.Canary.StableService = "canary", "stable"
			plan := Decide(Observed{Rollout: ro, Services: tc.services, Now: time.Now()})
			c := conditions.Get(plan.Status.Conditions, v1alpha1.RolloutInvalidSpec)
			if c == nil || !strings.Contains(c.Message, tc.want) {
				t.Fatalf("InvalidSpec = %+v, want a message containing %q", c, tc.want)
			}
			if plan.Create != nil || len(plan.Scale) > 0 || len(plan.Services) > 0 {
				t.Errorf("an invalid rollout was acted on: %+v", plan)
			}
		})
	}

	// A Service already pointed at a pod-template hash still matches.
	ro := validCanary()
	ro.Spec.Strategy.Canary.StableService = "stable"
	plan := Decide(Observed{Rollout: ro, Now: time.Now(), Services: map[string]*corev1.Service{
		"stable": service("stable", map[string]string{"app": "demo", PodTemplateHashLabel: "abc"})}})
	if c := conditions.Get(plan.Status.Conditions, v1alpha1.RolloutInvalidSpec); c != nil {
		t.Errorf("valid Service rejected: %s", c.Message)
	}
}

// Kinds of steps and strategies this version cannot run yet are refused by
// name, not half-run.
func TestDecideRefusesWhatItCannotRunYet(t *testing.T) {
	ro := validCanary()
	ro.Spec.Strategy.Canary.Steps[1] = v1alpha1.CanaryStep{Plugin: &v1alpha1.PluginStep{Name: "example"}}
	ro.Spec.Strategy.Canary.TrafficRouting = &v1alpha1.RolloutTrafficRouting{Nginx: &v1alpha1.NginxTrafficRouting{StableIngress: "i"}}
	plan := Decide(Observed{Rollout: ro, Now: time.Now()})
	c := conditions.Get(plan.Status.Conditions, v1alpha1.RolloutInvalidSpec)
	if f := "spec.strategy.canary.steps[1].plugin"; c == nil || !strings.Contains(c.Message, f+": Forbidden: not supported yet") {
		t.Errorf("no refusal naming %s: %+v", f, c)
	}
	// Traffic routing is run, and needs both Services.
	for _, f := range []string{"spec.strategy.canary.canaryService", "spec.strategy.canary.stableService"} {
		if c == nil || !strings.Contains(c.Message, f+": Required value") {
			t.Errorf("no error naming %s: %+v", f, c)
		}
	}
	if strings.Contains(c.Message, "trafficRouting: Forbidden") {
		t.Errorf("trafficRouting refused: %s", c.Message)
	}
	if plan.Create != nil {
		t.Error("a refused rollout got a ReplicaSet")
	}
}

// An undo copies a ReplicaSet's template, defaults and all, back into the
// Rollout. Its hash then differs from the ReplicaSet's, but it is that
// ReplicaSet's version: no new ReplicaSet, and going back to the stable one
// is a fast rollback.
func TestDecideKnowsATemplateCopiedBackFromAReplicaSet(t *testing.T) {
	ro := validCanary()
	ro.Spec.Replicas = ptr.To[int32](2)
	stableHash := PodTemplateHash(&ro.Spec.Template, nil)
	stable := newReplicaSet(ro, &ro.Spec.Template, stableHash, 1)
	// The API server's defaults in the ReplicaSet's copy.
	stable.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
	stable.Spec.Template.Spec.Containers[0].TerminationMessagePath = "/dev/termination-log"
	stable.Spec.Replicas = ptr.To[int32](2)
	stable.Status.Replicas, stable.Status.AvailableReplicas, stable.Status.ReadyReplicas = 2, 2, 2
	ro.Spec.Template.Spec.Containers[0].Image = "demo:green"
	canaryRS := newReplicaSet(ro, &ro.Spec.Template, PodTemplateHash(&ro.Spec.Template, nil), 2)
	canaryRS.Spec.Replicas = ptr.To[int32](1)
	canaryRS.Status.Replicas, canaryRS.Status.AvailableReplicas, canaryRS.Status.ReadyReplicas = 1, 1, 1
	ro.Status.StableRS, ro.Status.CurrentPodHash = stableHash, canaryRS.Labels[PodTemplateHashLabel]
	ro.Status.CurrentStepIndex = ptr.To[int32](1)

	// undo: the stable ReplicaSet's template, without its hash label.
	ro.Spec.Template = *stable.Spec.Template.DeepCopy()
	delete(ro.Spec.Template.Labels, PodTemplateHashLabel)
	ro.Generation++
	plan := Decide(Observed{Rollout: ro, ReplicaSets: []*appsv1.ReplicaSet{stable, canaryRS}, Now: time.Now()})
	if plan.Create != nil {
		t.Fatalf("a new ReplicaSet %s for a template that is the stable one's", plan.Create.Name)
	}
	if plan.Status.CurrentPodHash != stableHash || plan.Status.StableRS != stableHash {
		t.Errorf("currentPodHash %q stableRS %q, want both %q", plan.Status.CurrentPodHash, plan.Status.StableRS, stableHash)
	}
	if n, ok := plan.Scale[canaryRS.Name]; !ok || n != 0 {
		t.Errorf("the canary is not scaled down at once: %v", plan.Scale)
	}
}

// Taking over a live rollout: the ReplicaSets Argo Rollouts made carry its
// hash (which is Vireo's), and those an earlier Vireo made carry that
// release's hash. Both are this template's version: no new ReplicaSet, no
// pod restarted, the step in progress goes on. Their templates hold the API
// server's defaults, so only the label can tell.
func TestDecideTakesOverReplicaSetsOfArgoAndEarlierVireo(t *testing.T) {
	for _, tc := range []struct {
		name string
		hash func(*corev1.PodTemplateSpec) string
	}{
		{"argo rollouts", func(t *corev1.PodTemplateSpec) string { return PodTemplateHash(t, nil) }},
		{"vireo 1", func(t *corev1.PodTemplateSpec) string { return vireo1PodTemplateHash(t, nil) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ro := validCanary()
			ro.Spec.Replicas = ptr.To[int32](5)
			ro.Generation = 2
			blue := ro.Spec.Template.DeepCopy()
			stableHash := tc.hash(blue)
			stable := newReplicaSet(ro, blue, stableHash, 1)
			stable.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
			stable.Spec.Template.Spec.Containers[0].TerminationMessagePath = "/dev/termination-log"
			stable.Spec.Replicas = ptr.To[int32](4)
			stable.Status.Replicas, stable.Status.AvailableReplicas, stable.Status.ReadyReplicas = 4, 4, 4

			ro.Spec.Template.Spec.Containers[0].Image = "demo:green"
			canaryHash := tc.hash(&ro.Spec.Template)
			canary := newReplicaSet(ro, &ro.Spec.Template, canaryHash, 2)
			canary.Spec.Template.Spec.DNSPolicy = corev1.DNSClusterFirst
			canary.Spec.Replicas = ptr.To[int32](1)
			canary.Status.Replicas, canary.Status.AvailableReplicas, canary.Status.ReadyReplicas = 1, 1, 1

			// Argo's status at the first pause.
			ro.Status.ObservedGeneration = "2"
			ro.Status.StableRS, ro.Status.CurrentPodHash = stableHash, canaryHash
			ro.Status.CurrentStepHash = stepsHash(ro.Spec.Strategy.Canary.Steps)
			ro.Status.CurrentStepIndex = ptr.To[int32](1)
			ro.Status.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep, StartTime: metav1.Now()}}
			ro.Status.ControllerPause = true

			plan := Decide(Observed{Rollout: ro, ReplicaSets: []*appsv1.ReplicaSet{stable, canary}, Now: time.Now()})
			if plan.Create != nil {
				t.Fatalf("created ReplicaSet %s for a version that has one", plan.Create.Name)
			}
			st := plan.Status
			if st.CurrentPodHash != canaryHash || st.StableRS != stableHash {
				t.Errorf("currentPodHash %q stableRS %q, want %q and %q", st.CurrentPodHash, st.StableRS, canaryHash, stableHash)
			}
			if i := ptr.Deref(st.CurrentStepIndex, -1); i != 1 || len(st.PauseConditions) != 1 {
				t.Errorf("step %d with pause conditions %v, want still paused at step 1", i, st.PauseConditions)
			}
			for name, n := range plan.Scale {
				if (name == stable.Name && n != 4) || (name == canary.Name && n != 1) {
					t.Errorf("scales %s to %d: a paused step must keep its pods", name, n)
				}
			}
			if len(plan.Delete) != 0 {
				t.Errorf("deletes %v", plan.Delete)
			}
		})
	}
}

// status.workloadObservedGeneration holds the referenced Deployment's
// generation only while the template comes from it; a Rollout with both a
// workloadRef and a template has one condition, InvalidSpec, in Argo's words.
func TestDecideWorkloadRefBookkeeping(t *testing.T) {
	base := validCanary()
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "default", Generation: 7},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](5), Selector: base.Spec.Selector.DeepCopy(), Template: *base.Spec.Template.DeepCopy()},
	}
	ro := base.DeepCopy()
	ro.Spec.Template = corev1.PodTemplateSpec{}
	ro.Spec.WorkloadRef = &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "demo"}
	plan := Decide(Observed{Rollout: ro, Workload: d, Now: time.Now()})
	if got := plan.Status.WorkloadObservedGeneration; got != "7" {
		t.Errorf("with workloadRef: workloadObservedGeneration %q, want \"7\"", got)
	}

	inline := base.DeepCopy()
	inline.Status = plan.Status
	plan = Decide(Observed{Rollout: inline, Now: time.Now()})
	if got := plan.Status.WorkloadObservedGeneration; got != "" {
		t.Errorf("workloadRef replaced by a template: workloadObservedGeneration %q, want it cleared", got)
	}

	both := ro.DeepCopy()
	both.Spec.Template = *base.Spec.Template.DeepCopy()
	plan = Decide(Observed{Rollout: both, Workload: d, Now: time.Now()})
	if n := len(plan.Status.Conditions); n != 1 || plan.Status.Conditions[0].Type != v1alpha1.RolloutInvalidSpec {
		t.Fatalf("conditions %+v, want exactly InvalidSpec", plan.Status.Conditions)
	}
	if msg := plan.Status.Conditions[0].Message; !strings.Contains(msg, "template must be empty for workload reference rollout") {
		t.Errorf("InvalidSpec message %q lacks Argo's words", msg)
	}
}

// Services that carry this Rollout's managed-by annotation and that its spec
// no longer names are released; those of another Rollout, and those still
// named, are not.
func TestDecideReleasesServicesNoLongerNamed(t *testing.T) {
	ro := validCanary()
	ro.Spec.Strategy.Canary.CanaryService = "demo-canary"
	managed := func(name, by string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Annotations: map[string]string{ManagedByAnnotation: by}},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "demo", PodTemplateHashLabel: "abc"}}}
	}
	canary := managed("demo-canary", "demo")
	plan := Decide(Observed{Rollout: ro, Now: time.Now(),
		Services:        map[string]*corev1.Service{"demo-canary": canary},
		ManagedServices: []*corev1.Service{canary, managed("old-preview", "demo"), managed("old-active", "demo"), managed("theirs", "other")}})
	if got := strings.Join(plan.ReleaseServices, ","); got != "old-active,old-preview" {
		t.Errorf("released %q, want old-active,old-preview", got)
	}
}
