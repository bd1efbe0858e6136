package sim

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/experiment"
	"github.com/vireo-dev/vireo/internal/rollout"
)

// record adds a timeline line when anything visible changed; plan is nil
// for a pass that ended half-way, whose Events were never raised.
func (w *World) record(plan *rollout.Plan) {
	if plan == nil {
		plan = &rollout.Plan{}
	}
	st := &w.ro.Status
	step := "-"
	if st.CurrentStepIndex != nil {
		step = fmt.Sprintf("%d/%d", *st.CurrentStepIndex, len(stepsOf(w.ro)))
	}
	var sets []string
	for _, n := range w.names() {
		rs := w.rss[n]
		role := ""
		h := rs.Labels[rollout.PodTemplateHashLabel]
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
		if w.experimentOwned(rs) {
			role = " experiment:" + rs.Annotations[experiment.TemplateNameAnnotation]
		}
		if d, ok := rs.Annotations[rollout.ScaleDownDeadlineAnnotation]; ok {
			t, _ := time.Parse(time.RFC3339, d)
			role += fmt.Sprintf(" (scale down at %ds)", int(t.Sub(Start).Seconds()))
		}
		sets = append(sets, fmt.Sprintf("%s=%d/%d%s", image(rs), rs.Status.AvailableReplicas, replicas(rs), role))
	}
	phase := string(st.Phase)
	if st.Message != "" {
		phase += " (" + st.Message + ")"
	}
	if len(w.analysisRuns) > 0 {
		var rs []string
		for _, n := range slices.Sorted(maps.Keys(w.analysisRuns)) {
			r := w.analysisRuns[n]
			rs = append(rs, strings.TrimPrefix(n, w.ro.Name+"-")+"="+string(r.Status.Phase))
		}
		sets = append(sets, "runs["+strings.Join(rs, " ")+"]")
	}
	if len(w.experiments) > 0 {
		var es []string
		for _, ex := range w.Experiments() {
			e := strings.TrimPrefix(ex.Name, w.ro.Name+"-") + "=" + string(ex.Status.Phase)
			for _, r := range ex.Status.AnalysisRuns {
				e += "," + r.Name + ":" + string(r.Phase)
			}
			es = append(es, e)
		}
		sets = append(sets, "experiments["+strings.Join(es, " ")+"]")
	}
	if w.Workload != nil {
		sets = append(sets, fmt.Sprintf("deployment=%d", *w.Workload.Spec.Replicas))
	}
	if keys, _ := rollout.RoleKeys(w.ro); len(keys) > 0 {
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
		for _, d := range w.router.Additional {
			sets = append(sets, fmt.Sprintf("%s=%d", strings.TrimPrefix(d.Service, w.ro.Name+"-"), d.Weight))
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
		line = fmt.Sprintf("step %-5s weight %3d  %-55s %s", step, rollout.CurrentWeight(w.ro, st), phase, strings.Join(sets, " "))
	}
	var evs []string
	for _, e := range plan.Events {
		evs = append(evs, e.Reason+": "+e.Message)
	}
	evs = append(evs, w.pending...)
	w.pending = nil
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
func (w *World) imageOf(hash string) string {
	for _, rs := range w.rss {
		if rs.Labels[rollout.PodTemplateHashLabel] == hash {
			return image(rs)
		}
	}
	return "none"
}

// stepsOf are a canary's steps; a blue-green rollout has none.
func stepsOf(ro *v1alpha1.Rollout) []v1alpha1.CanaryStep {
	if ro.Spec.Strategy.Canary == nil {
		return nil
	}
	return ro.Spec.Strategy.Canary.Steps
}
