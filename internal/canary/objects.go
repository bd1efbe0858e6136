package canary

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"maps"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/dump"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
)

// SpecHash is status.lastAppliedSpec for a pod template: FNV-32a over the
// template's Go-syntax dump (sorted keys, no methods, no addresses), made
// DNS-safe, as Flagger computes it. Flagger's own Canaries therefore see no
// change when Vireo takes over, as long as both were built with the same
// Kubernetes API types.
func SpecHash(t corev1.PodTemplateSpec) string {
	return hashOf(t)
}

// ConfigsChecksum is the webhook payload's checksum: the hash of the tracked
// configs and lastAppliedSpec together.
func ConfigsChecksum(s *v1beta1.CanaryStatus) string {
	return hashOf(struct {
		TrackedConfigs  *map[string]string
		LastAppliedSpec string
	}{s.TrackedConfigs, s.LastAppliedSpec})
}

func hashOf(v any) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(dump.ForHash(v)))
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// DataChecksum is a tracked config's checksum: the first 8 bytes of the
// SHA-256 of its data's JSON encoding, in hex.
func DataChecksum(data any) string {
	b, err := json.Marshal(data)
	if err != nil {
		// map[string]string and map[string][]byte always encode.
		panic(fmt.Sprintf("encoding config data: %v", err))
	}
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%x", sum[:8])
}

// Config kinds as status.trackedConfigs keys name them ("configmap/NAME").
const (
	ConfigMapKind = "configmap"
	SecretKind    = "secret"
)

// ConfigRefs lists the ConfigMaps and Secrets a pod template reads, as
// "configmap/NAME" and "secret/NAME", with whether each is mandatory (not
// optional). Volumes, projected volumes, env and envFrom of every container
// and init container count.
func ConfigRefs(spec *corev1.PodSpec) map[string]bool {
	out := map[string]bool{}
	add := func(kind, name string, optional *bool) {
		if name != "" {
			out[kind+"/"+name] = optional == nil || !*optional
		}
	}
	for _, v := range spec.Volumes {
		if cm := v.ConfigMap; cm != nil {
			add(ConfigMapKind, cm.Name, cm.Optional)
		}
		if s := v.Secret; s != nil {
			add(SecretKind, s.SecretName, s.Optional)
		}
		if pr := v.Projected; pr != nil {
			for _, src := range pr.Sources {
				if cm := src.ConfigMap; cm != nil {
					add(ConfigMapKind, cm.Name, cm.Optional)
				}
				if s := src.Secret; s != nil {
					add(SecretKind, s.Name, s.Optional)
				}
			}
		}
	}
	containers := append(append([]corev1.Container{}, spec.Containers...), spec.InitContainers...)
	for _, c := range containers {
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				add(ConfigMapKind, r.Name, r.Optional)
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil {
				add(SecretKind, r.Name, r.Optional)
			}
		}
		for _, e := range c.EnvFrom {
			if r := e.ConfigMapRef; r != nil {
				add(ConfigMapKind, r.Name, r.Optional)
			}
			if r := e.SecretRef; r != nil {
				add(SecretKind, r.Name, r.Optional)
			}
		}
	}
	return out
}

// PrimaryPodSpec is the target's pod spec with every tracked config renamed
// to its -primary copy.
func PrimaryPodSpec(spec *corev1.PodSpec, tracked map[string]string) corev1.PodSpec {
	out := *spec.DeepCopy()
	rename := func(kind, name string) string {
		if _, ok := tracked[kind+"/"+name]; ok {
			return name + PrimarySuffix
		}
		return name
	}
	for i := range out.Volumes {
		v := &out.Volumes[i]
		if v.ConfigMap != nil {
			v.ConfigMap.Name = rename(ConfigMapKind, v.ConfigMap.Name)
		}
		if v.Secret != nil {
			v.Secret.SecretName = rename(SecretKind, v.Secret.SecretName)
		}
		if v.Projected != nil {
			for j := range v.Projected.Sources {
				s := &v.Projected.Sources[j]
				if s.ConfigMap != nil {
					s.ConfigMap.Name = rename(ConfigMapKind, s.ConfigMap.Name)
				}
				if s.Secret != nil {
					s.Secret.Name = rename(SecretKind, s.Secret.Name)
				}
			}
		}
	}
	for _, cs := range [][]corev1.Container{out.Containers, out.InitContainers} {
		for i := range cs {
			c := &cs[i]
			for j := range c.Env {
				if vf := c.Env[j].ValueFrom; vf != nil {
					if vf.ConfigMapKeyRef != nil {
						vf.ConfigMapKeyRef.Name = rename(ConfigMapKind, vf.ConfigMapKeyRef.Name)
					}
					if vf.SecretKeyRef != nil {
						vf.SecretKeyRef.Name = rename(SecretKind, vf.SecretKeyRef.Name)
					}
				}
			}
			for j := range c.EnvFrom {
				if r := c.EnvFrom[j].ConfigMapRef; r != nil {
					r.Name = rename(ConfigMapKind, r.Name)
				}
				if r := c.EnvFrom[j].SecretRef; r != nil {
					r.Name = rename(SecretKind, r.Name)
				}
			}
		}
	}
	return out
}

// SelectorLabel returns the first of labels found in the target's selector,
// and its value.
func SelectorLabel(d *appsv1.Deployment, labels []string) (string, string, error) {
	if d.Spec.Selector != nil {
		for _, l := range labels {
			if v, ok := d.Spec.Selector.MatchLabels[l]; ok {
				return l, v, nil
			}
		}
	}
	return "", "", fmt.Errorf("deployment %s spec.selector.matchLabels must contain one of %v", key(d.Name, d.Namespace), labels)
}

// withoutToolkit copies m without Flux toolkit keys.
func withoutToolkit(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if !strings.Contains(k, toolkitMarker) {
			out[k] = v
		}
	}
	return out
}

// primaryLabels copies labels, with label set to value.
func primaryLabels(labels map[string]string, label, value string) map[string]string {
	out := withoutToolkit(labels)
	out[label] = value
	return out
}

// ownerRef makes the Canary the controller of an object it generates.
func ownerRef(c *v1beta1.Canary) metav1.OwnerReference {
	return *metav1.NewControllerRef(c, v1beta1.GroupVersion.WithKind("Canary"))
}

// PrimaryDeployment is the primary as it should be after copying target:
// name NAME-primary, the selector label's value with -primary, the
// target's pod template with tracked configs renamed, and promotionID in
// the pod annotations. Replicas: the target's (at least 1) unless an
// autoscaler owns them (then current, or the target's on create).
func PrimaryDeployment(c *v1beta1.Canary, target, current *appsv1.Deployment, label, value string, tracked map[string]string, promotionID string) *appsv1.Deployment {
	pv := value + PrimarySuffix
	replicas := int32(1)
	if target.Spec.Replicas != nil && *target.Spec.Replicas > 0 {
		replicas = *target.Spec.Replicas
	}
	if current != nil && c.Spec.AutoscalerRef != nil && current.Spec.Replicas != nil {
		replicas = *current.Spec.Replicas
	}
	podAnn := withoutToolkit(target.Spec.Template.Annotations)
	podAnn[PromotionIDAnnotation] = promotionID
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name:            PrimaryName(c),
			Namespace:       c.Namespace,
			Labels:          primaryLabels(target.Labels, label, pv),
			Annotations:     withoutToolkit(target.Annotations),
			OwnerReferences: []metav1.OwnerReference{ownerRef(c)},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas:                ptr.To(replicas),
			ProgressDeadlineSeconds: target.Spec.ProgressDeadlineSeconds,
			MinReadySeconds:         target.Spec.MinReadySeconds,
			RevisionHistoryLimit:    target.Spec.RevisionHistoryLimit,
			Strategy:                target.Spec.Strategy,
			Selector:                &metav1.LabelSelector{MatchLabels: map[string]string{label: pv}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      primaryLabels(target.Spec.Template.Labels, label, pv),
					Annotations: podAnn,
				},
				Spec: PrimaryPodSpec(&target.Spec.Template.Spec, tracked),
			},
		},
	}
	if current != nil {
		// The selector of a Deployment cannot change; keep what it has.
		d.Spec.Selector = current.Spec.Selector
	}
	return d
}

// PrimaryConfig is the -primary copy of a tracked ConfigMap or Secret.
func PrimaryConfig(c *v1beta1.Canary, obj metav1.Object) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            obj.GetName() + PrimarySuffix,
		Namespace:       c.Namespace,
		Labels:          withoutToolkit(obj.GetLabels()),
		Annotations:     withoutToolkit(obj.GetAnnotations()),
		OwnerReferences: []metav1.OwnerReference{ownerRef(c)},
	}
}

// Services are the canary, primary and (when withApex) apex Services: the
// canary's selects the target's pods, the other two the primary's.
func Services(c *v1beta1.Canary, target *appsv1.Deployment, label, value string, withApex bool) []*corev1.Service {
	apex, primary, canary := ServiceNames(c)
	s := &c.Spec.Service
	out := []*corev1.Service{
		service(c, target, canary, label, value, s.Canary),
		service(c, target, primary, label, value+PrimarySuffix, s.Primary),
	}
	if withApex {
		out = append(out, service(c, target, apex, label, value+PrimarySuffix, s.Apex))
	}
	return out
}

func service(c *v1beta1.Canary, target *appsv1.Deployment, name, label, selector string, meta *v1beta1.CustomMetadata) *corev1.Service {
	s := &c.Spec.Service
	portName := s.PortName
	if portName == "" {
		portName = "http"
	}
	targetPort := intstr.FromInt32(s.Port)
	if s.TargetPort.String() != "0" {
		targetPort = s.TargetPort
	}
	ports := []corev1.ServicePort{{Name: portName, Protocol: corev1.ProtocolTCP, Port: s.Port, TargetPort: targetPort}}
	if s.AppProtocol != "" {
		ports[0].AppProtocol = ptr.To(s.AppProtocol)
	}
	if s.PortDiscovery {
		ports = append(ports, discoveredPorts(c, target)...)
	}
	labels, annotations := map[string]string{}, map[string]string{}
	if meta != nil {
		maps.Copy(labels, meta.Labels)
		annotations = withoutToolkit(meta.Annotations)
	}
	labels[label] = name
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: c.Namespace,
			Labels: labels, Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{ownerRef(c)},
		},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: map[string]string{label: selector},
			Ports:    ports,
		},
	}
	if s.Headless {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	if s.TrafficDistribution != "" {
		svc.Spec.TrafficDistribution = ptr.To(s.TrafficDistribution)
	}
	return svc
}

// discoveredPorts are the target's other container ports.
func discoveredPorts(c *v1beta1.Canary, target *appsv1.Deployment) []corev1.ServicePort {
	s := &c.Spec.Service
	var out []corev1.ServicePort
	for _, ctr := range target.Spec.Template.Spec.Containers {
		for i, p := range ctr.Ports {
			switch {
			case s.TargetPort.String() == "0" && p.ContainerPort == s.Port,
				s.TargetPort.Type == intstr.Int && s.TargetPort.IntVal != 0 && p.ContainerPort == s.TargetPort.IntVal,
				s.TargetPort.Type == intstr.String && p.Name == s.TargetPort.StrVal:
				continue
			}
			name := fmt.Sprintf("tcp-%s-%d", ctr.Name, i)
			if p.Name != "" {
				name = p.Name
			}
			out = append(out, corev1.ServicePort{Name: name, Protocol: corev1.ProtocolTCP, Port: p.ContainerPort, TargetPort: intstr.FromInt32(p.ContainerPort)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// PrimaryHPA is the copy of the target's HorizontalPodAutoscaler that scales
// the primary, with primaryScalerReplicas' bounds where set.
func PrimaryHPA(c *v1beta1.Canary, hpa *autoscalingv2.HorizontalPodAutoscaler) *autoscalingv2.HorizontalPodAutoscaler {
	spec := *hpa.Spec.DeepCopy()
	spec.ScaleTargetRef.Name = PrimaryName(c)
	if r := c.Spec.AutoscalerRef.PrimaryScalerReplicas; r != nil {
		if r.MinReplicas != nil {
			spec.MinReplicas = r.MinReplicas
		}
		if r.MaxReplicas != nil {
			spec.MaxReplicas = *r.MaxReplicas
		}
	}
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{
			Name: hpa.Name + PrimarySuffix, Namespace: c.Namespace,
			Labels:          withoutToolkit(hpa.Labels),
			Annotations:     withoutToolkit(hpa.Annotations),
			OwnerReferences: []metav1.OwnerReference{ownerRef(c)},
		},
		Spec: spec,
	}
}

// KEDA's ScaledObject, which an autoscalerRef may name in place of an HPA.
const (
	ScaledObjectKind    = "ScaledObject"
	ScaledObjectVersion = "keda.sh/v1alpha1"
	// PausedReplicasAnnotation holds a ScaledObject's workload at this
	// many replicas while it is set (KEDA's).
	PausedReplicasAnnotation = "autoscaling.keda.sh/paused-replicas"
)

// PrimaryScaledObject is the copy of the target's ScaledObject that scales
// the primary, as Flagger makes it: scaleTargetRef names the primary; the
// polling, cooldown, bounds (primaryScalerReplicas' where set), advanced
// settings (a named HPA gets "-primary"), triggers, fallback and idle count
// are the target's; each trigger's query names the primary, or is
// primaryScalerQueries' for a trigger of that name.
func PrimaryScaledObject(c *v1beta1.Canary, so *unstructured.Unstructured) *unstructured.Unstructured {
	target, _, _ := unstructured.NestedMap(so.Object, "spec")
	spec := map[string]any{}
	ref := map[string]any{"name": PrimaryName(c)}
	if old, ok := target["scaleTargetRef"].(map[string]any); ok {
		for _, k := range []string{"kind", "apiVersion", "envSourceContainerName"} {
			if v, ok := old[k]; ok {
				ref[k] = v
			}
		}
	}
	spec["scaleTargetRef"] = ref
	for _, k := range []string{"pollingInterval", "cooldownPeriod", "minReplicaCount", "maxReplicaCount", "fallback", "idleReplicaCount"} {
		if v, ok := target[k]; ok {
			spec[k] = runtime.DeepCopyJSONValue(v)
		}
	}
	advanced, _ := runtime.DeepCopyJSONValue(orMap(target["advanced"])).(map[string]any)
	hpa := orMap(advanced["horizontalPodAutoscalerConfig"])
	if name, _ := hpa["name"].(string); name != "" {
		hpa["name"] = name + PrimarySuffix
	}
	advanced["horizontalPodAutoscalerConfig"] = hpa
	spec["advanced"] = advanced
	if triggers, ok := target["triggers"].([]any); ok {
		out := make([]any, 0, len(triggers))
		for _, t := range triggers {
			tr, _ := runtime.DeepCopyJSONValue(t).(map[string]any)
			meta, _ := tr["metadata"].(map[string]any)
			if q, ok := meta["query"].(string); ok {
				if queries := c.Spec.AutoscalerRef.PrimaryScalerQueries; queries != nil {
					if name, _ := tr["name"].(string); queries[name] != "" {
						meta["query"] = queries[name]
					}
				} else {
					meta["query"] = primaryQuery(q, c.Spec.TargetRef.Name)
				}
			}
			out = append(out, tr)
		}
		spec["triggers"] = out
	}
	if r := c.Spec.AutoscalerRef.PrimaryScalerReplicas; r != nil {
		if r.MinReplicas != nil {
			spec["minReplicaCount"] = int64(*r.MinReplicas)
		}
		if r.MaxReplicas != nil {
			spec["maxReplicaCount"] = int64(*r.MaxReplicas)
		}
	}
	out := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	out.SetAPIVersion(ScaledObjectVersion)
	out.SetKind(ScaledObjectKind)
	out.SetName(so.GetName() + PrimarySuffix)
	out.SetNamespace(c.Namespace)
	out.SetLabels(withoutToolkit(so.GetLabels()))
	out.SetAnnotations(withoutToolkit(so.GetAnnotations()))
	out.SetOwnerReferences([]metav1.OwnerReference{ownerRef(c)})
	return out
}

// primaryQuery points a trigger's query at the primary: both "NAME" and
// "NAME-canary" become "NAME-primary" (Flagger's best effort; users with
// other queries name them in primaryScalerQueries).
func primaryQuery(q, target string) string {
	const hold = "\x00canary\x00" // no query contains it
	q = strings.ReplaceAll(q, target+"-canary", hold)
	q = strings.ReplaceAll(q, target, target+PrimarySuffix)
	return strings.ReplaceAll(q, hold, target+PrimarySuffix)
}

func orMap(v any) map[string]any {
	if m, ok := v.(map[string]any); ok {
		return m
	}
	return map[string]any{}
}
