package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/conditions"
	"github.com/vireo-dev/vireo/internal/controller"
	planner "github.com/vireo-dev/vireo/internal/rollout"
	"github.com/vireo-dev/vireo/internal/testenv"
)

// These tests run the manager against a real kube-apiserver and etcd.
func TestManagerAgainstRealAPIServer(t *testing.T) {
	env := testenv.Start(t)
	c := env.Client

	t.Run("invalid spec gets InvalidSpec, valid spec gets observedGeneration", func(t *testing.T) {
		ns := namespace(t, c, "specs")
		startManager(t, env, controller.Options{})

		bad := rollout(ns, "bad", nil)
		bad.Spec.Strategy.Canary.Steps[0].SetWeight = ptr.To[int32](150)
		bad.Spec.Selector.MatchLabels["app"] = "other"
		create(t, c, bad)
		good := rollout(ns, "good", nil)
		create(t, c, good)

		got := waitFor(t, c, bad, func(ro *v1alpha1.Rollout) error {
			cond := conditions.Get(ro.Status.Conditions, v1alpha1.RolloutInvalidSpec)
			if cond == nil || cond.Status != metav1.ConditionTrue {
				return fmt.Errorf("no InvalidSpec condition yet: %+v", ro.Status)
			}
			return nil
		})
		cond := conditions.Get(got.Status.Conditions, v1alpha1.RolloutInvalidSpec)
		for _, f := range []string{"spec.strategy.canary.steps[0].setWeight", "spec.selector"} {
			if !strings.Contains(cond.Message, f) {
				t.Errorf("InvalidSpec message does not name %s: %q", f, cond.Message)
			}
		}
		if got.Status.Phase != v1alpha1.RolloutPhaseDegraded || !strings.HasPrefix(got.Status.Message, "InvalidSpec: ") {
			t.Errorf("phase %q message %q, want Degraded and InvalidSpec: ...", got.Status.Phase, got.Status.Message)
		}
		if got.Status.ObservedGeneration != "1" {
			t.Errorf("observedGeneration %q, want \"1\"", got.Status.ObservedGeneration)
		}
		// Nothing the user wrote is lost or rewritten.
		if *got.Spec.Strategy.Canary.Steps[0].SetWeight != 150 || got.Spec.Selector.MatchLabels["app"] != "other" {
			t.Errorf("the controller changed the spec: %+v", got.Spec)
		}

		waitFor(t, c, good, func(ro *v1alpha1.Rollout) error {
			if ro.Status.ObservedGeneration != "1" {
				return fmt.Errorf("observedGeneration %q", ro.Status.ObservedGeneration)
			}
			if conditions.Get(ro.Status.Conditions, v1alpha1.RolloutInvalidSpec) != nil {
				return fmt.Errorf("valid rollout has InvalidSpec: %+v", ro.Status.Conditions)
			}
			return nil
		})

		// Fixing the spec removes the condition and records the new generation.
		fixed := got.DeepCopy()
		fixed.Spec.Strategy.Canary.Steps[0].SetWeight = ptr.To[int32](20)
		fixed.Spec.Selector.MatchLabels["app"] = "bad"
		if err := c.Update(context.Background(), fixed); err != nil {
			t.Fatal(err)
		}
		settled := waitFor(t, c, bad, func(ro *v1alpha1.Rollout) error {
			if ro.Status.ObservedGeneration != "2" || conditions.Get(ro.Status.Conditions, v1alpha1.RolloutInvalidSpec) != nil {
				return fmt.Errorf("status %+v", ro.Status)
			}
			return nil
		})
		if settled.Status.Phase == v1alpha1.RolloutPhaseDegraded {
			t.Errorf("fixed rollout still Degraded: %q", settled.Status.Message)
		}

		// With nothing changed, the controller writes nothing: no hot loop.
		time.Sleep(1500 * time.Millisecond)
		var after v1alpha1.Rollout
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(bad), &after); err != nil {
			t.Fatal(err)
		}
		if after.ResourceVersion != settled.ResourceVersion {
			t.Errorf("rollout rewritten with nothing to change: resourceVersion %s -> %s\nbefore %+v\nafter  %+v", settled.ResourceVersion, after.ResourceVersion, settled.Status, after.Status)
		}
	})

	t.Run("an invalid rollout is not reconciled again while nothing changes", func(t *testing.T) {
		ns := namespace(t, c, "bounded")
		startManager(t, env, controller.Options{})
		bad := rollout(ns, "bad", nil)
		bad.Spec.Strategy.Canary.Steps[0].SetWeight = ptr.To[int32](150)
		create(t, c, bad)
		waitFor(t, c, bad, func(ro *v1alpha1.Rollout) error {
			if !conditions.IsTrue(ro.Status.Conditions, v1alpha1.RolloutInvalidSpec) {
				return fmt.Errorf("no InvalidSpec yet")
			}
			return nil
		})
		time.Sleep(time.Second) // let the write's own watch event come back
		before := reconciles(t)
		time.Sleep(10 * time.Second)
		if n := reconciles(t) - before; n > 1 {
			t.Errorf("an invalid, unchanging rollout was reconciled %v times in 10s; want at most 1 (a hot loop?)", n)
		}
	})

	t.Run("instance id selects labelled rollouts only", func(t *testing.T) {
		ns := namespace(t, c, "instances")
		unlabelled := rollout(ns, "unlabelled", nil)
		other := rollout(ns, "other", map[string]string{planner.InstanceIDLabel: "green"})
		mine := rollout(ns, "mine", map[string]string{planner.InstanceIDLabel: "blue"})
		create(t, c, unlabelled)
		create(t, c, other)
		create(t, c, mine)
		startManager(t, env, controller.Options{InstanceID: "blue"})

		waitFor(t, c, mine, observed("1"))
		for _, ro := range []*v1alpha1.Rollout{unlabelled, other} {
			expectUntouched(t, c, ro)
		}
	})

	t.Run("without instance id, labelled rollouts are left alone", func(t *testing.T) {
		ns := namespace(t, c, "noinstance")
		labelled := rollout(ns, "labelled", map[string]string{planner.InstanceIDLabel: "blue"})
		plain := rollout(ns, "plain", nil)
		create(t, c, labelled)
		create(t, c, plain)
		startManager(t, env, controller.Options{Namespace: ns})

		waitFor(t, c, plain, observed("1"))
		expectUntouched(t, c, labelled)
	})

	t.Run("namespace flag limits the watch", func(t *testing.T) {
		watched := namespace(t, c, "watched")
		ignored := namespace(t, c, "ignored")
		outside := rollout(ignored, "outside", nil)
		inside := rollout(watched, "inside", nil)
		create(t, c, outside)
		create(t, c, inside)
		startManager(t, env, controller.Options{Namespace: watched})

		waitFor(t, c, inside, observed("1"))
		expectUntouched(t, c, outside)
	})
}

func observed(gen string) func(*v1alpha1.Rollout) error {
	return func(ro *v1alpha1.Rollout) error {
		if ro.Status.ObservedGeneration != gen {
			return fmt.Errorf("observedGeneration %q, want %q", ro.Status.ObservedGeneration, gen)
		}
		return nil
	}
}

func expectUntouched(t *testing.T, c client.Client, ro *v1alpha1.Rollout) {
	t.Helper()
	var got v1alpha1.Rollout
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(ro), &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.ObservedGeneration != "" || len(got.Status.Conditions) != 0 {
		t.Errorf("rollout %s/%s should not be reconciled by this instance, status %+v", ro.Namespace, ro.Name, got.Status)
	}
}

func startManager(t *testing.T, env *testenv.Env, opts controller.Options) {
	t.Helper()
	opts.MetricsBindAddress = "0"
	if err := controller.CheckCRDs(env.Config); err != nil {
		t.Fatal(err)
	}
	startManagerServing(t, env, opts)
}

var nsCounter int

func namespace(t *testing.T, c client.Client, prefix string) string {
	t.Helper()
	nsCounter++
	name := fmt.Sprintf("%s-%d", prefix, nsCounter)
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

func rollout(ns, name string, labels map[string]string) *v1alpha1.Rollout {
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "demo:blue"}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
				Steps: []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](20)}, {Pause: &v1alpha1.RolloutPause{}}},
			}},
		},
	}
}

func create(t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %s: %v", obj.GetName(), err)
	}
}

// waitFor polls the rollout until check passes, for at most 20 seconds.
func waitFor(t *testing.T, c client.Client, ro *v1alpha1.Rollout, check func(*v1alpha1.Rollout) error) *v1alpha1.Rollout {
	t.Helper()
	key := types.NamespacedName{Namespace: ro.Namespace, Name: ro.Name}
	deadline := time.Now().Add(20 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		var got v1alpha1.Rollout
		if err := c.Get(context.Background(), key, &got); err != nil {
			last = err
		} else if last = check(&got); last == nil {
			return &got
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("rollout %s: %v", key, last)
	return nil
}

// reconciles is the number of Rollout reconciles this process has run, from
// controller-runtime's own metric.
func reconciles(t *testing.T) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == "rollout" {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total
}
