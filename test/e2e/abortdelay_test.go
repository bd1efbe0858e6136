package e2e

import (
	"context"
	"fmt"
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
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/pkg/actions"
)

// routedRollout is an nginx-routed canary named name, with its two Services
// and stable Ingress; strategy holds more canary fields, steps its steps.
func routedRollout(name string, replicas int, strategy, steps string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: %[1]s}
spec: {selector: {app: %[1]s}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: %[1]s-canary}
spec: {selector: {app: %[1]s}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: %[1]s, annotations: {kubernetes.io/ingress.class: nginx}}
spec:
  rules:
  - host: %[1]s.local
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: %[1]s, port: {name: http}}}}]}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: %[1]s}
spec:
  replicas: %[2]d
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec: {containers: [{name: app, image: "argoproj/rollouts-demo:blue"}]}
  strategy:
    canary:
      canaryService: %[1]s-canary
      stableService: %[1]s
      trafficRouting: {nginx: {stableIngress: %[1]s}}
      steps: %[4]s
%[3]s
---
`, name, replicas, strategy, steps)
}

// rsLog records, in the API server's order, what the tests below look at in
// a namespace's ReplicaSets, Services and canary Ingresses.
type rsLog struct {
	mu      sync.Mutex
	entries []string // "rv what"
}

func (l *rsLog) add(rv, what string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.entries); n > 0 && strings.SplitN(l.entries[n-1], " ", 2)[1] == what {
		return
	}
	l.entries = append(l.entries, rv+" "+what)
}

// first is the resourceVersion of the first entry after resourceVersion
// after that has prefix, or -1.
func (l *rsLog) first(after int64, prefix string) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.entries {
		rv, what, _ := strings.Cut(e, " ")
		n, _ := strconv.ParseInt(rv, 10, 64)
		if n > after && strings.HasPrefix(what, prefix) {
			return n
		}
	}
	return -1
}

// between lists the entries with resourceVersions in (from, to) that contain s.
func (l *rsLog) between(from, to int64, s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.entries {
		rv, what, _ := strings.Cut(e, " ")
		n, _ := strconv.ParseInt(rv, 10, 64)
		if n > from && n < to && strings.Contains(what, s) {
			out = append(out, e)
		}
	}
	return out
}

func (l *rsLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.entries, "\n")
}

func recordAbortScaling(t *testing.T, c *cluster, ns string) *rsLog {
	l := &rsLog{}
	wc := c.watchClient(t)
	watchObjects(t, wc, &appsv1.ReplicaSetList{}, ns, func(o runtime.Object) {
		rs := o.(*appsv1.ReplicaSet)
		_, deadline := rs.Annotations["scale-down-deadline"]
		l.add(rs.ResourceVersion, fmt.Sprintf("rs %s spec=%d available=%d deadline=%t", rs.Name, ptr.Deref(rs.Spec.Replicas, 1), rs.Status.AvailableReplicas, deadline))
	})
	watchObjects(t, wc, &corev1.ServiceList{}, ns, func(o runtime.Object) {
		svc := o.(*corev1.Service)
		l.add(svc.ResourceVersion, fmt.Sprintf("svc %s=%s", svc.Name, svc.Spec.Selector["rollouts-pod-template-hash"]))
	})
	watchObjects(t, wc, &networkingv1.IngressList{}, ns, func(o runtime.Object) {
		ing := o.(*networkingv1.Ingress)
		if w, ok := ing.Annotations["nginx.ingress.kubernetes.io/canary-weight"]; ok {
			l.add(ing.ResourceVersion, fmt.Sprintf("weight %s=%s", ing.Name, w))
		}
	})
	return l
}

// Aborting a routed canary, as Argo: with dynamicStableScale and no
// abortScaleDownDelaySeconds, the canary shrinks with its weight, with no
// delay, and its Service moves back only at weight 0; with an explicit
// delay, the canary keeps its pods until the stable ReplicaSet is fully
// available, and only then gets its scale-down deadline.
func TestAbortScaleDownOfRoutedCanary(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	ns := c.namespace(t, "abort-delay")
	log := recordAbortScaling(t, c, ns)
	steps := "[{setWeight: 75}, {pause: {}}]"
	c.must(t, routedRollout("dyn", 4, "      dynamicStableScale: true", steps)+
		routedRollout("delayed", 4, "      dynamicStableScale: true\n      abortScaleDownDelaySeconds: 5", steps), "apply", "-n", ns, "-f", "-")
	for _, name := range []string{"dyn", "delayed"} {
		c.waitRolloutNamed(t, ns, name, "Healthy", "", 60*time.Second)
	}
	stable := map[string]string{}
	for _, name := range []string{"dyn", "delayed"} {
		stable[name] = c.jsonpath(t, ns, "rollout/"+name, ".status.stableRS")
		c.setImage(t, ns, "rollout/"+name, "green")
	}
	for _, name := range []string{"dyn", "delayed"} {
		c.waitRolloutNamed(t, ns, name, "Paused", "CanaryPauseStep", 60*time.Second)
	}
	wc := c.watchClient(t)
	canary, aborted := map[string]string{}, map[string]int64{}
	for _, name := range []string{"dyn", "delayed"} {
		canary[name] = name + "-" + c.jsonpath(t, ns, "rollout/"+name, ".status.currentPodHash")
		ro, err := actions.Abort(context.Background(), wc, types.NamespacedName{Namespace: ns, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		aborted[name], _ = strconv.ParseInt(ro.ResourceVersion, 10, 64)
	}
	for _, name := range []string{"dyn", "delayed"} {
		eventually(t, 60*time.Second, name+"'s canary scaled down", func() error {
			if n := c.jsonpath(t, ns, "rs/"+canary[name], ".spec.replicas"); n != "0" {
				return fmt.Errorf("%s has %s replicas", canary[name], n)
			}
			return nil
		})
	}
	const end = int64(1) << 62

	// dyn: never a deadline; the Service back to stable once the weight is 0.
	if got := log.between(0, end, "rs "+canary["dyn"]+" "); len(got) == 0 {
		t.Errorf("no record of dyn's canary ReplicaSet:\n%s", log)
	}
	for _, e := range log.between(0, end, "rs "+canary["dyn"]+" ") {
		if strings.Contains(e, "deadline=true") {
			t.Errorf("dyn's canary got a scale-down deadline: %s", e)
		}
	}
	weight0, moved := log.first(aborted["dyn"], "weight dyn-dyn-canary=0"), log.first(aborted["dyn"], "svc dyn-canary="+stable["dyn"])
	if weight0 < 0 || moved < 0 || moved < weight0 {
		t.Errorf("dyn's canary Service went back to stable at %d, the weight to 0 at %d: the weight must go first\n%s", moved, weight0, log)
	}

	// delayed: pods kept until the stable is fully available, then the deadline.
	full := log.first(aborted["delayed"], "rs delayed-"+stable["delayed"]+" spec=4 available=4")
	deadline := log.first(aborted["delayed"], "rs "+canary["delayed"]+" spec=3 available=3 deadline=true")
	if full < 0 || deadline < 0 || deadline < full {
		t.Errorf("delayed's canary deadline at %d, the stable fully available at %d: the deadline must come after\n%s", deadline, full, log)
	}
	for _, e := range log.between(aborted["delayed"], deadline, "rs "+canary["delayed"]+" ") {
		if !strings.Contains(e, " spec=3 ") {
			t.Errorf("delayed's canary resized before its deadline was set: %s\n%s", e, log)
		}
	}
}

// scaleDownDelayRevisionLimit on a routed canary, as Argo: with a limit of
// 1, after revision 3 the first version has no pods and the second keeps its
// one with a deadline; back to the second's template (revision 4), that
// ReplicaSet loses its deadline and the third gets one.
func TestScaleDownDelayRevisionLimit(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	ns := c.namespace(t, "revision-limit")
	c.must(t, routedRollout("limited", 1, "      scaleDownDelayRevisionLimit: 1\n      scaleDownDelaySeconds: 300", "[{setWeight: 50}]"), "apply", "-n", ns, "-f", "-")
	hashes := map[string]string{}
	for _, img := range []string{"blue", "green", "yellow"} {
		if img != "blue" {
			c.setImage(t, ns, "rollout/limited", img)
		}
		c.waitRolloutNamed(t, ns, "limited", "Healthy", "", 60*time.Second)
		hashes[img] = c.jsonpath(t, ns, "rollout/limited", ".status.stableRS")
	}
	expectRS := func(img, replicas string, deadline bool) {
		t.Helper()
		eventually(t, 30*time.Second, fmt.Sprintf("%s: %s replicas, deadline %t", img, replicas, deadline), func() error {
			rs := "rs/limited-" + hashes[img]
			n, d := c.jsonpath(t, ns, rs, ".spec.replicas"), c.jsonpath(t, ns, rs, `.metadata.annotations.scale-down-deadline`)
			if n != replicas || (d != "") != deadline {
				return fmt.Errorf("%s: %s replicas, deadline %q", rs, n, d)
			}
			return nil
		})
	}
	expectRS("blue", "0", false)
	expectRS("green", "1", true)
	expectRS("yellow", "1", false)

	c.setImage(t, ns, "rollout/limited", "green")
	c.waitRolloutNamed(t, ns, "limited", "Healthy", "", 60*time.Second)
	if got := c.jsonpath(t, ns, "rollout/limited", ".status.stableRS"); got != hashes["green"] {
		t.Fatalf("back to green: stable %s, want %s (the same ReplicaSet)", got, hashes["green"])
	}
	if rev := c.jsonpath(t, ns, "rs/limited-"+hashes["green"], `.metadata.annotations.rollout\.argoproj\.io/revision`); rev != "4" {
		t.Errorf("green's ReplicaSet is revision %s, want 4", rev)
	}
	expectRS("green", "1", false)
	expectRS("yellow", "1", true)
	expectRS("blue", "0", false)
}
