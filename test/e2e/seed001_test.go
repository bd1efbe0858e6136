package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/pkg/actions"
)

// trafficLog records, in the API server's order (resourceVersions of one
// etcd grow), what a routed rollout changes: the canary weight, the Services'
// selectors and the ReplicaSets' sizes.
type trafficLog struct {
	mu      sync.Mutex
	entries []trafficEntry
	last    map[string]string
}

type trafficEntry struct {
	rv   int64
	what string // "weight=20", "svc canary-demo=<hash>", "rs <hash>=0"
}

func (l *trafficLog) add(obj client.Object, key, value string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last[key] == value {
		return
	}
	l.last[key] = value
	rv, _ := strconv.ParseInt(obj.GetResourceVersion(), 10, 64)
	l.entries = append(l.entries, trafficEntry{rv, key + "=" + value})
}

// recordTraffic watches a namespace's Ingresses (the weight annotation of
// those named like canaryIngress), Services and ReplicaSets.
func recordTraffic(t *testing.T, wc client.WithWatch, ns, canaryIngress string) *trafficLog {
	l := &trafficLog{last: map[string]string{}}
	watchObjects(t, wc, &networkingv1.IngressList{}, ns, func(o runtime.Object) {
		if ing := o.(*networkingv1.Ingress); ing.Name == canaryIngress {
			l.add(ing, "weight", ing.Annotations["nginx.ingress.kubernetes.io/canary-weight"])
		}
	})
	watchObjects(t, wc, &corev1.ServiceList{}, ns, func(o runtime.Object) {
		svc := o.(*corev1.Service)
		l.add(svc, "svc "+svc.Name, svc.Spec.Selector["rollouts-pod-template-hash"])
	})
	watchObjects(t, wc, &appsv1.ReplicaSetList{}, ns, func(o runtime.Object) {
		rs := o.(*appsv1.ReplicaSet)
		if rs.Spec.Replicas != nil {
			l.add(rs, "rs "+rs.Labels["rollouts-pod-template-hash"], strconv.Itoa(int(*rs.Spec.Replicas)))
		}
	})
	return l
}

// weights is the sequence of canary weights seen.
func (l *trafficLog) weights() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.entries {
		if v, ok := strings.CutPrefix(e.what, "weight="); ok {
			out = append(out, v)
		}
	}
	return out
}

// at is the resourceVersion at which what was first recorded; 0 if never.
func (l *trafficLog) at(what string) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.entries {
		if e.what == what {
			return e.rv
		}
	}
	return 0
}

// lastAt is the resourceVersion at which what was last recorded.
func (l *trafficLog) lastAt(what string) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var rv int64
	for _, e := range l.entries {
		if e.what == what {
			rv = e.rv
		}
	}
	return rv
}

func (l *trafficLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, e := range l.entries {
		fmt.Fprintf(&b, "%d %s\n", e.rv, e.what)
	}
	return b.String()
}

// TestSeed001NginxCanary runs seed 001's automated canary, manifests
// unchanged, on the local control plane: the canary Ingress Vireo owns holds
// 20, 50 and 70 at the steps, keeps the tutorial's canary-by-header, and on
// promotion the stable Service moves to the new pods before the weight drops
// to 0. An abort then takes the weight to 0 before any canary pod goes.
func TestSeed001NginxCanary(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	ns := c.namespace(t, "seed001")
	wc := c.watchClient(t)
	const canaryIngress = "canary-demo-canary-demo-canary"
	log := recordTraffic(t, wc, ns, canaryIngress)
	dir := filepath.Join("testdata", "seed001")
	for _, f := range []string{"canary-demo-service.yaml", "canary-demo-ingress.yaml", "canary-rollout.yaml"} {
		c.must(t, "", "apply", "-n", ns, "-f", filepath.Join(dir, f))
	}
	ro := "rollout/canary-demo"
	c.waitRolloutNamed(t, ns, "canary-demo", "Healthy", "", 60*time.Second)
	blue := c.jsonpath(t, ns, ro, ".status.stableRS")

	ingress := func() *networkingv1.Ingress {
		t.Helper()
		var ing networkingv1.Ingress
		if err := wc.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: canaryIngress}, &ing); err != nil {
			t.Fatalf("the canary Ingress: %v", err)
		}
		return &ing
	}
	const p = "nginx.ingress.kubernetes.io/"
	if a := ingress().Annotations; a[p+"canary"] != "true" || a[p+"canary-weight"] != "0" || a[p+"canary-by-header"] != "X-Canary" {
		t.Errorf("canary Ingress of the first version: %v", a)
	}

	// The tutorial's update: green. 20%, then the manual gate.
	c.setImage(t, ns, ro, "green")
	c.waitRolloutNamed(t, ns, "canary-demo", "Paused", "CanaryPauseStep", 60*time.Second)
	green := c.jsonpath(t, ns, ro, ".status.currentPodHash")
	ing := ingress()
	if a := ing.Annotations; a[p+"canary-weight"] != "20" || a[p+"canary-by-header"] != "X-Canary" || a["kubernetes.io/ingress.class"] != "nginx" {
		t.Errorf("canary Ingress at 20%%: %v", a)
	}
	if b := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service; ing.Spec.Rules[0].Host != "canary.auto" || b.Name != "canary-demo-canary" || b.Port.Name != "http" {
		t.Errorf("canary Ingress rules %+v", ing.Spec.Rules)
	}
	if got := c.jsonpath(t, ns, "service/canary-demo-canary", ".spec.selector.rollouts-pod-template-hash"); got != green {
		t.Errorf("canary Service selects %q, want the green pods %q", got, green)
	}
	if got := c.jsonpath(t, ns, "service/canary-demo", ".spec.selector.rollouts-pod-template-hash"); got != blue {
		t.Errorf("stable Service selects %q, want the blue pods %q", got, blue)
	}
	var weights []string
	for _, f := range []string{"canary.weight", "stable.weight", "verified"} {
		weights = append(weights, c.jsonpath(t, ns, ro, ".status.canary.weights."+f))
	}
	if w := strings.Join(weights, "/"); w != "20/80/true" {
		t.Errorf("status.canary.weights %s, want 20/80/true", w)
	}
	c.expectPodsBy(t, ns, "blue:stable=1 green:canary=1", ".metadata.labels.deployment")

	// promote: 50 for 30s, 70 for 30s, then all of it, then the stable
	// Service moves and the weight goes back to 0.
	start := time.Now()
	if _, err := actions.Promote(context.Background(), wc, types.NamespacedName{Namespace: ns, Name: "canary-demo"}, actions.PromoteOptions{}); err != nil {
		t.Fatal(err)
	}
	c.waitRolloutNamed(t, ns, "canary-demo", "Healthy", "", 150*time.Second)
	if took := time.Since(start); took < 60*time.Second {
		t.Errorf("two 30s pauses passed in %s", took)
	}
	eventually(t, 10*time.Second, "weight back to 0", func() error {
		if w := ingress().Annotations[p+"canary-weight"]; w != "0" {
			return fmt.Errorf("weight %s", w)
		}
		return nil
	})
	if got, want := log.weights(), []string{"0", "20", "50", "70", "100", "0"}; !slices.Equal(got, want) {
		t.Errorf("canary weights %v, want %v\n%s", got, want, log)
	}
	switched, dropped := log.at("svc canary-demo="+green), log.lastAt("weight=0")
	if switched == 0 || dropped == 0 || switched > dropped {
		t.Errorf("the stable Service moved to the green pods at %d, the weight dropped at %d: must be before\n%s", switched, dropped, log)
	}
	// The blue pods stay for scaleDownDelaySeconds (30 by default), then go.
	eventually(t, 60*time.Second, "blue scaled down", func() error {
		if n := c.jsonpath(t, ns, "rs/canary-demo-"+blue, ".spec.replicas"); n != "0" {
			return fmt.Errorf("blue ReplicaSet at %s", n)
		}
		return nil
	})
	if down := log.at("rs " + blue + "=0"); down < dropped {
		t.Errorf("blue scaled down at %d, before the weight dropped at %d", down, dropped)
	}

	// Another version, aborted at the gate: the weight goes to 0 and the
	// canary Service back to the stable pods before a canary pod goes.
	c.setImage(t, ns, ro, "yellow")
	c.waitRolloutNamed(t, ns, "canary-demo", "Paused", "CanaryPauseStep", 60*time.Second)
	yellow := c.jsonpath(t, ns, ro, ".status.currentPodHash")
	abortAt := time.Now()
	if _, err := actions.Abort(context.Background(), wc, types.NamespacedName{Namespace: ns, Name: "canary-demo"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "weight 0 after the abort", func() error {
		if w := ingress().Annotations[p+"canary-weight"]; w != "0" {
			return fmt.Errorf("weight %s", w)
		}
		return nil
	})
	t.Logf("abort to weight 0: %s", time.Since(abortAt).Round(time.Millisecond))
	eventually(t, 60*time.Second, "yellow scaled down after abortScaleDownDelaySeconds", func() error {
		if n := c.jsonpath(t, ns, "rs/canary-demo-"+yellow, ".spec.replicas"); n != "0" {
			return fmt.Errorf("yellow ReplicaSet at %s", n)
		}
		return nil
	})
	zero, back, down := log.lastAt("weight=0"), log.lastAt("svc canary-demo-canary="+green), log.at("rs "+yellow+"=0")
	if !(zero < back && back < down) {
		t.Errorf("abort order: weight 0 at %d, canary Service back on stable at %d, canary scaled down at %d\n%s", zero, back, down, log)
	}
	c.waitRolloutNamed(t, ns, "canary-demo", "Degraded", "RolloutAborted: Rollout aborted update to revision 3", 10*time.Second)
	if a := ingress().Annotations; a[p+"canary-by-header"] != "X-Canary" {
		t.Errorf("canary-by-header lost: %v", a)
	}
}
