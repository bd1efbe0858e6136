package v1beta1

// The routing types below follow the shapes of Istio's networking v1beta1 API
// and of the Gateway API, as Flagger embeds them in spec.service. Istio
// declares its strings with format "string"; FormattedString keeps that.

// HTTPMatchRequest is one set of conditions on a request.
type HTTPMatchRequest struct {
	// +optional
	Name FormattedString `json:"name,omitempty"`
	// +optional
	URI *StringMatchNoSuffix `json:"uri,omitempty"`
	// +optional
	Scheme *StringMatchNoSuffix `json:"scheme,omitempty"`
	// +optional
	Method *StringMatchNoSuffix `json:"method,omitempty"`
	// +optional
	Authority *StringMatchNoSuffix `json:"authority,omitempty"`
	// +optional
	Headers map[string]StringMatchNoSuffix `json:"headers,omitempty"`
	// +optional
	WithoutHeaders map[string]StringMatchNoSuffix `json:"withoutHeaders,omitempty"`
	// +optional
	QueryParams map[string]StringMatchNoSuffix `json:"queryParams,omitempty"`
	// +optional
	Port uint32 `json:"port,omitempty"`
	// +optional
	SourceLabels map[string]FormattedString `json:"sourceLabels,omitempty"`
	// +optional
	Gateways []FormattedString `json:"gateways,omitempty"`
	// +optional
	IgnoreURICase bool `json:"ignoreUriCase,omitempty"`
	// +optional
	SourceNamespace FormattedString `json:"sourceNamespace,omitempty"`
}

// StringMatchNoSuffix is Istio's StringMatch: exact, prefix or RE2 regex.
type StringMatchNoSuffix struct {
	// +optional
	Exact FormattedString `json:"exact,omitempty"`
	// +optional
	Prefix FormattedString `json:"prefix,omitempty"`
	// +optional
	Regex FormattedString `json:"regex,omitempty"`
}

// HTTPRewrite rewrites a request's path or authority.
type HTTPRewrite struct {
	// +optional
	URI FormattedString `json:"uri,omitempty"`
	// +optional
	Authority FormattedString `json:"authority,omitempty"`
	// Type of the rewrite, for Gateway API: ReplaceFullPath or
	// ReplacePrefixMatch.
	// +optional
	Type FormattedString `json:"type,omitempty"`
}

// HTTPRetry is the retry policy of a route.
type HTTPRetry struct {
	// +kubebuilder:validation:Format=int32
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// +optional
	PerTryTimeout string `json:"perTryTimeout,omitempty"`
	// +optional
	RetryOn FormattedString `json:"retryOn,omitempty"`
}

// Headers are header operations on requests and responses.
type Headers struct {
	// +optional
	Request *HeaderOperations `json:"request,omitempty"`
	// +optional
	Response *HeaderOperations `json:"response,omitempty"`
}

// HeaderOperations set, add or remove headers.
type HeaderOperations struct {
	// +optional
	Set map[string]FormattedString `json:"set,omitempty"`
	// +optional
	Add map[string]FormattedString `json:"add,omitempty"`
	// +optional
	Remove []FormattedString `json:"remove,omitempty"`
}

// CorsPolicy is a route's CORS policy.
type CorsPolicy struct {
	// AllowOrigin is the older, deprecated form of allowOrigins.
	// +optional
	AllowOrigin []FormattedString `json:"allowOrigin,omitempty"`
	// +optional
	AllowOrigins []StringMatchNoSuffix `json:"allowOrigins,omitempty"`
	// +optional
	AllowMethods []FormattedString `json:"allowMethods,omitempty"`
	// +optional
	AllowHeaders []FormattedString `json:"allowHeaders,omitempty"`
	// +optional
	ExposeHeaders []FormattedString `json:"exposeHeaders,omitempty"`
	// +optional
	MaxAge string `json:"maxAge,omitempty"`
	// +optional
	AllowCredentials *bool `json:"allowCredentials,omitempty"`
}

// TrafficPolicy is an Istio DestinationRule's traffic policy.
type TrafficPolicy struct {
	// +optional
	LoadBalancer *LoadBalancerSettings `json:"loadBalancer,omitempty"`
	// +optional
	ConnectionPool *ConnectionPoolSettings `json:"connectionPool,omitempty"`
	// +optional
	OutlierDetection *OutlierDetection `json:"outlierDetection,omitempty"`
	// +optional
	TLS *ClientTLSSettings `json:"tls,omitempty"`
}

// LoadBalancerSettings choose how a backend is picked.
type LoadBalancerSettings struct {
	// +kubebuilder:validation:Enum=ROUND_ROBIN;LEAST_CONN;RANDOM;PASSTHROUGH;LEAST_REQUEST
	// +optional
	Simple string `json:"simple,omitempty"`
	// +optional
	ConsistentHash *ConsistentHashLB `json:"consistentHash,omitempty"`
	// +optional
	LocalityLbSetting *LocalityLbSetting `json:"localityLbSetting,omitempty"`
	// +optional
	WarmupDurationSecs string `json:"warmupDurationSecs,omitempty"`
}

// ConsistentHashLB hashes a request property to a backend.
type ConsistentHashLB struct {
	// +optional
	HTTPHeaderName FormattedString `json:"httpHeaderName,omitempty"`
	// +optional
	HTTPCookie *HTTPCookie `json:"httpCookie,omitempty"`
	// +optional
	UseSourceIP bool `json:"useSourceIp,omitempty"`
	// +optional
	HTTPQueryParameterName FormattedString `json:"httpQueryParameterName,omitempty"`
	// +optional
	MinimumRingSize uint64 `json:"minimumRingSize,omitempty"`
}

// HTTPCookie is a cookie to hash on.
type HTTPCookie struct {
	// +optional
	Name FormattedString `json:"name,omitempty"`
	// +optional
	Path FormattedString `json:"path,omitempty"`
	// +optional
	TTL string `json:"ttl,omitempty"`
}

// LocalityLbSetting weights or fails over traffic between localities.
type LocalityLbSetting struct {
	// +optional
	Distribute []LocalityDistribute `json:"distribute,omitempty"`
	// +optional
	Failover []LocalityFailover `json:"failover,omitempty"`
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
}

// LocalityDistribute sends traffic from one locality to others by weight.
type LocalityDistribute struct {
	// +optional
	From FormattedString `json:"from,omitempty"`
	// +optional
	To map[string]uint32 `json:"to,omitempty"`
}

// LocalityFailover names the region to fail over to.
type LocalityFailover struct {
	// +optional
	From FormattedString `json:"from,omitempty"`
	// +optional
	To FormattedString `json:"to,omitempty"`
}

// ConnectionPoolSettings limit connections to a backend.
type ConnectionPoolSettings struct {
	// +optional
	HTTP *HTTPConnectionPool `json:"http,omitempty"`
}

// HTTPConnectionPool limits HTTP connections.
type HTTPConnectionPool struct {
	// +kubebuilder:validation:Format=int32
	// +optional
	HTTP1MaxPendingRequests int32 `json:"http1MaxPendingRequests,omitempty"`
	// +kubebuilder:validation:Format=int32
	// +optional
	HTTP2MaxRequests int32 `json:"http2MaxRequests,omitempty"`
	// +kubebuilder:validation:Format=int32
	// +optional
	MaxRequestsPerConnection int32 `json:"maxRequestsPerConnection,omitempty"`
	// +kubebuilder:validation:Format=int32
	// +optional
	MaxRetries int32 `json:"maxRetries,omitempty"`
	// +optional
	IdleTimeout string `json:"idleTimeout,omitempty"`
	// +kubebuilder:validation:Enum=DEFAULT;DO_NOT_UPGRADE;UPGRADE
	// +optional
	H2UpgradePolicy string `json:"h2UpgradePolicy,omitempty"`
}

// OutlierDetection ejects failing backends.
type OutlierDetection struct {
	// +kubebuilder:validation:Format=int32
	// +optional
	ConsecutiveErrors int32 `json:"consecutiveErrors,omitempty"`
	// +optional
	SplitExternalLocalOriginErrors bool `json:"splitExternalLocalOriginErrors,omitempty"`
	// +kubebuilder:validation:Format=int32
	// +optional
	ConsecutiveLocalOriginFailures int32 `json:"consecutiveLocalOriginFailures,omitempty"`
	// +kubebuilder:validation:Format=int32
	// +optional
	ConsecutiveGatewayErrors int32 `json:"consecutiveGatewayErrors,omitempty"`
	// +kubebuilder:validation:Format=""
	// +optional
	Consecutive5xxErrors uint32 `json:"consecutive5xxErrors,omitempty"`
	// +optional
	Interval string `json:"interval,omitempty"`
	// +optional
	BaseEjectionTime string `json:"baseEjectionTime,omitempty"`
	// +kubebuilder:validation:Format=int32
	// +optional
	MaxEjectionPercent int32 `json:"maxEjectionPercent,omitempty"`
	// +kubebuilder:validation:Format=int32
	// +optional
	MinHealthPercent int32 `json:"minHealthPercent,omitempty"`
}

// ClientTLSSettings are the TLS settings towards a backend.
type ClientTLSSettings struct {
	// +kubebuilder:validation:Enum=DISABLE;SIMPLE;MUTUAL;ISTIO_MUTUAL
	// +optional
	Mode string `json:"mode,omitempty"`
	// +optional
	ClientCertificate FormattedString `json:"clientCertificate,omitempty"`
	// +optional
	PrivateKey FormattedString `json:"privateKey,omitempty"`
	// +optional
	CACertificates FormattedString `json:"caCertificates,omitempty"`
	// +optional
	SubjectAltNames []FormattedString `json:"subjectAltNames,omitempty"`
	// +optional
	SNI FormattedString `json:"sni,omitempty"`
}

// ParentReference names a Gateway API parent (a Gateway) of the HTTPRoute.
type ParentReference struct {
	// +kubebuilder:validation:Pattern=`^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +optional
	Group *string `json:"group,omitempty"`
	// +kubebuilder:validation:Pattern=`^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$`
	// +optional
	Kind *string `json:"kind,omitempty"`
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Namespace *string `json:"namespace,omitempty"`
	// +optional
	Name string `json:"name,omitempty"`
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +optional
	SectionName *string `json:"sectionName,omitempty"`
	// +optional
	Port *int32 `json:"port,omitempty"`
}

// HTTPRequestMirrorFilter mirrors requests to a backend.
type HTTPRequestMirrorFilter struct {
	// +optional
	BackendRef BackendObjectReference `json:"backendRef,omitempty"`
}

// BackendObjectReference names a Gateway API backend.
type BackendObjectReference struct {
	// +kubebuilder:validation:Pattern=`^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +optional
	Group *string `json:"group,omitempty"`
	// +kubebuilder:validation:Pattern=`^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$`
	// +optional
	Kind *string `json:"kind,omitempty"`
	// +optional
	Name string `json:"name,omitempty"`
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Namespace *string `json:"namespace,omitempty"`
	// +optional
	Port *int32 `json:"port,omitempty"`
}
