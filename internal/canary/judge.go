package canary

import (
	"encoding/json"
	"fmt"

	"sigs.k8s.io/yaml"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
	"github.com/vireo-dev/vireo/internal/judge"
)

// JudgeProvider is the MetricTemplate provider type of Vireo's canary
// judge. The template's query is the judge's configuration in YAML (kind,
// canary and stable queries, tolerance, alpha), rendered with the Canary's
// variables like any query; provider.address is the Prometheus it reads:
//
//	spec:
//	  provider: {type: vireo-judge, address: http://prometheus:9090}
//	  query: |
//	    canary:
//	      requests: sum(http_requests_total{pod=~"{{ target }}-[0-9a-z]+-[0-9a-z]+"})
//	      errors: sum(http_requests_total{pod=~"{{ target }}-[0-9a-z]+-[0-9a-z]+",code=~"5.."})
//	    stable:
//	      requests: sum(http_requests_total{pod=~"{{ target }}-primary-.*"})
//	      errors: sum(http_requests_total{pod=~"{{ target }}-primary-.*",code=~"5.."})
const JudgeProvider = "vireo-judge"

// JudgeSpec reads a vireo-judge template's rendered query, with the
// provider's address as the judge's Prometheus unless the query names one.
func JudgeSpec(provider v1beta1.MetricTemplateProvider, query string) (judge.Spec, judge.Config, error) {
	raw, err := yaml.YAMLToJSON([]byte(query))
	if err != nil {
		return judge.Spec{}, judge.Config{}, fmt.Errorf("spec.query: the judge's configuration is not YAML: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil || doc == nil {
		return judge.Spec{}, judge.Config{}, fmt.Errorf("spec.query: the judge's configuration is not a YAML mapping")
	}
	if _, ok := doc["prometheus"]; !ok && provider.Address != "" {
		doc["prometheus"] = map[string]any{"address": provider.Address}
	}
	raw, _ = json.Marshal(doc)
	return judge.ParseSpec(raw, "spec.query")
}

// judgeCheck judges a vireo-judge metric's reading: it advances the test
// kept in status.judge and returns whether the check passed, why not in
// Flagger's words, and the e-value.
func (d *decider) judgeCheck(m *v1beta1.CanaryMetric, q *MetricQuery, r Result) (bool, string, string) {
	if !r.OK || r.Judge == nil {
		return false, fmt.Sprintf("Metric query failed for %s: %s", m.Name, r.Err), ""
	}
	spec, cfg, err := JudgeSpec(q.Provider, q.Query)
	if err != nil {
		return false, fmt.Sprintf("Metric query failed for %s: %v", m.Name, err), ""
	}
	step, err := judge.Advance(spec, cfg, d.status.Judge[m.Name], *r.Judge)
	if err != nil {
		return false, fmt.Sprintf("Metric query failed for %s: %v", m.Name, err), ""
	}
	if d.status.Judge == nil {
		d.status.Judge = map[string]string{}
	}
	d.status.Judge[m.Name] = step.State
	value := fmt.Sprintf("%.4g", step.Result.EValue)
	switch {
	case step.Baseline():
		// The first check of an analysis takes the counters as the zero
		// point (their history is earlier releases'); it judges nothing.
		return true, "", ""
	case step.NoData():
		return false, fmt.Sprintf("Halt advancement no values found for custom metric: %s: a version served no requests yet", m.Name), value
	case step.Result.Verdict == judge.Harm:
		return false, fmt.Sprintf("Halt %s advancement %s: %s: %s", d.name, m.Name, step.Harmed(spec), step.Describe(cfg)), value
	}
	return true, "", value
}
