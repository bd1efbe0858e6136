package analysis

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/judge"
)

// Supported names the providers Vireo can measure with.
var Supported = []string{"prometheus", "web", "job", "kayenta", "datadog", "newRelic", "wavefront", "cloudWatch", "graphite", "influxdb", "plugin: " + JudgePlugin}

// JudgePlugin is the plugin provider key of Vireo's canary judge.
const JudgePlugin = "vireo.dev/judge"

// ProviderName is the one provider a metric sets ("" when none, "several" when more).
func ProviderName(p *v1alpha1.MetricProvider) string {
	set := map[string]bool{
		"prometheus": p.Prometheus != nil, "web": p.Web != nil, "job": p.Job != nil, "kayenta": p.Kayenta != nil,
		"datadog": p.Datadog != nil, "newRelic": p.NewRelic != nil, "wavefront": p.Wavefront != nil,
		"cloudWatch": p.CloudWatch != nil, "graphite": p.Graphite != nil, "influxdb": p.Influxdb != nil,
		"skywalking": p.SkyWalking != nil, "plugin": len(p.Plugin) > 0,
	}
	name := ""
	for k, v := range set {
		if v {
			if name != "" {
				return "several"
			}
			name = k
		}
	}
	return name
}

// ValidateRun checks a run's metrics once its args are in place: names,
// exactly one provider each, conditions that compile, durations and limits
// that parse, dryRun and measurementRetention patterns.
func ValidateRun(spec *v1alpha1.AnalysisRunSpec, metrics []v1alpha1.Metric) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec", "metrics")
	if len(metrics) == 0 {
		errs = append(errs, field.Required(p, "a run needs at least one metric"))
	}
	seen := map[string]bool{}
	for i := range metrics {
		m := &metrics[i]
		mp := p.Index(i)
		switch {
		case m.Name == "":
			errs = append(errs, field.Required(mp.Child("name"), ""))
		case seen[m.Name]:
			errs = append(errs, field.Duplicate(mp.Child("name"), m.Name))
		}
		seen[m.Name] = true
		switch name := ProviderName(&m.Provider); name {
		case "":
			errs = append(errs, field.Required(mp.Child("provider"), fmt.Sprintf("set one of %v", Supported)))
		case "several":
			errs = append(errs, field.Invalid(mp.Child("provider"), "", "set exactly one provider"))
		case "plugin":
			for key, raw := range m.Provider.Plugin {
				path := mp.Child("provider", "plugin").Key(key)
				if key != JudgePlugin {
					errs = append(errs, field.NotSupported(path, key, []string{JudgePlugin}))
				} else if _, _, err := judge.ParseSpec(raw.Raw, path.String()); err != nil && !hasArgs(raw.Raw) {
					// With {{args}} in it, the configuration is checked when the run has them.
					detail := err.Error()
					var se *judge.SpecError
					if errors.As(err, &se) {
						detail = se.Detail
						if se.Field != "" {
							path = field.NewPath(path.String() + "." + se.Field)
						}
					}
					errs = append(errs, field.Invalid(path, "", detail))
				}
			}
		case "skywalking":
			errs = append(errs, field.NotSupported(mp.Child("provider", name), name, Supported))
		}
		for _, c := range []struct{ name, src string }{{"successCondition", m.SuccessCondition}, {"failureCondition", m.FailureCondition}} {
			if c.src == "" {
				continue
			}
			if _, err := Compile(c.src); err != nil {
				errs = append(errs, field.Invalid(mp.Child(c.name), c.src, err.Error()))
			}
		}
		if _, err := ParseDuration(m.Interval, "interval"); err != nil {
			errs = append(errs, field.Invalid(mp.Child("interval"), m.Interval, "not a duration such as 30s or 5m"))
		}
		if _, err := ParseDuration(m.InitialDelay, "initialDelay"); err != nil {
			errs = append(errs, field.Invalid(mp.Child("initialDelay"), m.InitialDelay, "not a duration such as 30s or 5m"))
		}
		for _, l := range []struct {
			name string
			v    *intstr.IntOrString
		}{{"count", m.Count}, {"failureLimit", m.FailureLimit}, {"inconclusiveLimit", m.InconclusiveLimit},
			{"consecutiveErrorLimit", m.ConsecutiveErrorLimit}, {"consecutiveSuccessLimit", m.ConsecutiveSuccessLimit}} {
			if l.v != nil && l.v.Type == intstr.String {
				if _, err := strconv.ParseInt(l.v.StrVal, 10, 32); err != nil {
					errs = append(errs, field.Invalid(mp.Child(l.name), l.v.StrVal, "not a whole number"))
				}
			}
		}
	}
	for i, d := range spec.DryRun {
		if _, err := regexp.Compile(d.MetricName); err != nil {
			errs = append(errs, field.Invalid(field.NewPath("spec", "dryRun").Index(i).Child("metricName"), d.MetricName, err.Error()))
		}
	}
	for i, r := range spec.MeasurementRetention {
		rp := field.NewPath("spec", "measurementRetention").Index(i)
		if _, err := regexp.Compile(r.MetricName); err != nil {
			errs = append(errs, field.Invalid(rp.Child("metricName"), r.MetricName, err.Error()))
		}
		if r.Limit < 1 {
			errs = append(errs, field.Invalid(rp.Child("limit"), r.Limit, "keep at least one measurement"))
		}
	}
	return errs
}

// hasArgs is whether raw still has {{args.…}} to substitute.
func hasArgs(raw []byte) bool { return bytes.Contains(raw, []byte("{{")) }

// The judge marks the measurement that found the canary within tolerance
// (its confidence sequence at or below 1 + tolerance): the metric is then
// done, Successful, without waiting for its count.
const (
	JudgeVerdictKey      = "judge.verdict"
	JudgeWithinTolerance = "within-tolerance"
)
