package canary

import (
	"bytes"
	"fmt"
	"github.com/vireo-dev/vireo/internal/judge"
	"strings"
	"text/template"
	"time"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
)

// CheckKind says what a Check runs.
type CheckKind string

const (
	// HookCheck POSTs the Canary's state to a webhook.
	HookCheck CheckKind = "webhook"
	// MetricCheck runs a query against a metrics provider.
	MetricCheck CheckKind = "metric"
)

// Check is one webhook call or one metric query that a pass needs the
// answer of. The controller runs it and gives the planner a Result under
// the Check's ID.
type Check struct {
	ID   string
	Kind CheckKind

	// Hook and Phase: the webhook and the phase its payload carries.
	Hook  *v1beta1.CanaryWebhook
	Phase v1beta1.CanaryPhase

	// Metric: the rendered query and where to send it.
	Metric *MetricQuery
}

// MetricQuery is a rendered query and its provider.
type MetricQuery struct {
	Name  string
	Query string
	// Provider is the MetricTemplate's, or for built-in metrics a
	// Prometheus at the Canary's (or the controller's) metrics server.
	Provider v1beta1.MetricTemplateProvider
	// Namespace holds the provider's secretRef.
	Namespace string
	// Interval is the metric's interval (datadog reads ten of them back).
	Interval string
	// CanaryNamespace is the Canary's namespace: the only one whose
	// Kubernetes objects a query may read (keptn).
	CanaryNamespace string
}

// Result is a Check's answer.
type Result struct {
	// OK: the webhook answered 202 or less. For a metric: a value was read.
	OK bool
	// Value of a metric.
	Value float64
	// NoValues: the query ran and returned nothing.
	NoValues bool
	// Err says what failed (the webhook's answer, or the query's error).
	Err string
	// Judge is a vireo-judge metric's reading of the counters.
	Judge *judge.Reading
}

// Model is what a query template can read: {{ name }}, {{ namespace }},
// {{ target }}, {{ service }}, {{ ingress }}, {{ route }}, {{ interval }}
// and {{ variables.NAME }}.
type Model struct {
	Name, Namespace, Target, Service, Ingress, Route, Interval string
	Variables                                                  map[string]string
}

// ModelFor is the template model of one of a Canary's metrics.
func ModelFor(c *v1beta1.Canary, m *v1beta1.CanaryMetric) Model {
	apex, _, _ := ServiceNames(c)
	md := Model{
		Name: c.Name, Namespace: c.Namespace, Target: c.Spec.TargetRef.Name,
		Service: apex, Ingress: c.Spec.TargetRef.Name, Route: c.Spec.TargetRef.Name,
		Interval: m.Interval, Variables: m.TemplateVariables,
	}
	if md.Interval == "" {
		md.Interval = DefaultMetricInterval
	}
	if c.Spec.IngressRef != nil {
		md.Ingress = c.Spec.IngressRef.Name
	}
	if c.Spec.RouteRef != nil {
		md.Route = c.Spec.RouteRef.Name
	}
	return md
}

// maxQueryBytes bounds a rendered query: a template is a tenant's input.
const maxQueryBytes = 64 << 10

// Render executes a query template over the model. Unknown variables are
// errors, as in Flagger.
func Render(query string, m Model) (string, error) {
	vars := m.Variables
	if vars == nil {
		vars = map[string]string{}
	}
	funcs := template.FuncMap{
		"name":      func() string { return m.Name },
		"namespace": func() string { return m.Namespace },
		"target":    func() string { return m.Target },
		"service":   func() string { return m.Service },
		"ingress":   func() string { return m.Ingress },
		"route":     func() string { return m.Route },
		"interval":  func() string { return m.Interval },
		"variables": func() map[string]string { return vars },
	}
	t, err := template.New("query").Option("missingkey=error").Funcs(funcs).Parse(query)
	if err != nil {
		return "", fmt.Errorf("template parsing failed: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&limitWriter{w: &b, n: maxQueryBytes}, nil); err != nil {
		return "", fmt.Errorf("template execution failed: %w", err)
	}
	return b.String(), nil
}

type limitWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.w.Len()+len(p) > l.n {
		return 0, fmt.Errorf("the rendered query is longer than %d bytes", l.n)
	}
	return l.w.Write(p)
}

// BuiltinQueries are the built-in metrics' queries per provider, as
// Flagger's documentation gives them. A provider without an entry uses
// istio's, as Flagger does.
var BuiltinQueries = map[string]map[string]string{
	"istio": {
		"request-success-rate": `sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}",response_code!~"5.*"}[{{ interval }}])) / sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"}[{{ interval }}])) * 100`,
		"request-duration":     `histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"}[{{ interval }}])) by (le))`,
	},
	// kubernetes (and gatewayapi): the target's own instrumentation.
	KubernetesProvider: {
		"request-success-rate": `sum(rate(http_request_duration_seconds_count{kubernetes_namespace="{{ namespace }}",kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)",status!~"5.*"}[{{ interval }}])) / sum(rate(http_request_duration_seconds_count{kubernetes_namespace="{{ namespace }}",kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[{{ interval }}])) * 100`,
		"request-duration":     `histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket{kubernetes_namespace="{{ namespace }}",kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[{{ interval }}])) by (le))`,
	},
	"nginx": {
		"request-success-rate": `sum(rate(nginx_ingress_controller_requests{namespace="{{ namespace }}",ingress="{{ ingress }}",canary!="",status!~"5.*"}[{{ interval }}])) / sum(rate(nginx_ingress_controller_requests{namespace="{{ namespace }}",ingress="{{ ingress }}",canary!=""}[{{ interval }}])) * 100`,
		"request-duration":     `sum(rate(nginx_ingress_controller_response_duration_seconds_sum{namespace="{{ namespace }}",ingress="{{ ingress }}",canary!=""}[{{ interval }}])) / sum(rate(nginx_ingress_controller_response_duration_seconds_count{namespace="{{ namespace }}",ingress="{{ ingress }}",canary!=""}[{{ interval }}])) * 1000`,
	},
	"traefik": {
		"request-success-rate": `sum(rate(traefik_service_request_duration_seconds_bucket{service=~"{{ namespace }}-{{ target }}-canary-[0-9a-zA-Z-]+@kubernetescrd",code!~"5..",le="+Inf"}[{{ interval }}])) / sum(rate(traefik_service_request_duration_seconds_bucket{service=~"{{ namespace }}-{{ target }}-canary-[0-9a-zA-Z-]+@kubernetescrd",le="+Inf"}[{{ interval }}])) * 100`,
		"request-duration":     `histogram_quantile(0.99, sum(rate(traefik_service_request_duration_seconds_bucket{service=~"{{ namespace }}-{{ target }}-canary-[0-9a-zA-Z-]+@kubernetescrd"}[{{ interval }}])) by (le)) * 1000`,
	},
}

// judgeMetric turns a metric's answer into pass or fail and the event that
// says why it halts, in Flagger's words.
func judgeMetric(c *v1beta1.Canary, m *v1beta1.CanaryMetric, provider string, r Result) (bool, string) {
	name := key(c.Name, c.Namespace)
	if !r.OK {
		switch {
		case r.NoValues && m.TemplateRef != nil:
			return false, fmt.Sprintf("Halt advancement no values found for custom metric: %s: %s", m.Name, r.Err)
		case r.NoValues && (m.Name == "request-success-rate" || m.Name == "request-duration") && m.Query == "":
			return false, fmt.Sprintf("Halt advancement no values found for %s metric %s probably %s is not receiving traffic",
				provider, m.Name, key(c.Spec.TargetRef.Name, c.Namespace))
		case r.NoValues:
			return false, "Halt advancement no values found for metric: " + m.Name
		case m.TemplateRef != nil:
			return false, fmt.Sprintf("Metric query failed for %s: %s", m.Name, r.Err)
		default:
			return false, "Prometheus query failed: " + r.Err
		}
	}
	v, tr := r.Value, m.ThresholdRange
	switch {
	case m.Query == "" && m.TemplateRef == nil && m.Name == "request-success-rate":
		if tr != nil {
			if tr.Min != nil && v < *tr.Min {
				return false, fmt.Sprintf("Halt %s advancement success rate %.2f%% < %v%%", name, v, *tr.Min)
			}
			if tr.Max != nil && v > *tr.Max {
				return false, fmt.Sprintf("Halt %s advancement success rate %.2f%% > %v%%", name, v, *tr.Max)
			}
		} else if m.Threshold > v {
			return false, fmt.Sprintf("Halt %s advancement success rate %.2f%% < %v%%", name, v, m.Threshold)
		}
	case m.Query == "" && m.TemplateRef == nil && m.Name == "request-duration":
		d := time.Duration(int64(v)) * time.Millisecond
		ms := func(f float64) time.Duration { return time.Duration(f) * time.Millisecond }
		if tr != nil {
			if tr.Min != nil && d < ms(*tr.Min) {
				return false, fmt.Sprintf("Halt %s advancement request duration %v < %v", name, d, ms(*tr.Min))
			}
			if tr.Max != nil && d > ms(*tr.Max) {
				return false, fmt.Sprintf("Halt %s advancement request duration %v > %v", name, d, ms(*tr.Max))
			}
		} else if d > ms(m.Threshold) {
			return false, fmt.Sprintf("Halt %s advancement request duration %v > %v", name, d, ms(m.Threshold))
		}
	default:
		if tr != nil {
			if tr.Min != nil && v < *tr.Min {
				return false, fmt.Sprintf("Halt %s advancement %s %.2f < %v", name, m.Name, v, *tr.Min)
			}
			if tr.Max != nil && v > *tr.Max {
				return false, fmt.Sprintf("Halt %s advancement %s %.2f > %v", name, m.Name, v, *tr.Max)
			}
		} else if v > m.Threshold {
			return false, fmt.Sprintf("Halt %s advancement %s %.2f > %v", name, m.Name, v, m.Threshold)
		}
	}
	return true, ""
}

// hookID and metricID name checks so that a pass's answers can be matched.
func hookID(h *v1beta1.CanaryWebhook, phase v1beta1.CanaryPhase) string {
	return "hook/" + string(h.Type) + "/" + h.Name + "/" + string(phase)
}

func metricID(m *v1beta1.CanaryMetric) string { return "metric/" + m.Name }

// errText is a webhook's answer or error, trimmed for an event.
func errText(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 512 {
		s = s[:512] + "…"
	}
	return s
}
