package canary

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
)

// Routes are the router's weights: primary and canary, summing to 100.
type Routes struct {
	Primary, Canary int
	// Mirror: the canary also gets a copy of the primary's requests (its
	// answers are dropped).
	Mirror bool
	// Sticky are the session-affinity routes (Plan.Sticky), when the
	// Canary asks for them.
	Sticky *Sticky
}

// Observed is everything a pass reads.
type Observed struct {
	Canary *v1beta1.Canary
	// Target is the Deployment under release; nil when it does not exist.
	Target *appsv1.Deployment
	// Primary is NAME-primary; nil before it is created.
	Primary *appsv1.Deployment
	// TargetHPA is the autoscalerRef's HorizontalPodAutoscaler; nil when
	// there is none or it does not exist.
	TargetHPA *autoscalingv2.HorizontalPodAutoscaler
	// TargetScaledObject is the autoscalerRef's KEDA ScaledObject
	// (keda.sh/v1alpha1); nil when there is none, it does not exist, or
	// the cluster serves no KEDA.
	TargetScaledObject *unstructured.Unstructured
	// Configs are the checksums of the tracked ConfigMaps and Secrets the
	// target reads ("configmap/NAME"), of those that exist and are not
	// excluded by their flagger.app/config-tracking annotation.
	Configs map[string]string
	// Routes are the weights the router holds now (100/0 when it holds
	// none yet). The kubernetes provider has none.
	Routes Routes
	// Templates are the MetricTemplates the metrics name, by
	// "namespace/name"; a missing one is absent.
	Templates map[string]*v1beta1.MetricTemplate
	// Results are the answers of the checks run this pass, by Check.ID.
	Results map[string]Result
	// DefaultProvider and MetricsServer are the controller's defaults.
	DefaultProvider string
	MetricsServer   string
	// SelectorLabels are the labels that name a workload (default
	// DefaultSelectorLabels).
	SelectorLabels []string
	Now            time.Time
}

// Event is one Kubernetes event on the Canary.
type Event struct {
	Type    string
	Message string
}

// Plan is what a pass writes, in this order: primary configs, primary,
// primary HPA, Services, target replicas, router objects and Routes, the
// status, then Events and the After hooks.
type Plan struct {
	// Run lists checks whose answers this pass needs. When it is set,
	// nothing else is: run them, add their Results, and Decide again.
	Run []Check

	// PrimaryConfigs are tracked configs to copy to their -primary names.
	PrimaryConfigs []string
	// Primary is created, or updated to this spec, when set.
	Primary *appsv1.Deployment
	// PrimaryHPA is created or updated to this spec when set.
	PrimaryHPA *autoscalingv2.HorizontalPodAutoscaler
	// PrimaryScaledObject is created or updated to this spec when set.
	PrimaryScaledObject *unstructured.Unstructured
	// PauseTargetScaler pauses (true) or resumes (false) the target's
	// ScaledObject, through KEDA's paused-replicas annotation, as the
	// target is scaled to zero or up; nil leaves it.
	PauseTargetScaler *bool
	// Services are made to match (ports, selector, labels, annotations).
	Services []*corev1.Service
	// TargetReplicas scales the target when set.
	TargetReplicas *int32
	// Router: reconcile the router's objects (they keep their weights).
	Router bool
	// Routes are written to the router when set.
	Routes *Routes
	// Sticky are the session-affinity routes for the weight in force after
	// this pass; the router's objects and Routes are both written with
	// them.
	Sticky *Sticky
	// Status replaces the Canary's status when set.
	Status *v1beta1.CanaryStatus
	Events []Event
	// Alerts are sent to the Canary's alert providers after the events.
	Alerts []Alert
	// After are webhooks to call once the status is written; their
	// answers change nothing (post-rollout).
	After []Check
	// Finalizer adds (true) or removes (false) FinalizerName; nil leaves
	// it. It is added before the status is written, removed after.
	Finalizer *bool
	// RequeueAfter: look again after this long, or on the next change.
	RequeueAfter time.Duration
}

// decider carries one pass's decisions.
type decider struct {
	o        *Observed
	c        *v1beta1.Canary
	a        *v1beta1.CanaryAnalysis
	provider string
	name     string // "canary.namespace"
	target   string // "target.namespace"
	label    string
	value    string
	p        Plan
	status   v1beta1.CanaryStatus
	asked    bool
	hash     string // the target's SpecHash, once computed
}

// targetHash is the target's pod template hash, computed once a pass (a
// dump of the whole template).
func (d *decider) targetHash() string {
	if d.hash == "" {
		d.hash = SpecHash(d.o.Target.Spec.Template)
	}
	return d.hash
}

// Decide plans one pass over a Canary.
func Decide(o Observed) Plan {
	c := o.Canary
	d := &decider{o: &o, c: c, a: analysis(c), provider: Provider(c, o.DefaultProvider),
		name: key(c.Name, c.Namespace), target: key(c.Spec.TargetRef.Name, c.Namespace)}
	d.status = *c.Status.DeepCopy()
	if len(d.o.SelectorLabels) == 0 {
		d.o.SelectorLabels = DefaultSelectorLabels
	}
	d.decide()
	if d.asked {
		return Plan{Run: d.p.Run}
	}
	// KEDA scales the target while its ScaledObject runs: it is paused
	// whenever the target goes to zero and resumed when it comes back.
	if d.o.TargetScaledObject != nil && d.p.TargetReplicas != nil {
		d.p.PauseTargetScaler = ptr.To(*d.p.TargetReplicas == 0)
	}
	if (d.p.Router || d.p.Routes != nil) && d.o.Target != nil {
		weight := d.o.Routes.Canary
		if d.p.Routes != nil {
			weight = d.p.Routes.Canary
		}
		d.p.Sticky = d.sticky(weight)
	}
	if !equality.Semantic.DeepEqual(d.status, c.Status) {
		d.p.Status = &d.status
	}
	return d.p
}

func (d *decider) info(format string, args ...any) {
	d.p.Events = append(d.p.Events, Event{Type: corev1.EventTypeNormal, Message: fmt.Sprintf(format, args...)})
}

// Alert is a message for the Canary's alert providers.
type Alert struct {
	Message  string
	Severity v1beta1.AlertSeverity
	Fields   []AlertField
}

// AlertField is a name and value shown under an alert.
type AlertField struct {
	Name, Value string
}

// alert queues a message for the alert providers whose severity admits it;
// with metadata, the Canary's target, threshold, deadline and routing come
// along as fields (Flagger's).
func (d *decider) alert(message string, metadata bool, severity v1beta1.AlertSeverity) {
	a := Alert{Message: message, Severity: severity}
	if metadata {
		a.Fields = alertFields(d.c)
	}
	d.p.Alerts = append(d.p.Alerts, a)
}

func alertFields(c *v1beta1.Canary) []AlertField {
	an := analysis(c)
	kind := c.Spec.TargetRef.Kind
	if kind == "" {
		kind = "Deployment"
	}
	fields := []AlertField{
		{Name: "Target", Value: fmt.Sprintf("%s/%s.%s", kind, c.Spec.TargetRef.Name, c.Namespace)},
		{Name: "Failed checks threshold", Value: fmt.Sprint(Threshold(c))},
		{Name: "Progress deadline", Value: fmt.Sprintf("%vs", int(ProgressDeadline(c).Seconds()))},
	}
	switch {
	case an.StepWeight > 0:
		fields = append(fields, AlertField{Name: "Traffic routing", Value: fmt.Sprintf("Weight step: %v max: %v", an.StepWeight, an.MaxWeight)})
	case len(an.StepWeights) > 0:
		ws := make([]string, len(an.StepWeights))
		for i, w := range an.StepWeights {
			ws[i] = fmt.Sprint(w)
		}
		fields = append(fields, AlertField{Name: "Traffic routing", Value: fmt.Sprintf("Weight steps: %s max: %v", strings.Join(ws, ","), an.MaxWeight)})
	case len(an.Match) > 0:
		fields = append(fields, AlertField{Name: "Traffic routing", Value: "A/B Testing"})
	case an.Iterations > 0:
		fields = append(fields, AlertField{Name: "Traffic routing", Value: "Blue/Green"})
	}
	return fields
}

// AlertWanted says whether an alert of this severity goes to a provider
// asking for minimum: info (or unset) takes all, warn takes warn and
// error, error only error.
func AlertWanted(minimum, severity v1beta1.AlertSeverity) bool {
	switch minimum {
	case "", v1beta1.SeverityInfo:
		return true
	case v1beta1.SeverityWarn:
		return severity == v1beta1.SeverityWarn || severity == v1beta1.SeverityError
	}
	return severity == minimum
}

func (d *decider) warn(format string, args ...any) {
	d.p.Events = append(d.p.Events, Event{Type: corev1.EventTypeWarning, Message: fmt.Sprintf(format, args...)})
}

// setPhase moves to phase as Flagger's phase change does: weight and
// iterations are cleared outside Progressing and Waiting (WaitingPromotion
// keeps iterations one short of the end), lastPromotedSpec follows
// lastAppliedSpec at Initialized and Succeeded, and the Promoted condition
// follows.
func (d *decider) setPhase(phase v1beta1.CanaryPhase) {
	s := &d.status
	s.Phase = phase
	if phase != v1beta1.PhaseProgressing && phase != v1beta1.PhaseWaiting {
		s.CanaryWeight, s.Iterations = 0, 0
		if phase == v1beta1.PhaseWaitingPromotion {
			s.Iterations = d.a.Iterations - 1
		}
	}
	if phase == v1beta1.PhaseInitialized || phase == v1beta1.PhaseSucceeded {
		s.LastPromotedSpec = s.LastAppliedSpec
	}
	d.touch()
}

// sync records a new start of the status: phase, weight, checks and
// iterations as given, the target's spec hash and configs as they are now.
func (d *decider) sync(phase v1beta1.CanaryPhase, weight, failed, iterations int) {
	s := &d.status
	s.Phase, s.CanaryWeight, s.FailedChecks, s.Iterations = phase, weight, failed, iterations
	s.Judge = nil // a new start is a new test
	s.LastAppliedSpec = d.targetHash()
	if phase == v1beta1.PhaseInitialized {
		s.LastPromotedSpec = s.LastAppliedSpec
	}
	cfg := maps.Clone(d.o.Configs)
	if cfg == nil {
		cfg = map[string]string{}
	}
	s.TrackedConfigs = &cfg
	d.touch()
}

// touch records a tick: the time of the last status change, which also
// schedules the next tick.
func (d *decider) touch() {
	d.status.LastTransitionTime = metav1.NewTime(d.o.Now)
	d.promoted()
}

// promoted sets the Promoted condition for the current phase.
func (d *decider) promoted() {
	phase := d.status.Phase
	kind := d.c.Spec.TargetRef.Kind
	if kind == "" {
		kind = "Deployment"
	}
	status, msg := corev1.ConditionUnknown, fmt.Sprintf("New %s detected, starting initialization.", kind)
	switch phase {
	case v1beta1.PhaseInitialized:
		status, msg = corev1.ConditionTrue, kind+" initialization completed."
	case v1beta1.PhaseWaiting, v1beta1.PhaseWaitingPromotion:
		msg = "Waiting for approval."
	case v1beta1.PhaseProgressing:
		msg = "New revision detected, progressing canary analysis."
	case v1beta1.PhasePromoting:
		msg = "Canary analysis completed, starting primary rolling update."
	case v1beta1.PhaseFinalising:
		msg = "Canary analysis completed, routing all traffic to primary."
	case v1beta1.PhaseSucceeded:
		status, msg = corev1.ConditionTrue, "Canary analysis completed successfully, promotion finished."
	case v1beta1.PhaseFailed:
		status, msg = corev1.ConditionFalse, fmt.Sprintf("Canary analysis failed, %s scaled to zero.", kind)
	}
	now := metav1.NewTime(d.o.Now)
	var cur *v1beta1.CanaryCondition
	var rest []v1beta1.CanaryCondition
	for i := range d.status.Conditions {
		if d.status.Conditions[i].Type == v1beta1.PromotedCondition {
			cur = &d.status.Conditions[i]
		} else {
			rest = append(rest, d.status.Conditions[i])
		}
	}
	if cur != nil && cur.Status == string(status) && cur.Reason == string(phase) {
		return
	}
	next := v1beta1.CanaryCondition{Type: v1beta1.PromotedCondition, Status: string(status), Reason: string(phase),
		Message: msg, LastUpdateTime: now, LastTransitionTime: now}
	if cur != nil && cur.Status == next.Status {
		next.LastTransitionTime = cur.LastTransitionTime
	}
	d.status.Conditions = append([]v1beta1.CanaryCondition{next}, rest...)
}

// InvalidSpecCondition is Vireo's condition for a Canary it cannot run.
const InvalidSpecCondition = "InvalidSpec"

func (d *decider) setInvalid(msg string) {
	var out []v1beta1.CanaryCondition
	var cur *v1beta1.CanaryCondition
	for i := range d.status.Conditions {
		if d.status.Conditions[i].Type == InvalidSpecCondition {
			cur = &d.status.Conditions[i]
		} else {
			out = append(out, d.status.Conditions[i])
		}
	}
	if msg != "" {
		if cur != nil && cur.Message == msg {
			out = append(out, *cur)
		} else {
			now := metav1.NewTime(d.o.Now)
			out = append(out, v1beta1.CanaryCondition{Type: InvalidSpecCondition, Status: string(corev1.ConditionTrue),
				Reason: InvalidSpecCondition, Message: msg, LastUpdateTime: now, LastTransitionTime: now})
			d.warn("%s", msg)
		}
	}
	d.status.Conditions = out
}

// due says whether the next analysis tick has come, and if not, when.
func (d *decider) due() (bool, time.Duration) {
	next := d.status.LastTransitionTime.Add(Interval(d.c))
	if d.status.LastTransitionTime.IsZero() || !next.After(d.o.Now) {
		return true, 0
	}
	return false, next.Sub(d.o.Now)
}

// FinalizerName holds a Canary with revertOnDeletion until the target is
// given its traffic back (Flagger's name).
const FinalizerName = "finalizer.flagger.app"

func (d *decider) decide() {
	c := d.c
	has := slices.Contains(c.Finalizers, FinalizerName)
	if c.DeletionTimestamp != nil {
		if has {
			d.terminate()
		}
		return
	}
	switch {
	case c.Spec.RevertOnDeletion && !has:
		d.p.Finalizer = ptr.To(true)
	case !c.Spec.RevertOnDeletion && has:
		d.p.Finalizer = ptr.To(false)
	}
	if errs := Validate(c, d.o.DefaultProvider); len(errs) > 0 {
		d.setInvalid("invalid Canary: " + errs.ToAggregate().Error())
		return
	}
	if c.Spec.Suspend {
		d.setInvalid("")
		d.info("skipping canary run as object is suspended")
		return
	}
	if d.o.Target == nil {
		d.setInvalid("")
		d.warn("deployment %s get query error: not found", d.target)
		return
	}
	label, value, err := SelectorLabel(d.o.Target, d.o.SelectorLabels)
	if err != nil {
		d.setInvalid("invalid Canary: spec.targetRef: " + err.Error())
		return
	}
	d.setInvalid("")
	d.label, d.value = label, value
	if d.status.Phase == "" {
		d.status.Phase = v1beta1.PhaseInitializing
		d.touch()
	}
	d.p.RequeueAfter = Interval(c)

	// The primary and its Services exist from the start.
	if d.o.Primary == nil {
		d.p.PrimaryConfigs = sortedKeys(d.o.Configs)
		d.p.Primary = PrimaryDeployment(c, d.o.Target, nil, label, value, d.o.Configs, d.promotionID())
	}
	if c.Spec.AutoscalerRef != nil && d.o.TargetHPA != nil {
		d.p.PrimaryHPA = PrimaryHPA(c, d.o.TargetHPA)
		defer d.holdPrimaryScale()
	}
	if c.Spec.AutoscalerRef != nil && d.o.TargetScaledObject != nil {
		d.p.PrimaryScaledObject = PrimaryScaledObject(c, d.o.TargetScaledObject)
	}
	initializing := d.status.Phase == v1beta1.PhaseInitializing
	if initializing {
		d.p.Services = Services(c, d.o.Target, label, value, false)
		if !SkipAnalysis(c) && !d.providersOnline() {
			return
		}
		if d.o.Primary == nil {
			return // look again when the primary reports
		}
		if !SkipAnalysis(c) {
			r := DeploymentReadiness(d.o.Primary, ProgressDeadline(c), d.readyThreshold(true), d.o.Now)
			if !r.Ready {
				d.warn("%s not ready: %s", key(d.o.Primary.Name, c.Namespace), r.Reason)
				return
			}
		}
	}
	d.p.Services = Services(c, d.o.Target, label, value, true)
	d.p.Router = d.provider != KubernetesProvider
	if initializing {
		d.p.TargetReplicas = ptr.To[int32](0)
		d.sync(v1beta1.PhaseInitialized, 0, 0, 0)
		d.info("Initialization done! %s", d.name)
		d.alert(fmt.Sprintf("New %s detected, initialization completed.", targetKind(c)), true, v1beta1.SeverityInfo)
		return
	}
	d.advance()
}

// onlineQuery is the query that tells a Prometheus is up: it answers 1.
const onlineQuery = "vector(1)"

// providersOnline checks, while initializing, that each metric's provider
// answers, and says so in an event (Flagger's words, spelling included).
// It returns false when it asked for checks.
func (d *decider) providersOnline() bool {
	for i := range d.a.Metrics {
		m := &d.a.Metrics[i]
		var q *MetricQuery
		var fail string
		switch {
		case m.TemplateRef == nil && m.Query == "" && slices.Contains(BuiltinMetrics, m.Name):
			mq, _ := d.metricQuery(m)
			q = &MetricQuery{Name: m.Name, Query: onlineQuery, Provider: mq.Provider, Namespace: mq.Namespace}
			fail = "prometheus not avaiable: %s"
		case m.TemplateRef != nil:
			ns := m.TemplateRef.Namespace
			if ns == "" {
				ns = d.c.Namespace
			}
			t := d.o.Templates[ns+"/"+m.TemplateRef.Name]
			if t == nil {
				d.warn("Error checking metric providers: metric template %s error: not found", key(m.TemplateRef.Name, ns))
				return true
			}
			if t.Spec.Provider.Type != "prometheus" {
				continue
			}
			q = &MetricQuery{Name: m.Name, Query: onlineQuery, Provider: t.Spec.Provider, Namespace: ns}
			fail = fmt.Sprintf("%s in metric template %s not avaiable: ", t.Spec.Provider.Type, key(t.Name, ns)) + "%s"
		default:
			continue
		}
		id := "online/" + m.Name
		r, ok := d.o.Results[id]
		if !ok {
			d.p.Run = append(d.p.Run, Check{ID: id, Kind: MetricCheck, Metric: q})
			d.asked = true
			return false
		}
		if !r.OK || r.Value != 1 {
			why := r.Err
			if r.OK {
				why = "value is not 1 for query: " + onlineQuery
			}
			d.warn("Error checking metric providers: "+fail, why)
			return true
		}
	}
	d.info("all the metrics providers are available!")
	return true
}

// holdPrimaryScale: beyond Flagger (fluxcd/flagger#1600), while the
// primary takes over the canary's load (Promoting, Finalising), its
// autoscaler's minimum is raised to the canary's current replicas, so the
// promoted primary does not start at the autoscaler's minimum and scale up
// under the full load. Once Succeeded, the minimum is the target's again.
func (d *decider) holdPrimaryScale() {
	switch d.status.Phase {
	case v1beta1.PhasePromoting, v1beta1.PhaseFinalising:
	default:
		return
	}
	h := d.p.PrimaryHPA
	n := d.o.Target.Status.Replicas
	if n <= ptr.Deref(h.Spec.MinReplicas, 1) {
		return
	}
	h.Spec.MinReplicas = ptr.To(min(n, h.Spec.MaxReplicas))
}

func targetKind(c *v1beta1.Canary) string {
	if c.Spec.TargetRef.Kind == "" {
		return "Deployment"
	}
	return c.Spec.TargetRef.Kind
}

func (d *decider) readyThreshold(primary bool) int {
	v := d.a.CanaryReadyThreshold
	if primary {
		v = d.a.PrimaryReadyThreshold
	}
	if v != nil {
		return *v
	}
	return DefaultReadyThreshold
}

// terminate gives a deleted Canary's target its traffic back
// (revertOnDeletion): Terminating, the target scaled up to the primary's
// size, the apex Service selecting the target's pods; once the target is
// ready, Terminated and the finalizer removed. The primary, the other
// Services and the router's objects then go with the Canary.
func (d *decider) terminate() {
	c, s := d.c, &d.status
	if s.Phase == v1beta1.PhaseTerminated {
		d.p.Finalizer = ptr.To(false)
		return
	}
	if s.Phase != v1beta1.PhaseTerminating {
		d.setPhase(v1beta1.PhaseTerminating)
		d.info("Terminating canary %s", d.name)
	}
	if d.o.Target == nil {
		d.setPhase(v1beta1.PhaseTerminated)
		d.p.Finalizer = ptr.To(false)
		return
	}
	label, value, err := SelectorLabel(d.o.Target, d.o.SelectorLabels)
	if err != nil {
		d.setPhase(v1beta1.PhaseTerminated)
		d.p.Finalizer = ptr.To(false)
		return
	}
	if ptr.Deref(d.o.Target.Spec.Replicas, 1) == 0 {
		n := int32(1)
		if p := d.o.Primary; p != nil && ptr.Deref(p.Spec.Replicas, 0) > 0 {
			n = *p.Spec.Replicas
		}
		d.p.TargetReplicas = ptr.To(n)
		d.p.RequeueAfter = 3 * time.Second
		return
	}
	r := DeploymentReadiness(d.o.Target, ProgressDeadline(c), d.readyThreshold(false), d.o.Now)
	if !r.Ready && r.Retriable {
		d.p.RequeueAfter = 3 * time.Second
		return
	}
	apex, _, _ := ServiceNames(c)
	for _, svc := range Services(c, d.o.Target, label, value, true) {
		if svc.Name == apex {
			svc.Spec.Selector = map[string]string{label: value}
			d.p.Services = []*corev1.Service{svc}
		}
	}
	d.setPhase(v1beta1.PhaseTerminated)
	d.p.Finalizer = ptr.To(false)
}

// promotionID changes at every promotion and stays the same between.
func (d *decider) promotionID() string {
	return hashOf(struct{ UID, Spec string }{string(d.c.UID), d.targetHash()})
}

// changed: the target's pod template or a tracked config differs from the
// last one recorded.
func (d *decider) changed() bool {
	s := &d.c.Status
	if d.targetHash() != s.LastAppliedSpec {
		return true
	}
	var had map[string]string
	if s.TrackedConfigs != nil {
		had = *s.TrackedConfigs
	}
	for k, v := range d.o.Configs {
		if had[k] != v {
			return true
		}
	}
	return false
}

func (d *decider) analysing() bool {
	switch d.status.Phase {
	case v1beta1.PhaseProgressing, v1beta1.PhaseWaiting, v1beta1.PhaseWaitingPromotion, v1beta1.PhasePromoting, v1beta1.PhaseFinalising:
		return true
	}
	return false
}

// maxChecks is how many checks status.checks keeps.
const maxChecks = 10

// record keeps a check's outcome in status.checks (Vireo's own field).
func (d *decider) record(name, kind, value string, passed bool, msg string) {
	c := v1beta1.CanaryCheck{Name: name, Kind: kind, Value: value, Passed: passed, Message: msg, Time: metav1.NewTime(d.o.Now)}
	d.status.Checks = append(d.status.Checks, c)
	if n := len(d.status.Checks); n > maxChecks {
		d.status.Checks = append([]v1beta1.CanaryCheck(nil), d.status.Checks[n-maxChecks:]...)
	}
}

// manual carries out a person's abort or promotion (status.abort,
// status.promoteFull) at once, and says whether it did.
func (d *decider) manual() bool {
	s := &d.status
	active := s.Phase == v1beta1.PhaseProgressing || s.Phase == v1beta1.PhaseWaiting || s.Phase == v1beta1.PhaseWaitingPromotion
	switch {
	case s.Abort && active:
		d.warn("Rolling back %s aborted by a person", d.name)
		d.alert("Canary aborted by a person", false, v1beta1.SeverityError)
		d.rollback()
		s.Abort = false
		return true
	case s.PromoteFull && active:
		d.info("Promoting %s at once: the rest of the analysis was skipped by a person", d.name)
		d.promote()
		s.PromoteFull = false
		return true
	case (s.Abort || s.PromoteFull) && !active && s.Phase != v1beta1.PhasePromoting && s.Phase != v1beta1.PhaseFinalising:
		// Nothing to abort or promote: the request lapses.
		s.Abort, s.PromoteFull = false, false
	}
	return false
}

func (d *decider) advance() {
	c, s := d.c, &d.status
	if d.manual() {
		return
	}
	if !d.analysing() && !d.changed() {
		if len(d.o.Configs) == 0 {
			// Nothing to do until the target changes (a watched write).
			// Tracked configs are not watched: they are read each interval.
			d.p.RequeueAfter = 0
		}
		return
	}
	// A new revision during the analysis starts it again, at once.
	if (s.Phase == v1beta1.PhaseProgressing || s.Phase == v1beta1.PhaseWaitingPromotion) && d.changed() {
		d.info("New revision detected! Restarting analysis for %s", d.target)
		d.p.Routes = &Routes{Primary: TotalWeight}
		d.sync(v1beta1.PhaseProgressing, 0, 0, 0)
		return
	}
	// Starting a new analysis (or waiting to) happens as soon as the
	// change is seen; every later step waits for its tick.
	ticking := s.Phase != v1beta1.PhaseInitialized && s.Phase != v1beta1.PhaseSucceeded && s.Phase != v1beta1.PhaseFailed
	if ticking {
		if ok, wait := d.due(); !ok {
			d.p.RequeueAfter = wait
			return
		}
	}
	if !SkipAnalysis(c) && d.o.Primary != nil {
		r := DeploymentReadiness(d.o.Primary, ProgressDeadline(c), d.readyThreshold(true), d.o.Now)
		if !r.Ready {
			d.warn("%s not ready: %s", key(d.o.Primary.Name, c.Namespace), r.Reason)
			if !r.Retriable {
				d.rollback()
				return
			}
			d.touch()
			return
		}
	}
	if !ticking || s.Phase == v1beta1.PhaseWaiting {
		d.start()
		return
	}
	r := DeploymentReadiness(d.o.Target, ProgressDeadline(c), d.readyThreshold(false), d.o.Now)
	if !r.Ready {
		d.warn("canary deployment %s not ready: %s", d.target, r.Reason)
		if !r.Retriable {
			d.alert(fmt.Sprintf("Progress deadline exceeded canary deployment %s not ready: %s", d.target, r.Reason), false, v1beta1.SeverityError)
			d.rollback()
			return
		}
		d.touch()
		return
	}
	if SkipAnalysis(c) {
		d.skip()
		return
	}
	if s.Phase == v1beta1.PhaseProgressing || s.Phase == v1beta1.PhaseWaitingPromotion {
		rollback, ok := d.rollbackHooks()
		if !ok {
			return
		}
		if rollback {
			d.warn("Rolling back %s manual webhook invoked", d.name)
			d.alert("Rolling back manual webhook invoked", false, v1beta1.SeverityWarn)
			d.rollback()
			return
		}
	}
	switch s.Phase {
	case v1beta1.PhasePromoting:
		d.shiftToPrimary()
		return
	case v1beta1.PhaseFinalising:
		d.p.TargetReplicas = ptr.To[int32](0)
		d.setPhase(v1beta1.PhaseSucceeded)
		d.postRollout(v1beta1.PhaseSucceeded)
		d.info("Promotion completed! Scaling down %s", d.target)
		d.alert("Canary analysis completed successfully, promotion finished.", false, v1beta1.SeverityInfo)
		return
	}
	if s.FailedChecks >= Threshold(c) {
		d.rollback()
		return
	}
	d.touch()
	weight := d.o.Routes.Canary
	if d.provider == KubernetesProvider {
		weight = 0
	}
	if weight == 0 && s.Iterations == 0 && !(d.a.Mirror && d.o.Routes.Mirror) {
		d.info("Starting canary analysis for %s", d.target)
		ok, answered := d.runHooks(v1beta1.HookPreRollout, v1beta1.PhaseProgressing, "Pre-rollout check %s passed",
			"Halt %s advancement pre-rollout check %s failed %s")
		if !answered {
			return
		}
		if !ok {
			// Beyond Flagger (fluxcd/flagger#1663): a failed pre-rollout
			// check is an alert, not only an event.
			d.alert(d.p.Events[len(d.p.Events)-1].Message, false, v1beta1.SeverityWarn)
			s.FailedChecks++
			return
		}
	} else {
		ok, answered := d.runAnalysis()
		if !answered {
			return
		}
		if !ok {
			s.FailedChecks++
			return
		}
	}
	iterations := d.a.Iterations
	if d.provider == KubernetesProvider {
		if len(d.a.Match) > 0 {
			d.warn("A/B testing is not supported when using the kubernetes provider")
		}
		if iterations < 1 {
			d.warn("Progressive traffic is not supported when using the kubernetes provider")
			d.warn("Setting canaryAnalysis.iterations: 10")
			iterations = 10
		}
		d.blueGreen(iterations)
		return
	}
	switch {
	case len(d.a.Match) > 0 && iterations > 0:
		d.abTest(iterations)
	case iterations > 0:
		d.blueGreen(iterations)
	default:
		d.progressive(weight)
	}
}

// start begins an analysis of a new revision, behind the confirm-rollout
// gates.
func (d *decider) start() {
	s := &d.status
	for i := range d.a.Webhooks {
		h := &d.a.Webhooks[i]
		if h.Type != v1beta1.HookConfirmRollout {
			continue
		}
		r, ok := d.ask(h, s.Phase)
		if !ok {
			return
		}
		if !r.OK {
			if s.Phase != v1beta1.PhaseWaiting {
				d.setPhase(v1beta1.PhaseWaiting)
				d.warn("Halt %s advancement waiting for approval %s", d.name, h.Name)
				if !h.MuteAlert {
					d.alert("Canary is waiting for approval.", false, v1beta1.SeverityWarn)
				}
			} else {
				d.touch()
			}
			return
		}
		d.info("Confirm-rollout check %s passed", h.Name)
	}
	d.info("New revision detected! Scaling up %s", d.target)
	d.alert("New revision detected, progressing canary analysis.", true, v1beta1.SeverityInfo)
	d.p.TargetReplicas = ptr.To(d.scaleFromZero())
	d.sync(v1beta1.PhaseProgressing, 0, 0, 0)
}

// scaleFromZero is the target's size for an analysis: its own replicas,
// else the primary's (no autoscaler) or the HPA's minimum.
func (d *decider) scaleFromZero() int32 {
	t := d.o.Target
	if t.Spec.Replicas != nil && *t.Spec.Replicas > 0 {
		return *t.Spec.Replicas
	}
	n := int32(1)
	switch {
	case d.c.Spec.AutoscalerRef == nil:
		if p := d.o.Primary; p != nil && p.Spec.Replicas != nil && *p.Spec.Replicas > 0 {
			n = *p.Spec.Replicas
		}
	case d.o.TargetHPA != nil:
		if m := d.o.TargetHPA.Spec.MinReplicas; m != nil && *m > 1 {
			n = *m
		}
	case d.o.TargetScaledObject != nil:
		if m, ok, _ := unstructured.NestedInt64(d.o.TargetScaledObject.Object, "spec", "minReplicaCount"); ok && m > 1 {
			n = int32(m)
		}
	}
	return n
}

// ask returns a hook's answer, or asks for it.
func (d *decider) ask(h *v1beta1.CanaryWebhook, phase v1beta1.CanaryPhase) (Result, bool) {
	id := hookID(h, phase)
	if r, ok := d.o.Results[id]; ok {
		return r, true
	}
	d.p.Run = append(d.p.Run, Check{ID: id, Kind: HookCheck, Hook: h, Phase: phase})
	d.asked = true
	return Result{}, false
}

// runHooks calls the hooks of one type in order until one fails.
func (d *decider) runHooks(t v1beta1.HookType, phase v1beta1.CanaryPhase, passed, failed string) (ok, answered bool) {
	for i := range d.a.Webhooks {
		h := &d.a.Webhooks[i]
		if h.Type != t && !(t == v1beta1.HookRollout && h.Type == "") {
			continue
		}
		r, answered := d.ask(h, phase)
		if !answered {
			return false, false
		}
		d.record(h.Name, "webhook", "", r.OK, errText(r.Err))
		if !r.OK {
			d.warn(failed, d.name, h.Name, errText(r.Err))
			return false, true
		}
		if passed != "" {
			d.info(passed, h.Name)
		}
	}
	return true, true
}

// rollbackHooks: a rollback hook that passes asks for a rollback.
func (d *decider) rollbackHooks() (rollback, answered bool) {
	for i := range d.a.Webhooks {
		h := &d.a.Webhooks[i]
		if h.Type != v1beta1.HookRollback {
			continue
		}
		r, ok := d.ask(h, d.status.Phase)
		if !ok {
			return false, false
		}
		if r.OK {
			d.warn("Rolling back check %s passed", h.Name)
			return true, true
		}
		d.info("Rollback hook %s not signaling a rollback", h.Name)
	}
	return false, true
}

// runAnalysis: the rollout hooks, then every metric, stopping at the first
// failure.
func (d *decider) runAnalysis() (ok, answered bool) {
	if ok, answered := d.runHooks(v1beta1.HookRollout, v1beta1.PhaseProgressing, "",
		"Halt %s advancement external check %s failed %s"); !answered || !ok {
		return ok, answered
	}
	// Built-in metrics and inline queries first, then templates.
	for _, templated := range []bool{false, true} {
		for i := range d.a.Metrics {
			m := &d.a.Metrics[i]
			if (m.TemplateRef != nil) != templated {
				continue
			}
			q, msg := d.metricQuery(m)
			if msg != "" {
				d.warn("%s", msg)
				return false, true
			}
			id := metricID(m)
			r, ok := d.o.Results[id]
			if !ok {
				d.p.Run = append(d.p.Run, Check{ID: id, Kind: MetricCheck, Metric: q})
				d.asked = true
				return false, false
			}
			var pass bool
			var why, value string
			if q.Provider.Type == JudgeProvider {
				pass, why, value = d.judgeCheck(m, q, r)
			} else {
				pass, why = judgeMetric(d.c, m, d.provider, r)
				if r.OK {
					value = strconv.FormatFloat(r.Value, 'g', 6, 64)
				}
			}
			d.record(m.Name, "metric", value, pass, why)
			if !pass {
				d.warn("%s", why)
				return false, true
			}
		}
	}
	return true, true
}

// metricQuery renders a metric's query; msg says why it cannot be run.
func (d *decider) metricQuery(m *v1beta1.CanaryMetric) (*MetricQuery, string) {
	model := ModelFor(d.c, m)
	if m.TemplateRef != nil {
		ns := m.TemplateRef.Namespace
		if ns == "" {
			ns = d.c.Namespace
		}
		t := d.o.Templates[ns+"/"+m.TemplateRef.Name]
		if t == nil {
			return nil, fmt.Sprintf("Metric template %s error: not found", key(m.TemplateRef.Name, ns))
		}
		q, err := Render(t.Spec.Query, model)
		if err != nil {
			return nil, fmt.Sprintf("Metric template %s query render error: %v", key(m.TemplateRef.Name, ns), err)
		}
		return &MetricQuery{Name: m.Name, Query: q, Provider: t.Spec.Provider, Namespace: ns, Interval: model.Interval, CanaryNamespace: d.c.Namespace}, ""
	}
	query := m.Query
	if query == "" {
		byProvider, ok := BuiltinQueries[d.provider]
		switch {
		case strings.HasPrefix(d.provider, "gatewayapi"):
			byProvider = BuiltinQueries[KubernetesProvider]
		case !ok:
			byProvider = BuiltinQueries["istio"]
		}
		query = byProvider[m.Name]
	}
	q, err := Render(query, model)
	if err != nil {
		return nil, fmt.Sprintf("Metric %s query render error: %v", m.Name, err)
	}
	server := d.c.Spec.MetricsServer
	if server == "" {
		server = d.o.MetricsServer
	}
	return &MetricQuery{Name: m.Name, Query: q, Namespace: d.c.Namespace,
		Provider: v1beta1.MetricTemplateProvider{Type: "prometheus", Address: server}}, ""
}

// progressive moves the canary's weight up by a step, or promotes at the top.
func (d *decider) progressive(weight int) {
	s := &d.status
	step := NextStep(d.c, weight)
	if step <= 0 {
		return
	}
	mirrored := d.o.Routes.Mirror
	if s.Phase != v1beta1.PhaseWaitingPromotion && !mirrored {
		for i := range d.a.Webhooks {
			h := &d.a.Webhooks[i]
			if h.Type != v1beta1.HookConfirmTrafficIncrease {
				continue
			}
			r, ok := d.ask(h, v1beta1.PhaseProgressing)
			if !ok {
				return
			}
			if !r.OK {
				d.warn("Halt %s advancement waiting for traffic increase approval %s", d.name, h.Name)
				if !h.MuteAlert {
					d.alert("Canary traffic increase is waiting for approval.", false, v1beta1.SeverityWarn)
				}
				return
			}
			d.info("Confirm-traffic-increase check %s passed", h.Name)
		}
	}
	if weight < MaxWeight(d.c) {
		next := min(weight+step, TotalWeight)
		if d.a.Mirror && weight == 0 && !mirrored {
			// The first step of a mirrored canary only copies requests.
			next = 0
		}
		d.p.Routes = &Routes{Primary: max(TotalWeight-next, 0), Canary: next, Mirror: d.a.Mirror && weight == 0 && !mirrored}
		s.CanaryWeight = next
		d.info("Advance %s canary weight %v", d.name, next)
		return
	}
	if !d.confirmPromotion() {
		return
	}
	d.promote()
}

// abTest routes the matched requests to the canary for the iterations.
func (d *decider) abTest(iterations int) {
	s := &d.status
	if iterations > s.Iterations {
		d.p.Routes = &Routes{Canary: TotalWeight}
		s.Iterations++
		d.info("Advance %s canary iteration %v/%v", d.name, s.Iterations, iterations)
		return
	}
	if !d.confirmPromotion() {
		return
	}
	if iterations == s.Iterations {
		d.promote()
	}
}

// blueGreen counts the iterations with the canary behind its own Service,
// then routes everything to it for one more, then promotes.
func (d *decider) blueGreen(iterations int) {
	s := &d.status
	if iterations > s.Iterations {
		if d.provider != KubernetesProvider && d.a.Mirror && !d.o.Routes.Mirror {
			// Blue-green mirrors the requests through every iteration.
			d.p.Routes = &Routes{Primary: TotalWeight, Mirror: true}
		}
		s.Iterations++
		d.info("Advance %s canary iteration %v/%v", d.name, s.Iterations, iterations)
		return
	}
	if !d.confirmPromotion() {
		return
	}
	if iterations == s.Iterations {
		if d.provider != KubernetesProvider {
			if d.a.Mirror {
				d.info("Stop traffic mirroring and route all traffic to canary")
			} else {
				d.info("Routing all traffic to canary")
			}
			d.p.Routes = &Routes{Canary: TotalWeight}
		}
		s.Iterations++
		return
	}
	if iterations < s.Iterations {
		d.promote()
	}
}

// confirmPromotion runs the confirm-promotion gates; a closed gate holds the
// canary in WaitingPromotion.
func (d *decider) confirmPromotion() bool {
	s := &d.status
	for i := range d.a.Webhooks {
		h := &d.a.Webhooks[i]
		if h.Type != v1beta1.HookConfirmPromotion {
			continue
		}
		r, ok := d.ask(h, v1beta1.PhaseProgressing)
		if !ok {
			return false
		}
		if !r.OK {
			if s.Phase != v1beta1.PhaseWaitingPromotion {
				d.setPhase(v1beta1.PhaseWaitingPromotion)
				d.warn("Halt %s advancement waiting for promotion approval %s", d.name, h.Name)
				if !h.MuteAlert {
					d.alert("Canary promotion is waiting for approval.", false, v1beta1.SeverityWarn)
				}
			} else {
				s.Iterations = d.a.Iterations - 1
			}
			return false
		}
		d.info("Confirm-promotion check %s passed", h.Name)
	}
	return true
}

// promote copies the target to the primary.
func (d *decider) promote() {
	d.info("Copying %s template spec to %s", d.target, key(PrimaryName(d.c), d.c.Namespace))
	d.p.PrimaryConfigs = sortedKeys(d.o.Configs)
	d.p.Primary = PrimaryDeployment(d.c, d.o.Target, d.o.Primary, d.label, d.value, d.o.Configs, d.promotionID())
	d.setPhase(v1beta1.PhasePromoting)
}

// shiftToPrimary moves the traffic back to the primary after promotion:
// at once, or by stepWeightPromotion per tick.
func (d *decider) shiftToPrimary() {
	if d.provider == KubernetesProvider {
		d.setPhase(v1beta1.PhaseFinalising)
		return
	}
	step := d.a.StepWeightPromotion
	if step == 0 {
		d.info("Routing all traffic to primary")
		d.p.Routes = &Routes{Primary: TotalWeight}
		d.setPhase(v1beta1.PhaseFinalising)
		return
	}
	cw := d.o.Routes.Canary
	if cw <= 0 {
		d.touch()
		return
	}
	pw := min(d.o.Routes.Primary+step, TotalWeight)
	cw = max(cw-step, 0)
	d.p.Routes = &Routes{Primary: pw, Canary: cw}
	d.info("Advance %s primary weight %v", d.name, pw)
	if pw == TotalWeight {
		d.setPhase(v1beta1.PhaseFinalising)
		return
	}
	d.status.CanaryWeight = cw
	d.touch()
}

// skip promotes without analysis.
func (d *decider) skip() {
	d.p.Routes = &Routes{Primary: TotalWeight}
	d.info("Copying %s template spec to %s", d.target, key(PrimaryName(d.c), d.c.Namespace))
	d.p.PrimaryConfigs = sortedKeys(d.o.Configs)
	d.p.Primary = PrimaryDeployment(d.c, d.o.Target, d.o.Primary, d.label, d.value, d.o.Configs, d.promotionID())
	d.p.TargetReplicas = ptr.To[int32](0)
	d.setPhase(v1beta1.PhaseSucceeded)
	d.info("Promotion completed! Canary analysis was skipped for %s", d.target)
	d.alert("Canary analysis was skipped, promotion finished.", false, v1beta1.SeverityInfo)
}

// rollback sends all traffic to the primary, scales the canary to zero and
// marks the Canary Failed.
func (d *decider) rollback() {
	s := &d.status
	if s.FailedChecks >= Threshold(d.c) {
		d.warn("Rolling back %s failed checks threshold reached %v", d.name, s.FailedChecks)
		d.alert(fmt.Sprintf("Failed checks threshold reached %v", s.FailedChecks), false, v1beta1.SeverityError)
	}
	d.p.Routes = &Routes{Primary: TotalWeight}
	d.warn("Canary failed! Scaling down %s", d.target)
	d.p.TargetReplicas = ptr.To[int32](0)
	d.sync(v1beta1.PhaseFailed, 0, 0, 0)
	d.postRollout(v1beta1.PhaseFailed)
}

// postRollout queues the post-rollout hooks.
func (d *decider) postRollout(phase v1beta1.CanaryPhase) {
	for i := range d.a.Webhooks {
		h := &d.a.Webhooks[i]
		if h.Type == v1beta1.HookPostRollout {
			d.p.After = append(d.p.After, Check{ID: hookID(h, phase), Kind: HookCheck, Hook: h, Phase: phase})
		}
	}
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
