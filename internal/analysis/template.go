package analysis

import (
	"context"
	"fmt"
	"slices"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// TemplateGetter reads an AnalysisTemplate (in the namespace at hand) or a
// ClusterAnalysisTemplate.
type TemplateGetter interface {
	Template(ctx context.Context, ref v1alpha1.AnalysisTemplateRef) (*v1alpha1.AnalysisTemplateSpec, error)
}

// maxTemplateDepth bounds templates that pull in templates.
const maxTemplateDepth = 10

// describe names a template reference in messages.
func describe(ref v1alpha1.AnalysisTemplateRef) string {
	if ref.ClusterScope {
		return "ClusterAnalysisTemplate " + ref.TemplateName
	}
	return "AnalysisTemplate " + ref.TemplateName
}

// MergeTemplates reads the templates (and those they pull in through
// spec.templates) and joins them into one: all their metrics, args, dryRun
// and measurementRetention. Two metrics of one name, or one arg given two
// different values, are errors naming both templates.
func MergeTemplates(ctx context.Context, get TemplateGetter, refs []v1alpha1.AnalysisTemplateRef) (*v1alpha1.AnalysisTemplateSpec, error) {
	m := merger{get: get, metricFrom: map[string]string{}, argFrom: map[string]string{}, argAt: map[string]int{}}
	for _, ref := range refs {
		if err := m.add(ctx, ref, nil); err != nil {
			return nil, err
		}
	}
	if len(m.out.Metrics) == 0 {
		return nil, fmt.Errorf("the templates define no metric")
	}
	return &m.out, nil
}

type merger struct {
	get        TemplateGetter
	out        v1alpha1.AnalysisTemplateSpec
	metricFrom map[string]string // metric name -> template that defined it
	argFrom    map[string]string // arg name -> template that gave its value
	argAt      map[string]int    // arg name -> index in out.Args
}

func (m *merger) add(ctx context.Context, ref v1alpha1.AnalysisTemplateRef, chain []string) error {
	name := describe(ref)
	for _, c := range chain {
		if c == name {
			return fmt.Errorf("%s pulls itself in through spec.templates", name)
		}
	}
	if len(chain) >= maxTemplateDepth {
		return fmt.Errorf("%s: templates nest deeper than %d", name, maxTemplateDepth)
	}
	if ref.TemplateName == "" {
		return fmt.Errorf("templateName: required")
	}
	spec, err := m.get.Template(ctx, ref)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	for _, nested := range spec.Templates {
		if err := m.add(ctx, nested, append(chain, name)); err != nil {
			return err
		}
	}
	for _, metric := range spec.Metrics {
		if other, dup := m.metricFrom[metric.Name]; dup {
			if other == name {
				return fmt.Errorf("metric %q: defined twice by %s", metric.Name, name)
			}
			return fmt.Errorf("metric %q: defined by both %s and %s", metric.Name, other, name)
		}
		m.metricFrom[metric.Name] = name
		m.out.Metrics = append(m.out.Metrics, *metric.DeepCopy())
	}
	for _, arg := range spec.Args {
		i, known := m.argAt[arg.Name]
		switch {
		case !known:
			m.argAt[arg.Name] = len(m.out.Args)
			m.out.Args = append(m.out.Args, *arg.DeepCopy())
			if hasValue(arg) {
				m.argFrom[arg.Name] = name
			}
		case !hasValue(arg):
		case !hasValue(m.out.Args[i]):
			m.out.Args[i] = *arg.DeepCopy()
			m.argFrom[arg.Name] = name
		case !sameValue(m.out.Args[i], arg):
			return fmt.Errorf("args.%s: %s and %s give it different values", arg.Name, m.argFrom[arg.Name], name)
		}
	}
	m.out.DryRun = append(m.out.DryRun, spec.DryRun...)
	m.out.MeasurementRetention = append(m.out.MeasurementRetention, spec.MeasurementRetention...)
	return nil
}

func hasValue(a v1alpha1.Argument) bool { return a.Value != nil || a.ValueFrom != nil }

func sameValue(a, b v1alpha1.Argument) bool {
	switch {
	case a.Value != nil && b.Value != nil:
		return *a.Value == *b.Value
	case a.ValueFrom != nil && b.ValueFrom != nil:
		return samePtr(a.ValueFrom.SecretKeyRef, b.ValueFrom.SecretKeyRef) && samePtr(a.ValueFrom.FieldRef, b.ValueFrom.FieldRef)
	}
	return false
}

// samePtr reports whether two pointers are both nil or point at equal values.
func samePtr[T comparable](a, b *T) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// RunSpec is the spec of a run of merged templates: their metrics, their args
// with the given ones laid over them, and the owner's dryRun and
// measurementRetention after the templates'. A fieldRef arg the templates
// declare reads the owner (the Rollout or Experiment that runs the analysis);
// a Secret arg stays a reference, read only when the run measures.
func RunSpec(tmpl *v1alpha1.AnalysisTemplateSpec, given []v1alpha1.Argument, owner any,
	dryRun []v1alpha1.DryRun, retention []v1alpha1.MeasurementRetention) (*v1alpha1.AnalysisRunSpec, error) {
	args, err := MergeArgs(tmpl.Args, given)
	if err != nil {
		return nil, err
	}
	for i, arg := range args {
		if arg.ValueFrom != nil && arg.ValueFrom.FieldRef != nil {
			v, err := FieldValue(owner, arg.ValueFrom.FieldRef.FieldPath)
			if err != nil {
				return nil, fmt.Errorf("args.%s: fieldRef: %w", arg.Name, err)
			}
			args[i] = v1alpha1.Argument{Name: arg.Name, Value: &v}
		}
	}
	return &v1alpha1.AnalysisRunSpec{
		Metrics:              tmpl.Metrics,
		Args:                 args,
		DryRun:               append(slices.Clone(tmpl.DryRun), dryRun...),
		MeasurementRetention: append(slices.Clone(tmpl.MeasurementRetention), retention...),
	}, nil
}
