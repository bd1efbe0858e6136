package experiment

import (
	"fmt"
	"hash/fnv"
	"maps"
	"regexp"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/rollout"
)

// ReplicaSetName is the name of a template's ReplicaSet: the experiment's
// name and the template's.
func ReplicaSetName(ex *v1alpha1.Experiment, t *v1alpha1.TemplateSpec) string {
	return ex.Name + "-" + t.Name
}

// ServiceName is the name of a template's Service: the one its service field
// gives, or the ReplicaSet's.
func ServiceName(ex *v1alpha1.Experiment, t *v1alpha1.TemplateSpec) string {
	if t.Service != nil && t.Service.Name != "" {
		return t.Service.Name
	}
	return ReplicaSetName(ex, t)
}

// RunName is the name of an analysis's AnalysisRun: the experiment's name and
// the analysis's.
func RunName(ex *v1alpha1.Experiment, analysis string) string {
	return ex.Name + "-" + analysis
}

// TemplateHash is the rollouts-pod-template-hash of a template's pods. It
// digests the experiment's and the template's names with the pod template, so
// that an experiment's pods never share a hash with a Rollout's, even when
// their pod templates are the same: metrics can then tell them apart.
func TemplateHash(ex *v1alpha1.Experiment, t *v1alpha1.TemplateSpec) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(rollout.PodTemplateHash(&t.Template, nil)))
	_, _ = h.Write([]byte("/" + ex.Namespace + "/" + ex.Name + "/" + t.Name))
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// desired is a template's replica count: 1 when unset.
func desired(t *v1alpha1.TemplateSpec) int32 {
	return ptr.Deref(t.Replicas, 1)
}

// owner is the controller reference every object of the experiment carries.
func owner(ex *v1alpha1.Experiment) []metav1.OwnerReference {
	return []metav1.OwnerReference{*metav1.NewControllerRef(ex, v1alpha1.GroupVersion.WithKind("Experiment"))}
}

// newReplicaSet builds a template's ReplicaSet: its pods carry the template's
// labels and the hash, which the selector adds to the template's.
func newReplicaSet(ex *v1alpha1.Experiment, t *v1alpha1.TemplateSpec, hash string) *appsv1.ReplicaSet {
	tmpl := t.Template.DeepCopy()
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[rollout.PodTemplateHashLabel] = hash
	sel := t.Selector.DeepCopy()
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[rollout.PodTemplateHashLabel] = hash
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            ReplicaSetName(ex, t),
			Namespace:       ex.Namespace,
			Labels:          maps.Clone(tmpl.Labels),
			Annotations:     map[string]string{ExperimentNameAnnotation: ex.Name, TemplateNameAnnotation: t.Name},
			OwnerReferences: owner(ex),
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        ptr.To(desired(t)),
			MinReadySeconds: t.MinReadySeconds,
			Selector:        sel,
			Template:        *tmpl,
		},
	}
}

// Annotations of an experiment's ReplicaSets, as Argo Rollouts sets them.
const (
	ExperimentNameAnnotation = "experiment.argoproj.io/name"
	TemplateNameAnnotation   = "experiment.argoproj.io/template-name"
)

// servicePorts are the ports of a template's Service: every container port
// the pod template declares, under its own name and number.
func servicePorts(t *v1alpha1.TemplateSpec) []corev1.ServicePort {
	var ports []corev1.ServicePort
	for _, c := range t.Template.Spec.Containers {
		for _, p := range c.Ports {
			proto := p.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			ports = append(ports, corev1.ServicePort{Name: p.Name, Port: p.ContainerPort, Protocol: proto, TargetPort: intstr.FromInt32(p.ContainerPort)})
		}
	}
	if len(ports) > 1 {
		// A Service with several ports needs every one named.
		for i := range ports {
			if ports[i].Name == "" {
				ports[i].Name = "port-" + strconv.Itoa(int(ports[i].Port))
			}
		}
	}
	return ports
}

// newService builds a template's Service, which selects the template's pods
// by the template's labels and the hash.
func newService(ex *v1alpha1.Experiment, t *v1alpha1.TemplateSpec, hash string) *corev1.Service {
	sel := map[string]string{}
	maps.Copy(sel, t.Selector.MatchLabels)
	sel[rollout.PodTemplateHashLabel] = hash
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:            ServiceName(ex, t),
			Namespace:       ex.Namespace,
			Annotations:     map[string]string{ExperimentNameAnnotation: ex.Name, TemplateNameAnnotation: t.Name},
			OwnerReferences: owner(ex),
		},
		Spec: corev1.ServiceSpec{Selector: sel, Ports: servicePorts(t)},
	}
}

// Vars are the values an experiment's analysis args may use:
// {{templates.NAME.podTemplateHash}} and {{templates.NAME.replicaset.name}}
// for every template.
func Vars(ex *v1alpha1.Experiment) map[string]string {
	vars := map[string]string{}
	for i := range ex.Spec.Templates {
		t := &ex.Spec.Templates[i]
		vars["templates."+t.Name+".podTemplateHash"] = TemplateHash(ex, t)
		vars["templates."+t.Name+".replicaset.name"] = ReplicaSetName(ex, t)
	}
	return vars
}

// varPattern finds the {{templates.…}} references in an arg's value.
var varPattern = regexp.MustCompile(`{{\s*(templates\.[^{}]*?)\s*}}`)

// Expand replaces the {{templates.NAME.podTemplateHash}} and
// {{templates.NAME.replicaset.name}} references in an analysis arg's value
// with vars; one that names no template is an error.
func Expand(value string, vars map[string]string) (string, error) {
	var err error
	out := varPattern.ReplaceAllStringFunc(value, func(ref string) string {
		key := varPattern.FindStringSubmatch(ref)[1]
		v, ok := vars[key]
		if !ok && err == nil {
			err = fmt.Errorf("%s: no template of that name, or not podTemplateHash or replicaset.name", ref)
		}
		return v
	})
	return out, err
}
