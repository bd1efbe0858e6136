package experiment

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/rollout"
)

// Validate checks an Experiment's spec and returns every problem found, each
// naming its field. The analysis templates it names are the controller's to
// check: they are other objects.
func Validate(ex *v1alpha1.Experiment) field.ErrorList {
	spec := &ex.Spec
	p := field.NewPath("spec")
	var errs field.ErrorList
	if len(spec.Templates) == 0 {
		errs = append(errs, field.Required(p.Child("templates"), "at least one template"))
	}
	names := map[string]bool{}
	for i := range spec.Templates {
		errs = append(errs, validateTemplate(ex, &spec.Templates[i], p.Child("templates").Index(i), names)...)
	}
	if spec.Duration != "" {
		if _, err := rollout.ParseDuration(string(spec.Duration)); err != nil {
			errs = append(errs, field.Invalid(p.Child("duration"), spec.Duration, err.Error()))
		}
	}
	if d := spec.ProgressDeadlineSeconds; d != nil && *d <= 0 {
		errs = append(errs, field.Invalid(p.Child("progressDeadlineSeconds"), *d, "must be greater than 0"))
	}
	if d := spec.ScaleDownDelaySeconds; d != nil && *d < 0 {
		errs = append(errs, field.Invalid(p.Child("scaleDownDelaySeconds"), *d, "must be greater than or equal to 0"))
	}
	analyses := map[string]bool{}
	for i, a := range spec.Analyses {
		ap := p.Child("analyses").Index(i)
		if named := rollout.UniqueName(ap.Child("name"), a.Name, analyses); len(named) > 0 {
			errs = append(errs, named...)
		} else if msgs := validation.IsDNS1123Subdomain(RunName(ex, a.Name)); len(msgs) > 0 {
			errs = append(errs, field.Invalid(ap.Child("name"), a.Name, "the AnalysisRun name "+RunName(ex, a.Name)+" "+msgs[0]))
		}
		if a.TemplateName == "" {
			errs = append(errs, field.Required(ap.Child("templateName"), ""))
		}
		args := map[string]bool{}
		for j, arg := range a.Args {
			errs = append(errs, rollout.UniqueName(ap.Child("args").Index(j).Child("name"), arg.Name, args)...)
		}
	}
	for i, d := range spec.DryRun {
		if d.MetricName == "" {
			errs = append(errs, field.Required(p.Child("dryRun").Index(i).Child("metricName"), ""))
		}
	}
	for i, m := range spec.MeasurementRetention {
		if m.MetricName == "" {
			errs = append(errs, field.Required(p.Child("measurementRetention").Index(i).Child("metricName"), ""))
		}
		if m.Limit < 1 {
			errs = append(errs, field.Invalid(p.Child("measurementRetention").Index(i).Child("limit"), m.Limit, "must be at least 1"))
		}
	}
	return errs
}

func validateTemplate(ex *v1alpha1.Experiment, t *v1alpha1.TemplateSpec, p *field.Path, names map[string]bool) field.ErrorList {
	errs := rollout.UniqueName(p.Child("name"), t.Name, names)
	if len(errs) == 0 {
		if msgs := validation.IsDNS1123Subdomain(ReplicaSetName(ex, t)); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child("name"), t.Name, "the ReplicaSet name "+ReplicaSetName(ex, t)+" "+msgs[0]))
		}
	}
	if t.Replicas != nil && *t.Replicas < 0 {
		errs = append(errs, field.Invalid(p.Child("replicas"), *t.Replicas, "must be greater than or equal to 0"))
	}
	if t.MinReadySeconds < 0 {
		errs = append(errs, field.Invalid(p.Child("minReadySeconds"), t.MinReadySeconds, "must be greater than or equal to 0"))
	}
	if len(t.Template.Spec.Containers) == 0 {
		errs = append(errs, field.Required(p.Child("template", "spec", "containers"), "at least one container"))
	}
	switch sel, err := metav1.LabelSelectorAsSelector(t.Selector); {
	case t.Selector == nil || (len(t.Selector.MatchLabels) == 0 && len(t.Selector.MatchExpressions) == 0):
		errs = append(errs, field.Required(p.Child("selector"), "a selector that matches the template's labels"))
	case err != nil:
		errs = append(errs, field.Invalid(p.Child("selector"), metav1.FormatLabelSelector(t.Selector), err.Error()))
	case !sel.Matches(labels.Set(t.Template.Labels)):
		errs = append(errs, field.Invalid(p.Child("selector"), metav1.FormatLabelSelector(t.Selector),
			fmt.Sprintf("does not match the template's labels %q", labels.Set(t.Template.Labels).String())))
	}
	if t.Service != nil && t.Name != "" {
		name := ServiceName(ex, t)
		if msgs := validation.IsDNS1035Label(name); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child("service", "name"), name, "a Service name "+msgs[0]))
		}
		if len(servicePorts(t)) == 0 {
			errs = append(errs, field.Invalid(p.Child("service"), name, "the pod template declares no container port for the Service to expose"))
		}
	}
	return errs
}
