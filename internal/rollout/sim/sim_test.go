package sim

import (
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/conditions"
	"github.com/vireo-dev/vireo/internal/rollout"
)

var update = flag.Bool("update", false, "rewrite the golden files of the rollout simulations")

// withWorkloadRef moves a Rollout's template into a Deployment it references.
func withWorkloadRef(ro *v1alpha1.Rollout, scaleDown string) (*v1alpha1.Rollout, *appsv1.Deployment) {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "demo-deploy", Namespace: ro.Namespace, Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: ro.Spec.Replicas,
			Selector: ro.Spec.Selector.DeepCopy(),
			Template: *ro.Spec.Template.DeepCopy(),
		},
	}
	ro.Spec.Template = corev1.PodTemplateSpec{}
	ro.Spec.Selector = nil
	ro.Spec.WorkloadRef = &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, ScaleDown: scaleDown}
	return ro, d
}

func seedRollout(replicas int32, steps ...v1alpha1.CanaryStep) *v1alpha1.Rollout {
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "default", UID: "uid-demo", Generation: 1},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "demo"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "demo"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "demo", Image: "demo:blue"}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: steps}},
		},
	}
}

// withRoleMetadata labels pods by role: canary and stable, or preview and
// active; stable and active pods also get an annotation.
func withRoleMetadata(ro *v1alpha1.Rollout) *v1alpha1.Rollout {
	role := func(r string, annotate bool) *v1alpha1.PodTemplateMetadata {
		m := &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": r}}
		if annotate {
			m.Annotations = map[string]string{"sim.vireo.dev/serving": "true"}
		}
		return m
	}
	if c := ro.Spec.Strategy.Canary; c != nil {
		c.CanaryMetadata, c.StableMetadata = role("canary", false), role("stable", true)
	}
	if bg := ro.Spec.Strategy.BlueGreen; bg != nil {
		bg.PreviewMetadata, bg.ActiveMetadata = role("preview", false), role("active", true)
	}
	return ro
}

// onFailure sets vireo.dev/on-analysis-failure.
func onFailure(ro *v1alpha1.Rollout, policy string) *v1alpha1.Rollout {
	ro.Annotations = map[string]string{rollout.OnAnalysisFailureAnnotation: policy}
	return ro
}

func withDeadline(ro *v1alpha1.Rollout, seconds int32, Abort bool) *v1alpha1.Rollout {
	ro.Spec.ProgressDeadlineSeconds = ptr.To(seconds)
	ro.Spec.ProgressDeadlineAbort = Abort
	return ro
}

func blueGreen(replicas int32, bg v1alpha1.BlueGreenStrategy) *v1alpha1.Rollout {
	ro := seedRollout(replicas)
	bg.ActiveService, bg.PreviewService = "demo-active", "demo-preview"
	ro.Spec.Strategy = v1alpha1.RolloutStrategy{BlueGreen: &bg}
	return ro
}

// withRouter gives a canary a traffic router and its two Services.
func withRouter(ro *v1alpha1.Rollout, edit func(c *v1alpha1.CanaryStrategy), more ...func(*v1alpha1.Rollout)) *v1alpha1.Rollout {
	c := ro.Spec.Strategy.Canary
	c.CanaryService, c.StableService = "demo-canary", "demo-stable"
	c.TrafficRouting = &v1alpha1.RolloutTrafficRouting{Nginx: &v1alpha1.NginxTrafficRouting{StableIngress: "demo"}}
	if edit != nil {
		edit(c)
	}
	for _, m := range more {
		m(ro)
	}
	return ro
}

// withPort gives the pods an http port, which an experiment's Services expose.
func withPort(ro *v1alpha1.Rollout) {
	ro.Spec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
}

// seed001 is seed 001's rollout: NGINX, 20, a manual gate, 50, 70.
func seed001() *v1alpha1.Rollout {
	return withRouter(seedRollout(5, weight(20), pauseIndefinitely(), weight(50), pauseFor(30), weight(70), pauseFor(30)), nil)
}

func headerRoute(name, header, value string) v1alpha1.CanaryStep {
	return v1alpha1.CanaryStep{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: name,
		Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: header, HeaderValue: &v1alpha1.StringMatch{Exact: value}}}}}
}

func mirrorRoute(name string, percent int32) v1alpha1.CanaryStep {
	return v1alpha1.CanaryStep{SetMirrorRoute: &v1alpha1.SetMirrorRoute{Name: name, Percentage: ptr.To(percent),
		Match: []v1alpha1.RouteMatch{{Path: &v1alpha1.StringMatch{Prefix: "/"}}}}}
}

// withSurge sets a canary's maxSurge and maxUnavailable, in pods.
func withSurge(ro *v1alpha1.Rollout, surge, unavailable int32) *v1alpha1.Rollout {
	ro.Spec.Strategy.Canary.MaxSurge = ptr.To(intstr.FromInt32(surge))
	ro.Spec.Strategy.Canary.MaxUnavailable = ptr.To(intstr.FromInt32(unavailable))
	return ro
}

func weight(w int32) v1alpha1.CanaryStep { return v1alpha1.CanaryStep{SetWeight: ptr.To(w)} }
func pauseFor(s int32) v1alpha1.CanaryStep {
	return v1alpha1.CanaryStep{Pause: &v1alpha1.RolloutPause{Duration: ptr.To(intstr.FromInt32(s))}}
}
func pauseIndefinitely() v1alpha1.CanaryStep {
	return v1alpha1.CanaryStep{Pause: &v1alpha1.RolloutPause{}}
}

// The seed tutorials' rollout: 5 replicas, 20% then a manual gate, then
// 40/60/80 ten seconds apart.
func seed002() *v1alpha1.Rollout {
	return seedRollout(5, weight(20), pauseIndefinitely(), weight(40), pauseFor(10), weight(60), pauseFor(10), weight(80), pauseFor(10))
}

type scenario struct {
	name       string
	ro         *v1alpha1.Rollout
	workload   *appsv1.Deployment
	readyAfter time.Duration
	broken     string
	until      time.Duration
	actions    map[time.Duration]Action
	// end is the phase and image the rollout must finish with.
	endPhase v1alpha1.RolloutPhase
	endImage string
	// endReplicas, when set, replaces endImage: each image's spec.replicas at
	// the end (pods of the broken image are never available).
	endReplicas map[string]int32
	// analysis scripts the AnalysisRuns' outcomes.
	analysis Script
	// setup prepares the world before the first tick: objects that are
	// not the Rollout's, say.
	setup func(w *World)
}

func scenarios() []scenario {
	s := time.Second
	progressively, deploy1 := withWorkloadRef(seedRollout(4, weight(25), pauseFor(5), weight(50), pauseFor(5)), v1alpha1.ScaleDownProgressively)
	onSuccess, deploy2 := withWorkloadRef(seedRollout(4, weight(50), pauseIndefinitely()), v1alpha1.ScaleDownOnSuccess)
	return []scenario{
		{name: "workloadref-progressively", ro: progressively, workload: deploy1, readyAfter: 2 * s, until: 40 * s,
			endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]Action{10 * s: SetImage("green")}},
		{name: "workloadref-onsuccess", ro: onSuccess, workload: deploy2, readyAfter: 2 * s, until: 40 * s,
			endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]Action{10 * s: SetImage("green"), 20 * s: Promote}},
		{name: "seed002-promote", ro: seed002(), until: 60 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 15 * s: Promote}},
		{name: "seed002-slow-pods", ro: seed002(), readyAfter: 3 * s, until: 80 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]Action{10 * s: SetImage("green"), 25 * s: Promote}},
		{name: "seed002-abort-retry", ro: seed002(), until: 70 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 12 * s: Abort, 20 * s: Retry, 28 * s: Promote}},
		{name: "seed002-abort-then-stable-reapplied", ro: seed002(), until: 30 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "blue",
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 12 * s: Abort, 18 * s: SetImage("blue")}},
		{name: "fast-rollback-mid-rollout", ro: seed002(), until: 30 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "blue",
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 12 * s: Promote, 15 * s: SetImage("blue")}},
		{name: "supersede", ro: seed002(), until: 70 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "yellow",
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 10 * s: Promote, 16 * s: SetImage("yellow"), 25 * s: Promote}},
		{name: "undo-to-older-revision", ro: seed002(), until: 80 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 8 * s: PromoteFull,
				12 * s: SetImage("yellow"), 15 * s: PromoteFull, 20 * s: Undo(0), 28 * s: Promote}},
		{name: "undo-to-stable-mid-rollout", ro: seed002(), until: 30 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "blue",
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 12 * s: Undo(0)}},
		{name: "canary-role-metadata", ro: withRoleMetadata(seedRollout(4, weight(25), pauseIndefinitely())), until: 25 * s,
			endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 10 * s: Promote}},
		{name: "bluegreen-role-metadata", ro: withRoleMetadata(blueGreen(2, v1alpha1.BlueGreenStrategy{AutoPromotionEnabled: ptr.To(false), ScaleDownDelaySeconds: ptr.To[int32](5)})),
			until: 25 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 10 * s: Promote}},
		{name: "promote-full", ro: seed002(), until: 25 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 10 * s: PromoteFull}},
		// promote --full over an abort: the abort is cleared, the new version goes all the way.
		{name: "abort-then-promote-full", ro: seed002(), until: 30 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 10 * s: Abort, 15 * s: PromoteFull}},
		// The green ReplicaSet's name is held by another object: the collision
		// count goes up, and green goes out under the next hash.
		{name: "hash-collision", ro: seed002(), readyAfter: time.Second, until: 90 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			setup: func(w *World) {
				ro := seed002()
				ro.Spec.Template.Spec.Containers[0].Image = "demo:green"
				w.Foreign = map[string]bool{rollout.ReplicaSetName(ro, rollout.PodTemplateHash(&ro.Spec.Template, nil)): true}
			},
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 20 * s: PromoteFull}},
		// A ReplicaSet of the Rollout's template that no one owns (the Rollout
		// was deleted with --cascade=orphan and applied again) is adopted: no new
		// ReplicaSet, no pod restarted.
		{name: "adoption", ro: seed002(), until: 10 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "blue", setup: addOrphanOfTemplate},
		{name: "manual-pause", ro: seedRollout(4, weight(25), pauseFor(5), weight(50), pauseFor(5), weight(75), pauseFor(5)), until: 45 * s,
			endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 9 * s: Pause, 20 * s: Promote}},
		{name: "bluegreen-manual-promotion", ro: blueGreen(2, v1alpha1.BlueGreenStrategy{AutoPromotionEnabled: ptr.To(false)}),
			readyAfter: 2 * s, until: 60 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 15 * s: Promote}},
		{name: "bluegreen-small-preview-auto", ro: blueGreen(3, v1alpha1.BlueGreenStrategy{PreviewReplicaCount: ptr.To[int32](1), ScaleDownDelaySeconds: ptr.To[int32](10)}),
			readyAfter: 2 * s, until: 40 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]Action{5 * s: SetImage("green")}},
		{name: "bluegreen-autopromotion-seconds", ro: blueGreen(2, v1alpha1.BlueGreenStrategy{AutoPromotionSeconds: 10, ScaleDownDelaySeconds: ptr.To[int32](5)}),
			until: 40 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]Action{5 * s: SetImage("green")}},
		{name: "bluegreen-autopromotion-seconds-outlasts-analysis", ro: withPromotionAnalysis(blueGreen(2, v1alpha1.BlueGreenStrategy{AutoPromotionSeconds: 10, ScaleDownDelaySeconds: ptr.To[int32](5)}), true, false),
			until: 40 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			analysis: Script{rollout.RunPrePromotion: {}},
			actions:  map[time.Duration]Action{5 * s: SetImage("green")}},
		{name: "bluegreen-autopromotion-seconds-after-analysis", ro: withPromotionAnalysis(blueGreen(2, v1alpha1.BlueGreenStrategy{AutoPromotionSeconds: 10, ScaleDownDelaySeconds: ptr.To[int32](5)}), true, false),
			until: 40 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			analysis: Script{rollout.RunPrePromotion: ok(3)},
			actions:  map[time.Duration]Action{5 * s: SetImage("green")}},
		{name: "bluegreen-abort", ro: blueGreen(2, v1alpha1.BlueGreenStrategy{AutoPromotionEnabled: ptr.To(false), AbortScaleDownDelaySeconds: ptr.To[int32](10)}),
			until: 40 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "blue",
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 10 * s: Abort, 30 * s: SetImage("blue")}},
		{name: "progress-deadline", ro: withDeadline(seed002(), 10, false), broken: "green", until: 40 * s,
			endPhase: v1alpha1.RolloutPhaseDegraded, endReplicas: map[string]int32{"blue": 4, "green": 1},
			actions: map[time.Duration]Action{5 * s: SetImage("green")}},
		// The deadline applies to the first revision too: Degraded at 5s, Healthy once the pods are up.
		{name: "progress-deadline-first-revision", ro: withDeadline(seedRollout(3, weight(50), pauseIndefinitely()), 5, false), readyAfter: 10 * s, until: 20 * s,
			endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "blue"},
		{name: "progress-deadline-abort", ro: withDeadline(seed002(), 10, true), broken: "green", until: 40 * s,
			endPhase: v1alpha1.RolloutPhaseDegraded, endImage: "blue",
			actions: map[time.Duration]Action{5 * s: SetImage("green")}},
		{name: "restart", ro: seed002(), readyAfter: 2 * s, until: 30 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "blue",
			actions: map[time.Duration]Action{8 * s: Restart}},
		// Argo's rule for a setWeight step: the canary available, the stable
		// ReplicaSet at its count whether its pods are ready or not.
		{name: "stable-never-ready", ro: withSurge(seedRollout(4, weight(50), pauseFor(5)), 1, 0), broken: "blue", until: 40 * s,
			endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green", actions: map[time.Duration]Action{5 * s: SetImage("green")}},
		// Argo: replicas 4 -> 8 -> 4 with maxSurge 2, maxUnavailable 0 and a
		// canary that never becomes ready: (canary, stable) (2,4), (6,4), (2,4).
		{name: "scaled-mid-update", ro: withSurge(seedRollout(4), 2, 0), broken: "green", until: 45 * s,
			endPhase: v1alpha1.RolloutPhaseProgressing, endReplicas: map[string]int32{"blue": 4, "green": 2},
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 15 * s: Scale(8), 30 * s: Scale(4)}},
		{name: "no-steps-rolling-update", ro: seedRollout(5), readyAfter: 2 * s, until: 30 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]Action{5 * s: SetImage("green")}},
		{name: "seed000-background-analysis-passes", ro: seed000(), until: 70 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]Action{5 * s: SetImage("green")}},
		{name: "seed000-background-analysis-fails", ro: seed000(), until: 50 * s, endPhase: v1alpha1.RolloutPhaseDegraded, endImage: "blue",
			analysis: Script{rollout.RunBackground: ends(12, v1alpha1.AnalysisPhaseFailed)},
			actions:  map[time.Duration]Action{5 * s: SetImage("green")}},
		// A background run Inconclusive before the first step is done holds
		// every step (the pause step's gate is not opened by the run's pause)
		// until a person promotes.
		{name: "background-inconclusive-holds-steps", ro: withAnalysis(seedRollout(2, weight(50), pauseFor(3600)), nil), readyAfter: 2 * s, until: 30 * s,
			endPhase: v1alpha1.RolloutPhasePaused, endReplicas: map[string]int32{"blue": 1, "green": 1},
			analysis: Script{rollout.RunBackground: ends(0, v1alpha1.AnalysisPhaseInconclusive)},
			actions:  map[time.Duration]Action{5 * s: SetImage("green")}},
		{name: "analysis-fails-then-retry-passes", ro: seed000(), until: 100 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			analysis: Script{rollout.RunBackground: ends(5, v1alpha1.AnalysisPhaseError), rollout.RunBackground + ".1": {}},
			actions:  map[time.Duration]Action{5 * s: SetImage("green"), 40 * s: Retry}},
		{name: "experiment-step-passes", ro: seedRollout(4, weight(25), experimentStep("10s"), weight(50)), until: 45 * s,
			endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			analysis: Script{RunExperiment: ok(4)},
			actions:  map[time.Duration]Action{5 * s: SetImage("green")}},
		{name: "experiment-step-fails", ro: seedRollout(4, weight(25), experimentStep("10s"), weight(50)), until: 40 * s,
			endPhase: v1alpha1.RolloutPhaseDegraded, endImage: "blue",
			analysis: Script{RunExperiment: ends(4, v1alpha1.AnalysisPhaseFailed)},
			actions:  map[time.Duration]Action{5 * s: SetImage("green")}},
		{name: "experiment-step-inconclusive-then-promoted", ro: seedRollout(4, weight(25), experimentStep(""), weight(50)), until: 40 * s,
			endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			analysis: Script{RunExperiment: ends(4, v1alpha1.AnalysisPhaseInconclusive)},
			actions:  map[time.Duration]Action{5 * s: SetImage("green"), 20 * s: Promote}},
		{name: "experiment-step-aborted-by-user", ro: seedRollout(4, weight(25), experimentStep("60s"), weight(50)), until: 50 * s,
			endPhase: v1alpha1.RolloutPhaseDegraded, endImage: "blue",
			analysis: Script{RunExperiment: {}},
			actions:  map[time.Duration]Action{5 * s: SetImage("green"), 15 * s: Abort}},
		{name: "routed-weighted-experiment-step", ro: withRouter(seedRollout(4, weight(20), weightedExperimentStep(), weight(50)), func(c *v1alpha1.CanaryStrategy) {
			c.TrafficRouting = &v1alpha1.RolloutTrafficRouting{Traefik: &v1alpha1.TraefikTrafficRouting{WeightedTraefikServiceName: "demo"}}
		}, withPort), until: 60 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			analysis: Script{RunExperiment: ok(4)},
			actions:  map[time.Duration]Action{5 * s: SetImage("green")}},
		{name: "on-analysis-failure-pause-then-promoted", ro: onFailure(seedRollout(4, weight(25), analysisStep(), weight(50)), "pause"), until: 40 * s,
			endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			analysis: Script{rollout.RunStep: ends(3, v1alpha1.AnalysisPhaseFailed)},
			actions:  map[time.Duration]Action{5 * s: SetImage("green"), 20 * s: Promote}},
		{name: "on-analysis-failure-pause-then-aborted", ro: onFailure(seedRollout(4, weight(25), analysisStep(), weight(50)), "pause"), until: 40 * s,
			endPhase: v1alpha1.RolloutPhaseDegraded, endImage: "blue",
			analysis: Script{rollout.RunStep: ends(3, v1alpha1.AnalysisPhaseFailed)},
			actions:  map[time.Duration]Action{5 * s: SetImage("green"), 20 * s: Abort}},
		{name: "on-analysis-failure-notify", ro: onFailure(seedRollout(4, weight(25), analysisStep(), weight(50)), "notify"), until: 40 * s,
			endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			analysis: Script{rollout.RunStep: ends(3, v1alpha1.AnalysisPhaseFailed)},
			actions:  map[time.Duration]Action{5 * s: SetImage("green")}},
		{name: "inline-analysis-step", ro: seedRollout(4, weight(25), analysisStep(), weight(50), analysisStep()), until: 40 * s,
			endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			analysis: Script{rollout.RunStep: ok(4)},
			actions:  map[time.Duration]Action{5 * s: SetImage("green")}},
		{name: "inline-analysis-inconclusive-then-promoted", ro: seedRollout(4, weight(25), analysisStep(), weight(50)), until: 40 * s,
			endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			analysis: Script{rollout.RunStep: ends(3, v1alpha1.AnalysisPhaseInconclusive)},
			actions:  map[time.Duration]Action{5 * s: SetImage("green"), 20 * s: Promote}},
		{name: "inline-analysis-step-fails", ro: seedRollout(4, weight(25), analysisStep(), weight(50)), until: 30 * s,
			endPhase: v1alpha1.RolloutPhaseDegraded, endImage: "blue",
			analysis: Script{"Step-1": ends(3, v1alpha1.AnalysisPhaseFailed)},
			actions:  map[time.Duration]Action{5 * s: SetImage("green")}},
		{name: "bluegreen-pre-and-post-promotion-analysis", ro: withPromotionAnalysis(blueGreen(2, v1alpha1.BlueGreenStrategy{ScaleDownDelaySeconds: ptr.To[int32](5)}), true, true),
			until: 40 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			analysis: Script{rollout.RunPrePromotion: ok(5), rollout.RunPostPromotion: ok(5)},
			actions:  map[time.Duration]Action{5 * s: SetImage("green")}},
		// promote --full on blue-green: the preview (1 of 3) grows to full size,
		// then the switch, with no pause and no pre- or post-promotion run.
		{name: "bluegreen-promote-full", ro: withPromotionAnalysis(blueGreen(3, v1alpha1.BlueGreenStrategy{AutoPromotionEnabled: ptr.To(false),
			PreviewReplicaCount: ptr.To[int32](1), ScaleDownDelaySeconds: ptr.To[int32](5)}), true, true),
			until: 40 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			analysis: Script{rollout.RunPrePromotion: ends(1000, v1alpha1.AnalysisPhaseSuccessful), rollout.RunPostPromotion: ends(1000, v1alpha1.AnalysisPhaseSuccessful)},
			actions:  map[time.Duration]Action{5 * s: SetImage("green"), 8 * s: PromoteFull}},
		{name: "bluegreen-prepromotion-fails", ro: withPromotionAnalysis(blueGreen(2, v1alpha1.BlueGreenStrategy{AbortScaleDownDelaySeconds: ptr.To[int32](5)}), true, false),
			until: 30 * s, endPhase: v1alpha1.RolloutPhaseDegraded, endImage: "blue",
			analysis: Script{rollout.RunPrePromotion: ends(5, v1alpha1.AnalysisPhaseFailed)},
			actions:  map[time.Duration]Action{5 * s: SetImage("green")}},
		{name: "routed-seed001-promote", ro: seed001(), readyAfter: 2 * s, until: 150 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 20 * s: Promote}},
		// The routers refuse the weight of step 3 for a while: the step does not
		// complete, and no pod the routers may still send to goes, until they
		// take it.
		{name: "routed-router-refuses-weight", ro: seed001(), readyAfter: 2 * s, until: 150 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			setup: func(w *World) {
				w.RouterDown = func(at time.Duration) bool { return at >= 22*time.Second && at < 40*time.Second }
			},
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 20 * s: Promote}},
		{name: "routed-abort", ro: seed001(), readyAfter: 2 * s, until: 100 * s, endPhase: v1alpha1.RolloutPhaseDegraded, endImage: "blue",
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 20 * s: Promote, 30 * s: Abort}},
		{name: "routed-abort-keeps-canary-up", ro: withRouter(seedRollout(4, weight(25), pauseIndefinitely()), func(c *v1alpha1.CanaryStrategy) {
			c.AbortScaleDownDelaySeconds = ptr.To[int32](0)
		}), until: 40 * s, endPhase: v1alpha1.RolloutPhaseDegraded, endReplicas: map[string]int32{"blue": 4, "green": 1},
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 15 * s: Abort}},
		{name: "routed-dynamic-stable-scale-promote", ro: withRouter(seedRollout(4, weight(25), pauseFor(5), weight(75), pauseFor(5)), func(c *v1alpha1.CanaryStrategy) {
			c.DynamicStableScale = true
			c.ScaleDownDelaySeconds = ptr.To[int32](5)
		}), readyAfter: 2 * s, until: 60 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]Action{5 * s: SetImage("green")}},
		{name: "routed-dynamic-stable-scale-abort", ro: withRouter(seedRollout(4, weight(25), pauseFor(5), weight(75), pauseIndefinitely()), func(c *v1alpha1.CanaryStrategy) {
			c.DynamicStableScale = true
			c.AbortScaleDownDelaySeconds = ptr.To[int32](5)
		}), readyAfter: 2 * s, until: 60 * s, endPhase: v1alpha1.RolloutPhaseDegraded, endImage: "blue",
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 30 * s: Abort}},
		// Argo: dynamicStableScale with no abortScaleDownDelaySeconds: no
		// delay; the canary keeps ceil(weight*N/100) pods as its weight
		// follows the stable pods back, and its Service moves at weight 0.
		{name: "routed-dynamic-stable-scale-abort-no-delay", ro: withRouter(seedRollout(4, weight(25), pauseFor(5), weight(75), pauseIndefinitely()), func(c *v1alpha1.CanaryStrategy) {
			c.DynamicStableScale = true
		}), readyAfter: 2 * s, until: 45 * s, endPhase: v1alpha1.RolloutPhaseDegraded, endImage: "blue",
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 30 * s: Abort}},
		// Argo: scaleDownDelayRevisionLimit 1 keeps one old version up for
		// its scale-down delay; older ones go to 0 at once. Back to
		// revision 2's template, that ReplicaSet loses its deadline.
		{name: "routed-scale-down-revision-limit", ro: withRouter(seedRollout(1, weight(50)), func(c *v1alpha1.CanaryStrategy) {
			c.ScaleDownDelayRevisionLimit = ptr.To[int32](1)
		}), readyAfter: s, until: 80 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]Action{10 * s: SetImage("green"), 20 * s: SetImage("yellow"), 30 * s: SetImage("green")}},
		{name: "routed-header-and-mirror-routes", ro: withRouter(seedRollout(4, headerRoute("by-header", "X-Canary", "yes"), mirrorRoute("mirror", 35),
			pauseIndefinitely(), weight(50), v1alpha1.CanaryStep{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "by-header"}}, pauseIndefinitely()),
			func(c *v1alpha1.CanaryStrategy) {
				c.TrafficRouting.ManagedRoutes = []v1alpha1.MangedRoutes{{Name: "by-header"}, {Name: "mirror"}}
				c.ScaleDownDelaySeconds = ptr.To[int32](5)
			}), until: 40 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 10 * s: Promote, 20 * s: Promote}},
		{name: "routed-new-version-mid-rollout", ro: seed001(), readyAfter: 2 * s, until: 150 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "yellow",
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 15 * s: Promote, 25 * s: SetImage("yellow"), 40 * s: Promote}},
		{name: "routed-fast-rollback", ro: seed001(), readyAfter: 2 * s, until: 60 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "blue",
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 15 * s: Promote, 25 * s: SetImage("blue")}},
		{name: "routed-dynamic-stable-scale-fast-rollback", ro: withRouter(seedRollout(4, weight(25), pauseFor(5), weight(75), pauseIndefinitely()), func(c *v1alpha1.CanaryStrategy) {
			c.DynamicStableScale = true
		}), readyAfter: 2 * s, until: 60 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "blue",
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 30 * s: SetImage("blue")}},
		{name: "routed-promote-full", ro: seed001(), readyAfter: 2 * s, until: 60 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]Action{5 * s: SetImage("green"), 15 * s: PromoteFull}},
		{name: "routed-canary-scale-and-max-weight", ro: withRouter(seedRollout(10, v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{Replicas: ptr.To[int32](2)}},
			weight(5), pauseFor(5), v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{MatchTrafficWeight: true}}, weight(500), pauseFor(5)),
			func(c *v1alpha1.CanaryStrategy) {
				c.TrafficRouting.MaxTrafficWeight = ptr.To[int32](1000)
				c.MinPodsPerReplicaSet = ptr.To[int32](2)
				c.ScaleDownDelaySeconds = ptr.To[int32](3)
			}), until: 40 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]Action{5 * s: SetImage("green")}},
		{name: "bluegreen-postpromotion-fails-switches-back", ro: withPromotionAnalysis(blueGreen(2, v1alpha1.BlueGreenStrategy{AbortScaleDownDelaySeconds: ptr.To[int32](5)}), false, true),
			until: 30 * s, endPhase: v1alpha1.RolloutPhaseDegraded, endImage: "blue",
			analysis: Script{rollout.RunPostPromotion: ends(5, v1alpha1.AnalysisPhaseFailed)},
			actions:  map[time.Duration]Action{5 * s: SetImage("green")}},
	}
}

// TestSimulations runs whole rollouts through the planner and compares their
// timelines with golden files (go test -run TestSimulations -update rewrites them).
func TestSimulations(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			w := New(sc.ro)
			w.Outcome = sc.analysis.Outcome
			w.ReadyAfter, w.Broken = sc.readyAfter, sc.broken
			if sc.setup != nil {
				sc.setup(w)
			}
			w.Workload = sc.workload
			w.Run(sc.until, sc.actions)
			checkEnd(t, w, sc)
			golden := filepath.Join("testdata", sc.name+".golden")
			got := strings.Join(w.log, "\n") + "\n"
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("timeline differs from %s (run with -update after checking the change):\n%s", golden, diffLines(string(want), got))
			}
		})
	}
}

// The same scenarios with the ReplicaSet controller lagging at random: the
// timelines differ, but every rollout ends where it must, without skipping or
// repeating a step.
// Every plan of every run is checked against the rules (replica bounds, no
// weight to a Service without pods) as it is applied, not only at the end:
// 100 seeds of each scenario.
func TestSimulationsWithShuffledEvents(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			for seed := int64(1); seed <= 100; seed++ {
				w := New(sc.ro.DeepCopy())
				w.Outcome = sc.analysis.Outcome
				w.ReadyAfter, w.Broken = sc.readyAfter, sc.broken
				if sc.setup != nil {
					sc.setup(w)
				}
				if sc.workload != nil {
					w.Workload = sc.workload.DeepCopy()
				}
				w.Lag = rand.New(rand.NewSource(seed))
				w.Run(sc.until*2, sc.actions)
				t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) { checkEnd(t, w, sc) })
			}
		})
	}
}

func checkEnd(t *testing.T, w *World, sc scenario) {
	t.Helper()
	if err := w.Err(); err != nil {
		t.Error(err)
	}
	st := w.ro.Status
	if sc.workload != nil && *w.Workload.Spec.Replicas != 0 {
		t.Errorf("the referenced Deployment ends with %d replicas, want 0", *w.Workload.Spec.Replicas)
	}
	if st.Phase != sc.endPhase {
		t.Errorf("ended %s (%s), want %s\n%s", st.Phase, st.Message, sc.endPhase, strings.Join(w.log, "\n"))
	}
	desired := ptr.Deref(w.ro.Spec.Replicas, 1)
	for _, rs := range w.ReplicaSets() {
		n := rs.Name
		want := int32(0)
		if image(rs) == sc.endImage {
			want = desired
		}
		if sc.endReplicas != nil {
			want = sc.endReplicas[image(rs)]
		}
		wantAvailable := want
		if image(rs) == w.Broken {
			wantAvailable = 0
		}
		if replicas(rs) != want || rs.Status.AvailableReplicas != wantAvailable {
			t.Errorf("ReplicaSet %s (%s) ends at %d/%d, want %d", n, image(rs), rs.Status.AvailableReplicas, replicas(rs), want)
		}
	}
	// An ended experiment's pods are gone once its scale-down delay has passed.
	for _, ex := range w.Experiments() {
		for _, rs := range w.rss {
			if metav1.IsControlledBy(rs, ex) && replicas(rs) != 0 {
				t.Errorf("experiment %s (%s) ends with ReplicaSet %s at %d", ex.Name, ex.Status.Phase, rs.Name, replicas(rs))
			}
		}
	}
	// Steps are walked one by one: an index only grows by one, or restarts at 0
	// (new template, retry), or jumps to the end (promote --full, rollback).
	n := int32(len(stepsOf(w.ro)))
	for i := 1; i < len(w.steps); i++ {
		prev, cur := w.steps[i-1], w.steps[i]
		if cur != prev+1 && cur != 0 && cur != n {
			t.Errorf("step index went %d -> %d: skipped or repeated (all: %v)", prev, cur, w.steps)
		}
	}
}

func diffLines(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var a, c string
		if i < len(wl) {
			a = wl[i]
		}
		if i < len(gl) {
			c = gl[i]
		}
		if a != c {
			fmt.Fprintf(&b, "line %d\n  want: %s\n  got:  %s\n", i+1, a, c)
			if b.Len() > 3000 {
				break
			}
		}
	}
	return b.String()
}

// A rollout that is only waiting, at an indefinite pause or inside a timed
// one, must not change its status as time passes: every change is an API write.
func TestNoStatusChangeWhileWaiting(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ro     *v1alpha1.Rollout
		waitAt time.Duration // when the rollout is paused
		wait   time.Duration
	}{
		{"indefinite pause", seed002(), 8 * time.Second, 30 * time.Second},
		{"timed pause", seedRollout(4, weight(25), pauseFor(60)), 8 * time.Second, 50 * time.Second},
		{"blue-green gate", blueGreen(2, v1alpha1.BlueGreenStrategy{AutoPromotionEnabled: ptr.To(false)}), 8 * time.Second, 30 * time.Second},
		{"healthy", seed002(), 3 * time.Second, 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := New(tc.ro)
			actions := map[time.Duration]Action{}
			if tc.name != "healthy" {
				actions[2*time.Second] = SetImage("green")
			}
			w.Run(tc.waitAt, actions)
			if tc.name != "healthy" && w.ro.Status.Phase != v1alpha1.RolloutPhasePaused {
				t.Fatalf("not paused at %s: %s %s", tc.waitAt, w.ro.Status.Phase, w.ro.Status.Message)
			}
			for i := 0; i < int(tc.wait/time.Second); i++ {
				before := *w.ro.Status.DeepCopy()
				w.now = w.now.Add(time.Second)
				w.syncReplicaSets()
				w.reconcile()
				if !equality.Semantic.DeepEqual(before, w.ro.Status) {
					t.Fatalf("status changed while only waiting, %ds in:\nbefore %+v\nafter  %+v", i+1, before, w.ro.Status)
				}
			}
		})
	}
}

func withAnalysis(ro *v1alpha1.Rollout, startingStep *int32) *v1alpha1.Rollout {
	ro.Spec.Strategy.Canary.Analysis = &v1alpha1.RolloutAnalysisBackground{StartingStep: startingStep,
		RolloutAnalysis: v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "success-rate"}}}}
	return ro
}

// experimentStep runs the stable and the canary side by side, one pod each,
// for a duration (none: until the analysis, required for completion, ends),
// judged by one analysis; its pods go 2 s after it ends.
func experimentStep(duration string) v1alpha1.CanaryStep {
	return v1alpha1.CanaryStep{Experiment: &v1alpha1.RolloutExperimentStep{
		Duration:              v1alpha1.DurationString(duration),
		ScaleDownDelaySeconds: ptr.To[int32](2),
		Templates: []v1alpha1.RolloutExperimentTemplate{
			{Name: "baseline", SpecRef: v1alpha1.StableSpecRef},
			{Name: "canary", SpecRef: v1alpha1.CanarySpecRef},
		},
		Analyses: []v1alpha1.RolloutExperimentStepAnalysisTemplateRef{{Name: "compare", TemplateName: "mann-whitney", RequiredForCompletion: duration == "",
			Args: []v1alpha1.AnalysisRunArgument{{Name: "canary-hash", Value: "{{templates.canary.podTemplateHash}}"}}}},
	}}
}

// weightedExperimentStep is experimentStep with 10% of the traffic to each
// template's Service.
func weightedExperimentStep() v1alpha1.CanaryStep {
	step := experimentStep("10s")
	for i := range step.Experiment.Templates {
		step.Experiment.Templates[i].Weight = ptr.To[int32](10)
	}
	return step
}

func analysisStep() v1alpha1.CanaryStep {
	return v1alpha1.CanaryStep{Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "smoke"}}}}
}

// seed000 is seed 000's rollout: 20/40/60/80 with pauses (10 s here, not
// 2 minutes), analysis in the background from step 2.
func seed000() *v1alpha1.Rollout {
	return withAnalysis(seedRollout(5, weight(20), pauseFor(10), weight(40), pauseFor(10), weight(60), pauseFor(10), weight(80), pauseFor(10)), ptr.To[int32](2))
}

func ok(after int) Ending { return Ending{after, v1alpha1.AnalysisPhaseSuccessful} }

func ends(after int, phase v1alpha1.AnalysisPhase) Ending { return Ending{after, phase} }

func withPromotionAnalysis(ro *v1alpha1.Rollout, pre, post bool) *v1alpha1.Rollout {
	a := &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "smoke"}}}
	if pre {
		ro.Spec.Strategy.BlueGreen.PrePromotionAnalysis = a
	}
	if post {
		ro.Spec.Strategy.BlueGreen.PostPromotionAnalysis = a.DeepCopy()
	}
	return ro
}

// The replica bounds are checked on every plan: a plan that scales a basic
// canary past replicas + maxSurge, or scales available pods away below
// replicas - maxUnavailable, is a broken rule.
func TestReplicaBoundsAreChecked(t *testing.T) {
	setup := func() (*World, *appsv1.ReplicaSet) {
		w := New(seedRollout(4, weight(25), pauseIndefinitely()))
		w.ReadyAfter = 0
		w.Run(3*time.Second, nil)
		if err := w.Err(); err != nil {
			t.Fatal(err)
		}
		rss := w.ReplicaSets()
		if len(rss) != 1 || rss[0].Status.AvailableReplicas != 4 {
			t.Fatalf("setup: %d ReplicaSets, want one with 4 available", len(rss))
		}
		return w, rss[0]
	}
	w, stable := setup()
	w.checkReplicaBounds(&rollout.Plan{Scale: map[string]int32{stable.Name: 2}})
	if err := w.Err(); err == nil || !strings.Contains(err.Error(), "fewer than replicas 4 - maxUnavailable 1") {
		t.Errorf("scaling 4 available pods to 2: %v", err)
	}
	w, stable = setup()
	w.checkReplicaBounds(&rollout.Plan{Scale: map[string]int32{stable.Name: 3}})
	if err := w.Err(); err != nil {
		t.Errorf("scaling 4 available pods to 3 is within maxUnavailable 1: %v", err)
	}
	w, _ = setup()
	w.checkReplicaBounds(&rollout.Plan{Create: &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](2)}}})
	if err := w.Err(); err == nil || !strings.Contains(err.Error(), "more than replicas 4 + maxSurge 1") {
		t.Errorf("a new ReplicaSet of 2 beside 4: %v", err)
	}
}

// spec.paused on a completed rollout leaves its Progressing condition as it
// was (Argo does); the Paused condition and phase say it is paused.
func TestPausingACompletedRolloutKeepsProgressing(t *testing.T) {
	w := New(seed002())
	w.ReadyAfter = time.Second
	w.Run(5*time.Second, nil)
	before := conditions.Get(w.Rollout().Status.Conditions, v1alpha1.RolloutProgressing)
	if w.Rollout().Status.Phase != v1alpha1.RolloutPhaseHealthy || before == nil {
		t.Fatalf("setup: phase %s, Progressing %+v", w.Rollout().Status.Phase, before)
	}
	before = before.DeepCopy()
	w.Run(8*time.Second, map[time.Duration]Action{6 * time.Second: Pause})
	after := conditions.Get(w.Rollout().Status.Conditions, v1alpha1.RolloutProgressing)
	if after == nil || after.Status != before.Status || after.Reason != before.Reason || after.Message != before.Message {
		t.Errorf("Progressing went from %+v to %+v on pausing a completed rollout", before, after)
	}
	if !conditions.IsTrue(w.Rollout().Status.Conditions, v1alpha1.RolloutPaused) || w.Rollout().Status.Phase != v1alpha1.RolloutPhasePaused {
		t.Errorf("paused: phase %s, conditions %+v", w.Rollout().Status.Phase, w.Rollout().Status.Conditions)
	}
}

// progressDeadlineAbort is checked on every pass: turned on after a rollout
// timed out, it aborts it.
func TestProgressDeadlineAbortTurnedOnLate(t *testing.T) {
	w := New(withDeadline(seed002(), 5, false))
	w.Broken = "green"
	w.Run(20*time.Second, map[time.Duration]Action{3 * time.Second: SetImage("green")})
	if st := w.Rollout().Status; st.Phase != v1alpha1.RolloutPhaseDegraded || st.Abort {
		t.Fatalf("setup: phase %s abort %v, want Degraded by the deadline, not aborted", st.Phase, st.Abort)
	}
	w.Run(30*time.Second, map[time.Duration]Action{21 * time.Second: func(ro *v1alpha1.Rollout, w *World) {
		ro.Spec.ProgressDeadlineAbort = true
		ro.Generation++
	}})
	if st := w.Rollout().Status; !st.Abort {
		t.Errorf("progressDeadlineAbort turned on after the deadline: abort %v, phase %s (%s)", st.Abort, st.Phase, st.Message)
	}
}

// A blue-green rollout's status counts are Argo's: ready and available pods
// (and the HPA's count and selector) are the active ReplicaSet's.
func TestBlueGreenStatusCountsComeFromTheActiveReplicaSet(t *testing.T) {
	type counts struct{ desired, current, updated, ready, available int32 }
	read := func(w *World) counts {
		st := w.Rollout().Status
		return counts{ptr.Deref(w.Rollout().Spec.Replicas, 1), st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas}
	}
	w := New(blueGreen(2, v1alpha1.BlueGreenStrategy{AutoPromotionEnabled: ptr.To(false), PreviewReplicaCount: ptr.To[int32](1), ScaleDownDelaySeconds: ptr.To[int32](30)}))
	w.ReadyAfter = time.Second
	w.Run(20*time.Second, map[time.Duration]Action{5 * time.Second: SetImage("green")})
	if st := w.Rollout().Status; st.Phase != v1alpha1.RolloutPhasePaused {
		t.Fatalf("setup: phase %s, want Paused with the preview up", st.Phase)
	}
	if got, want := read(w), (counts{2, 3, 1, 2, 2}); got != want {
		t.Errorf("paused with a preview of 1: (desired, current, updated, ready, available) = %v, want %v", got, want)
	}
	active := w.Rollout().Status.BlueGreen.ActiveSelector
	if sel := w.Rollout().Status.Selector; !strings.Contains(sel, "rollouts-pod-template-hash="+active) {
		t.Errorf("status.selector %q is not the active ReplicaSet's (hash %s)", sel, active)
	}
	w.Run(30*time.Second, map[time.Duration]Action{21 * time.Second: Promote})
	if got, want := read(w), (counts{2, 4, 2, 2, 2}); got != want {
		t.Errorf("promoted, old version kept for its scale-down delay: %v, want %v", got, want)
	}
}

// addOrphanOfTemplate puts in an orphaned, fully available ReplicaSet of the
// world's Rollout's own template, named and labelled as the Rollout names
// its ReplicaSets.
func addOrphanOfTemplate(w *World) {
	ro := w.Rollout()
	hash := rollout.PodTemplateHash(&ro.Spec.Template, nil)
	tmpl := ro.Spec.Template.DeepCopy()
	tmpl.Labels[rollout.PodTemplateHashLabel] = hash
	sel := ro.Spec.Selector.DeepCopy()
	sel.MatchLabels[rollout.PodTemplateHashLabel] = hash
	w.AddOrphan(&appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: rollout.ReplicaSetName(ro, hash), Namespace: ro.Namespace, Generation: 1,
			Labels: map[string]string{rollout.PodTemplateHashLabel: hash}, Annotations: map[string]string{rollout.RevisionAnnotation: "1"}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ro.Spec.Replicas, Selector: sel, Template: *tmpl},
	})
}
