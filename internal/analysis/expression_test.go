package analysis

import (
	"strings"
	"testing"
	"time"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// What template authors write, from Argo Rollouts' documentation and the
// tutorials, is still accepted.
func TestConditionsAsDocumented(t *testing.T) {
	for _, src := range []string{
		"result[0] >= 0.95",
		"len(result) == 0 || result[0] < 0.05",
		"result.major == '1' && asInt(result.minor) >= 20",
		"isNaN(result) || result <= 0.01",
		"default(result, 0) > 1",
		"all(result, # > 0.9)",
		"any(result.items, #.status == 'ok')",
		"len(filter(result, # > 100)) < 3",
		"result == true",
		"result in ['ok', 'passed']",
		"result[1:3][0] > 2 ? true : false",
		"asFloat(result) >= 0.99 and not isInf(result)",
	} {
		if _, err := Compile(src); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}

// Conditions that would take the controller down, or hold a worker for
// hours, are refused before they run, with what is wrong in them. Each of
// these ran (and killed or held the controller) before the grammar.
func TestHostileConditionsAreRefused(t *testing.T) {
	for src, want := range map[string]string{
		"reduce(1..64, #acc + #acc, 'x') != ''":                        "reduce",
		"all(1..1000, all(1..1000, all(1..1000, all(1..1000, true))))": "must range over result",
		"all(result, all(result, true))":                               "inside another closure",
		"let x = result; x > 1":                                        "VariableDeclaratorNode",
		"len(repeat('x', 100000000)) > 0":                              "repeat",
		"len(1..100000000) > 0":                                        `".."`,
		"map(result, #).foo()":                                         "",
		"now() > date('2020-01-01')":                                   "now",
		"secret > 1":                                                   `"secret" is not known`,
		"len(toJSON(result)) > 0":                                      "toJSON",
		strings.Repeat("result + ", 300) + "1 > 0":                     "too large",
	} {
		start := time.Now()
		_, err := Compile(src)
		if err == nil {
			t.Errorf("%.60s: accepted", src)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%.60s: %v, want it to say %q", src, err, want)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%.60s: refusing took %s", src, d)
		}
	}
}

// A template with such a condition is invalid, naming the field.
func TestHostileConditionNamesTheField(t *testing.T) {
	metrics := []v1alpha1.Metric{{Name: "m", SuccessCondition: "reduce(1..64, #acc + #acc, 'x') != ''",
		Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://example.test/"}}}}
	errs := ValidateRun(&v1alpha1.AnalysisRunSpec{Metrics: metrics}, metrics)
	if len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), "spec.metrics[0].successCondition") {
		t.Errorf("errors %v, want one naming spec.metrics[0].successCondition", errs)
	}
}

// The plugin provider runs Vireo's judge and nothing else.
func TestPluginProviderIsTheJudge(t *testing.T) {
	judge := []v1alpha1.Metric{{Name: "j", Provider: v1alpha1.MetricProvider{Plugin: map[string]apiextv1.JSON{JudgePlugin: {Raw: []byte(`{"prometheus":{"address":"http://p"},"canary":{"requests":"a","errors":"b"},"stable":{"requests":"c","errors":"d"}}`)}}}}}
	if errs := ValidateRun(&v1alpha1.AnalysisRunSpec{Metrics: judge}, judge); len(errs) != 0 {
		t.Errorf("the judge refused: %v", errs)
	}
	for cfg, want := range map[string]string{
		`{"canary":{"requests":"a","errors":"b"},"stable":{"requests":"c","errors":"d"}}`:                                    "provider.plugin[vireo.dev/judge].prometheus.address",
		`{"prometheus":{"address":"http://p"},"kind":"latency","canary":{"buckets":"a"},"stable":{"buckets":"b"},"alpha":2}`: "provider.plugin[vireo.dev/judge].alpha",
		`{"prometheus":{"address":"http://p"},"kind":"latency","canary":{"buckets":"a"}}`:                                    "provider.plugin[vireo.dev/judge].canary.buckets",
		`{"prometheus":{"address":"http://p"},"tolerence":0.2}`:                                                              `unknown field "tolerence"`,
	} {
		bad := []v1alpha1.Metric{{Name: "j", Provider: v1alpha1.MetricProvider{Plugin: map[string]apiextv1.JSON{JudgePlugin: {Raw: []byte(cfg)}}}}}
		if errs := ValidateRun(&v1alpha1.AnalysisRunSpec{Metrics: bad}, bad); len(errs) != 1 || !strings.Contains(errs[0].Error(), want) {
			t.Errorf("%s: %v, want one error naming %s", cfg, errs, want)
		}
	}
	other := []v1alpha1.Metric{{Name: "o", Provider: v1alpha1.MetricProvider{Plugin: map[string]apiextv1.JSON{"argoproj-labs/sample": {Raw: []byte(`{}`)}}}}}
	errs := ValidateRun(&v1alpha1.AnalysisRunSpec{Metrics: other}, other)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "spec.metrics[0].provider.plugin[argoproj-labs/sample]") {
		t.Errorf("another plugin: %v", errs)
	}
}
