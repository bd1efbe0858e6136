package rollout

import (
	"flag"
	"fmt"
	"maps"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
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
	"github.com/vireo-dev/vireo/internal/analysis"
)

var update = flag.Bool("update", false, "rewrite the golden files of the rollout simulations")

// world is a tiny cluster for the planner: Vireo's Rollout, a ReplicaSet
// controller whose pods become available readyAfter seconds after they are
// created, and a clock. It applies plans exactly as the controller's applier
// does.
type world struct {
	t          *testing.T
	ro         *v1alpha1.Rollout
	rss        map[string]*appsv1.ReplicaSet
	pods       map[string][]simPod // each ReplicaSet's pods
	now        time.Time
	readyAfter time.Duration
	// broken names an image whose pods never become ready.
	broken string
	// lag, when set, delays the ReplicaSet controller's status updates by a
	// random number of ticks, to shuffle the order in which things are seen.
	lag *rand.Rand
	// workload is the Deployment a workloadRef names, if any.
	workload *appsv1.Deployment
	log      []string
	last     string
	steps    []int32 // every currentStepIndex the rollout passed through
	created  int
	podSeq   int
	action   string // the last user action, for the timeline
	notYet   bool   // the action waits for the rollout (a person reacting to what they see)
	// analysisRuns are the AnalysisRuns the rollout asked for; outcome plays
	// the AnalysisRun controller: a run's phase by its age.
	analysisRuns map[string]*v1alpha1.AnalysisRun
	outcome      func(run *v1alpha1.AnalysisRun, age time.Duration) v1alpha1.AnalysisPhase
	// router plays the traffic routers of a rollout with trafficRouting:
	// what they hold, and the Services' selectors.
	router   *Traffic
	services map[string]string
}

func newWorld(t *testing.T, ro *v1alpha1.Rollout) *world {
	return &world{
		t: t, ro: ro,
		rss:          map[string]*appsv1.ReplicaSet{},
		analysisRuns: map[string]*v1alpha1.AnalysisRun{},
		pods:         map[string][]simPod{},
		now:          time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
}

// syncReplicaSets plays the ReplicaSet controller: pods follow spec.replicas
// (unready ones removed first), and status reports them.
func (w *world) syncReplicaSets() {
	for _, name := range w.names() {
		rs := w.rss[name]
		if w.lag != nil && w.lag.Intn(3) == 0 {
			continue // the ReplicaSet controller has not got to it yet
		}
		pods := w.pods[name]
		want := int(specReplicas(rs))
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

func (w *world) ready(rs *appsv1.ReplicaSet, p simPod) bool {
	return image(rs) != w.broken && !w.now.Before(p.created.Add(w.readyAfter))
}

// podObjects is what the controller would list: the pods, with readiness.
func (w *world) podObjects() []*corev1.Pod {
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

func (w *world) names() []string {
	var names []string
	for n := range w.rss {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// reconcile runs the planner once and applies its plan.
func (w *world) reconcile() *Plan {
	var list []*appsv1.ReplicaSet
	for _, n := range w.names() {
		list = append(list, w.rss[n].DeepCopy())
	}
	var workload *appsv1.Deployment
	if w.workload != nil {
		workload = w.workload.DeepCopy()
	}
	var runList []*v1alpha1.AnalysisRun
	for _, n := range sortedKeys(w.analysisRuns) {
		runList = append(runList, w.analysisRuns[n].DeepCopy())
	}
	plan := Decide(Observed{Rollout: w.ro.DeepCopy(), ReplicaSets: list, Pods: w.podObjects(), Services: map[string]*corev1.Service{}, Workload: workload,
		AnalysisRuns: runList, Now: w.now})
	w.applyRuns(plan)
	if n := plan.ScaleWorkload; n != nil {
		w.workload.Spec.Replicas = ptr.To(*n)
	}
	if c := plan.Create; c != nil {
		if _, dup := w.rss[c.Name]; dup {
			w.t.Fatalf("%s: plan creates %s, which exists", w.now.Format(time.TimeOnly), c.Name)
		}
		w.created++
		c = c.DeepCopy()
		c.CreationTimestamp = metav1.NewTime(w.now)
		c.Generation = 1
		w.rss[c.Name] = c
	}
	for name, annotations := range plan.Annotate {
		for k, v := range annotations {
			if v == "" {
				delete(w.rss[name].Annotations, k)
			} else {
				w.rss[name].Annotations[k] = v
			}
		}
	}
	for name, change := range plan.TemplateMetadata {
		applyMetadata(&w.rss[name].Spec.Template.Labels, change.Labels)
		applyMetadata(&w.rss[name].Spec.Template.Annotations, change.Annotations)
	}
	for name, change := range plan.PodMetadata {
		for _, pods := range w.pods {
			for i := range pods {
				if pods[i].name == name {
					applyMetadata(&pods[i].labels, change.Labels)
					applyMetadata(&pods[i].annotations, change.Annotations)
				}
			}
		}
	}
	for name, n := range plan.Scale {
		rs := w.rss[name]
		if rs == nil {
			w.t.Fatalf("plan scales unknown ReplicaSet %s", name)
		}
		rs.Spec.Replicas = ptr.To(n)
		rs.Generation++
	}
	for _, pod := range plan.Evict {
		for n, pods := range w.pods {
			for i, p := range pods {
				if p.name == pod {
					w.pods[n] = append(pods[:i:i], pods[i+1:]...)
				}
			}
		}
	}
	for _, name := range plan.Delete {
		delete(w.rss, name)
		delete(w.pods, name)
	}
	for name, hash := range plan.Services {
		if w.services == nil {
			w.services = map[string]string{}
		}
		w.services[name] = hash
	}
	w.ro.Status = plan.Status
	if plan.Traffic != nil {
		// The applier sets the routers, then records that they hold it.
		w.router = plan.Traffic
		w.ro.Status.Canary.Weights.Verified = ptr.To(true)
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

// record adds a timeline line when anything visible changed.
func (w *world) record(plan *Plan) {
	st := &w.ro.Status
	step := "-"
	if st.CurrentStepIndex != nil {
		step = fmt.Sprintf("%d/%d", *st.CurrentStepIndex, len(stepsOf(w.ro)))
	}
	var sets []string
	for _, n := range w.names() {
		rs := w.rss[n]
		role := ""
		h := rs.Labels[PodTemplateHashLabel]
		switch {
		case w.ro.Spec.Strategy.BlueGreen != nil && h == st.BlueGreen.ActiveSelector:
			role = " active"
		case w.ro.Spec.Strategy.BlueGreen != nil && h == st.BlueGreen.PreviewSelector:
			role = " preview"
		case w.ro.Spec.Strategy.BlueGreen != nil && h == st.CurrentPodHash:
			role = " current"
		case h == st.StableRS && st.StableRS == st.CurrentPodHash:
			role = " stable,current"
		case h == st.StableRS:
			role = " stable"
		case h == st.CurrentPodHash:
			role = " canary"
		}
		if d, ok := rs.Annotations[ScaleDownDeadlineAnnotation]; ok {
			t, _ := time.Parse(time.RFC3339, d)
			role += fmt.Sprintf(" (scale down at %ds)", int(t.Sub(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)).Seconds()))
		}
		sets = append(sets, fmt.Sprintf("%s=%d/%d%s", image(rs), rs.Status.AvailableReplicas, specReplicas(rs), role))
	}
	phase := string(st.Phase)
	if st.Message != "" {
		phase += " (" + st.Message + ")"
	}
	if len(w.analysisRuns) > 0 {
		var rs []string
		for _, n := range sortedKeys(w.analysisRuns) {
			r := w.analysisRuns[n]
			rs = append(rs, strings.TrimPrefix(n, w.ro.Name+"-")+"="+string(r.Status.Phase))
		}
		sets = append(sets, "runs["+strings.Join(rs, " ")+"]")
	}
	if w.workload != nil {
		sets = append(sets, fmt.Sprintf("deployment=%d", *w.workload.Spec.Replicas))
	}
	if keys, _ := roleKeys(w.ro); len(keys) > 0 {
		// Role labels on the pods, by image: blue:role=stable*4.
		count := map[string]int{}
		for _, n := range w.names() {
			for _, p := range w.pods[n] {
				var kv []string
				for k := range keys {
					if v, ok := p.labels[k]; ok {
						kv = append(kv, k+"="+v)
					}
				}
				sort.Strings(kv)
				count[image(w.rss[n])+":"+strings.Join(kv, ",")]++
			}
		}
		var roles []string
		for k, n := range count {
			roles = append(roles, fmt.Sprintf("%s*%d", k, n))
		}
		sort.Strings(roles)
		sets = append(sets, "pods["+strings.Join(roles, " ")+"]")
	}
	if w.router != nil {
		var active []string
		for _, r := range w.router.Routes {
			if r.Header != nil && r.Active() {
				active = append(active, "header:"+r.Header.Name)
			}
			if r.Mirror != nil && r.Active() {
				active = append(active, "mirror:"+r.Mirror.Name)
			}
		}
		if len(active) > 0 {
			sets = append(sets, "routes["+strings.Join(active, " ")+"]")
		}
		sets = append(sets, "canary-svc="+w.imageOf(w.services[w.ro.Spec.Strategy.Canary.CanaryService]),
			"stable-svc="+w.imageOf(w.services[w.ro.Spec.Strategy.Canary.StableService]))
	}
	var line string
	switch {
	case w.ro.Spec.Strategy.BlueGreen != nil:
		line = fmt.Sprintf("%-55s %s", phase, strings.Join(sets, " "))
	case w.router != nil:
		line = fmt.Sprintf("step %-5s traffic %3d/%d  %-55s %s", step, w.router.Weight, w.router.MaxWeight, phase, strings.Join(sets, " "))
	default:
		line = fmt.Sprintf("step %-5s weight %3d  %-55s %s", step, CurrentWeight(w.ro, st), phase, strings.Join(sets, " "))
	}
	var evs []string
	for _, e := range plan.Events {
		evs = append(evs, e.Reason+": "+e.Message)
	}
	if len(plan.Evict) > 0 {
		evs = append(evs, "evicted "+strings.Join(plan.Evict, ", "))
	}
	if line == w.last && len(evs) == 0 {
		return
	}
	w.last = line
	w.log = append(w.log, fmt.Sprintf("%5s  %s", w.clock(), line))
	for _, e := range evs {
		w.log = append(w.log, "       event "+e)
	}
}

// imageOf names the image of the ReplicaSet with a pod-template hash.
func (w *world) imageOf(hash string) string {
	for _, rs := range w.rss {
		if rs.Labels[PodTemplateHashLabel] == hash {
			return image(rs)
		}
	}
	return "none"
}

// checkTraffic fails the test when the routers send traffic to a Service
// whose pods are all gone: the requests would fail.
func (w *world) checkTraffic() {
	if w.router == nil || w.created < 2 {
		return // the first version has nothing to fall back on
	}
	c := w.ro.Spec.Strategy.Canary
	for svc, weight := range map[string]int32{c.CanaryService: w.router.Weight, c.StableService: w.router.MaxWeight - w.router.Weight} {
		if weight == 0 {
			continue
		}
		var avail int32
		for _, rs := range w.rss {
			if rs.Labels[PodTemplateHashLabel] == w.services[svc] {
				avail += rs.Status.AvailableReplicas
			}
		}
		if avail == 0 {
			w.t.Errorf("%s: Service %s has weight %d but no available pod (%s)", w.clock(), svc, weight, w.imageOf(w.services[svc]))
		}
	}
}

func (w *world) clock() string {
	return fmt.Sprintf("%ds", int(w.now.Sub(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)).Seconds()))
}

func image(rs *appsv1.ReplicaSet) string {
	img := rs.Spec.Template.Spec.Containers[0].Image
	if i := strings.LastIndex(img, ":"); i >= 0 {
		return img[i+1:]
	}
	return img
}

// run advances the world second by second, reconciling every second, with the
// user's actions at their times, until the given time.
func (w *world) run(until time.Duration, actions map[time.Duration]func(ro *v1alpha1.Rollout, w *world)) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pending := map[time.Duration]func(*v1alpha1.Rollout, *world){}
	for at, act := range actions {
		pending[at] = act
	}
	for w.now.Sub(start) <= until {
		at := w.now.Sub(start)
		if act, ok := pending[at]; ok {
			delete(pending, at)
			w.action, w.notYet = "", false
			act(w.ro, w)
			if w.notYet {
				pending[at+time.Second] = act // the user waits and tries again
			} else {
				w.log = append(w.log, fmt.Sprintf("%5s  >> %s", w.clock(), w.action))
			}
		}
		w.syncReplicaSets()
		w.checkTraffic()
		w.advanceRuns()
		w.reconcile()
		w.now = w.now.Add(time.Second)
	}
}

// The user's actions: the same patches the kubectl plugin sends.
func setImage(img string) func(*v1alpha1.Rollout, *world) {
	return func(ro *v1alpha1.Rollout, w *world) {
		w.action = "set image " + img
		if w.workload != nil {
			// With workloadRef the template lives in the Deployment.
			w.workload.Spec.Template.Spec.Containers[0].Image = "demo:" + img
			w.workload.Generation++
			return
		}
		ro.Spec.Template.Spec.Containers[0].Image = "demo:" + img
		ro.Generation++
	}
}

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

// promote is what a person does on seeing the rollout paused: the plugin's
// patch. Until the rollout is paused, the person waits.
func promote(ro *v1alpha1.Rollout, w *world) {
	if ro.Status.Phase != v1alpha1.RolloutPhasePaused {
		w.notYet = true
		return
	}
	w.action = "promote"
	if ro.Spec.Paused {
		ro.Spec.Paused = false
	}
	if len(ro.Status.PauseConditions) > 0 {
		ro.Status.PauseConditions = nil
	} else if c := ro.Spec.Strategy.Canary; c != nil && ro.Status.CurrentStepIndex != nil && int(*ro.Status.CurrentStepIndex) < len(c.Steps) {
		ro.Status.CurrentStepIndex = ptr.To(*ro.Status.CurrentStepIndex + 1)
	}
}

func promoteFull(ro *v1alpha1.Rollout, w *world) {
	w.action = "promote --full"
	ro.Status.PromoteFull = true
}

func abort(ro *v1alpha1.Rollout, w *world) {
	w.action = "abort"
	ro.Status.Abort = true
}

func retry(ro *v1alpha1.Rollout, w *world) {
	w.action = "retry"
	ro.Status.Abort = false
}

func restart(ro *v1alpha1.Rollout, w *world) {
	w.action = "restart"
	ro.Spec.RestartAt = ptr.To(metav1.NewTime(w.now))
	ro.Generation++
}

// undo puts the template of an earlier revision back into the Rollout, as
// `kubectl argo rollouts undo [--to-revision N]` does; 0 means the revision
// before the newest.
func undo(toRevision int64) func(*v1alpha1.Rollout, *world) {
	return func(ro *v1alpha1.Rollout, w *world) {
		w.action = fmt.Sprintf("undo --to-revision %d", toRevision)
		var revs []int64
		byRev := map[int64]*appsv1.ReplicaSet{}
		for _, rs := range w.rss {
			byRev[Revision(rs)] = rs
			revs = append(revs, Revision(rs))
		}
		sort.Slice(revs, func(i, j int) bool { return revs[i] > revs[j] })
		if toRevision == 0 {
			toRevision = revs[1]
		}
		tmpl := byRev[toRevision].Spec.Template.DeepCopy()
		delete(tmpl.Labels, PodTemplateHashLabel)
		ro.Spec.Template = *tmpl
		ro.Generation++
	}
}

func pause(ro *v1alpha1.Rollout, w *world) {
	w.action = "pause"
	ro.Spec.Paused = true
	ro.Generation++
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

func withDeadline(ro *v1alpha1.Rollout, seconds int32, abort bool) *v1alpha1.Rollout {
	ro.Spec.ProgressDeadlineSeconds = ptr.To(seconds)
	ro.Spec.ProgressDeadlineAbort = abort
	return ro
}

func stepsOf(ro *v1alpha1.Rollout) []v1alpha1.CanaryStep {
	if ro.Spec.Strategy.Canary == nil {
		return nil
	}
	return ro.Spec.Strategy.Canary.Steps
}

func blueGreen(replicas int32, bg v1alpha1.BlueGreenStrategy) *v1alpha1.Rollout {
	ro := seedRollout(replicas)
	bg.ActiveService, bg.PreviewService = "demo-active", "demo-preview"
	ro.Spec.Strategy = v1alpha1.RolloutStrategy{BlueGreen: &bg}
	return ro
}

// withRouter gives a canary a traffic router and its two Services.
func withRouter(ro *v1alpha1.Rollout, edit func(c *v1alpha1.CanaryStrategy)) *v1alpha1.Rollout {
	c := ro.Spec.Strategy.Canary
	c.CanaryService, c.StableService = "demo-canary", "demo-stable"
	c.TrafficRouting = &v1alpha1.RolloutTrafficRouting{Nginx: &v1alpha1.NginxTrafficRouting{StableIngress: "demo"}}
	if edit != nil {
		edit(c)
	}
	return ro
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
	actions    map[time.Duration]func(*v1alpha1.Rollout, *world)
	// end is the phase and image the rollout must finish with.
	endPhase v1alpha1.RolloutPhase
	endImage string
	// endReplicas, when set, replaces endImage: each image's spec.replicas at
	// the end (pods of the broken image are never available).
	endReplicas map[string]int32
	// analysis scripts the AnalysisRuns' outcomes.
	analysis script
}

func scenarios() []scenario {
	s := time.Second
	progressively, deploy1 := withWorkloadRef(seedRollout(4, weight(25), pauseFor(5), weight(50), pauseFor(5)), v1alpha1.ScaleDownProgressively)
	onSuccess, deploy2 := withWorkloadRef(seedRollout(4, weight(50), pauseIndefinitely()), v1alpha1.ScaleDownOnSuccess)
	return []scenario{
		{name: "workloadref-progressively", ro: progressively, workload: deploy1, readyAfter: 2 * s, until: 40 * s,
			endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){10 * s: setImage("green")}},
		{name: "workloadref-onsuccess", ro: onSuccess, workload: deploy2, readyAfter: 2 * s, until: 40 * s,
			endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){10 * s: setImage("green"), 20 * s: promote}},
		{name: "seed002-promote", ro: seed002(), until: 60 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green"), 15 * s: promote}},
		{name: "seed002-slow-pods", ro: seed002(), readyAfter: 3 * s, until: 80 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){10 * s: setImage("green"), 25 * s: promote}},
		{name: "seed002-abort-retry", ro: seed002(), until: 70 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green"), 12 * s: abort, 20 * s: retry, 28 * s: promote}},
		{name: "seed002-abort-then-stable-reapplied", ro: seed002(), until: 30 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "blue",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green"), 12 * s: abort, 18 * s: setImage("blue")}},
		{name: "fast-rollback-mid-rollout", ro: seed002(), until: 30 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "blue",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green"), 12 * s: promote, 15 * s: setImage("blue")}},
		{name: "supersede", ro: seed002(), until: 70 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "yellow",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green"), 10 * s: promote, 16 * s: setImage("yellow"), 25 * s: promote}},
		{name: "undo-to-older-revision", ro: seed002(), until: 80 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green"), 8 * s: promoteFull,
				12 * s: setImage("yellow"), 15 * s: promoteFull, 20 * s: undo(0), 28 * s: promote}},
		{name: "undo-to-stable-mid-rollout", ro: seed002(), until: 30 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "blue",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green"), 12 * s: undo(0)}},
		{name: "canary-role-metadata", ro: withRoleMetadata(seedRollout(4, weight(25), pauseIndefinitely())), until: 25 * s,
			endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green"), 10 * s: promote}},
		{name: "bluegreen-role-metadata", ro: withRoleMetadata(blueGreen(2, v1alpha1.BlueGreenStrategy{AutoPromotionEnabled: ptr.To(false), ScaleDownDelaySeconds: ptr.To[int32](5)})),
			until: 25 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green"), 10 * s: promote}},
		{name: "promote-full", ro: seed002(), until: 25 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green"), 10 * s: promoteFull}},
		{name: "manual-pause", ro: seedRollout(4, weight(25), pauseFor(5), weight(50), pauseFor(5), weight(75), pauseFor(5)), until: 45 * s,
			endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green"), 9 * s: pause, 20 * s: promote}},
		{name: "bluegreen-manual-promotion", ro: blueGreen(2, v1alpha1.BlueGreenStrategy{AutoPromotionEnabled: ptr.To(false)}),
			readyAfter: 2 * s, until: 60 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green"), 15 * s: promote}},
		{name: "bluegreen-small-preview-auto", ro: blueGreen(3, v1alpha1.BlueGreenStrategy{PreviewReplicaCount: ptr.To[int32](1), ScaleDownDelaySeconds: ptr.To[int32](10)}),
			readyAfter: 2 * s, until: 40 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green")}},
		{name: "bluegreen-autopromotion-seconds", ro: blueGreen(2, v1alpha1.BlueGreenStrategy{AutoPromotionSeconds: 10, ScaleDownDelaySeconds: ptr.To[int32](5)}),
			until: 40 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green")}},
		{name: "bluegreen-autopromotion-seconds-outlasts-analysis", ro: withPromotionAnalysis(blueGreen(2, v1alpha1.BlueGreenStrategy{AutoPromotionSeconds: 10, ScaleDownDelaySeconds: ptr.To[int32](5)}), true, false),
			until: 40 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			analysis: script{RunPrePromotion: {}},
			actions:  map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green")}},
		{name: "bluegreen-autopromotion-seconds-after-analysis", ro: withPromotionAnalysis(blueGreen(2, v1alpha1.BlueGreenStrategy{AutoPromotionSeconds: 10, ScaleDownDelaySeconds: ptr.To[int32](5)}), true, false),
			until: 40 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			analysis: script{RunPrePromotion: ok(3)},
			actions:  map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green")}},
		{name: "bluegreen-abort", ro: blueGreen(2, v1alpha1.BlueGreenStrategy{AutoPromotionEnabled: ptr.To(false), AbortScaleDownDelaySeconds: ptr.To[int32](10)}),
			until: 40 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "blue",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green"), 10 * s: abort, 30 * s: setImage("blue")}},
		{name: "progress-deadline", ro: withDeadline(seed002(), 10, false), broken: "green", until: 40 * s,
			endPhase: v1alpha1.RolloutPhaseDegraded, endReplicas: map[string]int32{"blue": 4, "green": 1},
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green")}},
		{name: "progress-deadline-abort", ro: withDeadline(seed002(), 10, true), broken: "green", until: 40 * s,
			endPhase: v1alpha1.RolloutPhaseDegraded, endImage: "blue",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green")}},
		{name: "restart", ro: seed002(), readyAfter: 2 * s, until: 30 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "blue",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){8 * s: restart}},
		{name: "no-steps-rolling-update", ro: seedRollout(5), readyAfter: 2 * s, until: 30 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green")}},
		{name: "seed000-background-analysis-passes", ro: seed000(), until: 70 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green")}},
		{name: "seed000-background-analysis-fails", ro: seed000(), until: 50 * s, endPhase: v1alpha1.RolloutPhaseDegraded, endImage: "blue",
			analysis: script{RunBackground: ends(12, v1alpha1.AnalysisPhaseFailed)},
			actions:  map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green")}},
		{name: "analysis-fails-then-retry-passes", ro: seed000(), until: 100 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			analysis: script{RunBackground: ends(5, v1alpha1.AnalysisPhaseError), RunBackground + ".1": {}},
			actions:  map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green"), 40 * s: retry}},
		{name: "inline-analysis-step", ro: seedRollout(4, weight(25), analysisStep(), weight(50), analysisStep()), until: 40 * s,
			endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			analysis: script{RunStep: ok(4)},
			actions:  map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green")}},
		{name: "inline-analysis-inconclusive-then-promoted", ro: seedRollout(4, weight(25), analysisStep(), weight(50)), until: 40 * s,
			endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			analysis: script{RunStep: ends(3, v1alpha1.AnalysisPhaseInconclusive)},
			actions:  map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green"), 20 * s: promote}},
		{name: "inline-analysis-step-fails", ro: seedRollout(4, weight(25), analysisStep(), weight(50)), until: 30 * s,
			endPhase: v1alpha1.RolloutPhaseDegraded, endImage: "blue",
			analysis: script{"Step-1": ends(3, v1alpha1.AnalysisPhaseFailed)},
			actions:  map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green")}},
		{name: "bluegreen-pre-and-post-promotion-analysis", ro: withPromotionAnalysis(blueGreen(2, v1alpha1.BlueGreenStrategy{ScaleDownDelaySeconds: ptr.To[int32](5)}), true, true),
			until: 40 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			analysis: script{RunPrePromotion: ok(5), RunPostPromotion: ok(5)},
			actions:  map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green")}},
		{name: "bluegreen-prepromotion-fails", ro: withPromotionAnalysis(blueGreen(2, v1alpha1.BlueGreenStrategy{AbortScaleDownDelaySeconds: ptr.To[int32](5)}), true, false),
			until: 30 * s, endPhase: v1alpha1.RolloutPhaseDegraded, endImage: "blue",
			analysis: script{RunPrePromotion: ends(5, v1alpha1.AnalysisPhaseFailed)},
			actions:  map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green")}},
		{name: "routed-seed001-promote", ro: seed001(), readyAfter: 2 * s, until: 150 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green"), 20 * s: promote}},
		{name: "routed-abort", ro: seed001(), readyAfter: 2 * s, until: 100 * s, endPhase: v1alpha1.RolloutPhaseDegraded, endImage: "blue",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green"), 20 * s: promote, 30 * s: abort}},
		{name: "routed-abort-keeps-canary-up", ro: withRouter(seedRollout(4, weight(25), pauseIndefinitely()), func(c *v1alpha1.CanaryStrategy) {
			c.AbortScaleDownDelaySeconds = ptr.To[int32](0)
		}), until: 40 * s, endPhase: v1alpha1.RolloutPhaseDegraded, endReplicas: map[string]int32{"blue": 4, "green": 1},
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green"), 15 * s: abort}},
		{name: "routed-dynamic-stable-scale-promote", ro: withRouter(seedRollout(4, weight(25), pauseFor(5), weight(75), pauseFor(5)), func(c *v1alpha1.CanaryStrategy) {
			c.DynamicStableScale = true
			c.ScaleDownDelaySeconds = ptr.To[int32](5)
		}), readyAfter: 2 * s, until: 60 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green")}},
		{name: "routed-dynamic-stable-scale-abort", ro: withRouter(seedRollout(4, weight(25), pauseFor(5), weight(75), pauseIndefinitely()), func(c *v1alpha1.CanaryStrategy) {
			c.DynamicStableScale = true
			c.AbortScaleDownDelaySeconds = ptr.To[int32](5)
		}), readyAfter: 2 * s, until: 60 * s, endPhase: v1alpha1.RolloutPhaseDegraded, endImage: "blue",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green"), 30 * s: abort}},
		{name: "routed-header-and-mirror-routes", ro: withRouter(seedRollout(4, headerRoute("by-header", "X-Canary", "yes"), mirrorRoute("mirror", 35),
			pauseIndefinitely(), weight(50), v1alpha1.CanaryStep{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "by-header"}}, pauseIndefinitely()),
			func(c *v1alpha1.CanaryStrategy) {
				c.TrafficRouting.ManagedRoutes = []v1alpha1.MangedRoutes{{Name: "by-header"}, {Name: "mirror"}}
				c.ScaleDownDelaySeconds = ptr.To[int32](5)
			}), until: 40 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green"), 10 * s: promote, 20 * s: promote}},
		{name: "routed-new-version-mid-rollout", ro: seed001(), readyAfter: 2 * s, until: 150 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "yellow",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green"), 15 * s: promote, 25 * s: setImage("yellow"), 40 * s: promote}},
		{name: "routed-fast-rollback", ro: seed001(), readyAfter: 2 * s, until: 60 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "blue",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green"), 15 * s: promote, 25 * s: setImage("blue")}},
		{name: "routed-dynamic-stable-scale-fast-rollback", ro: withRouter(seedRollout(4, weight(25), pauseFor(5), weight(75), pauseIndefinitely()), func(c *v1alpha1.CanaryStrategy) {
			c.DynamicStableScale = true
		}), readyAfter: 2 * s, until: 60 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "blue",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green"), 30 * s: setImage("blue")}},
		{name: "routed-promote-full", ro: seed001(), readyAfter: 2 * s, until: 60 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green"), 15 * s: promoteFull}},
		{name: "routed-canary-scale-and-max-weight", ro: withRouter(seedRollout(10, v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{Replicas: ptr.To[int32](2)}},
			weight(5), pauseFor(5), v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{MatchTrafficWeight: true}}, weight(500), pauseFor(5)),
			func(c *v1alpha1.CanaryStrategy) {
				c.TrafficRouting.MaxTrafficWeight = ptr.To[int32](1000)
				c.MinPodsPerReplicaSet = ptr.To[int32](2)
				c.ScaleDownDelaySeconds = ptr.To[int32](3)
			}), until: 40 * s, endPhase: v1alpha1.RolloutPhaseHealthy, endImage: "green",
			actions: map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green")}},
		{name: "bluegreen-postpromotion-fails-switches-back", ro: withPromotionAnalysis(blueGreen(2, v1alpha1.BlueGreenStrategy{AbortScaleDownDelaySeconds: ptr.To[int32](5)}), false, true),
			until: 30 * s, endPhase: v1alpha1.RolloutPhaseDegraded, endImage: "blue",
			analysis: script{RunPostPromotion: ends(5, v1alpha1.AnalysisPhaseFailed)},
			actions:  map[time.Duration]func(*v1alpha1.Rollout, *world){5 * s: setImage("green")}},
	}
}

// TestSimulations runs whole rollouts through the planner and compares their
// timelines with golden files (go test -run TestSimulations -update rewrites them).
func TestSimulations(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			w := newWorld(t, sc.ro)
			w.outcome = sc.analysis.outcome
			w.readyAfter, w.broken = sc.readyAfter, sc.broken
			w.workload = sc.workload
			w.run(sc.until, sc.actions)
			checkEnd(t, w, sc)
			golden := filepath.Join("testdata", "sim", sc.name+".golden")
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
func TestSimulationsWithShuffledEvents(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		for _, sc := range scenarios() {
			w := newWorld(t, sc.ro.DeepCopy())
			w.outcome = sc.analysis.outcome
			w.readyAfter, w.broken = sc.readyAfter, sc.broken
			if sc.workload != nil {
				w.workload = sc.workload.DeepCopy()
			}
			w.lag = rand.New(rand.NewSource(seed))
			w.run(sc.until*2, sc.actions)
			t.Run(fmt.Sprintf("%s/seed%d", sc.name, seed), func(t *testing.T) { checkEnd(t, w, sc) })
		}
	}
}

func checkEnd(t *testing.T, w *world, sc scenario) {
	t.Helper()
	st := w.ro.Status
	if sc.workload != nil && *w.workload.Spec.Replicas != 0 {
		t.Errorf("the referenced Deployment ends with %d replicas, want 0", *w.workload.Spec.Replicas)
	}
	if st.Phase != sc.endPhase {
		t.Errorf("ended %s (%s), want %s\n%s", st.Phase, st.Message, sc.endPhase, strings.Join(w.log, "\n"))
	}
	replicas := desiredReplicas(w.ro)
	for _, n := range w.names() {
		rs := w.rss[n]
		want := int32(0)
		if image(rs) == sc.endImage {
			want = replicas
		}
		if sc.endReplicas != nil {
			want = sc.endReplicas[image(rs)]
		}
		wantAvailable := want
		if image(rs) == w.broken {
			wantAvailable = 0
		}
		if specReplicas(rs) != want || rs.Status.AvailableReplicas != wantAvailable {
			t.Errorf("ReplicaSet %s (%s) ends at %d/%d, want %d", n, image(rs), rs.Status.AvailableReplicas, specReplicas(rs), want)
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
			w := newWorld(t, tc.ro)
			actions := map[time.Duration]func(*v1alpha1.Rollout, *world){}
			if tc.name != "healthy" {
				actions[2*time.Second] = setImage("green")
			}
			w.run(tc.waitAt, actions)
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

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// applyRuns plays the API server and the AnalysisRun controller for the
// runs a plan creates, terminates and deletes.
func (w *world) applyRuns(plan *Plan) {
	for _, req := range plan.CreateRuns {
		if _, exists := w.analysisRuns[req.Name]; exists {
			continue
		}
		labels := map[string]string{RunTypeLabel: req.Kind, PodTemplateHashLabel: req.Latest}
		if req.Step != nil {
			labels[RunStepIndexLabel] = fmt.Sprint(*req.Step)
		}
		w.analysisRuns[req.Name] = &v1alpha1.AnalysisRun{
			ObjectMeta: metav1.ObjectMeta{Name: req.Name, Labels: labels, CreationTimestamp: metav1.NewTime(w.now)},
			Status:     v1alpha1.AnalysisRunStatus{Phase: v1alpha1.AnalysisPhasePending},
		}
	}
	for _, name := range plan.TerminateRuns {
		if r := w.analysisRuns[name]; r != nil {
			r.Spec.Terminate = true
			r.Status.Phase = v1alpha1.AnalysisPhaseSuccessful
		}
	}
	for _, name := range plan.DeleteRuns {
		delete(w.analysisRuns, name)
	}
}

// advanceRuns moves the runs' phases by the scenario's script.
func (w *world) advanceRuns() {
	for _, r := range w.analysisRuns {
		if r.Spec.Terminate || w.outcome == nil || analysis.Completed(r.Status.Phase) {
			continue
		}
		r.Status.Phase = w.outcome(r, w.now.Sub(r.CreationTimestamp.Time))
		if r.Status.Phase == v1alpha1.AnalysisPhaseFailed {
			r.Status.Message = `metric "success-rate" assessed Failed: 4 failed measurements, more than failureLimit 3`
		}
		if r.Status.Phase == v1alpha1.AnalysisPhaseError {
			r.Status.Message = `metric "success-rate" assessed Error: 5 errors in a row, more than consecutiveErrorLimit 4`
		}
		if r.Status.Phase == v1alpha1.AnalysisPhaseInconclusive {
			r.Status.Message = `metric "success-rate" assessed Inconclusive: 1 inconclusive measurements, more than inconclusiveLimit 0`
		}
	}
}

// script is an AnalysisRun controller: runs of a kind end in a phase after
// some seconds (Running until then); kinds not listed run until terminated.
// A kind may be "Step-2" for one step, or "Background.1" for a retry's run.
type script map[string]struct {
	after int
	phase v1alpha1.AnalysisPhase
}

func (s script) outcome(r *v1alpha1.AnalysisRun, age time.Duration) v1alpha1.AnalysisPhase {
	kind := r.Labels[RunTypeLabel]
	keys := []string{kind}
	if i := r.Labels[RunStepIndexLabel]; i != "" {
		keys = append([]string{kind + "-" + i}, keys...)
	}
	if dot := strings.LastIndex(r.Name, "."); dot >= 0 {
		keys = append([]string{kind + r.Name[dot:]}, keys...)
	}
	for _, k := range keys {
		if o, ok := s[k]; ok {
			if o.phase != "" && age >= time.Duration(o.after)*time.Second {
				return o.phase
			}
			return v1alpha1.AnalysisPhaseRunning
		}
	}
	return v1alpha1.AnalysisPhaseRunning
}

func withAnalysis(ro *v1alpha1.Rollout, startingStep *int32) *v1alpha1.Rollout {
	ro.Spec.Strategy.Canary.Analysis = &v1alpha1.RolloutAnalysisBackground{StartingStep: startingStep,
		RolloutAnalysis: v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "success-rate"}}}}
	return ro
}

func analysisStep() v1alpha1.CanaryStep {
	return v1alpha1.CanaryStep{Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "smoke"}}}}
}

// seed000 is seed 000's rollout: 20/40/60/80 with pauses (10 s here, not
// 2 minutes), analysis in the background from step 2.
func seed000() *v1alpha1.Rollout {
	return withAnalysis(seedRollout(5, weight(20), pauseFor(10), weight(40), pauseFor(10), weight(60), pauseFor(10), weight(80), pauseFor(10)), ptr.To[int32](2))
}

func ok(after int) struct {
	after int
	phase v1alpha1.AnalysisPhase
} {
	return struct {
		after int
		phase v1alpha1.AnalysisPhase
	}{after, v1alpha1.AnalysisPhaseSuccessful}
}

func ends(after int, phase v1alpha1.AnalysisPhase) struct {
	after int
	phase v1alpha1.AnalysisPhase
} {
	return struct {
		after int
		phase v1alpha1.AnalysisPhase
	}{after, phase}
}

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
