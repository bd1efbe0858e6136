package rollout

import (
	"encoding/json"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// EphemeralMetadataAnnotation records on a ReplicaSet the labels and
// annotations of its role (canaryMetadata, stableMetadata, activeMetadata,
// previewMetadata) that were put on its pods, so that they can be taken off
// when the role changes.
const EphemeralMetadataAnnotation = "rollout.argoproj.io/ephemeral-metadata"

// MetadataChange edits labels and annotations: a key mapped to nil is removed.
type MetadataChange struct {
	Labels      map[string]*string
	Annotations map[string]*string
}

func (c MetadataChange) empty() bool { return len(c.Labels) == 0 && len(c.Annotations) == 0 }

// roleMetadata is the metadata the spec gives pods of a ReplicaSet in its
// current role: stable or canary, active or preview; nil for any other.
func roleMetadata(ro *v1alpha1.Rollout, st *v1alpha1.RolloutStatus, rs, newRS *appsv1.ReplicaSet) *v1alpha1.PodTemplateMetadata {
	hash := rs.Labels[PodTemplateHashLabel]
	if c := ro.Spec.Strategy.Canary; c != nil {
		switch {
		case hash == st.StableRS:
			return c.StableMetadata
		case rs == newRS && !st.Abort:
			return c.CanaryMetadata
		}
		return nil
	}
	if bg := ro.Spec.Strategy.BlueGreen; bg != nil {
		switch {
		case hash == st.BlueGreen.ActiveSelector:
			return bg.ActiveMetadata
		case rs == newRS:
			return bg.PreviewMetadata
		}
	}
	return nil
}

// RoleKeys are every label and annotation key the spec's role metadata names.
func RoleKeys(ro *v1alpha1.Rollout) (labels, annotations map[string]bool) {
	labels, annotations = map[string]bool{}, map[string]bool{}
	var all []*v1alpha1.PodTemplateMetadata
	if c := ro.Spec.Strategy.Canary; c != nil {
		all = append(all, c.CanaryMetadata, c.StableMetadata)
	}
	if bg := ro.Spec.Strategy.BlueGreen; bg != nil {
		all = append(all, bg.ActiveMetadata, bg.PreviewMetadata)
	}
	for _, m := range all {
		if m == nil {
			continue
		}
		for k := range m.Labels {
			labels[k] = true
		}
		for k := range m.Annotations {
			annotations[k] = true
		}
	}
	return labels, annotations
}

// UsesRoleMetadata reports whether role metadata is, or was, put on the pods
// of these ReplicaSets: only then does the planner need their pods.
func UsesRoleMetadata(ro *v1alpha1.Rollout, sets []*appsv1.ReplicaSet) bool {
	if l, a := RoleKeys(ro); len(l)+len(a) > 0 {
		return true
	}
	for _, rs := range sets {
		if _, ok := rs.Annotations[EphemeralMetadataAnnotation]; ok {
			return true
		}
	}
	return false
}

func parseRoleMetadata(rs *appsv1.ReplicaSet) *v1alpha1.PodTemplateMetadata {
	raw, ok := rs.Annotations[EphemeralMetadataAnnotation]
	if !ok {
		return nil
	}
	var m v1alpha1.PodTemplateMetadata
	if json.Unmarshal([]byte(raw), &m) != nil {
		return nil
	}
	return &m
}

// diffMetadata is what turns current labels and annotations into ones that
// carry want and none of the managed keys want lacks. Keys the Rollout's own
// template sets are never removed.
func diffMetadata(labels, annotations map[string]string, want *v1alpha1.PodTemplateMetadata, managedLabels, managedAnnotations map[string]bool, template *corev1.PodTemplateSpec) MetadataChange {
	if want == nil {
		want = &v1alpha1.PodTemplateMetadata{}
	}
	side := func(cur, wanted map[string]string, managed map[string]bool, own map[string]string) map[string]*string {
		out := map[string]*string{}
		for k, v := range wanted {
			if cur[k] != v {
				out[k] = &v
			}
		}
		for k := range managed {
			if _, keep := wanted[k]; keep {
				continue
			}
			if _, mine := own[k]; mine {
				continue
			}
			if _, has := cur[k]; has {
				out[k] = nil
			}
		}
		return out
	}
	return MetadataChange{
		Labels:      side(labels, want.Labels, managedLabels, template.Labels),
		Annotations: side(annotations, want.Annotations, managedAnnotations, template.Annotations),
	}
}

// planRoleMetadata puts each ReplicaSet's role metadata on its pod template
// and its pods, and takes off that of a role it no longer has. A ReplicaSet
// about to be created gets it in its template directly.
func planRoleMetadata(plan *Plan, ro *v1alpha1.Rollout, sets *replicaSets, newRS *appsv1.ReplicaSet, pods []*corev1.Pod) {
	if !UsesRoleMetadata(ro, sets.all) {
		return
	}
	mLabels, mAnnotations := RoleKeys(ro)
	for _, rs := range sets.all {
		want := roleMetadata(ro, &plan.Status, rs, newRS)
		labels, annotations := maps.Clone(mLabels), maps.Clone(mAnnotations)
		if had := parseRoleMetadata(rs); had != nil {
			for k := range had.Labels {
				labels[k] = true
			}
			for k := range had.Annotations {
				annotations[k] = true
			}
		}
		record := ""
		if want != nil && (len(want.Labels) > 0 || len(want.Annotations) > 0) {
			data, _ := json.Marshal(want)
			record = string(data)
		}
		if rs == plan.Create {
			change := diffMetadata(rs.Spec.Template.Labels, rs.Spec.Template.Annotations, want, labels, annotations, &ro.Spec.Template)
			ApplyMetadata(&rs.Spec.Template.ObjectMeta.Labels, change.Labels)
			ApplyMetadata(&rs.Spec.Template.ObjectMeta.Annotations, change.Annotations)
			if record != "" {
				rs.Annotations[EphemeralMetadataAnnotation] = record
			}
			continue
		}
		if change := diffMetadata(rs.Spec.Template.Labels, rs.Spec.Template.Annotations, want, labels, annotations, &ro.Spec.Template); !change.empty() {
			plan.TemplateMetadata[rs.Name] = change
		}
		if rs.Annotations[EphemeralMetadataAnnotation] != record {
			plan.annotate(rs.Name, EphemeralMetadataAnnotation, record)
		}
		hash := rs.Labels[PodTemplateHashLabel]
		for _, pod := range pods {
			if pod.Labels[PodTemplateHashLabel] != hash || pod.DeletionTimestamp != nil {
				continue
			}
			if change := diffMetadata(pod.Labels, pod.Annotations, want, labels, annotations, &ro.Spec.Template); !change.empty() {
				plan.PodMetadata[pod.Name] = change
			}
		}
	}
}

// ApplyMetadata applies a change to a label or annotation map: a nil value
// removes the key.
func ApplyMetadata(m *map[string]string, change map[string]*string) {
	for k, v := range change {
		if v == nil {
			delete(*m, k)
			continue
		}
		if *m == nil {
			*m = map[string]string{}
		}
		(*m)[k] = *v
	}
}
