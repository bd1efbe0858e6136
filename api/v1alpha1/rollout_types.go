package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Rollout replaces a Deployment with a progressive release: canary steps or
// blue-green, with analysis and manual gates.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=ro,categories={all,argoproj,vireo}
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.HPAReplicas,selectorpath=.status.selector
// +kubebuilder:printcolumn:name="Desired",type=integer,JSONPath=`.spec.replicas`
// +kubebuilder:printcolumn:name="Current",type=integer,JSONPath=`.status.replicas`
// +kubebuilder:printcolumn:name="Up-to-date",type=integer,JSONPath=`.status.updatedReplicas`
// +kubebuilder:printcolumn:name="Available",type=integer,JSONPath=`.status.availableReplicas`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Rollout struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec RolloutSpec `json:"spec"`
	// +optional
	Status RolloutStatus `json:"status,omitempty"`
}

// RolloutList is a list of Rollouts.
//
// +kubebuilder:object:root=true
type RolloutList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Rollout `json:"items"`
}

// RolloutSpec is what the user asks of a Rollout.
type RolloutSpec struct {
	// Replicas is the desired number of pods; 1 when unset.
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// Selector selects the Rollout's pods; it must match the template's labels.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	// Template is the pod template; empty when WorkloadRef is used.
	// +optional
	Template corev1.PodTemplateSpec `json:"template,omitempty"`
	// DecodeProblems names the values left out when the spec was decoded
	// (see UnmarshalJSON); never stored.
	DecodeProblems []string `json:"-"`
	// WorkloadRef takes the pod template from an existing workload.
	// +optional
	WorkloadRef *ObjectRef `json:"workloadRef,omitempty"`
	// MinReadySeconds a new pod must be ready before it counts as available.
	// +optional
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`
	// Strategy is canary or blue-green.
	// +optional
	Strategy RolloutStrategy `json:"strategy"`
	// RevisionHistoryLimit is how many old ReplicaSets to keep; 10 when unset.
	// +optional
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`
	// Paused stops the rollout where it is.
	// +optional
	Paused bool `json:"paused,omitempty"`
	// ProgressDeadlineSeconds before a stalled rollout is reported; 600 when unset.
	// +optional
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`
	// ProgressDeadlineAbort aborts the rollout when the deadline passes.
	// +optional
	ProgressDeadlineAbort bool `json:"progressDeadlineAbort,omitempty"`
	// RestartAt asks for every pod created before this time to be replaced.
	// +optional
	RestartAt *metav1.Time `json:"restartAt,omitempty"`
	// Analysis sets the AnalysisRun history limits.
	// +optional
	Analysis *AnalysisRunStrategy `json:"analysis,omitempty"`
	// RollbackWindow makes a rollback to one of the last N revisions fast.
	// +optional
	RollbackWindow *RollbackWindowSpec `json:"rollbackWindow,omitempty"`
}

// ObjectRef points at a workload whose pod template a Rollout uses.
type ObjectRef struct {
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
	// +optional
	Kind string `json:"kind,omitempty"`
	// +optional
	Name string `json:"name,omitempty"`
	// ScaleDown is never, onsuccess or progressively.
	// +optional
	ScaleDown string `json:"scaleDown,omitempty"`
}

// Values of ObjectRef.ScaleDown.
const (
	ScaleDownNever         = "never"
	ScaleDownOnSuccess     = "onsuccess"
	ScaleDownProgressively = "progressively"
)

// AnalysisRunStrategy bounds the AnalysisRuns a Rollout keeps.
type AnalysisRunStrategy struct {
	// SuccessfulRunHistoryLimit defaults to 5.
	// +optional
	SuccessfulRunHistoryLimit *int32 `json:"successfulRunHistoryLimit,omitempty"`
	// UnsuccessfulRunHistoryLimit defaults to 5.
	// +optional
	UnsuccessfulRunHistoryLimit *int32 `json:"unsuccessfulRunHistoryLimit,omitempty"`
}

// RollbackWindowSpec is the number of recent revisions that roll back fast.
type RollbackWindowSpec struct {
	// +optional
	Revisions int32 `json:"revisions,omitempty"`
}

// RolloutStrategy holds exactly one of BlueGreen and Canary.
type RolloutStrategy struct {
	// +optional
	BlueGreen *BlueGreenStrategy `json:"blueGreen,omitempty"`
	// +optional
	Canary *CanaryStrategy `json:"canary,omitempty"`
}

// BlueGreenStrategy stands the new version up beside the old one and switches
// the active Service when it is promoted.
type BlueGreenStrategy struct {
	// ActiveService is the Service that receives production traffic.
	ActiveService string `json:"activeService"`
	// PreviewService, when set, points at the new version before promotion.
	// +optional
	PreviewService string `json:"previewService,omitempty"`
	// PreviewReplicaCount scales the new version while it is only previewed.
	// +optional
	PreviewReplicaCount *int32 `json:"previewReplicaCount,omitempty"`
	// AutoPromotionEnabled promotes without a manual step; true when unset.
	// +optional
	AutoPromotionEnabled *bool `json:"autoPromotionEnabled,omitempty"`
	// AutoPromotionSeconds promotes after this long in the paused state.
	// +optional
	AutoPromotionSeconds int32 `json:"autoPromotionSeconds,omitempty"`
	// MaxUnavailable during an update.
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
	// ScaleDownDelaySeconds keeps the old version up after the switch; 30 when unset.
	// +optional
	ScaleDownDelaySeconds *int32 `json:"scaleDownDelaySeconds,omitempty"`
	// ScaleDownDelayRevisionLimit is how many old versions may wait to scale down.
	// +optional
	ScaleDownDelayRevisionLimit *int32 `json:"scaleDownDelayRevisionLimit,omitempty"`
	// AbortScaleDownDelaySeconds keeps the preview up after an abort; 30 when unset.
	// +optional
	AbortScaleDownDelaySeconds *int32 `json:"abortScaleDownDelaySeconds,omitempty"`
	// PrePromotionAnalysis must pass before the switch.
	// +optional
	PrePromotionAnalysis *RolloutAnalysis `json:"prePromotionAnalysis,omitempty"`
	// PostPromotionAnalysis runs after the switch; failure switches back.
	// +optional
	PostPromotionAnalysis *RolloutAnalysis `json:"postPromotionAnalysis,omitempty"`
	// AntiAffinity keeps new pods off the nodes of the old version.
	// +optional
	AntiAffinity *AntiAffinity `json:"antiAffinity,omitempty"`
	// ActiveMetadata is added to the active pods.
	// +optional
	ActiveMetadata *PodTemplateMetadata `json:"activeMetadata,omitempty"`
	// PreviewMetadata is added to the preview pods.
	// +optional
	PreviewMetadata *PodTemplateMetadata `json:"previewMetadata,omitempty"`
}

// AntiAffinity chooses preferred or required anti-affinity to older versions.
type AntiAffinity struct {
	// +optional
	PreferredDuringSchedulingIgnoredDuringExecution *PreferredDuringSchedulingIgnoredDuringExecution `json:"preferredDuringSchedulingIgnoredDuringExecution,omitempty"`
	// +optional
	RequiredDuringSchedulingIgnoredDuringExecution *RequiredDuringSchedulingIgnoredDuringExecution `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// PreferredDuringSchedulingIgnoredDuringExecution asks for soft anti-affinity.
type PreferredDuringSchedulingIgnoredDuringExecution struct {
	// Weight of the preference, 1 to 100.
	Weight int32 `json:"weight"`
}

// RequiredDuringSchedulingIgnoredDuringExecution asks for hard anti-affinity.
type RequiredDuringSchedulingIgnoredDuringExecution struct{}

// CanaryStrategy shifts replicas and traffic to the new version step by step.
type CanaryStrategy struct {
	// CanaryService selects only canary pods.
	// +optional
	CanaryService string `json:"canaryService,omitempty"`
	// StableService selects only stable pods.
	// +optional
	StableService string `json:"stableService,omitempty"`
	// Steps of the release; none means a rolling update.
	// +optional
	Steps []CanaryStep `json:"steps,omitempty"`
	// TrafficRouting moves real traffic with a proxy or mesh.
	// +optional
	TrafficRouting *RolloutTrafficRouting `json:"trafficRouting,omitempty"`
	// MaxUnavailable during the update; 25% when unset.
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
	// MaxSurge during the update; 25% when unset.
	// +optional
	MaxSurge *intstr.IntOrString `json:"maxSurge,omitempty"`
	// Analysis runs in the background from StartingStep on.
	// +optional
	Analysis *RolloutAnalysisBackground `json:"analysis,omitempty"`
	// AntiAffinity keeps canary pods off the nodes of the stable version.
	// +optional
	AntiAffinity *AntiAffinity `json:"antiAffinity,omitempty"`
	// CanaryMetadata is added to canary pods.
	// +optional
	CanaryMetadata *PodTemplateMetadata `json:"canaryMetadata,omitempty"`
	// StableMetadata is added to stable pods.
	// +optional
	StableMetadata *PodTemplateMetadata `json:"stableMetadata,omitempty"`
	// ScaleDownDelaySeconds keeps the old stable up after promotion with traffic routing.
	// +optional
	ScaleDownDelaySeconds *int32 `json:"scaleDownDelaySeconds,omitempty"`
	// ScaleDownDelayRevisionLimit is how many old versions may wait to scale down.
	// +optional
	ScaleDownDelayRevisionLimit *int32 `json:"scaleDownDelayRevisionLimit,omitempty"`
	// AbortScaleDownDelaySeconds keeps the canary up after an abort; 30 when unset.
	// +optional
	AbortScaleDownDelaySeconds *int32 `json:"abortScaleDownDelaySeconds,omitempty"`
	// DynamicStableScale scales stable down as traffic leaves it.
	// +optional
	DynamicStableScale bool `json:"dynamicStableScale,omitempty"`
	// PingPong swaps two Services instead of a stable and a canary one.
	// +optional
	PingPong *PingPongSpec `json:"pingPong,omitempty"`
	// MinPodsPerReplicaSet keeps at least this many pods in each ReplicaSet under traffic routing.
	// +optional
	MinPodsPerReplicaSet *int32 `json:"minPodsPerReplicaSet,omitempty"`
	// ReplicaProgressThreshold says how many canary pods must be ready before a step moves on.
	// +optional
	ReplicaProgressThreshold *ReplicaProgressThreshold `json:"replicaProgressThreshold,omitempty"`
}

// ReplicaProgressThreshold is a count or a percentage of ready pods.
type ReplicaProgressThreshold struct {
	// Type is Pod or Percent.
	Type ProgressType `json:"type"`
	// Value is the count or the percentage.
	Value int32 `json:"value"`
}

// ProgressType is how ReplicaProgressThreshold.Value is read.
type ProgressType string

const (
	ProgressTypePod     ProgressType = "Pod"
	ProgressTypePercent ProgressType = "Percent"
)

// PingPongSpec names the two Services that take turns as stable.
type PingPongSpec struct {
	PingService string `json:"pingService"`
	PongService string `json:"pongService"`
}

// CanaryStep is one step of a canary release; exactly one field is set.
type CanaryStep struct {
	// SetWeight sends this percentage of traffic (or replicas) to the canary.
	// +optional
	SetWeight *int32 `json:"setWeight,omitempty"`
	// Pause waits for a duration, or until promoted when no duration is given.
	// +optional
	Pause *RolloutPause `json:"pause,omitempty"`
	// Experiment runs an Experiment and waits for it.
	// +optional
	Experiment *RolloutExperimentStep `json:"experiment,omitempty"`
	// Analysis runs an AnalysisRun and waits for it.
	// +optional
	Analysis *RolloutAnalysis `json:"analysis,omitempty"`
	// SetCanaryScale sets the canary's replicas apart from its traffic weight.
	// +optional
	SetCanaryScale *SetCanaryScale `json:"setCanaryScale,omitempty"`
	// SetHeaderRoute sends requests that match headers to the canary.
	// +optional
	SetHeaderRoute *SetHeaderRoute `json:"setHeaderRoute,omitempty"`
	// SetMirrorRoute mirrors matching requests to the canary.
	// +optional
	SetMirrorRoute *SetMirrorRoute `json:"setMirrorRoute,omitempty"`
	// Plugin runs a step plugin.
	// +optional
	Plugin *PluginStep `json:"plugin,omitempty"`
}

// RolloutPause is a pause step.
type RolloutPause struct {
	// Duration is seconds as an integer, or a string such as "30s", "10m", "1h".
	// +optional
	Duration *intstr.IntOrString `json:"duration,omitempty"`
}

// SetCanaryScale overrides how many canary pods run.
type SetCanaryScale struct {
	// Weight is a percentage of spec.replicas.
	// +optional
	Weight *int32 `json:"weight,omitempty"`
	// Replicas is an absolute count.
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// MatchTrafficWeight returns to scaling with the traffic weight.
	// +optional
	MatchTrafficWeight bool `json:"matchTrafficWeight,omitempty"`
}

// SetHeaderRoute is a managed route that matches request headers.
type SetHeaderRoute struct {
	// Name of a route listed in trafficRouting.managedRoutes.
	// +optional
	Name string `json:"name,omitempty"`
	// Match lists header conditions; no match removes the route.
	// +optional
	Match []HeaderRoutingMatch `json:"match,omitempty"`
}

// HeaderRoutingMatch matches one header.
type HeaderRoutingMatch struct {
	HeaderName  string       `json:"headerName"`
	HeaderValue *StringMatch `json:"headerValue"`
}

// StringMatch matches a string exactly, by prefix or by regular expression.
type StringMatch struct {
	// +optional
	Exact string `json:"exact,omitempty"`
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// +optional
	Regex string `json:"regex,omitempty"`
}

// SetMirrorRoute is a managed route that mirrors traffic to the canary.
type SetMirrorRoute struct {
	// Name of a route listed in trafficRouting.managedRoutes.
	Name string `json:"name"`
	// Match lists request conditions; no match removes the route.
	// +optional
	Match []RouteMatch `json:"match,omitempty"`
	// Percentage of matching requests to mirror; 100 when unset.
	// +optional
	Percentage *int32 `json:"percentage,omitempty"`
}

// RouteMatch matches a request by method, path and headers.
type RouteMatch struct {
	// +optional
	Method *StringMatch `json:"method,omitempty"`
	// +optional
	Path *StringMatch `json:"path,omitempty"`
	// +optional
	Headers map[string]StringMatch `json:"headers,omitempty"`
}

// PluginStep runs a named step plugin with free-form configuration.
type PluginStep struct {
	Name string `json:"name"`
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Config *apiextv1.JSON `json:"config,omitempty"`
}

// RolloutExperimentStep runs an Experiment as a canary step.
type RolloutExperimentStep struct {
	// Templates are the ReplicaSets of the experiment.
	Templates []RolloutExperimentTemplate `json:"templates"`
	// Duration of the experiment; unset means until its analyses finish.
	// +optional
	Duration DurationString `json:"duration,omitempty"`
	// Analyses judge the experiment.
	// +optional
	Analyses []RolloutExperimentStepAnalysisTemplateRef `json:"analyses,omitempty"`
	// +optional
	DryRun []DryRun `json:"dryRun,omitempty"`
	// +optional
	AnalysisRunMetadata AnalysisRunMetadata `json:"analysisRunMetadata,omitempty"`
	// ScaleDownDelaySeconds keeps the experiment's pods after it ends.
	// +optional
	ScaleDownDelaySeconds *int32 `json:"scaleDownDelaySeconds,omitempty"`
}

// RolloutExperimentTemplate is a ReplicaSet of an experiment step, built from the
// rollout's stable or canary template.
type RolloutExperimentTemplate struct {
	Name string `json:"name"`
	// SpecRef is stable or canary.
	SpecRef ReplicaSetSpecRef `json:"specRef"`
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// +optional
	Metadata PodTemplateMetadata `json:"metadata,omitempty"`
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	// Weight of traffic sent to this template's Service, where the router can.
	// +optional
	Weight *int32 `json:"weight,omitempty"`
	// +optional
	Service *TemplateService `json:"service,omitempty"`
}

// ReplicaSetSpecRef is the template an experiment step copies.
type ReplicaSetSpecRef string

const (
	CanarySpecRef ReplicaSetSpecRef = "canary"
	StableSpecRef ReplicaSetSpecRef = "stable"
)

// RolloutExperimentStepAnalysisTemplateRef is an analysis of an experiment step.
type RolloutExperimentStepAnalysisTemplateRef struct {
	Name         string `json:"name"`
	TemplateName string `json:"templateName"`
	// +optional
	ClusterScope bool `json:"clusterScope,omitempty"`
	// +optional
	Args []AnalysisRunArgument `json:"args,omitempty"`
	// +optional
	RequiredForCompletion bool `json:"requiredForCompletion,omitempty"`
}

// RolloutAnalysis runs AnalysisRuns from one or more templates.
type RolloutAnalysis struct {
	// +optional
	Templates []AnalysisTemplateRef `json:"templates,omitempty"`
	// +optional
	Args []AnalysisRunArgument `json:"args,omitempty"`
	// +optional
	DryRun []DryRun `json:"dryRun,omitempty"`
	// +optional
	MeasurementRetention []MeasurementRetention `json:"measurementRetention,omitempty"`
	// +optional
	AnalysisRunMetadata AnalysisRunMetadata `json:"analysisRunMetadata,omitempty"`
}

// RolloutAnalysisBackground is the canary's background analysis.
type RolloutAnalysisBackground struct {
	RolloutAnalysis `json:",inline"`
	// StartingStep is the step index at which the analysis starts.
	// +optional
	StartingStep *int32 `json:"startingStep,omitempty"`
}

// AnalysisTemplateRef names an AnalysisTemplate or a ClusterAnalysisTemplate.
type AnalysisTemplateRef struct {
	// +optional
	TemplateName string `json:"templateName,omitempty"`
	// ClusterScope selects a ClusterAnalysisTemplate.
	// +optional
	ClusterScope bool `json:"clusterScope,omitempty"`
}

// RolloutTrafficRouting configures the routers that move traffic.
type RolloutTrafficRouting struct {
	// +optional
	Istio *IstioTrafficRouting `json:"istio,omitempty"`
	// +optional
	Nginx *NginxTrafficRouting `json:"nginx,omitempty"`
	// +optional
	ALB *ALBTrafficRouting `json:"alb,omitempty"`
	// +optional
	SMI *SMITrafficRouting `json:"smi,omitempty"`
	// +optional
	Ambassador *AmbassadorTrafficRouting `json:"ambassador,omitempty"`
	// +optional
	AppMesh *AppMeshTrafficRouting `json:"appMesh,omitempty"`
	// +optional
	Traefik *TraefikTrafficRouting `json:"traefik,omitempty"`
	// +optional
	Apisix *ApisixTrafficRouting `json:"apisix,omitempty"`
	// ManagedRoutes lists the header and mirror routes steps may set, in priority order.
	// +optional
	ManagedRoutes []MangedRoutes `json:"managedRoutes,omitempty"`
	// MaxTrafficWeight is the total weight; 100 when unset.
	// +optional
	MaxTrafficWeight *int32 `json:"maxTrafficWeight,omitempty"`
	// Plugins configures router plugins by name.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Plugins map[string]apiextv1.JSON `json:"plugins,omitempty"`
}

// MangedRoutes names a route Vireo may create and remove (the spelling is the API's).
type MangedRoutes struct {
	Name string `json:"name"`
}

// IstioTrafficRouting routes with Istio VirtualServices and DestinationRules.
type IstioTrafficRouting struct {
	// +optional
	VirtualService *IstioVirtualService `json:"virtualService,omitempty"`
	// +optional
	VirtualServices []IstioVirtualService `json:"virtualServices,omitempty"`
	// +optional
	DestinationRule *IstioDestinationRule `json:"destinationRule,omitempty"`
}

// IstioVirtualService names a VirtualService and the routes in it to manage.
type IstioVirtualService struct {
	Name string `json:"name"`
	// +optional
	Routes []string `json:"routes,omitempty"`
	// +optional
	TLSRoutes []TLSRoute `json:"tlsRoutes,omitempty"`
	// +optional
	TCPRoutes []TCPRoute `json:"tcpRoutes,omitempty"`
}

// TLSRoute selects an Istio tls route by port and SNI hosts.
type TLSRoute struct {
	// +optional
	Port int64 `json:"port,omitempty"`
	// +optional
	SNIHosts []string `json:"sniHosts,omitempty"`
}

// TCPRoute selects an Istio tcp route by port.
type TCPRoute struct {
	// +optional
	Port int64 `json:"port,omitempty"`
}

// IstioDestinationRule names the subsets of a subset-level split.
type IstioDestinationRule struct {
	Name             string `json:"name"`
	CanarySubsetName string `json:"canarySubsetName"`
	StableSubsetName string `json:"stableSubsetName"`
	// +optional
	AdditionalSubsetNames []string `json:"additionalSubsetNames,omitempty"`
}

// NginxTrafficRouting routes with an ingress-nginx canary Ingress.
type NginxTrafficRouting struct {
	// AnnotationPrefix defaults to nginx.ingress.kubernetes.io.
	// +optional
	AnnotationPrefix string `json:"annotationPrefix,omitempty"`
	// +optional
	StableIngress string `json:"stableIngress,omitempty"`
	// +optional
	StableIngresses []string `json:"stableIngresses,omitempty"`
	// +optional
	AdditionalIngressAnnotations map[string]string `json:"additionalIngressAnnotations,omitempty"`
	// +optional
	CanaryIngressAnnotations map[string]string `json:"canaryIngressAnnotations,omitempty"`
}

// ALBTrafficRouting routes with AWS Load Balancer Controller action annotations.
type ALBTrafficRouting struct {
	// +optional
	Ingress string `json:"ingress,omitempty"`
	// +optional
	Ingresses   []string `json:"ingresses,omitempty"`
	ServicePort int32    `json:"servicePort"`
	// +optional
	RootService string `json:"rootService,omitempty"`
	// +optional
	AnnotationPrefix string `json:"annotationPrefix,omitempty"`
	// +optional
	StickinessConfig *StickinessConfig `json:"stickinessConfig,omitempty"`
}

// StickinessConfig is target-group stickiness for ALB.
type StickinessConfig struct {
	Enabled         bool  `json:"enabled"`
	DurationSeconds int64 `json:"durationSeconds"`
}

// SMITrafficRouting routes with an SMI TrafficSplit.
type SMITrafficRouting struct {
	// +optional
	RootService string `json:"rootService,omitempty"`
	// +optional
	TrafficSplitName string `json:"trafficSplitName,omitempty"`
}

// AmbassadorTrafficRouting routes with Ambassador Mappings.
type AmbassadorTrafficRouting struct {
	Mappings []string `json:"mappings"`
}

// AppMeshTrafficRouting routes with AWS App Mesh.
type AppMeshTrafficRouting struct {
	// +optional
	VirtualService *AppMeshVirtualService `json:"virtualService,omitempty"`
	// +optional
	VirtualNodeGroup *AppMeshVirtualNodeGroup `json:"virtualNodeGroup,omitempty"`
}

// AppMeshVirtualService names an App Mesh virtual service and its routes.
type AppMeshVirtualService struct {
	Name string `json:"name"`
	// +optional
	Routes []string `json:"routes,omitempty"`
}

// AppMeshVirtualNodeGroup names the canary and stable virtual nodes.
type AppMeshVirtualNodeGroup struct {
	CanaryVirtualNodeRef *AppMeshVirtualNodeReference `json:"canaryVirtualNodeRef"`
	StableVirtualNodeRef *AppMeshVirtualNodeReference `json:"stableVirtualNodeRef"`
}

// AppMeshVirtualNodeReference names a virtual node.
type AppMeshVirtualNodeReference struct {
	Name string `json:"name"`
}

// TraefikTrafficRouting routes with a weighted TraefikService.
type TraefikTrafficRouting struct {
	WeightedTraefikServiceName string `json:"weightedTraefikServiceName"`
}

// ApisixTrafficRouting routes with an APISIX Route.
type ApisixTrafficRouting struct {
	// +optional
	Route *ApisixRoute `json:"route,omitempty"`
}

// ApisixRoute names an ApisixRoute and its rules.
type ApisixRoute struct {
	Name string `json:"name"`
	// +optional
	Rules []string `json:"rules,omitempty"`
}

// RolloutStatus is what Vireo reports about a Rollout. Tools read it: the
// names, types and meanings are those Argo Rollouts users rely on.
type RolloutStatus struct {
	// Abort is set by the user to abort the rollout.
	// +optional
	Abort bool `json:"abort,omitempty"`
	// PauseConditions says why the rollout is paused.
	// +optional
	PauseConditions []PauseCondition `json:"pauseConditions,omitempty"`
	// ControllerPause is true when Vireo itself paused the rollout.
	// +optional
	ControllerPause bool `json:"controllerPause,omitempty"`
	// AbortedAt is when the rollout was aborted.
	// +optional
	AbortedAt *metav1.Time `json:"abortedAt,omitempty"`
	// CurrentPodHash is the pod-template hash of the desired template.
	// +optional
	CurrentPodHash string `json:"currentPodHash,omitempty"`
	// CurrentStepHash is the hash of the canary steps.
	// +optional
	CurrentStepHash string `json:"currentStepHash,omitempty"`
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// +optional
	UpdatedReplicas int32 `json:"updatedReplicas,omitempty"`
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// +optional
	AvailableReplicas int32 `json:"availableReplicas,omitempty"`
	// CurrentStepIndex is the index of the current canary step.
	// +optional
	CurrentStepIndex *int32 `json:"currentStepIndex,omitempty"`
	// +optional
	CollisionCount *int32 `json:"collisionCount,omitempty"`
	// ObservedGeneration is the metadata.generation last acted on, as a string.
	// +optional
	ObservedGeneration string `json:"observedGeneration,omitempty"`
	// +optional
	Conditions []Condition `json:"conditions,omitempty"`
	// +optional
	Canary CanaryStatus `json:"canary,omitempty"`
	// +optional
	BlueGreen BlueGreenStatus `json:"blueGreen,omitempty"`
	// HPAReplicas is the replica count the scale subresource reports.
	// +optional
	HPAReplicas int32 `json:"HPAReplicas,omitempty"`
	// Selector is the label selector, serialised, for the scale subresource.
	// +optional
	Selector string `json:"selector,omitempty"`
	// StableRS is the pod-template hash of the stable ReplicaSet.
	// +optional
	StableRS string `json:"stableRS,omitempty"`
	// RestartedAt is the restartAt that was last fully applied.
	// +optional
	RestartedAt *metav1.Time `json:"restartedAt,omitempty"`
	// PromoteFull is set by the user to skip the remaining steps.
	// +optional
	PromoteFull bool `json:"promoteFull,omitempty"`
	// Phase is Healthy, Progressing, Paused or Degraded.
	// +optional
	Phase RolloutPhase `json:"phase,omitempty"`
	// Message explains the phase.
	// +optional
	Message string `json:"message,omitempty"`
	// WorkloadObservedGeneration is the generation of the referenced workload last seen.
	// +optional
	WorkloadObservedGeneration string `json:"workloadObservedGeneration,omitempty"`
	// ALB reports the load balancer of the first ALB ingress.
	// +optional
	ALB *ALBStatus `json:"alb,omitempty"`
	// ALBs reports every ALB ingress.
	// +optional
	ALBs []ALBStatus `json:"albs,omitempty"`
	// Duration reports how long the current rollout took.
	// +optional
	Duration *RolloutDurationStatus `json:"duration,omitempty"`
}

// RolloutDurationStatus records the timing of the current rollout.
type RolloutDurationStatus struct {
	// +optional
	RolloutStartedAt *metav1.Time `json:"rolloutStartedAt,omitempty"`
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// +optional
	CompletionStatus string `json:"completionStatus,omitempty"`
	// +optional
	ManualPauseStartedAt *metav1.Time `json:"manualPauseStartedAt,omitempty"`
	// +optional
	TotalManualPauseDurationSeconds int64 `json:"totalManualPauseDurationSeconds,omitempty"`
}

// RolloutPhase is the summary state of a Rollout.
type RolloutPhase string

const (
	RolloutPhaseHealthy     RolloutPhase = "Healthy"
	RolloutPhaseProgressing RolloutPhase = "Progressing"
	RolloutPhasePaused      RolloutPhase = "Paused"
	RolloutPhaseDegraded    RolloutPhase = "Degraded"
)

// PauseReason says why a rollout paused.
type PauseReason string

const (
	PauseReasonCanaryPauseStep        PauseReason = "CanaryPauseStep"
	PauseReasonBlueGreenPause         PauseReason = "BlueGreenPause"
	PauseReasonInconclusiveAnalysis   PauseReason = "InconclusiveAnalysisRun"
	PauseReasonInconclusiveExperiment PauseReason = "InconclusiveExperiment"
	// PauseReasonFailedAnalysis is Vireo's own: a Failed or Error analysis
	// run paused the rollout, as its vireo.dev/on-analysis-failure: pause
	// asks, instead of aborting it.
	PauseReasonFailedAnalysis PauseReason = "FailedAnalysisRun"
)

// PauseCondition is one reason a rollout is paused, and since when.
type PauseCondition struct {
	Reason    PauseReason `json:"reason"`
	StartTime metav1.Time `json:"startTime"`
}

// RolloutAnalysisRunStatus is the state of one AnalysisRun of a rollout.
type RolloutAnalysisRunStatus struct {
	Name   string        `json:"name"`
	Status AnalysisPhase `json:"status"`
	// +optional
	Message string `json:"message,omitempty"`
}

// CanaryStatus is the canary part of a rollout's status.
type CanaryStatus struct {
	// +optional
	CurrentStepAnalysisRunStatus *RolloutAnalysisRunStatus `json:"currentStepAnalysisRunStatus,omitempty"`
	// +optional
	CurrentBackgroundAnalysisRunStatus *RolloutAnalysisRunStatus `json:"currentBackgroundAnalysisRunStatus,omitempty"`
	// +optional
	CurrentExperiment string `json:"currentExperiment,omitempty"`
	// Weights are the traffic weights last set on the routers.
	// +optional
	Weights *TrafficWeights `json:"weights,omitempty"`
	// StablePingPong is ping or pong.
	// +optional
	StablePingPong string `json:"stablePingPong,omitempty"`
	// +optional
	StepPluginStatuses []StepPluginStatus `json:"stepPluginStatuses,omitempty"`
}

// TrafficWeights are the weights of each destination.
type TrafficWeights struct {
	Canary WeightDestination `json:"canary"`
	Stable WeightDestination `json:"stable"`
	// +optional
	Additional []WeightDestination `json:"additional,omitempty"`
	// Verified is set once the router confirmed the weight.
	// +optional
	Verified *bool `json:"verified,omitempty"`
}

// WeightDestination is the weight sent to one Service.
type WeightDestination struct {
	Weight int32 `json:"weight"`
	// +optional
	ServiceName string `json:"serviceName,omitempty"`
	// +optional
	PodTemplateHash string `json:"podTemplateHash,omitempty"`
}

// StepPluginStatus is the state of a plugin step.
type StepPluginStatus struct {
	Index int32  `json:"index"`
	Name  string `json:"name"`
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// +optional
	UpdatedAt *metav1.Time `json:"updatedAt,omitempty"`
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// +optional
	Backoff DurationString `json:"backoff,omitempty"`
	// +optional
	Phase string `json:"phase,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	Executions int32 `json:"executions,omitempty"`
	// +optional
	Disabled  bool   `json:"disabled,omitempty"`
	Operation string `json:"operation"`
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Status *apiextv1.JSON `json:"status,omitempty"`
}

// BlueGreenStatus is the blue-green part of a rollout's status.
type BlueGreenStatus struct {
	// +optional
	PreviewSelector string `json:"previewSelector,omitempty"`
	// +optional
	ActiveSelector string `json:"activeSelector,omitempty"`
	// +optional
	ScaleUpPreviewCheckPoint bool `json:"scaleUpPreviewCheckPoint,omitempty"`
	// +optional
	PrePromotionAnalysisRunStatus *RolloutAnalysisRunStatus `json:"prePromotionAnalysisRunStatus,omitempty"`
	// +optional
	PostPromotionAnalysisRunStatus *RolloutAnalysisRunStatus `json:"postPromotionAnalysisRunStatus,omitempty"`
}

// ALBStatus names the AWS resources of an ALB ingress.
type ALBStatus struct {
	// +optional
	LoadBalancer AwsResourceRef `json:"loadBalancer,omitempty"`
	// +optional
	CanaryTargetGroup AwsResourceRef `json:"canaryTargetGroup,omitempty"`
	// +optional
	StableTargetGroup AwsResourceRef `json:"stableTargetGroup,omitempty"`
	// +optional
	Ingress string `json:"ingress,omitempty"`
}

// AwsResourceRef names an AWS resource.
type AwsResourceRef struct {
	Name string `json:"name"`
	ARN  string `json:"arn"`
	// +optional
	FullName string `json:"fullName,omitempty"`
}

// Rollout condition types.
const (
	RolloutInvalidSpec    = "InvalidSpec"
	RolloutAvailable      = "Available"
	RolloutProgressing    = "Progressing"
	RolloutReplicaFailure = "ReplicaFailure"
	RolloutPaused         = "Paused"
	RolloutCompleted      = "Completed"
	RolloutHealthy        = "Healthy"
)
