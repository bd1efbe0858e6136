package v1alpha1

import (
	batchv1 "k8s.io/api/batch/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// AnalysisTemplate is a reusable set of metrics, instantiated as AnalysisRuns.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=at,categories={argoproj,vireo}
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AnalysisTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AnalysisTemplateSpec `json:"spec"`
}

// AnalysisTemplateList is a list of AnalysisTemplates.
//
// +kubebuilder:object:root=true
type AnalysisTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AnalysisTemplate `json:"items"`
}

// ClusterAnalysisTemplate is an AnalysisTemplate usable from every namespace.
//
// +genclient
// +genclient:nonNamespaced
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=cat,categories={argoproj,vireo}
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterAnalysisTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AnalysisTemplateSpec `json:"spec"`
}

// ClusterAnalysisTemplateList is a list of ClusterAnalysisTemplates.
//
// +kubebuilder:object:root=true
type ClusterAnalysisTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterAnalysisTemplate `json:"items"`
}

// AnalysisTemplateSpec is the body of an AnalysisTemplate.
type AnalysisTemplateSpec struct {
	// Metrics to measure.
	// +optional
	Metrics []Metric `json:"metrics,omitempty"`
	// Args the metrics refer to as {{args.NAME}}.
	// +optional
	Args []Argument `json:"args,omitempty"`
	// +optional
	DryRun []DryRun `json:"dryRun,omitempty"`
	// +optional
	MeasurementRetention []MeasurementRetention `json:"measurementRetention,omitempty"`
	// Templates pulls in the metrics and args of other templates.
	// +optional
	Templates []AnalysisTemplateRef `json:"templates,omitempty"`
}

// AnalysisRun measures metrics and decides success, failure or inconclusive.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=ar,categories={argoproj,vireo}
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AnalysisRun struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AnalysisRunSpec `json:"spec"`
	// +optional
	Status AnalysisRunStatus `json:"status,omitempty"`
}

// AnalysisRunList is a list of AnalysisRuns.
//
// +kubebuilder:object:root=true
type AnalysisRunList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AnalysisRun `json:"items"`
}

// AnalysisRunSpec is the body of an AnalysisRun.
type AnalysisRunSpec struct {
	Metrics []Metric `json:"metrics"`
	// +optional
	Args []Argument `json:"args,omitempty"`
	// Terminate stops the run; its metrics finish as they stand.
	// +optional
	Terminate bool `json:"terminate,omitempty"`
	// +optional
	DryRun []DryRun `json:"dryRun,omitempty"`
	// +optional
	MeasurementRetention []MeasurementRetention `json:"measurementRetention,omitempty"`
	// TTLStrategy deletes the run some time after it completes.
	// +optional
	TTLStrategy *TTLStrategy `json:"ttlStrategy,omitempty"`
}

// TTLStrategy says how long a completed AnalysisRun is kept.
type TTLStrategy struct {
	// +optional
	SecondsAfterCompletion *int32 `json:"secondsAfterCompletion,omitempty"`
	// +optional
	SecondsAfterFailure *int32 `json:"secondsAfterFailure,omitempty"`
	// +optional
	SecondsAfterSuccess *int32 `json:"secondsAfterSuccess,omitempty"`
}

// Metric is one measurement, repeated on an interval, with the conditions that
// judge each result.
type Metric struct {
	// Name is unique within a run.
	Name string `json:"name"`
	// Interval between measurements, such as "30s"; unset measures once.
	// +optional
	Interval DurationString `json:"interval,omitempty"`
	// InitialDelay before the first measurement.
	// +optional
	InitialDelay DurationString `json:"initialDelay,omitempty"`
	// Count of measurements to take; unset with an interval means until stopped.
	// +optional
	Count *intstr.IntOrString `json:"count,omitempty"`
	// SuccessCondition is an expression over result.
	// +optional
	SuccessCondition string `json:"successCondition,omitempty"`
	// FailureCondition is an expression over result.
	// +optional
	FailureCondition string `json:"failureCondition,omitempty"`
	// FailureLimit of failed measurements tolerated; 0 when unset, -1 for no limit.
	// +optional
	FailureLimit *intstr.IntOrString `json:"failureLimit,omitempty"`
	// InconclusiveLimit of inconclusive measurements tolerated.
	// +optional
	InconclusiveLimit *intstr.IntOrString `json:"inconclusiveLimit,omitempty"`
	// ConsecutiveErrorLimit of errors in a row tolerated; 4 when unset.
	// +optional
	ConsecutiveErrorLimit *intstr.IntOrString `json:"consecutiveErrorLimit,omitempty"`
	// ConsecutiveSuccessLimit of successes in a row that make the metric succeed.
	// +optional
	ConsecutiveSuccessLimit *intstr.IntOrString `json:"consecutiveSuccessLimit,omitempty"`
	// Provider takes the measurement.
	Provider MetricProvider `json:"provider"`
}

// MetricProvider holds exactly one provider.
type MetricProvider struct {
	// +optional
	Prometheus *PrometheusMetric `json:"prometheus,omitempty"`
	// +optional
	Kayenta *KayentaMetric `json:"kayenta,omitempty"`
	// +optional
	Web *WebMetric `json:"web,omitempty"`
	// +optional
	Datadog *DatadogMetric `json:"datadog,omitempty"`
	// +optional
	Wavefront *WavefrontMetric `json:"wavefront,omitempty"`
	// +optional
	NewRelic *NewRelicMetric `json:"newRelic,omitempty"`
	// +optional
	Job *JobMetric `json:"job,omitempty"`
	// +optional
	CloudWatch *CloudWatchMetric `json:"cloudWatch,omitempty"`
	// +optional
	Graphite *GraphiteMetric `json:"graphite,omitempty"`
	// +optional
	Influxdb *InfluxdbMetric `json:"influxdb,omitempty"`
	// +optional
	SkyWalking *SkyWalkingMetric `json:"skywalking,omitempty"`
	// Plugin configures metric plugins by name.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Plugin map[string]apiextv1.JSON `json:"plugin,omitempty"`
}

// PrometheusMetric runs a PromQL query.
type PrometheusMetric struct {
	// Address of the Prometheus server, such as http://prometheus:9090.
	// +optional
	Address string `json:"address,omitempty"`
	// Query in PromQL.
	// +optional
	Query string `json:"query,omitempty"`
	// +optional
	Authentication Authentication `json:"authentication,omitempty"`
	// Timeout of the query in seconds.
	// +optional
	Timeout *int64 `json:"timeout,omitempty"`
	// Insecure skips TLS verification.
	// +optional
	Insecure bool `json:"insecure,omitempty"`
	// Headers sent with the query.
	// +optional
	Headers []WebMetricHeader `json:"headers,omitempty"`
	// RangeQuery turns the query into a range query.
	// +optional
	RangeQuery *PrometheusRangeQueryArgs `json:"rangeQuery,omitempty"`
}

// PrometheusRangeQueryArgs are the start, end and step of a range query.
type PrometheusRangeQueryArgs struct {
	// +optional
	Start string `json:"start,omitempty"`
	// +optional
	End string `json:"end,omitempty"`
	// +optional
	Step string `json:"step,omitempty"`
}

// Authentication holds the ways a provider may authenticate.
type Authentication struct {
	// +optional
	Sigv4 Sigv4Config `json:"sigv4,omitempty"`
	// +optional
	OAuth2 OAuth2Config `json:"oauth2,omitempty"`
	// +optional
	BasicAuth BasicAuth `json:"basicAuth,omitempty"`
}

// Sigv4Config is AWS request signing.
type Sigv4Config struct {
	// +optional
	Region string `json:"region,omitempty"`
	// +optional
	Profile string `json:"profile,omitempty"`
	// +optional
	RoleARN string `json:"roleArn,omitempty"`
}

// OAuth2Config is an OAuth 2 client-credentials flow.
type OAuth2Config struct {
	// +optional
	TokenURL string `json:"tokenUrl,omitempty"`
	// +optional
	ClientID string `json:"clientId,omitempty"`
	// +optional
	ClientSecret string `json:"clientSecret,omitempty"`
	// +optional
	Scopes []string `json:"scopes,omitempty"`
}

// BasicAuth is a user name and password.
type BasicAuth struct {
	// +optional
	Username string `json:"username,omitempty"`
	// +optional
	Password string `json:"password,omitempty"`
}

// WebMetric calls an HTTP endpoint and reads a JSON value from the answer.
type WebMetric struct {
	// +optional
	Method WebMetricMethod `json:"method,omitempty"`
	URL    string          `json:"url"`
	// +optional
	Headers []WebMetricHeader `json:"headers,omitempty"`
	// Body is sent as is.
	// +optional
	Body string `json:"body,omitempty"`
	// JSONBody is sent as JSON.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	JSONBody *apiextv1.JSON `json:"jsonBody,omitempty"`
	// TimeoutSeconds of the request.
	// +optional
	TimeoutSeconds int64 `json:"timeoutSeconds,omitempty"`
	// JSONPath selects the value from the answer.
	// +optional
	JSONPath string `json:"jsonPath,omitempty"`
	// Insecure skips TLS verification.
	// +optional
	Insecure bool `json:"insecure,omitempty"`
	// +optional
	Authentication Authentication `json:"authentication,omitempty"`
}

// WebMetricMethod is an HTTP method.
type WebMetricMethod string

// WebMetricHeader is one HTTP header.
type WebMetricHeader struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// JobMetric runs a Kubernetes Job; it succeeds when the Job does.
type JobMetric struct {
	// +optional
	Metadata PodTemplateMetadata `json:"metadata,omitempty"`
	Spec     batchv1.JobSpec     `json:"spec"`
}

// KayentaMetric asks Kayenta for a canary judgement.
type KayentaMetric struct {
	Address                  string           `json:"address"`
	Application              string           `json:"application"`
	CanaryConfigName         string           `json:"canaryConfigName"`
	MetricsAccountName       string           `json:"metricsAccountName"`
	ConfigurationAccountName string           `json:"configurationAccountName"`
	StorageAccountName       string           `json:"storageAccountName"`
	Threshold                KayentaThreshold `json:"threshold"`
	Scopes                   []KayentaScope   `json:"scopes"`
	// +optional
	Lookback bool `json:"lookback,omitempty"`
}

// KayentaThreshold are the pass and marginal scores.
type KayentaThreshold struct {
	Pass     int64 `json:"pass"`
	Marginal int64 `json:"marginal"`
}

// KayentaScope compares a control and an experiment scope.
type KayentaScope struct {
	Name            string      `json:"name"`
	ControlScope    ScopeDetail `json:"controlScope"`
	ExperimentScope ScopeDetail `json:"experimentScope"`
}

// ScopeDetail is one Kayenta scope.
type ScopeDetail struct {
	Scope  string `json:"scope"`
	Region string `json:"region"`
	Step   int64  `json:"step"`
	// +optional
	Start string `json:"start,omitempty"`
	// +optional
	End string `json:"end,omitempty"`
}

// DatadogMetric queries Datadog.
type DatadogMetric struct {
	// +optional
	Interval DurationString `json:"interval,omitempty"`
	// +optional
	Query string `json:"query,omitempty"`
	// +optional
	Queries map[string]string `json:"queries,omitempty"`
	// +optional
	Formula string `json:"formula,omitempty"`
	// +optional
	// +kubebuilder:validation:Enum=v1;v2
	ApiVersion string `json:"apiVersion,omitempty"`
	// +optional
	// +kubebuilder:validation:Enum=avg;min;max;sum;last;percentile;mean;l2norm;area
	Aggregator string `json:"aggregator,omitempty"`
	// +optional
	SecretRef SecretRef `json:"secretRef,omitempty"`
	// +optional
	RequestTimeout DurationString `json:"requestTimeout,omitempty"`
}

// SecretRef names a Secret, optionally in the run's namespace.
type SecretRef struct {
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	Namespaced bool `json:"namespaced,omitempty"`
}

// WavefrontMetric queries Wavefront.
type WavefrontMetric struct {
	// +optional
	Address string `json:"address,omitempty"`
	// +optional
	Query string `json:"query,omitempty"`
}

// NewRelicMetric runs an NRQL query.
type NewRelicMetric struct {
	// +optional
	Profile string `json:"profile,omitempty"`
	Query   string `json:"query"`
	// +optional
	Timeout *int64 `json:"timeout,omitempty"`
}

// CloudWatchMetric queries AWS CloudWatch.
type CloudWatchMetric struct {
	// +optional
	Interval          DurationString              `json:"interval,omitempty"`
	MetricDataQueries []CloudWatchMetricDataQuery `json:"metricDataQueries"`
}

// CloudWatchMetricDataQuery is one CloudWatch query.
type CloudWatchMetricDataQuery struct {
	// +optional
	Id string `json:"id,omitempty"`
	// +optional
	Expression *string `json:"expression,omitempty"`
	// +optional
	Label *string `json:"label,omitempty"`
	// +optional
	MetricStat *CloudWatchMetricStat `json:"metricStat,omitempty"`
	// +optional
	Period *intstr.IntOrString `json:"period,omitempty"`
	// +optional
	ReturnData *bool `json:"returnData,omitempty"`
}

// CloudWatchMetricStat is a metric, statistic and period.
type CloudWatchMetricStat struct {
	// +optional
	Metric CloudWatchMetricStatMetric `json:"metric,omitempty"`
	// +optional
	Period intstr.IntOrString `json:"period,omitempty"`
	// +optional
	Stat string `json:"stat,omitempty"`
	// +optional
	Unit string `json:"unit,omitempty"`
}

// CloudWatchMetricStatMetric names a CloudWatch metric.
type CloudWatchMetricStatMetric struct {
	// +optional
	Dimensions []CloudWatchMetricStatMetricDimension `json:"dimensions,omitempty"`
	// +optional
	MetricName string `json:"metricName,omitempty"`
	// +optional
	Namespace *string `json:"namespace,omitempty"`
}

// CloudWatchMetricStatMetricDimension is a name and a value.
type CloudWatchMetricStatMetricDimension struct {
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	Value string `json:"value,omitempty"`
}

// GraphiteMetric queries Graphite.
type GraphiteMetric struct {
	// +optional
	Address string `json:"address,omitempty"`
	// +optional
	Query string `json:"query,omitempty"`
}

// InfluxdbMetric runs a Flux query.
type InfluxdbMetric struct {
	// +optional
	Profile string `json:"profile,omitempty"`
	// +optional
	Query string `json:"query,omitempty"`
}

// SkyWalkingMetric queries Apache SkyWalking.
type SkyWalkingMetric struct {
	// +optional
	Address string `json:"address,omitempty"`
	// +optional
	Query string `json:"query,omitempty"`
	// +optional
	Interval DurationString `json:"interval,omitempty"`
}

// AnalysisRunStatus is the outcome of an AnalysisRun.
type AnalysisRunStatus struct {
	Phase AnalysisPhase `json:"phase"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	MetricResults []MetricResult `json:"metricResults,omitempty"`
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
	// RunSummary counts metrics by phase.
	// +optional
	RunSummary RunSummary `json:"runSummary,omitempty"`
	// DryRunSummary counts dry-run metrics by phase.
	// +optional
	DryRunSummary *RunSummary `json:"dryRunSummary,omitempty"`
}

// RunSummary counts metrics by phase.
type RunSummary struct {
	// +optional
	Count int32 `json:"count,omitempty"`
	// +optional
	Successful int32 `json:"successful,omitempty"`
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// +optional
	Inconclusive int32 `json:"inconclusive,omitempty"`
	// +optional
	Error int32 `json:"error,omitempty"`
}

// MetricResult is the running tally and recent measurements of one metric.
type MetricResult struct {
	Name  string        `json:"name"`
	Phase AnalysisPhase `json:"phase"`
	// +optional
	Measurements []Measurement `json:"measurements,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	Count int32 `json:"count,omitempty"`
	// +optional
	Successful int32 `json:"successful,omitempty"`
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// +optional
	Inconclusive int32 `json:"inconclusive,omitempty"`
	// +optional
	Error int32 `json:"error,omitempty"`
	// +optional
	ConsecutiveError int32 `json:"consecutiveError,omitempty"`
	// +optional
	ConsecutiveSuccess int32 `json:"consecutiveSuccess,omitempty"`
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
	// +optional
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Measurement is one measurement of a metric.
type Measurement struct {
	Phase AnalysisPhase `json:"phase"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// +optional
	Value string `json:"value,omitempty"`
	// Metadata the provider keeps between polls, such as a Job's name.
	// +optional
	Metadata map[string]string `json:"metadata,omitempty"`
	// ResumeAt is when a long-running measurement is next polled.
	// +optional
	ResumeAt *metav1.Time `json:"resumeAt,omitempty"`
}
