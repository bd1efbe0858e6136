package simulate

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/rollout"
	"github.com/vireo-dev/vireo/internal/rollout/sim"
)

// Timeline is what a simulated update shows, a moment per visible change.
type Timeline struct {
	// Rollout is the rollout before the update, with its first version
	// stable.
	Rollout *v1alpha1.Rollout
	Options Options
	Moments []Moment
	// Unfinished is an update still going at Options.Limit.
	Unfinished bool
}

// Moment is the rollout at one time. Pod counts are "available/desired".
type Moment struct {
	At time.Duration
	// Step is "index/steps" for a canary with steps, else "".
	Step string
	// Weight is the canary's set weight, in percent; Traffic is what the
	// traffic routers send to it, "" without trafficRouting.
	Weight, Traffic string
	// New are the new version's pods (the canary, or the preview);
	// Stable the stable (or active) version's; Old any older version's.
	New, Stable, Old string
	// Analysis lists the analyses, "kind: phase".
	Analysis string
	Status   string
	// Notes are the events of the moment, and what the person did.
	Notes []string
}

// BlueGreen reports whether the timeline's pod columns are preview and
// active rather than canary and stable.
func (t *Timeline) BlueGreen() bool { return t.Rollout.Spec.Strategy.BlueGreen != nil }

// Routed reports whether the rollout has traffic routers.
func (t *Timeline) Routed() bool {
	c := t.Rollout.Spec.Strategy.Canary
	return c != nil && c.TrafficRouting != nil
}

// add records the world's state at a time, with a plan's events or a note,
// when anything visible changed.
func (t *Timeline) add(at time.Duration, w *sim.World, plan *rollout.Plan, note string) {
	m := moment(w)
	m.At = at
	if note != "" {
		m.Notes = append(m.Notes, note)
	}
	if plan != nil {
		for _, e := range plan.Events {
			m.Notes = append(m.Notes, e.Reason+": "+e.Message)
		}
	}
	if n := len(t.Moments); n > 0 {
		last := &t.Moments[n-1]
		same := m
		same.At, same.Notes = last.At, last.Notes
		if fmt.Sprint(same) == fmt.Sprint(*last) {
			if len(m.Notes) == 0 {
				return
			}
			if last.At == at {
				last.Notes = append(last.Notes, m.Notes...)
				return
			}
		}
	}
	t.Moments = append(t.Moments, m)
}

// note adds a line to the last moment.
func (t *Timeline) note(text string) {
	last := &t.Moments[len(t.Moments)-1]
	last.Notes = append(last.Notes, text)
}

func moment(w *sim.World) Moment {
	ro := w.Rollout()
	st := &ro.Status
	var m Moment
	if c := ro.Spec.Strategy.Canary; c != nil {
		if len(c.Steps) > 0 && st.CurrentStepIndex != nil {
			m.Step = fmt.Sprintf("%d/%d", *st.CurrentStepIndex, len(c.Steps))
		}
		m.Weight = fmt.Sprint(rollout.CurrentWeight(ro, st))
		if tr := w.Traffic(); tr != nil && tr.MaxWeight > 0 {
			m.Traffic = fmt.Sprintf("%d%%", tr.Weight*100/tr.MaxWeight)
		}
	}
	newHash, stableHash := st.CurrentPodHash, st.StableRS
	if ro.Spec.Strategy.BlueGreen != nil {
		newHash, stableHash = st.BlueGreen.PreviewSelector, st.BlueGreen.ActiveSelector
		if newHash == "" && st.CurrentPodHash != stableHash {
			newHash = st.CurrentPodHash
		}
	}
	var old counts
	for _, rs := range w.ReplicaSets() {
		c := counts{rs.Status.AvailableReplicas, ptr.Deref(rs.Spec.Replicas, 1)}
		switch h := rs.Labels[rollout.PodTemplateHashLabel]; {
		case h == stableHash:
			m.Stable = c.String()
		case h == newHash:
			m.New = c.String()
		default:
			old.available += c.available
			old.desired += c.desired
		}
	}
	if old != (counts{}) {
		m.Old = old.String()
	}
	var runs []string
	for _, r := range w.AnalysisRuns() {
		runs = append(runs, runName(r)+": "+string(r.Status.Phase))
	}
	m.Analysis = strings.Join(runs, ", ")
	m.Status = string(st.Phase)
	if st.Message != "" {
		m.Status += ": " + st.Message
	}
	return m
}

type counts struct{ available, desired int32 }

func (c counts) String() string { return fmt.Sprintf("%d/%d", c.available, c.desired) }
