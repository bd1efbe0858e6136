// Package sim is a small cluster for the rollout planner: a Rollout, a
// ReplicaSet controller whose pods become ready after a delay, an AnalysisRun
// controller that follows a script, traffic routers, and a clock that moves a
// second per tick. It applies plans as the controller's applier does. The
// golden timelines of internal/rollout and `kubectl vireo simulate` run on it.
package sim

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand"
	"slices"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/rollout"
	"github.com/vireo-dev/vireo/internal/rollout/apply"
)

// Start is the simulated clock's zero.
var Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// World is the simulated cluster. Set its exported fields before the first
// tick.
type World struct {
	// ReadyAfter is how long a new pod takes to become ready.
	ReadyAfter time.Duration
	// Broken names an image whose pods never become ready.
	Broken string
	// Lag, when set, delays the ReplicaSet controller's status updates by a
	// random number of ticks, to shuffle the order in which things are seen.
	Lag *rand.Rand
	// Workload is the Deployment a workloadRef names, if any.
	Workload *appsv1.Deployment
	// Outcome plays the AnalysisRun controller: a run's phase by its age.
	// Without it runs stay Pending.
	Outcome func(run *v1alpha1.AnalysisRun, age time.Duration) v1alpha1.AnalysisPhase
	// RunMessages are the messages of runs that end unsuccessfully, by phase.
	RunMessages map[v1alpha1.AnalysisPhase]string
	// Foreign are ReplicaSet names held by objects that are not the
	// Rollout's: a plan that creates one meets a hash collision.
	Foreign map[string]bool
	// RouterDown, when set, says whether the routers refuse traffic at a
	// time since the start: they keep what they held, and the applier's
	// pass ends at the refused write, as the controller's does.
	RouterDown func(elapsed time.Duration) bool

	ro      *v1alpha1.Rollout
	rss     map[string]*appsv1.ReplicaSet
	pods    map[string][]simPod // each ReplicaSet's pods
	now     time.Time
	log     []string
	last    string
	steps   []int32 // every currentStepIndex the rollout passed through
	created int
	// servedOnce: some ReplicaSet has had an available pod.
	servedOnce bool
	podSeq     int
	action     string // the last user action, for the timeline
	notYet     bool   // the action waits for the rollout (a person reacting to what they see)
	// analysisRuns are the AnalysisRuns the rollout asked for.
	analysisRuns map[string]*v1alpha1.AnalysisRun
	// router plays the traffic routers of a rollout with trafficRouting:
	// what they hold, and the Services' selectors.
	router   *rollout.Traffic
	refused  *int32 // the weight the routers last refused (RouterDown)
	services map[string]string
	// experiments are the Experiments the rollout asked for, with their
	// AnalysisRuns and Services (objects); pending are their events, for
	// the next timeline line.
	experiments    map[string]*v1alpha1.Experiment
	experimentRuns map[string]*v1alpha1.AnalysisRun
	objects        map[string]*corev1.Service
	pending        []string
	// errs are the broken rules seen: a plan that cannot be applied, traffic
	// sent to a Service without pods.
	errs []error
}

// New is a world holding the Rollout ro (which it changes as the controller
// would) and nothing else yet.
func New(ro *v1alpha1.Rollout) *World {
	return &World{
		ro:           ro,
		rss:          map[string]*appsv1.ReplicaSet{},
		analysisRuns: map[string]*v1alpha1.AnalysisRun{},
		experiments:  map[string]*v1alpha1.Experiment{}, experimentRuns: map[string]*v1alpha1.AnalysisRun{}, objects: map[string]*corev1.Service{},
		pods: map[string][]simPod{},
		now:  Start,
		RunMessages: map[v1alpha1.AnalysisPhase]string{
			v1alpha1.AnalysisPhaseFailed:       `metric "success-rate" assessed Failed: 4 failed measurements, more than failureLimit 3`,
			v1alpha1.AnalysisPhaseError:        `metric "success-rate" assessed Error: 5 errors in a row, more than consecutiveErrorLimit 4`,
			v1alpha1.AnalysisPhaseInconclusive: `metric "success-rate" assessed Inconclusive: 1 inconclusive measurements, more than inconclusiveLimit 0`,
		},
	}
}

// AddOrphan puts a ReplicaSet that no controller owns into the world, with
// its pods running and available: what a Deployment or another controller
// left behind.
func (w *World) AddOrphan(rs *appsv1.ReplicaSet) {
	rs = rs.DeepCopy()
	rs.OwnerReferences = nil
	rs.CreationTimestamp = metav1.NewTime(w.now)
	w.rss[rs.Name] = rs
	n := replicas(rs)
	for i := int32(0); i < n; i++ {
		w.podSeq++
		w.pods[rs.Name] = append(w.pods[rs.Name], simPod{name: fmt.Sprintf("%s-%d", rs.Name, w.podSeq), created: w.now.Add(-time.Hour),
			labels: maps.Clone(rs.Spec.Template.Labels), annotations: maps.Clone(rs.Spec.Template.Annotations)})
	}
	rs.Status = appsv1.ReplicaSetStatus{Replicas: n, ReadyReplicas: n, AvailableReplicas: n, ObservedGeneration: rs.Generation}
}

// Err reports the broken rules seen so far, or nil.
func (w *World) Err() error { return errors.Join(w.errs...) }

func (w *World) fail(format string, args ...any) {
	w.errs = append(w.errs, fmt.Errorf("%s: "+format, append([]any{w.clock()}, args...)...))
}

// syncReplicaSets plays the ReplicaSet controller: pods follow spec.replicas
// (unready ones removed first), and status reports them.
func (w *World) syncReplicaSets() {
	for _, name := range w.names() {
		rs := w.rss[name]
		if w.Lag != nil && w.Lag.Intn(3) == 0 {
			continue // the ReplicaSet controller has not got to it yet
		}
		pods := w.pods[name]
		want := int(replicas(rs))
		for len(pods) < want {
			w.podSeq++
			pods = append(pods, simPod{name: fmt.Sprintf("%s-%d", name, w.podSeq), created: w.now,
				labels: maps.Clone(rs.Spec.Template.Labels), annotations: maps.Clone(rs.Spec.Template.Annotations)})
		}
		if len(pods) > want {
			sort.Slice(pods, func(i, j int) bool { return pods[i].created.Before(pods[j].created) })
			pods = pods[:want] // the newest, least ready pods go first
		}
		w.pods[name] = pods
		var avail int32
		for _, p := range pods {
			if w.ready(rs, p) {
				avail++
			}
		}
		rs.Status = appsv1.ReplicaSetStatus{
			Replicas: int32(len(pods)), ReadyReplicas: avail, AvailableReplicas: avail,
			ObservedGeneration: rs.Generation,
		}
	}
}

// simPod is a pod of the simulated ReplicaSet controller.
type simPod struct {
	name                string
	created             time.Time
	labels, annotations map[string]string // copied from the template at creation
}

func (w *World) ready(rs *appsv1.ReplicaSet, p simPod) bool {
	return image(rs) != w.Broken && !w.now.Before(p.created.Add(w.ReadyAfter))
}

// podObjects is what the controller would list: the pods, with readiness.
func (w *World) podObjects() []*corev1.Pod {
	var out []*corev1.Pod
	for _, n := range w.names() {
		for _, p := range w.pods[n] {
			ready := corev1.ConditionFalse
			if w.ready(w.rss[n], p) {
				ready = corev1.ConditionTrue
			}
			out = append(out, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: p.name, CreationTimestamp: metav1.NewTime(p.created), Labels: maps.Clone(p.labels), Annotations: maps.Clone(p.annotations)},
				Status:     corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: ready}}},
			})
		}
	}
	return out
}

// serviceObjects are the Services the spec names, each selecting the
// rollout's pods and, once pointed, the hash the plans set.
func (w *World) serviceObjects() map[string]*corev1.Service {
	out := map[string]*corev1.Service{}
	for _, name := range rollout.ServiceNames(w.ro) {
		sel := map[string]string{}
		if w.ro.Spec.Selector != nil {
			maps.Copy(sel, w.ro.Spec.Selector.MatchLabels)
		}
		if h := w.services[name]; h != "" {
			sel[rollout.PodTemplateHashLabel] = h
		}
		out[name] = &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.ro.Namespace}, Spec: corev1.ServiceSpec{Selector: sel}}
	}
	return out
}

// names lists the ReplicaSets oldest first (by name within one second), so
// that timelines read in the order versions arrived, whatever their hashes.
func (w *World) names() []string {
	var names []string
	for n := range w.rss {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := w.rss[names[i]].CreationTimestamp, w.rss[names[j]].CreationTimestamp
		if !a.Equal(&b) {
			return a.Before(&b)
		}
		return names[i] < names[j]
	})
	return names
}

// reconcile runs the planner once and applies its plan.
func (w *World) reconcile() *rollout.Plan {
	var list, orphans []*appsv1.ReplicaSet
	for _, rs := range w.rolloutReplicaSets() {
		if metav1.GetControllerOfNoCopy(rs) == nil {
			orphans = append(orphans, rs.DeepCopy())
			continue
		}
		list = append(list, rs.DeepCopy())
	}
	var experiments []*v1alpha1.Experiment
	for _, ex := range w.Experiments() {
		experiments = append(experiments, ex.DeepCopy())
	}
	var workload *appsv1.Deployment
	if w.Workload != nil {
		workload = w.Workload.DeepCopy()
	}
	var runList []*v1alpha1.AnalysisRun
	for _, n := range slices.Sorted(maps.Keys(w.analysisRuns)) {
		runList = append(runList, w.analysisRuns[n].DeepCopy())
	}
	obs := rollout.Observed{Rollout: w.ro.DeepCopy(), ReplicaSets: list, Orphans: orphans, Pods: w.podObjects(), Services: w.serviceObjects(), Workload: workload,
		AnalysisRuns: runList, Experiments: experiments, Now: w.now}
	plan := rollout.Decide(obs)
	if c := plan.Create; c != nil && w.Foreign[c.Name] {
		// As the controller does: the name is looked up, found taken, and
		// the planner decides again knowing it.
		obs.TakenNames = map[string]bool{c.Name: true}
		plan = rollout.Decide(obs)
	}
	// The controller's own applier, with this world as its target.
	w.checkReplicaBounds(plan)
	if _, err := apply.Apply(context.Background(), target{w}, plan); err != nil {
		w.record(nil) // the pass ended there: its Events were never raised
		return plan
	}
	// Every step completed on the way counts, in order: one pass may walk
	// several steps that need nothing (a pause ending, a route set).
	for _, e := range plan.Events {
		if e.Reason == "RolloutUpdated" {
			w.steps = append(w.steps, 0)
		}
		var done, total int32
		if _, err := fmt.Sscanf(e.Message, "Rollout step %d/%d completed", &done, &total); err == nil && e.Reason == "RolloutStepCompleted" {
			if len(w.steps) == 0 || w.steps[len(w.steps)-1] != done {
				w.steps = append(w.steps, done)
			}
		}
	}
	if i := plan.Status.CurrentStepIndex; i != nil && (len(w.steps) == 0 || w.steps[len(w.steps)-1] != *i) {
		w.steps = append(w.steps, *i)
	}
	w.record(plan)
	return plan
}

// checkReplicaBounds records an error when a plan for a basic canary (no
// traffic routing) breaks what maxSurge and maxUnavailable promise: that it
// never scales up past spec.replicas + maxSurge pods, and never scales away
// available pods when that leaves fewer than spec.replicas - maxUnavailable.
// Pods the ReplicaSet controller removes first are the unready ones, so a
// ReplicaSet scaled to n keeps min(available, n) available pods.
func (w *World) checkReplicaBounds(plan *rollout.Plan) {
	c := w.ro.Spec.Strategy.Canary
	if c == nil || c.TrafficRouting != nil {
		return
	}
	n := ptr.Deref(w.ro.Spec.Replicas, 1)
	surge, unavailable := rollout.SurgeAndUnavailable(w.ro)
	var specBefore, specAfter, availBefore, availAfter int32
	for _, rs := range w.rolloutReplicaSets() {
		after := replicas(rs)
		if s, ok := plan.Scale[rs.Name]; ok {
			after = s
		}
		specBefore += replicas(rs)
		specAfter += after
		availBefore += rs.Status.AvailableReplicas
		availAfter += min(rs.Status.AvailableReplicas, after)
	}
	if cr := plan.Create; cr != nil {
		specAfter += ptr.Deref(cr.Spec.Replicas, 0)
	}
	if specAfter > n+surge && specAfter > specBefore {
		w.fail("scaled up to %d pods, more than replicas %d + maxSurge %d", specAfter, n, surge)
	}
	if availAfter < availBefore && availAfter < n-unavailable {
		w.fail("scaled down to %d available pods, fewer than replicas %d - maxUnavailable %d", availAfter, n, unavailable)
	}
}

// checkTraffic records an error when the routers send traffic to a Service
// whose pods are all gone: the requests would fail.
func (w *World) checkTraffic() {
	if w.router == nil {
		return
	}
	if !w.servedOnce {
		// Until some version has had an available pod, there is nothing to
		// fall back on (the first version, or an update sent before it was up).
		for _, rs := range w.rss {
			w.servedOnce = w.servedOnce || rs.Status.AvailableReplicas > 0
		}
		if !w.servedOnce {
			return
		}
	}
	c := w.ro.Spec.Strategy.Canary
	for svc, weight := range map[string]int32{c.CanaryService: w.router.Weight, c.StableService: w.router.MaxWeight - w.router.Weight} {
		if weight == 0 {
			continue
		}
		var avail int32
		for _, rs := range w.rss {
			if rs.Labels[rollout.PodTemplateHashLabel] == w.services[svc] {
				avail += rs.Status.AvailableReplicas
			}
		}
		if avail == 0 {
			w.fail("Service %s has weight %d but no available pod (%s)", svc, weight, w.imageOf(w.services[svc]))
		}
	}
}

func (w *World) clock() string {
	return fmt.Sprintf("%ds", int(w.now.Sub(Start).Seconds()))
}

func image(rs *appsv1.ReplicaSet) string {
	img := rs.Spec.Template.Spec.Containers[0].Image
	if i := strings.LastIndex(img, ":"); i >= 0 {
		return img[i+1:]
	}
	return img
}

// PodsSettled reports whether the ReplicaSet controller has nothing left to
// do: every ReplicaSet has all its pods, all ready and reported.
func (w *World) PodsSettled() bool {
	for _, n := range w.names() {
		rs := w.rss[n]
		want := replicas(rs)
		if int32(len(w.pods[n])) != want || rs.Status.Replicas != want || rs.Status.AvailableReplicas != want {
			return false
		}
	}
	return true
}

// Skip moves the clock on without any controller acting, as when the
// controller waits for a plan's RequeueAfter and nothing else happens.
func (w *World) Skip(d time.Duration) { w.now = w.now.Add(d) }

// Elapsed is the simulated time since Start.
func (w *World) Elapsed() time.Duration { return w.now.Sub(Start) }

// Rollout is the Rollout as the controller left it.
func (w *World) Rollout() *v1alpha1.Rollout { return w.ro }

// ReplicaSets are the Rollout's ReplicaSets, by name; its experiments' are
// not among them.
func (w *World) ReplicaSets() []*appsv1.ReplicaSet { return w.rolloutReplicaSets() }

// AnalysisRuns are the runs the Rollout asked for, by name.
func (w *World) AnalysisRuns() []*v1alpha1.AnalysisRun {
	var out []*v1alpha1.AnalysisRun
	for _, n := range slices.Sorted(maps.Keys(w.analysisRuns)) {
		out = append(out, w.analysisRuns[n])
	}
	return out
}

// Traffic is what the traffic routers hold, or nil without trafficRouting
// (or before the first routed plan).
func (w *World) Traffic() *rollout.Traffic { return w.router }

// Log is the timeline: a line for each visible change, each event and each
// action.
func (w *World) Log() []string { return w.log }

func replicas(rs *appsv1.ReplicaSet) int32 { return ptr.Deref(rs.Spec.Replicas, 1) }
