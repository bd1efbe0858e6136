// Package lint checks manifests of Vireo's kinds before they are applied:
// against the CRD schemas, as the API server would, and against the rules
// the controller applies, as an InvalidSpec would report. It reports every
// problem at once, each with its line and field path.
package lint

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsyaml "sigs.k8s.io/yaml"

	flaggerv1beta1 "github.com/vireo-dev/vireo/api/flagger/v1beta1"
	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/config/crd"
	"github.com/vireo-dev/vireo/internal/analysis"
	"github.com/vireo-dev/vireo/internal/canary"
	"github.com/vireo-dev/vireo/internal/crdschema"
	planner "github.com/vireo-dev/vireo/internal/rollout"
	"github.com/vireo-dev/vireo/internal/trafficrouting/routers"
)

// Problem is one thing wrong in a manifest.
type Problem struct {
	Line    int    // 1-based line in the file
	Object  string // Kind/name
	Path    string // the field path
	Message string
}

func (p Problem) String() string {
	return fmt.Sprintf("line %d: %s: %s: %s", p.Line, p.Object, p.Path, p.Message)
}

// schemas are the CRDs' schemas by "group/version/kind".
type schemas map[string]*kindSchema

type kindSchema struct {
	structural *structuralschema.Structural
	validator  validation.SchemaCreateValidator
}

// cachedSchemas builds the CRDs' validators once per process (about a second's work).
var cachedSchemas = sync.OnceValues(loadSchemas)

func loadSchemas() (schemas, error) {
	files, err := crd.Bases.ReadDir("bases")
	if err != nil {
		return nil, err
	}
	out := schemas{}
	for _, f := range files {
		data, err := crd.Bases.ReadFile("bases/" + f.Name())
		if err != nil {
			return nil, err
		}
		var c apiextv1.CustomResourceDefinition
		if err := sigsyaml.Unmarshal(data, &c); err != nil {
			return nil, fmt.Errorf("reading the %s CRD: %w", f.Name(), err)
		}
		for _, v := range c.Spec.Versions {
			ks, err := kindSchemaOf(&c, v.Name)
			if err != nil {
				return nil, err
			}
			out[c.Spec.Group+"/"+v.Name+"/"+c.Spec.Names.Kind] = ks
		}
	}
	return out, nil
}

// kindSchemaOf builds the validator of one version of a CRD.
func kindSchemaOf(c *apiextv1.CustomResourceDefinition, version string) (*kindSchema, error) {
	s, err := crdschema.Schema(c, version)
	if err != nil {
		return nil, err
	}
	var internal apiextensions.JSONSchemaProps
	if err := apiextv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(s, &internal, nil); err != nil {
		return nil, err
	}
	structural, err := structuralschema.NewStructural(&internal)
	if err != nil {
		return nil, fmt.Errorf("the %s CRD's schema: %w", c.Spec.Names.Kind, err)
	}
	validator, _, err := validation.NewSchemaValidator(&internal)
	if err != nil {
		return nil, err
	}
	return &kindSchema{structural: structural, validator: validator}, nil
}

// File checks every document of a manifest file. Documents of other kinds
// (Services, Ingresses) are left alone. The error is for a file that cannot
// be read as YAML at all.
func File(data []byte) ([]Problem, error) {
	kinds, err := cachedSchemas()
	if err != nil {
		return nil, err
	}
	var problems []Problem
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return problems, fmt.Errorf("reading YAML: %w", err)
		}
		if len(doc.Content) == 0 {
			continue
		}
		problems = append(problems, document(&doc, kinds)...)
	}
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].Line < problems[j].Line })
	return problems, nil
}

// document checks one YAML document.
func document(doc *yaml.Node, kinds schemas) []Problem {
	root := doc.Content[0]
	lines := map[string]int{}
	index(root, "", lines)
	var obj map[string]any
	if err := doc.Decode(&obj); err != nil {
		return []Problem{{Line: root.Line, Path: "(document)", Message: err.Error()}}
	}
	// Round-trip through JSON: numbers and maps as the API server sees them.
	raw, err := jsonOf(obj)
	if err != nil {
		return []Problem{{Line: root.Line, Path: "(document)", Message: err.Error()}}
	}
	apiVersion, _ := raw["apiVersion"].(string)
	kind, _ := raw["kind"].(string)
	meta, _ := raw["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	object := kind + "/" + name
	if apiVersion != v1alpha1.GroupVersion.String() && apiVersion != flaggerv1beta1.GroupVersion.String() {
		return nil
	}
	ks := kinds[apiVersion+"/"+kind]
	if ks == nil {
		return []Problem{{Line: lines["kind"], Object: object, Path: "kind", Message: fmt.Sprintf("%s has no kind %q", apiVersion, kind)}}
	}
	var errs field.ErrorList
	if name == "" && meta["generateName"] == nil {
		errs = append(errs, field.Required(field.NewPath("metadata", "name"), ""))
	}
	pruned := runtime.DeepCopyJSON(raw)
	for _, p := range pruning.PruneWithOptions(pruned, ks.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}) {
		errs = append(errs, &field.Error{Type: field.ErrorTypeNotSupported, Field: p, Detail: "unknown field"})
	}
	schemaErrs := validation.ValidateCustomResource(nil, pruned, ks.validator)
	errs = append(errs, schemaErrs...)
	if len(schemaErrs) == 0 {
		errs = append(errs, semantic(kind, pruned)...)
	}
	var out []Problem
	for _, e := range errs {
		msg := e.ErrorBody()
		if e.Type == field.ErrorTypeNotSupported && e.Detail == "unknown field" {
			msg = "unknown field"
		}
		out = append(out, Problem{Line: lineOf(lines, e.Field, root.Line), Object: object, Path: e.Field, Message: msg})
	}
	return out
}

// semantic applies the controller's own rules to an object the schema accepts.
func semantic(kind string, obj map[string]any) field.ErrorList {
	switch kind {
	case "Rollout":
		var ro v1alpha1.Rollout
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, &ro); err != nil {
			return field.ErrorList{field.Invalid(field.NewPath("spec"), "", err.Error())}
		}
		errs := planner.Validate(&ro)
		if planner.Routed(&ro) {
			errs = append(errs, routers.Check(&ro)...)
		}
		return errs
	case "Canary":
		var cn flaggerv1beta1.Canary
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, &cn); err != nil {
			return field.ErrorList{field.Invalid(field.NewPath("spec"), "", err.Error())}
		}
		// A Canary without spec.provider gets the controller's default,
		// istio unless --flagger-provider says otherwise.
		return canary.Validate(&cn, "istio")
	case "AnalysisTemplate", "ClusterAnalysisTemplate":
		var t v1alpha1.AnalysisTemplate
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, &t); err != nil {
			return field.ErrorList{field.Invalid(field.NewPath("spec"), "", err.Error())}
		}
		return analysis.ValidateRun(&v1alpha1.AnalysisRunSpec{Metrics: t.Spec.Metrics, Args: t.Spec.Args}, t.Spec.Metrics)
	}
	return nil
}

func jsonOf(v map[string]any) (map[string]any, error) {
	data, err := sigsyaml.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	return out, sigsyaml.Unmarshal(data, &out)
}

// index records the line of every field of a YAML tree under the paths
// field.Path prints: a.b, a[0], and for map keys also a[key].
func index(n *yaml.Node, path string, lines map[string]int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			child := k.Value
			if path != "" {
				child = path + "." + k.Value
			}
			lines[child] = k.Line
			lines[path+"["+k.Value+"]"] = k.Line
			index(v, child, lines)
			index(v, path+"["+k.Value+"]", lines)
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			child := fmt.Sprintf("%s[%d]", path, i)
			lines[child] = v.Line
			index(v, child, lines)
		}
	}
}

// lineOf finds the line of a field path, or of its nearest parent written
// in the file (a required field that is missing is reported at its parent).
func lineOf(lines map[string]int, path string, fallback int) int {
	for p := path; p != ""; {
		if l, ok := lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i <= 0 {
			break
		}
		p = p[:i]
	}
	return fallback
}
