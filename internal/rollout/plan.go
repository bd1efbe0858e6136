package rollout

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/reasons"
)

// RevisionAnnotation numbers a Rollout's ReplicaSets in the order they became current.
const RevisionAnnotation = "rollout.argoproj.io/revision"

// ManagedByAnnotation marks the Services whose selectors a Rollout manages,
// with the Rollout's name.
const ManagedByAnnotation = "argo-rollouts.argoproj.io/managed-by-rollouts"

// DefaultRevisionHistoryLimit applies when spec.revisionHistoryLimit is unset.
const DefaultRevisionHistoryLimit = 10

// Observed is everything the planner reads about one Rollout.
type Observed struct {
	Rollout *v1alpha1.Rollout
	// ReplicaSets owned by the Rollout.
	ReplicaSets []*appsv1.ReplicaSet
	// Orphans are ReplicaSets that match the Rollout's selector and have no
	// controller: the Rollout adopts them (Argo's, or a Deployment's left
	// behind), and they count as its own from this pass on.
	Orphans []*appsv1.ReplicaSet
	// TakenNames are names of ReplicaSets that exist and are not the
	// Rollout's; the caller learns of one by looking up the name a first
	// Decide wanted to create, then decides again.
	TakenNames map[string]bool
	// Pods of the Rollout's ReplicaSets.
	Pods []*corev1.Pod
	// Workload is the Deployment spec.workloadRef names; nil when there is none
	// or it does not exist.
	Workload *appsv1.Deployment
	// Services the spec names, by name; a name mapped to nil does not exist.
	Services map[string]*corev1.Service
	// ManagedServices are the Services of the namespace that carry
	// ManagedByAnnotation with this Rollout's name, named by the spec or not.
	ManagedServices []*corev1.Service
	// AnalysisRuns owned by the Rollout.
	AnalysisRuns []*v1alpha1.AnalysisRun
	// Experiments owned by the Rollout.
	Experiments []*v1alpha1.Experiment
	// AnalysisErrors are problems with the analysis templates the spec names
	// (missing, conflicting), found by the caller, who reads them.
	AnalysisErrors field.ErrorList
	// TrafficErrors are problems with trafficRouting that only the routers
	// know: a configuration they cannot read, a route they cannot express.
	TrafficErrors field.ErrorList
	Now           time.Time
}

// Event is a Kubernetes Event the applier records on the Rollout.
type Event struct {
	Type    string // corev1.EventTypeNormal or EventTypeWarning
	Reason  string
	Message string
}

// Plan is what the planner decided; the applier carries it out in this
// order, and a write that fails ends the pass (the next pass plans again):
//
//  1. Adopt, then Create;
//  2. when Traffic.First: Services, then the routers;
//  3. the status, once, conditional on the Rollout as it was read;
//  4. Services and ReleaseServices; the routers unless they went first;
//  5. ReplicaSets (annotations, scale, template metadata in one patch
//     each), PodMetadata, ScaleWorkload, Delete;
//  6. AnalysisRuns, Experiments, evictions;
//  7. Events.
//
// If Create fails because another object holds the name (a hash collision),
// the applier writes only the status with CollisionCount raised by one; the
// next plan then uses the next hash.
type Plan struct {
	// Create is a new ReplicaSet to create, already counted in Scale.
	Create *appsv1.ReplicaSet
	// Annotate sets annotations of existing ReplicaSets: name -> key -> value,
	// where an empty value removes the annotation.
	Annotate map[string]map[string]string
	// Scale sets spec.replicas of ReplicaSets, by name.
	Scale map[string]int32
	// TemplateMetadata edits the pod template labels and annotations of
	// ReplicaSets, by name (role metadata such as canaryMetadata).
	TemplateMetadata map[string]MetadataChange
	// PodMetadata edits the labels and annotations of pods, by name.
	PodMetadata map[string]MetadataChange
	// Services points each named Service's selector at a pod-template hash.
	Services map[string]string
	// ReleaseServices are Services this Rollout managed and no longer names
	// (its strategy changed): their hash selector and managed-by annotation go.
	ReleaseServices []string
	// Delete names old ReplicaSets beyond the revision history limit.
	Delete []string
	// Evict names pods to evict (restart).
	Evict []string
	// Adopt names orphaned ReplicaSets to make the Rollout's (a controller
	// reference), before anything else.
	Adopt []string
	// ScaleWorkload scales the Deployment spec.workloadRef names (scaleDown).
	ScaleWorkload *int32
	// Traffic is what the traffic routers should hold; nil without
	// trafficRouting. The applier has the routers hold it on every pass,
	// after the Services and before any scaling.
	Traffic *Traffic
	// Status is the Rollout's new status.
	Status v1alpha1.RolloutStatus
	Events []Event
	// RequeueAfter is when to look again though nothing changes, e.g. a pause's end.
	RequeueAfter time.Duration
	// CreateRuns are AnalysisRuns to create; TerminateRuns are runs to stop
	// (spec.terminate); DeleteRuns are completed runs beyond the history limits.
	CreateRuns    []RunRequest
	TerminateRuns []string
	DeleteRuns    []string
	// CreateExperiment is the Experiment of the current experiment step, to
	// create; TerminateExperiments are experiments to stop (spec.terminate);
	// DeleteExperiments are ended ones beyond the history limits.
	CreateExperiment     *v1alpha1.Experiment
	TerminateExperiments []string
	DeleteExperiments    []string

	runs              runs // the observed AnalysisRuns, by name
	experiments       map[string]*v1alpha1.Experiment
	waitingOnAnalysis bool     // a run the rollout waits on is still going
	onFailure         string   // what a Failed or Error run does (OnAnalysisFailureAnnotation)
	routing           *routing // the routers' state as the pass started; nil without trafficRouting
	recordHeld        bool     // the routers may be taken to hold status.canary.weights (see Decide)
}

func (p *Plan) event(typ, reason, format string, args ...any) {
	p.Events = append(p.Events, Event{Type: typ, Reason: reason, Message: fmt.Sprintf(format, args...)})
}

func (p *Plan) annotate(rs, key, value string) {
	if p.Annotate[rs] == nil {
		p.Annotate[rs] = map[string]string{}
	}
	p.Annotate[rs][key] = value
}

func (p *Plan) requeue(d time.Duration) {
	if d > 0 && (p.RequeueAfter == 0 || d < p.RequeueAfter) {
		p.RequeueAfter = d
	}
}

// Decide plans the next move of a Rollout from what is observed. It performs
// no I/O and is deterministic in its input.
func Decide(obs Observed) *Plan {
	plan := decide(obs, false)
	if w := obs.Rollout.Status.Canary.Weights; w != nil && (w.Verified == nil || !*w.Verified) && plan.Traffic != nil && plan.Traffic.First {
		// The routers are set before anything of this plan is written, to
		// weights that send the canary no more than the status records: the
		// pass may count on them holding the record (if they refuse it,
		// nothing of the pass is written). Planned so, a step waiting for
		// its weight to be verified completes in this pass, not the next.
		if again := decide(obs, true); again.Traffic != nil && again.Traffic.First {
			return again
		}
	}
	return plan
}

// decide plans; recordHeld says the routers may be taken to hold
// status.canary.weights, verified or not.
func decide(obs Observed, recordHeld bool) *Plan {
	ro := obs.Rollout
	now := metav1.NewTime(obs.Now)
	plan := &Plan{Status: *ro.Status.DeepCopy(), Scale: map[string]int32{}, Services: map[string]string{}, Annotate: map[string]map[string]string{},
		TemplateMetadata: map[string]MetadataChange{}, PodMetadata: map[string]MetadataChange{}, runs: indexRuns(obs.AnalysisRuns),
		experiments: experimentsByName(obs.Experiments), recordHeld: recordHeld, onFailure: ro.Annotations[OnAnalysisFailureAnnotation]}
	st := &plan.Status
	if len(obs.Orphans) > 0 {
		obs.ReplicaSets = slices.Clone(obs.ReplicaSets)
		for _, rs := range obs.Orphans {
			plan.Adopt = append(plan.Adopt, rs.Name)
			plan.event(corev1.EventTypeNormal, reasons.ReplicaSetAdopted, "Adopted ReplicaSet %s", rs.Name)
			obs.ReplicaSets = append(obs.ReplicaSets, rs)
		}
	}

	errs := Validate(ro)
	errs = append(errs, unsupported(ro)...)
	errs = append(errs, obs.AnalysisErrors...)
	errs = append(errs, obs.TrafficErrors...)
	resolved, werrs := withWorkload(ro, obs.Workload)
	errs = append(errs, werrs...)
	if len(errs) == 0 {
		errs = append(errs, checkServices(resolved, obs.Services)...)
	}
	if !recordSpec(st, ro, errs, now) {
		return plan
	}
	ro = resolved

	sets := classify(obs.ReplicaSets)
	template := &ro.Spec.Template
	// The hash is computed from the Rollout's own template, so it is stable; the
	// API server defaults fields in a ReplicaSet's copy, so a template written
	// by a user never equals that copy. One that was copied back from it (an
	// undo) does, and then it is that ReplicaSet's version whatever the hash.
	hash := PodTemplateHash(template, st.CollisionCount)
	newRS := sets.byHash(hash)
	if newRS == nil {
		// A ReplicaSet of this template made by an earlier Vireo keeps its
		// label: taking it over restarts nothing.
		newRS = sets.byHash(vireo1PodTemplateHash(template, st.CollisionCount))
	}
	if newRS == nil {
		newRS = sets.byTemplate(template)
	}
	if newRS != nil {
		hash = newRS.Labels[PodTemplateHashLabel]
	}
	fresh := newRS == nil
	if fresh && obs.TakenNames[ReplicaSetName(ro, hash)] {
		// Another object holds the new ReplicaSet's name: as Argo, the
		// collision count goes up, and with it the hash; nothing else is
		// planned on the name that could not be had.
		c := ptr.Deref(st.CollisionCount, 0) + 1
		st.CollisionCount = &c
		plan.event(corev1.EventTypeWarning, reasons.HashCollision, "ReplicaSet %s exists and is not this Rollout's; collision count %d", ReplicaSetName(ro, hash), c)
		return plan
	}
	if fresh {
		newRS = newReplicaSet(ro, template, hash, sets.maxRevision()+1)
		if st.StableRS != "" && st.StableRS != hash {
			injectAntiAffinity(&newRS.Spec.Template, antiAffinity(ro), st.StableRS)
		}
		plan.Create = newRS
		sets.all = append(sets.all, newRS)
	} else if top := sets.maxRevision(); Revision(newRS) < top {
		// A ReplicaSet that becomes current again (a rollback) becomes the newest revision.
		plan.annotate(newRS.Name, RevisionAnnotation, strconv.FormatInt(top+1, 10))
	}
	if st.CurrentPodHash != hash {
		// As Argo announces a new revision: the update, then the ReplicaSet.
		plan.event(corev1.EventTypeNormal, reasons.RolloutUpdated, "Rollout updated to revision %s", currentRevision(plan, newRS))
		for _, p := range ro.Spec.DecodeProblems {
			plan.event(corev1.EventTypeWarning, reasons.SpecValueLeftOut, "%s", p)
		}
	}
	if fresh {
		plan.event(corev1.EventTypeNormal, reasons.NewReplicaSetCreated, "Created ReplicaSet %s (revision %s)", newRS.Name, newRS.Annotations[RevisionAnnotation])
	}

	if bg := ro.Spec.Strategy.BlueGreen; bg != nil {
		planBlueGreen(plan, ro, sets, newRS, hash, now)
		planRestart(plan, ro, obs.Pods, bg.MaxUnavailable, now)
	} else {
		planCanary(plan, ro, sets, newRS, hash, now)
		planRestart(plan, ro, obs.Pods, ro.Spec.Strategy.Canary.MaxUnavailable, now)
	}
	sweepRuns(plan, ro, obs.AnalysisRuns)
	sweepExperiments(plan, ro)
	planRoleMetadata(plan, ro, sets, newRS, obs.Pods)
	plan.Delete = sets.beyondHistory(ro, newRS, sets.byHash(st.StableRS), plan.Scale)
	planWorkload(plan, ro, obs.Workload)
	plan.ReleaseServices = released(ro, obs.ManagedServices)
	announceScaling(plan, sets)
	announceServices(plan, obs.Services)
	return plan
}

// released lists the Services the Rollout managed that its spec no longer
// names: as Argo, Vireo gives them back, without its hash selector.
func released(ro *v1alpha1.Rollout, managed []*corev1.Service) []string {
	named := map[string]bool{}
	for _, n := range ServiceNames(ro) {
		named[n] = true
	}
	var out []string
	for _, svc := range managed {
		if !named[svc.Name] && svc.Annotations[ManagedByAnnotation] == ro.Name {
			out = append(out, svc.Name)
		}
	}
	sort.Strings(out)
	return out
}

// announceScaling raises Argo's ScalingReplicaSet event for each ReplicaSet
// whose spec.replicas the plan changes (a new one scales up from 0), newest
// revision first.
func announceScaling(plan *Plan, sets *replicaSets) {
	byRevision := slices.Clone(sets.all)
	sort.SliceStable(byRevision, func(i, j int) bool { return Revision(byRevision[i]) > Revision(byRevision[j]) })
	for _, rs := range byRevision {
		from, to := specReplicas(rs), specReplicasAfter(rs, plan)
		if plan.Create != nil && rs.Name == plan.Create.Name {
			from = 0
		}
		if from == to {
			continue
		}
		dir := "up"
		if to < from {
			dir = "down"
		}
		plan.event(corev1.EventTypeNormal, reasons.ScalingReplicaSet, "Scaled %s ReplicaSet %s (revision %s) from %d to %d",
			dir, rs.Name, currentRevision(plan, rs), from, to)
	}
}

// announceServices raises Argo's SwitchService event for each Service whose
// pod-template-hash selector the plan moves, by Service name.
func announceServices(plan *Plan, services map[string]*corev1.Service) {
	names := make([]string, 0, len(plan.Services))
	for name := range plan.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	var switched []Event
	for _, name := range names {
		svc, to := services[name], plan.Services[name]
		if svc == nil || to == "" {
			continue
		}
		if from := svc.Spec.Selector[PodTemplateHashLabel]; from != to {
			switched = append(switched, Event{Type: corev1.EventTypeNormal, Reason: reasons.SwitchService,
				Message: fmt.Sprintf("Switched selector for service '%s' from '%s' to '%s'", name, from, to)})
		}
	}
	// A switch that completes the rollout is told before the completion.
	at := slices.IndexFunc(plan.Events, func(e Event) bool { return e.Reason == reasons.RolloutCompleted })
	if at < 0 {
		at = len(plan.Events)
	}
	plan.Events = slices.Insert(plan.Events, at, switched...)
}

// currentRevision is the revision the current ReplicaSet has, or is getting.
func currentRevision(plan *Plan, rs *appsv1.ReplicaSet) string {
	if r, ok := plan.Annotate[rs.Name][RevisionAnnotation]; ok {
		return r
	}
	return rs.Annotations[RevisionAnnotation]
}

// observeTemplate starts over when the template (or the canary steps) changed
// since the last pass: whatever was in flight, a step, a pause, an abort,
// belonged to the old ones. The very first template becomes stable at once:
// there is nothing to be careful about.
func observeTemplate(plan *Plan, newRS *appsv1.ReplicaSet, hash, stepsHash string, steps int, rev string) {
	st := &plan.Status
	if st.CurrentPodHash != hash || st.CurrentStepHash != stepsHash {
		st.CurrentPodHash, st.CurrentStepHash = hash, stepsHash
		st.CurrentStepIndex = nil
		if steps > 0 {
			st.CurrentStepIndex = ptr.To[int32](0)
		}
		clearInFlight(st)
	}
	if st.StableRS == "" {
		st.StableRS = hash
	}
}

// unsupported lists the parts of a valid spec this version of Vireo cannot act
// on yet, so that a Rollout using them is reported, not half-run.
func unsupported(ro *v1alpha1.Rollout) field.ErrorList {
	notYet := func(p *field.Path) *field.Error {
		return field.Forbidden(p, "not supported yet by this version of Vireo")
	}
	var errs field.ErrorList
	p := field.NewPath("spec")
	c := ro.Spec.Strategy.Canary
	if c == nil {
		return errs
	}
	cp := p.Child("strategy", "canary")
	for i, s := range c.Steps {
		sp := cp.Child("steps").Index(i)
		if s.Plugin != nil {
			errs = append(errs, notYet(sp.Child("plugin")))
		}
	}
	return errs
}

// checkServices reports Services the spec names that do not exist, or that
// could never select this Rollout's pods: their selector, leaving aside the
// pod-template hash Vireo sets, must match the template's labels.
func checkServices(ro *v1alpha1.Rollout, services map[string]*corev1.Service) field.ErrorList {
	var errs field.ErrorList
	for _, ref := range serviceRefs(ro) {
		svc, known := services[ref.name]
		switch {
		case !known:
		case svc == nil:
			errs = append(errs, field.NotFound(ref.path, ref.name))
		default:
			sel := map[string]string{}
			for k, v := range svc.Spec.Selector {
				if k != PodTemplateHashLabel {
					sel[k] = v
				}
			}
			if len(sel) == 0 || !labels.SelectorFromSet(sel).Matches(labels.Set(ro.Spec.Template.Labels)) {
				errs = append(errs, field.Invalid(ref.path, ref.name, fmt.Sprintf(
					"Service %s selects no pod of this Rollout: its selector %q does not match spec.template.metadata.labels",
					ref.name, labels.SelectorFromSet(sel).String())))
			}
		}
	}
	return errs
}

// serviceRef is a Service a Rollout's spec names, with the field that names it.
type serviceRef struct {
	name string
	path *field.Path
}

// serviceRefs lists the Services the strategy names.
func serviceRefs(ro *v1alpha1.Rollout) []serviceRef {
	var refs []serviceRef
	add := func(name string, p *field.Path) {
		if name != "" {
			refs = append(refs, serviceRef{name, p})
		}
	}
	s := field.NewPath("spec", "strategy")
	if c := ro.Spec.Strategy.Canary; c != nil {
		add(c.CanaryService, s.Child("canary", "canaryService"))
		add(c.StableService, s.Child("canary", "stableService"))
	}
	if bg := ro.Spec.Strategy.BlueGreen; bg != nil {
		add(bg.ActiveService, s.Child("blueGreen", "activeService"))
		add(bg.PreviewService, s.Child("blueGreen", "previewService"))
	}
	return refs
}

// ServiceNames lists the names of the Services a Rollout's strategy names.
func ServiceNames(ro *v1alpha1.Rollout) []string {
	var names []string
	for _, r := range serviceRefs(ro) {
		names = append(names, r.name)
	}
	return names
}

// replicaSets is a Rollout's ReplicaSets, newest revision first.
type replicaSets struct{ all []*appsv1.ReplicaSet }

func classify(list []*appsv1.ReplicaSet) *replicaSets {
	out := &replicaSets{}
	for _, rs := range list {
		if rs.DeletionTimestamp == nil {
			out.all = append(out.all, rs)
		}
	}
	sort.SliceStable(out.all, func(i, j int) bool { return Revision(out.all[i]) > Revision(out.all[j]) })
	return out
}

// Revision is a ReplicaSet's rollout.argoproj.io/revision; 0 when unset or not a number.
func Revision(rs *appsv1.ReplicaSet) int64 {
	n, _ := strconv.ParseInt(rs.Annotations[RevisionAnnotation], 10, 64)
	return n
}

func (s *replicaSets) maxRevision() int64 {
	var m int64
	for _, rs := range s.all {
		m = max(m, Revision(rs))
	}
	return m
}

func (s *replicaSets) byName(name string) *appsv1.ReplicaSet {
	for _, rs := range s.all {
		if rs.Name == name {
			return rs
		}
	}
	return nil
}

// byTemplate finds the ReplicaSet whose pod template, but for the hash label,
// is the given one.
func (s *replicaSets) byTemplate(t *corev1.PodTemplateSpec) *appsv1.ReplicaSet {
	for _, rs := range s.all {
		hash := rs.Labels[PodTemplateHashLabel]
		if hash == "" || rs.Spec.Template.Labels[PodTemplateHashLabel] != hash {
			continue
		}
		live := rs.Spec.Template.DeepCopy()
		delete(live.Labels, PodTemplateHashLabel)
		if role := parseRoleMetadata(rs); role != nil {
			for k := range role.Labels {
				if _, own := t.Labels[k]; !own {
					delete(live.Labels, k)
				}
			}
			for k := range role.Annotations {
				if _, own := t.Annotations[k]; !own {
					delete(live.Annotations, k)
				}
			}
		}
		if equality.Semantic.DeepEqual(live, t) {
			return rs
		}
	}
	return nil
}

func (s *replicaSets) byHash(hash string) *appsv1.ReplicaSet {
	if hash == "" {
		return nil
	}
	for _, rs := range s.all {
		if rs.Labels[PodTemplateHashLabel] == hash {
			return rs
		}
	}
	return nil
}

// beyondHistory lists the ReplicaSets to delete: those scaled to zero (and
// staying there), neither current nor stable, past the newest
// revisionHistoryLimit of them.
func (s *replicaSets) beyondHistory(ro *v1alpha1.Rollout, current, stable *appsv1.ReplicaSet, scale map[string]int32) []string {
	limit := int32(DefaultRevisionHistoryLimit)
	if ro.Spec.RevisionHistoryLimit != nil {
		limit = *ro.Spec.RevisionHistoryLimit
	}
	var out []string
	kept := int32(0)
	for _, rs := range s.all { // newest first
		if rs == current || rs == stable || rs.CreationTimestamp.IsZero() {
			continue
		}
		replicas := specReplicas(rs)
		if n, ok := scale[rs.Name]; ok {
			replicas = n
		}
		if replicas != 0 || rs.Status.Replicas != 0 {
			continue
		}
		if kept < limit {
			kept++
			continue
		}
		out = append(out, rs.Name)
	}
	return out
}

func specReplicas(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

// newReplicaSet builds the ReplicaSet for a template: named after the Rollout
// and the hash, labelled and selected by the hash, owned by the Rollout.
// ReplicaSetName is the name of a Rollout's ReplicaSet of a pod-template hash.
func ReplicaSetName(ro *v1alpha1.Rollout, hash string) string { return ro.Name + "-" + hash }

func newReplicaSet(ro *v1alpha1.Rollout, t *corev1.PodTemplateSpec, hash string, rev int64) *appsv1.ReplicaSet {
	tmpl := t.DeepCopy()
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[PodTemplateHashLabel] = hash
	sel := ro.Spec.Selector.DeepCopy()
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[PodTemplateHashLabel] = hash
	labels := map[string]string{}
	for k, v := range tmpl.Labels {
		labels[k] = v
	}
	zero := int32(0)
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            ReplicaSetName(ro, hash),
			Namespace:       ro.Namespace,
			Labels:          labels,
			Annotations:     map[string]string{RevisionAnnotation: strconv.FormatInt(rev, 10)},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        &zero,
			MinReadySeconds: ro.Spec.MinReadySeconds,
			Selector:        sel,
			Template:        *tmpl,
		},
	}
}
