package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

func TestResolveArgs(t *testing.T) {
	owner := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "guestbook", Namespace: "shop",
		Labels: map[string]string{"env": "dev", "app.kubernetes.io/name": "gb"}, Annotations: map[string]string{"team": "web"}}}
	owner.Spec.Replicas = ptr.To[int32](5)
	secrets := func(_ context.Context, name, key string) (string, error) {
		if name == "token-secret" && key == "apiToken" {
			return "s3cr3t-token", nil
		}
		return "", errors.New("not found")
	}
	args := []v1alpha1.Argument{
		{Name: "service-name", Value: ptr.To("guestbook-svc")},
		{Name: "api-token", ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "token-secret", Key: "apiToken"}}},
		{Name: "env", ValueFrom: &v1alpha1.ValueFrom{FieldRef: &v1alpha1.FieldRef{FieldPath: "metadata.labels['env']"}}},
		{Name: "app", ValueFrom: &v1alpha1.ValueFrom{FieldRef: &v1alpha1.FieldRef{FieldPath: "metadata.labels['app.kubernetes.io/name']"}}},
		{Name: "team", ValueFrom: &v1alpha1.ValueFrom{FieldRef: &v1alpha1.FieldRef{FieldPath: "metadata.annotations[\"team\"]"}}},
		{Name: "name", ValueFrom: &v1alpha1.ValueFrom{FieldRef: &v1alpha1.FieldRef{FieldPath: "metadata.name"}}},
		{Name: "ns", ValueFrom: &v1alpha1.ValueFrom{FieldRef: &v1alpha1.FieldRef{FieldPath: "metadata.namespace"}}},
		{Name: "replicas", ValueFrom: &v1alpha1.ValueFrom{FieldRef: &v1alpha1.FieldRef{FieldPath: "spec.replicas"}}},
	}
	v, err := ResolveArgs(context.Background(), args, secrets, owner)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"service-name": "guestbook-svc", "api-token": "s3cr3t-token", "env": "dev", "app": "gb",
		"team": "web", "name": "guestbook", "ns": "shop", "replicas": "5"}
	for k, w := range want {
		if v.ByName[k] != w {
			t.Errorf("args.%s = %q, want %q", k, v.ByName[k], w)
		}
	}
	if len(v.Secret) != 1 || v.Redact("Bearer s3cr3t-token") != "Bearer *****" {
		t.Errorf("secret values %v; redacted %q", v.Secret, v.Redact("Bearer s3cr3t-token"))
	}

	for _, tc := range []struct {
		arg  v1alpha1.Argument
		want string
	}{
		{v1alpha1.Argument{Name: "x"}, "args.x: no value"},
		{v1alpha1.Argument{Name: "tok", ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "other", Key: "k"}}}, "args.tok: secretKeyRef other/k: not found"},
		{v1alpha1.Argument{Name: "region", ValueFrom: &v1alpha1.ValueFrom{FieldRef: &v1alpha1.FieldRef{FieldPath: "metadata.labels['region']"}}}, `args.region: fieldRef: "metadata.labels['region']": "region" is not set`},
		{v1alpha1.Argument{Name: "bad", ValueFrom: &v1alpha1.ValueFrom{FieldRef: &v1alpha1.FieldRef{FieldPath: "metadata.labels['x"}}}, "not a field path"},
	} {
		_, err := ResolveArgs(context.Background(), []v1alpha1.Argument{tc.arg}, secrets, owner)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to say %q", tc.arg.Name, err, tc.want)
		}
	}
}

func TestSubstitute(t *testing.T) {
	metrics := []v1alpha1.Metric{{
		Name:             "webmetric",
		SuccessCondition: "result == '{{args.expect}}'",
		Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{
			URL:     "{{ args.api-url }}?service={{args.service-name}}",
			Headers: []v1alpha1.WebMetricHeader{{Key: "Authorization", Value: "Bearer {{ args.api-token }}"}},
		}},
	}, {
		Name:         "prom",
		FailureLimit: ptr.To(intstr.FromString("{{args.limit}}")),
		Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{
			Address: "http://prometheus:{{args.port}}",
			Query:   `sum(rate(x{svc="{{args.service-name}}"}[1m]))`,
		}},
	}}
	values := map[string]string{"api-url": "http://other-api", "service-name": `gb"svc`, "api-token": "t0k", "expect": "true", "limit": "3", "port": "9090"}
	out, err := Substitute(metrics, values)
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Provider.Web.URL; got != `http://other-api?service=gb"svc` {
		t.Errorf("url %q", got)
	}
	if got := out[0].Provider.Web.Headers[0].Value; got != "Bearer t0k" {
		t.Errorf("header %q", got)
	}
	if out[0].SuccessCondition != "result == 'true'" {
		t.Errorf("condition %q", out[0].SuccessCondition)
	}
	if got := LimitsOf(&out[1]).Failure; got != 3 {
		t.Errorf("failureLimit from an arg: %d", got)
	}
	if got := out[1].Provider.Prometheus.Query; got != `sum(rate(x{svc="gb"svc"}[1m]))` {
		t.Errorf("query %q", got)
	}
	if metrics[0].Provider.Web.URL != "{{ args.api-url }}?service={{args.service-name}}" {
		t.Error("Substitute changed its input")
	}
	_, err = Substitute(metrics, map[string]string{})
	if err == nil || !strings.Contains(err.Error(), `metrics[0] "webmetric": {{args.`) {
		t.Errorf("missing arg: %v", err)
	}
}

func TestMergeArgs(t *testing.T) {
	declared := []v1alpha1.Argument{{Name: "service-name"}, {Name: "api-url", Value: ptr.To("http://example/measure")}}
	got, err := MergeArgs(declared, []v1alpha1.Argument{{Name: "service-name", Value: ptr.To("gb")}, {Name: "api-url", Value: ptr.To("http://other")}, {Name: "unused", Value: ptr.To("x")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || *got[0].Value != "gb" || *got[1].Value != "http://other" {
		t.Errorf("merged %+v", got)
	}
	if _, err := MergeArgs(declared, nil); err == nil || !strings.Contains(err.Error(), "args.service-name") {
		t.Errorf("an arg left without value: %v", err)
	}
}

type templates map[string]*v1alpha1.AnalysisTemplateSpec

func (ts templates) Template(_ context.Context, ref v1alpha1.AnalysisTemplateRef) (*v1alpha1.AnalysisTemplateSpec, error) {
	key := ref.TemplateName
	if ref.ClusterScope {
		key = "cluster/" + key
	}
	if t := ts[key]; t != nil {
		return t, nil
	}
	return nil, errors.New("not found")
}

func TestMergeTemplates(t *testing.T) {
	metric := func(name string) v1alpha1.Metric {
		return v1alpha1.Metric{Name: name, SuccessCondition: "true", Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://x"}}}
	}
	ts := templates{
		"success-rate":       {Metrics: []v1alpha1.Metric{metric("success-rate")}, Args: []v1alpha1.Argument{{Name: "service-name"}, {Name: "port", Value: ptr.To("9090")}}},
		"error-rate":         {Metrics: []v1alpha1.Metric{metric("error-rate")}, Args: []v1alpha1.Argument{{Name: "service-name"}, {Name: "port", Value: ptr.To("9090")}}, DryRun: []v1alpha1.DryRun{{MetricName: "error-rate"}}},
		"cluster/latency":    {Metrics: []v1alpha1.Metric{metric("latency")}, Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "success-rate"}}},
		"other-port":         {Metrics: []v1alpha1.Metric{metric("other")}, Args: []v1alpha1.Argument{{Name: "port", Value: ptr.To("9091")}}},
		"loop":               {Metrics: []v1alpha1.Metric{metric("loop")}, Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "loop"}}},
		"cluster/error-rate": {Metrics: []v1alpha1.Metric{metric("error-rate")}},
	}
	ref := func(name string, cluster bool) v1alpha1.AnalysisTemplateRef {
		return v1alpha1.AnalysisTemplateRef{TemplateName: name, ClusterScope: cluster}
	}
	merged, err := MergeTemplates(context.Background(), ts, []v1alpha1.AnalysisTemplateRef{ref("error-rate", false), ref("latency", true)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range merged.Metrics {
		names = append(names, m.Name)
	}
	if strings.Join(names, ",") != "error-rate,success-rate,latency" || len(merged.Args) != 2 || len(merged.DryRun) != 1 {
		t.Errorf("merged metrics %v, args %+v, dryRun %+v", names, merged.Args, merged.DryRun)
	}

	for _, tc := range []struct {
		refs []v1alpha1.AnalysisTemplateRef
		want string
	}{
		{[]v1alpha1.AnalysisTemplateRef{ref("error-rate", false), ref("error-rate", true)}, `metric "error-rate": defined by both AnalysisTemplate error-rate and ClusterAnalysisTemplate error-rate`},
		{[]v1alpha1.AnalysisTemplateRef{ref("success-rate", false), ref("other-port", false)}, "args.port: AnalysisTemplate success-rate and AnalysisTemplate other-port give it different values"},
		{[]v1alpha1.AnalysisTemplateRef{ref("missing", false)}, "AnalysisTemplate missing: not found"},
		{[]v1alpha1.AnalysisTemplateRef{ref("loop", false)}, "AnalysisTemplate loop pulls itself in"},
	} {
		_, err := MergeTemplates(context.Background(), ts, tc.refs)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.refs, err, tc.want)
		}
	}
}

// A secret is redacted in the forms errors and answers carry it in: with
// the trailing newline a Secret often has, trimmed, quoted by %q or JSON,
// URL-escaped. Before, only the exact value was, and a %q-quoted error
// reached the AnalysisRun's status.
func TestRedactEveryForm(t *testing.T) {
	secret := "s3cr3t \"key\"/+&\n"
	v := Values{Secret: []string{secret}}
	for _, leak := range []string{
		secret,
		"s3cr3t \"key\"/+&",
		fmt.Sprintf("%q", secret),
		fmt.Sprintf("%q", "s3cr3t \"key\"/+&"),
		string(must(json.Marshal(secret))),
		"https://metrics.test/q?api_key=" + url.QueryEscape(secret),
		"https://metrics.test/" + url.PathEscape("s3cr3t \"key\"/+&") + "/x",
	} {
		msg := "error: " + leak + " (done)"
		got := v.Redact(msg)
		if strings.Contains(got, "s3cr3t") {
			t.Errorf("%q redacted to %q", msg, got)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// A Secret-sourced arg in a Job's spec is refused (it would be readable by
// anyone who may get Jobs); in a web metric's header it is fine.
func TestSecretsInJobs(t *testing.T) {
	args := []v1alpha1.Argument{{Name: "password", ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "db", Key: "pw"}}},
		{Name: "host", Value: ptr.To("db.test")}}
	job := v1alpha1.Metric{Name: "smoke", Provider: v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{}}}
	job.Provider.Job.Spec.Template.Spec.Containers = []corev1.Container{{Name: "t", Image: "test", Args: []string{"--host={{args.host}}", "--password={{ args.password }}"}}}
	err := SecretsInJobs([]v1alpha1.Metric{job}, args)
	if err == nil || !strings.Contains(err.Error(), "spec.metrics[0].provider.job") || !strings.Contains(err.Error(), "secretKeyRef") {
		t.Errorf("a secret in a Job's args: %v", err)
	}
	job.Provider.Job.Spec.Template.Spec.Containers[0].Args = []string{"--host={{args.host}}"}
	web := v1alpha1.Metric{Name: "web", Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "https://x.test", Headers: []v1alpha1.WebMetricHeader{{Key: "Authorization", Value: "{{args.password}}"}}}}}
	if err := SecretsInJobs([]v1alpha1.Metric{job, web}, args); err != nil {
		t.Errorf("no secret in the Job: %v", err)
	}
}
