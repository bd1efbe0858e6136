package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Canary releases a Deployment (its targetRef) step by step: Vireo keeps a
// copy of the last good version, NAME-primary, serving the traffic, and moves
// traffic to the new version only as far as its analysis allows.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=all
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Weight",type=string,JSONPath=`.status.canaryWeight`
// +kubebuilder:printcolumn:name="Suspended",type=boolean,JSONPath=`.spec.suspend`,priority=1
// +kubebuilder:printcolumn:name="FailedChecks",type=string,JSONPath=`.status.failedChecks`,priority=1
// +kubebuilder:printcolumn:name="Interval",type=string,JSONPath=`.spec.analysis.interval`,priority=1
// +kubebuilder:printcolumn:name="Mirror",type=boolean,JSONPath=`.spec.analysis.mirror`,priority=1
// +kubebuilder:printcolumn:name="StepWeight",type=string,JSONPath=`.spec.analysis.stepWeight`,priority=1
// +kubebuilder:printcolumn:name="StepWeights",type=string,JSONPath=`.spec.analysis.stepWeights`,priority=1
// +kubebuilder:printcolumn:name="MaxWeight",type=string,JSONPath=`.spec.analysis.maxWeight`,priority=1
// +kubebuilder:printcolumn:name="LastTransitionTime",type=string,JSONPath=`.status.lastTransitionTime`
type Canary struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   CanarySpec   `json:"spec,omitempty"`
	Status CanaryStatus `json:"status,omitempty"`
}

// CanaryList is a list of Canaries.
//
// +kubebuilder:object:root=true
type CanaryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Canary `json:"items"`
}

// CanarySpec is what the user asks for.
type CanarySpec struct {
	// Provider names the traffic router; empty means the controller's
	// -flagger-provider flag.
	// +kubebuilder:validation:Enum="apisix";"appmesh";"appmesh:v1beta2";"contour";"gatewayapi:v1";"gatewayapi:v1beta1";"gloo";"istio";"knative";"kubernetes";"kuma";"linkerd";"nginx";"osm";"skipper";"smi:v1alpha1";"smi:v1alpha2";"smi:v1alpha3";"traefik"
	// +optional
	Provider string `json:"provider,omitempty"`

	// MetricsServer is the Prometheus address of the built-in metrics; empty
	// means the controller's -flagger-metrics-server flag.
	// +optional
	MetricsServer string `json:"metricsServer,omitempty"`

	// TargetRef is the workload under release.
	// +optional
	TargetRef TargetReference `json:"targetRef,omitempty"`

	// AutoscalerRef is the target's autoscaler; Vireo gives the primary a
	// copy of it.
	// +optional
	AutoscalerRef *AutoscalerReference `json:"autoscalerRef,omitempty"`

	// IngressRef is the Ingress the nginx router splits.
	// +optional
	IngressRef *IngressReference `json:"ingressRef,omitempty"`

	// RouteRef is the ApisixRoute the apisix router splits.
	// +optional
	RouteRef *RouteReference `json:"routeRef,omitempty"`

	// UpstreamRef is the Gloo Upstream to copy.
	// +optional
	UpstreamRef *UpstreamReference `json:"upstreamRef,omitempty"`

	// Service describes the Services Vireo creates and the routing rules.
	// +optional
	Service CanaryService `json:"service,omitempty"`

	// Analysis is the schedule, the steps and the checks of a release.
	// +optional
	Analysis *CanaryAnalysis `json:"analysis,omitempty"`

	// ProgressDeadlineSeconds is how long a workload may take to become ready
	// before the release is rolled back (default 600).
	// +kubebuilder:validation:Type=number
	// +optional
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`

	// SkipAnalysis promotes a new revision without analysis.
	// +optional
	SkipAnalysis bool `json:"skipAnalysis,omitempty"`

	// RevertOnDeletion gives the target back its replicas and the traffic
	// when the Canary is deleted.
	// +optional
	RevertOnDeletion bool `json:"revertOnDeletion,omitempty"`

	// Suspend stops all work on this Canary until it is cleared.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// TargetReference names the workload of a Canary in its own namespace.
type TargetReference struct {
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
	// +kubebuilder:validation:Enum=DaemonSet;Deployment;Service
	// +optional
	Kind string `json:"kind,omitempty"`
	// +optional
	Name string `json:"name,omitempty"`
}

// AutoscalerReference names the target's autoscaler.
type AutoscalerReference struct {
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
	// +kubebuilder:validation:Enum=HorizontalPodAutoscaler;ScaledObject
	// +optional
	Kind string `json:"kind,omitempty"`
	// +optional
	Name string `json:"name,omitempty"`
	// PrimaryScalerQueries replaces the trigger queries of the primary's
	// ScaledObject, by trigger name.
	// +optional
	PrimaryScalerQueries map[string]string `json:"primaryScalerQueries,omitempty"`
	// PrimaryScalerReplicas overrides the primary autoscaler's bounds.
	// +optional
	PrimaryScalerReplicas *ScalerReplicas `json:"primaryScalerReplicas,omitempty"`
}

// ScalerReplicas are an autoscaler's bounds.
type ScalerReplicas struct {
	// +optional
	MinReplicas *int32 `json:"minReplicas,omitempty"`
	// +optional
	MaxReplicas *int32 `json:"maxReplicas,omitempty"`
}

// IngressReference names an Ingress.
type IngressReference struct {
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
	// +kubebuilder:validation:Enum=Ingress
	// +optional
	Kind string `json:"kind,omitempty"`
	// +optional
	Name string `json:"name,omitempty"`
}

// RouteReference names an ApisixRoute.
type RouteReference struct {
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
	// +kubebuilder:validation:Enum=ApisixRoute
	// +optional
	Kind string `json:"kind,omitempty"`
	// +optional
	Name string `json:"name,omitempty"`
}

// UpstreamReference names a Gloo Upstream, possibly in another namespace.
type UpstreamReference struct {
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
	// +kubebuilder:validation:Enum=Upstream
	// +optional
	Kind string `json:"kind,omitempty"`
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// CrossNamespaceReference names an object that may live in another namespace;
// an empty namespace is the Canary's.
type CrossNamespaceReference struct {
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// CustomMetadata is extra labels and annotations for one generated Service.
type CustomMetadata struct {
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// UnmanagedMetadata lists label and annotation keys on generated objects that
// Vireo leaves to others.
type UnmanagedMetadata struct {
	// +optional
	Labels []string `json:"labels,omitempty"`
	// +optional
	Annotations []string `json:"annotations,omitempty"`
}

// CanaryService describes the Services NAME, NAME-primary and NAME-canary and
// the router's rules in front of them.
type CanaryService struct {
	// Name of the apex Service; empty means the target's name.
	// +optional
	Name string `json:"name,omitempty"`
	// Port the Services expose.
	// +kubebuilder:validation:Type=number
	// +optional
	Port int32 `json:"port,omitempty"`
	// PortName names the port (default http).
	// +optional
	PortName string `json:"portName,omitempty"`
	// TargetPort is the container port, by number or name (default: port).
	// +optional
	TargetPort intstr.IntOrString `json:"targetPort,omitempty"`
	// AppProtocol of the port.
	// +optional
	AppProtocol string `json:"appProtocol,omitempty"`
	// PortDiscovery adds every other container port to the Services.
	// +optional
	PortDiscovery bool `json:"portDiscovery,omitempty"`
	// Headless makes the primary and canary Services headless.
	// +optional
	Headless bool `json:"headless,omitempty"`
	// Timeout of an HTTP request through the router.
	// +optional
	Timeout string `json:"timeout,omitempty"`
	// TrafficDistribution of the generated Services.
	// +kubebuilder:validation:Enum=PreferClose;PreferSameZone;PreferSameNode
	// +optional
	TrafficDistribution string `json:"trafficDistribution,omitempty"`
	// Gateways the Istio VirtualService is bound to.
	// +optional
	Gateways []string `json:"gateways,omitempty"`
	// GatewayRefs are the Gateway API parents of the HTTPRoute.
	// +optional
	GatewayRefs []ParentReference `json:"gatewayRefs,omitempty"`
	// Hosts the VirtualService or HTTPRoute answers for.
	// +optional
	Hosts []string `json:"hosts,omitempty"`
	// Delegation makes the VirtualService a delegate of another.
	// +optional
	Delegation bool `json:"delegation,omitempty"`
	// TrafficPolicy of both DestinationRules.
	// +optional
	TrafficPolicy *TrafficPolicy `json:"trafficPolicy,omitempty"`
	// Match restricts the routes to matching requests.
	// +optional
	Match []HTTPMatchRequest `json:"match,omitempty"`
	// Rewrite of matched requests.
	// +optional
	Rewrite *HTTPRewrite `json:"rewrite,omitempty"`
	// Retries of a failed request.
	// +optional
	Retries *HTTPRetry `json:"retries,omitempty"`
	// Headers to add, set or remove.
	// +optional
	Headers *Headers `json:"headers,omitempty"`
	// Mirror filters of the HTTPRoute.
	// +optional
	Mirror []HTTPRequestMirrorFilter `json:"mirror,omitempty"`
	// CorsPolicy of the routes.
	// +optional
	CorsPolicy *CorsPolicy `json:"corsPolicy,omitempty"`
	// MeshName of App Mesh.
	// +optional
	MeshName string `json:"meshName,omitempty"`
	// Backends of App Mesh.
	// +optional
	Backends []string `json:"backends,omitempty"`
	// Apex, Primary and Canary add metadata to the three Services.
	// +optional
	Apex *CustomMetadata `json:"apex,omitempty"`
	// +optional
	Primary *CustomMetadata `json:"primary,omitempty"`
	// +optional
	Canary *CustomMetadata `json:"canary,omitempty"`
	// BackendTimeout of the router's backends.
	// +optional
	BackendTimeout string `json:"backendTimeout,omitempty"`
	// UnmanagedMetadata lists keys Vireo does not manage on generated objects.
	// +optional
	UnmanagedMetadata *UnmanagedMetadata `json:"unmanagedMetadata,omitempty"`
}

// CanaryAnalysis is the schedule, the steps and the checks of a release.
type CanaryAnalysis struct {
	// Interval between two steps, for example 1m.
	// +kubebuilder:validation:Pattern=`^[0-9]+(m|s)`
	// +optional
	Interval string `json:"interval,omitempty"`
	// Iterations of a blue-green or A/B release.
	// +kubebuilder:validation:Type=number
	// +optional
	Iterations int `json:"iterations,omitempty"`
	// Mirror sends a copy of the traffic to the canary before shifting.
	// +optional
	Mirror bool `json:"mirror,omitempty"`
	// MirrorWeight is the share of traffic mirrored.
	// +kubebuilder:validation:Type=number
	// +optional
	MirrorWeight int `json:"mirrorWeight,omitempty"`
	// MaxWeight is the canary's highest weight before promotion (default 100).
	// +kubebuilder:validation:Type=number
	// +optional
	MaxWeight int `json:"maxWeight,omitempty"`
	// StepWeight is added to the canary's weight at each step.
	// +kubebuilder:validation:Type=number
	// +optional
	StepWeight int `json:"stepWeight,omitempty"`
	// StepWeights are the canary's weights, one per step.
	// +kubebuilder:validation:items:Type=number
	// +optional
	StepWeights []int `json:"stepWeights,omitempty"`
	// StepWeightPromotion moves traffic back to the primary by this much per
	// step after promotion; zero moves it at once.
	// +kubebuilder:validation:Type=number
	// +optional
	StepWeightPromotion int `json:"stepWeightPromotion,omitempty"`
	// Threshold is the number of failed checks that rolls the release back.
	// +kubebuilder:validation:Type=number
	// +optional
	Threshold int `json:"threshold,omitempty"`
	// PrimaryReadyThreshold is the percentage of ready primary pods needed.
	// +kubebuilder:validation:Type=number
	// +optional
	PrimaryReadyThreshold *int `json:"primaryReadyThreshold,omitempty"`
	// CanaryReadyThreshold is the percentage of ready canary pods needed.
	// +kubebuilder:validation:Type=number
	// +optional
	CanaryReadyThreshold *int `json:"canaryReadyThreshold,omitempty"`
	// Alerts to send.
	// +optional
	Alerts []CanaryAlert `json:"alerts,omitempty"`
	// Metrics to check at every step.
	// +optional
	Metrics []CanaryMetric `json:"metrics,omitempty"`
	// Webhooks to call.
	// +optional
	Webhooks []CanaryWebhook `json:"webhooks,omitempty"`
	// Match is the A/B rule: requests that match go to the canary.
	// +optional
	Match []AnalysisMatch `json:"match,omitempty"`
	// SessionAffinity keeps a user on the version that first served it.
	// +optional
	SessionAffinity *SessionAffinity `json:"sessionAffinity,omitempty"`
}

// AnalysisMatch is one A/B rule: all of its conditions must hold.
type AnalysisMatch struct {
	// +optional
	Headers map[string]StringMatch `json:"headers,omitempty"`
	// +optional
	QueryParams map[string]PlainStringMatch `json:"queryParams,omitempty"`
	// +optional
	// +mapType=atomic
	SourceLabels map[string]FormattedString `json:"sourceLabels,omitempty"`
}

// FormattedString is a string declared with format "string", as Istio's
// schema declares its strings.
// +kubebuilder:validation:Format=string
type FormattedString string

// StringMatch matches a string exactly, by prefix, by suffix or by regular
// expression (RE2).
type StringMatch struct {
	// +optional
	Exact FormattedString `json:"exact,omitempty"`
	// +optional
	Prefix FormattedString `json:"prefix,omitempty"`
	// +optional
	Suffix FormattedString `json:"suffix,omitempty"`
	// +optional
	Regex FormattedString `json:"regex,omitempty"`
}

// PlainStringMatch is a StringMatch without suffix, as Flagger declares
// query parameters.
type PlainStringMatch struct {
	// +optional
	Exact string `json:"exact,omitempty"`
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// +optional
	Regex string `json:"regex,omitempty"`
}

// SessionAffinity pins a user to a version by cookie.
type SessionAffinity struct {
	// CookieName of the canary cookie.
	// +optional
	CookieName string `json:"cookieName,omitempty"`
	// PrimaryCookieName of the primary cookie.
	// +optional
	PrimaryCookieName string `json:"primaryCookieName,omitempty"`
	// MaxAge of the cookie in seconds (default 86400).
	// +kubebuilder:validation:Type=number
	// +optional
	MaxAge int `json:"maxAge,omitempty"`
	// +optional
	Domain string `json:"domain,omitempty"`
	// +optional
	Path string `json:"path,omitempty"`
	// +optional
	HTTPOnly bool `json:"httpOnly,omitempty"`
	// +optional
	Secure bool `json:"secure,omitempty"`
	// +optional
	Partitioned bool `json:"partitioned,omitempty"`
	// +kubebuilder:validation:Enum=Strict;Lax;None
	// +optional
	SameSite string `json:"sameSite,omitempty"`
}

// CanaryMetric is one check: a built-in metric by name, or a MetricTemplate.
type CanaryMetric struct {
	// Name of the check; request-success-rate and request-duration are
	// built in.
	// +optional
	Name string `json:"name,omitempty"`
	// Interval is the query's range window (default: the analysis interval).
	// +kubebuilder:validation:Pattern=`^[0-9]+(m|s)`
	// +optional
	Interval string `json:"interval,omitempty"`
	// Threshold is the built-in metrics' bound: the least success rate, or
	// the most duration in milliseconds.
	// +optional
	Threshold float64 `json:"threshold,omitempty"`
	// ThresholdRange bounds a templated metric's value.
	// +optional
	ThresholdRange *ThresholdRange `json:"thresholdRange,omitempty"`
	// Query of a built-in metric, to replace its own.
	// +optional
	Query string `json:"query,omitempty"`
	// TemplateRef names the MetricTemplate.
	// +optional
	TemplateRef *CrossNamespaceReference `json:"templateRef,omitempty"`
	// TemplateVariables are the template's {{ variables.NAME }}.
	// +optional
	TemplateVariables map[string]string `json:"templateVariables,omitempty"`
}

// ThresholdRange bounds a value; either end may be open.
type ThresholdRange struct {
	// +optional
	Min *float64 `json:"min,omitempty"`
	// +optional
	Max *float64 `json:"max,omitempty"`
}

// AlertSeverity is the least severity of the messages an alert sends.
type AlertSeverity string

// The alert severities.
const (
	SeverityInfo  AlertSeverity = "info"
	SeverityWarn  AlertSeverity = "warn"
	SeverityError AlertSeverity = "error"
)

// CanaryAlert sends this Canary's messages to an AlertProvider.
type CanaryAlert struct {
	// +optional
	Name string `json:"name,omitempty"`
	// +kubebuilder:validation:Enum="";info;warn;error
	// +optional
	Severity AlertSeverity `json:"severity,omitempty"`
	// +optional
	ProviderRef CrossNamespaceReference `json:"providerRef,omitempty"`
}

// HookType says when a webhook is called and what its answer means.
type HookType string

// The webhook types.
const (
	HookRollout                HookType = "rollout"
	HookPreRollout             HookType = "pre-rollout"
	HookPostRollout            HookType = "post-rollout"
	HookConfirmRollout         HookType = "confirm-rollout"
	HookConfirmPromotion       HookType = "confirm-promotion"
	HookConfirmTrafficIncrease HookType = "confirm-traffic-increase"
	HookRollback               HookType = "rollback"
	HookEvent                  HookType = "event"
)

// CanaryWebhook is one webhook: a POST of the Canary's state; an answer of
// 202 or below passes.
type CanaryWebhook struct {
	// Type; empty is rollout.
	// +kubebuilder:validation:Enum="";confirm-rollout;pre-rollout;rollout;confirm-promotion;post-rollout;event;rollback;confirm-traffic-increase
	// +optional
	Type HookType `json:"type,omitempty"`
	// +optional
	Name string `json:"name,omitempty"`
	// +kubebuilder:validation:Format=url
	// +optional
	URL string `json:"url,omitempty"`
	// MuteAlert sends no alert when a gate holds.
	// +optional
	MuteAlert bool `json:"muteAlert,omitempty"`
	// Timeout of one call (default 10s).
	// +kubebuilder:validation:Pattern=`^[0-9]+(m|s)`
	// +optional
	Timeout string `json:"timeout,omitempty"`
	// Metadata is sent in the payload.
	// +optional
	Metadata map[string]string `json:"metadata,omitempty"`
	// Retries of a failed call.
	// +kubebuilder:validation:Type=number
	// +optional
	Retries int `json:"retries,omitempty"`
	// DisableTLS skips verifying the server's certificate.
	// +optional
	DisableTLS bool `json:"disableTLS,omitempty"`
}

// CanaryPhase is where a Canary is in its lifecycle.
type CanaryPhase string

// The phases, as Flagger names them.
const (
	PhaseInitializing     CanaryPhase = "Initializing"
	PhaseInitialized      CanaryPhase = "Initialized"
	PhaseWaiting          CanaryPhase = "Waiting"
	PhaseProgressing      CanaryPhase = "Progressing"
	PhaseWaitingPromotion CanaryPhase = "WaitingPromotion"
	PhasePromoting        CanaryPhase = "Promoting"
	PhaseFinalising       CanaryPhase = "Finalising"
	PhaseSucceeded        CanaryPhase = "Succeeded"
	PhaseFailed           CanaryPhase = "Failed"
	PhaseTerminating      CanaryPhase = "Terminating"
	PhaseTerminated       CanaryPhase = "Terminated"
)

// PromotedCondition is the type of the one condition a Canary carries.
const PromotedCondition = "Promoted"

// CanaryStatus is what Vireo observed and did.
type CanaryStatus struct {
	// +kubebuilder:validation:Enum="";Initializing;Initialized;Waiting;Progressing;WaitingPromotion;Promoting;Finalising;Succeeded;Failed;Terminating;Terminated
	// +optional
	Phase CanaryPhase `json:"phase,omitempty"`
	// FailedChecks counts the failed checks of this analysis.
	// +kubebuilder:validation:Type=number
	// +optional
	FailedChecks int `json:"failedChecks"`
	// CanaryWeight is the canary's share of the traffic.
	// +kubebuilder:validation:Type=number
	// +optional
	CanaryWeight int `json:"canaryWeight"`
	// Iterations done of a blue-green or A/B release.
	// +kubebuilder:validation:Type=number
	// +optional
	Iterations int `json:"iterations"`
	// LastAppliedSpec is the hash of the target's pod template last seen.
	// +optional
	LastAppliedSpec string `json:"lastAppliedSpec,omitempty"`
	// LastPromotedSpec is the hash of the pod template last promoted.
	// +optional
	LastPromotedSpec string `json:"lastPromotedSpec,omitempty"`
	// TrackedConfigs maps each ConfigMap and Secret the pod template uses
	// ("configmap/NAME", "secret/NAME") to the hash of its data.
	// +optional
	TrackedConfigs *map[string]string `json:"trackedConfigs,omitempty"`
	// LastTransitionTime is when the status last changed.
	// +optional
	LastTransitionTime metav1.Time `json:"lastTransitionTime,omitempty"`
	// SessionAffinityCookie is the canary cookie in use.
	// +optional
	SessionAffinityCookie string `json:"sessionAffinityCookie,omitempty"`
	// PrimarySessionAffinityCookie is the primary cookie in use.
	// +optional
	PrimarySessionAffinityCookie string `json:"primarySessionAffinityCookie,omitempty"`
	// PreviousSessionAffinityCookie is the canary cookie of the last release.
	// +optional
	PreviousSessionAffinityCookie string `json:"previousSessionAffinityCookie,omitempty"`
	// Conditions: Promoted (Flagger's), and InvalidSpec while the spec
	// cannot run.
	// +optional
	Conditions []CanaryCondition `json:"conditions,omitempty"`

	// The fields below are Vireo's own; Flagger's CRD has none of them.

	// Abort, set by a person (kubectl vireo canary abort), rolls the
	// analysis back at once. Vireo clears it once done. It lives in status
	// so that a GitOps tool syncing the spec does not undo it.
	// +optional
	Abort bool `json:"abort,omitempty"`
	// PromoteFull, set by a person (kubectl vireo canary promote), skips
	// the rest of the analysis and its gates and promotes at once. Vireo
	// clears it once done.
	// +optional
	PromoteFull bool `json:"promoteFull,omitempty"`
	// Checks are the last checks of the analysis, newest last (at most 10):
	// what each metric measured and what each webhook answered.
	// +optional
	Checks []CanaryCheck `json:"checks,omitempty"`
	// Judge holds the state of the canary judge's sequential test for each
	// metric whose MetricTemplate is of type vireo-judge, by metric name,
	// for the analysis in progress (Vireo's own; Flagger has none).
	// +optional
	Judge map[string]string `json:"judge,omitempty"`
}

// CanaryCheck is one check of an analysis step.
type CanaryCheck struct {
	// Name of the metric or webhook.
	Name string `json:"name"`
	// Kind is metric or webhook.
	Kind string `json:"kind"`
	// Value measured (metrics), as text.
	// +optional
	Value string `json:"value,omitempty"`
	// Passed says whether the check let the analysis go on.
	Passed bool `json:"passed"`
	// Message says why it failed.
	// +optional
	Message string `json:"message,omitempty"`
	// Time of the check.
	Time metav1.Time `json:"time"`
}

// CanaryCondition is the Promoted condition.
type CanaryCondition struct {
	// +optional
	Type string `json:"type,omitempty"`
	// +optional
	Status string `json:"status,omitempty"`
	// +optional
	LastUpdateTime metav1.Time `json:"lastUpdateTime,omitempty"`
	// +optional
	LastTransitionTime metav1.Time `json:"lastTransitionTime,omitempty"`
	// +optional
	Reason string `json:"reason,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
}
