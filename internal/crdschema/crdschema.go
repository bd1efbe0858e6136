// Package crdschema reads CustomResourceDefinition files and compares their
// OpenAPI v3 schemas path by path. Vireo uses it to prove that its generated CRDs
// accept every field of the API it is compatible with.
package crdschema

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// ReadFile returns the CRDs in a YAML file, which may hold several documents.
func ReadFile(path string) ([]apiextv1.CustomResourceDefinition, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading CRD file: %w", err)
	}
	var out []apiextv1.CustomResourceDefinition
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var crd apiextv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(doc, &crd); err != nil {
			return nil, fmt.Errorf("decoding CRD in %s: %w", path, err)
		}
		if crd.Kind != "CustomResourceDefinition" {
			continue
		}
		out = append(out, crd)
	}
	return out, nil
}

// Schema returns the openAPIV3Schema of the named version.
func Schema(crd *apiextv1.CustomResourceDefinition, version string) (*apiextv1.JSONSchemaProps, error) {
	for i := range crd.Spec.Versions {
		v := &crd.Spec.Versions[i]
		if v.Name == version {
			if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				return nil, fmt.Errorf("CRD %s version %s has no openAPIV3Schema", crd.Name, version)
			}
			return v.Schema.OpenAPIV3Schema, nil
		}
	}
	return nil, fmt.Errorf("CRD %s has no version %s", crd.Name, version)
}

// Walk calls fn for every node of a schema with its path. Object properties
// add ".name", array items add "[]", and additionalProperties add "{}".
// The root has the empty path.
func Walk(s *apiextv1.JSONSchemaProps, fn func(path string, node *apiextv1.JSONSchemaProps)) {
	walk("", s, fn)
}

func walk(path string, s *apiextv1.JSONSchemaProps, fn func(string, *apiextv1.JSONSchemaProps)) {
	if s == nil {
		return
	}
	fn(path, s)
	names := make([]string, 0, len(s.Properties))
	for name := range s.Properties {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		child := s.Properties[name]
		walk(path+"."+name, &child, fn)
	}
	if s.Items != nil && s.Items.Schema != nil {
		walk(path+"[]", s.Items.Schema, fn)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		walk(path+"{}", s.AdditionalProperties.Schema, fn)
	}
}

// Index maps every path of a schema to its node.
func Index(s *apiextv1.JSONSchemaProps) map[string]*apiextv1.JSONSchemaProps {
	out := map[string]*apiextv1.JSONSchemaProps{}
	Walk(s, func(p string, n *apiextv1.JSONSchemaProps) { out[p] = n })
	return out
}

// Mismatch is one reference path that the candidate schema lacks or types
// differently.
type Mismatch struct {
	Path   string
	Reason string
}

func (m Mismatch) String() string {
	p := m.Path
	if p == "" {
		p = "(root)"
	}
	return p + ": " + m.Reason
}

// Report is the result of comparing a candidate schema with a reference.
type Report struct {
	// Total is the number of reference paths.
	Total int
	// Present is the number of reference paths the candidate has with the
	// same type.
	Present    int
	Mismatches []Mismatch
}

// Compare checks every path of ref against cand. A path conforms when cand has
// it with the same type, format, enum, x-kubernetes-int-or-string and
// x-kubernetes-preserve-unknown-fields wherever ref sets them, and when cand
// requires no field that ref leaves optional (so Vireo never rejects a manifest
// that the reference API accepts).
func Compare(ref, cand *apiextv1.JSONSchemaProps) Report {
	have := Index(cand)
	var rep Report
	Walk(ref, func(path string, r *apiextv1.JSONSchemaProps) {
		rep.Total++
		c, ok := have[path]
		if !ok {
			rep.Mismatches = append(rep.Mismatches, Mismatch{path, "missing"})
			return
		}
		reasons := differences(r, c)
		if len(reasons) == 0 {
			rep.Present++
			return
		}
		rep.Mismatches = append(rep.Mismatches, Mismatch{path, strings.Join(reasons, "; ")})
	})
	return rep
}

func differences(r, c *apiextv1.JSONSchemaProps) []string {
	var out []string
	if r.Type != "" && r.Type != c.Type {
		out = append(out, fmt.Sprintf("type %q, want %q", c.Type, r.Type))
	}
	if r.Format != "" && r.Format != c.Format {
		out = append(out, fmt.Sprintf("format %q, want %q", c.Format, r.Format))
	}
	if r.XIntOrString != c.XIntOrString {
		out = append(out, fmt.Sprintf("x-kubernetes-int-or-string %v, want %v", c.XIntOrString, r.XIntOrString))
	}
	if flag(r.XPreserveUnknownFields) && !flag(c.XPreserveUnknownFields) {
		out = append(out, "x-kubernetes-preserve-unknown-fields missing")
	}
	if len(r.Enum) > 0 && !reflect.DeepEqual(enumStrings(r.Enum), enumStrings(c.Enum)) {
		out = append(out, fmt.Sprintf("enum %v, want %v", enumStrings(c.Enum), enumStrings(r.Enum)))
	}
	allowed := map[string]bool{}
	for _, f := range r.Required {
		allowed[f] = true
	}
	for _, f := range c.Required {
		if !allowed[f] {
			out = append(out, fmt.Sprintf("requires %q, which the reference leaves optional", f))
		}
	}
	return out
}

func flag(b *bool) bool { return b != nil && *b }

func enumStrings(js []apiextv1.JSON) []string {
	out := make([]string, 0, len(js))
	for _, j := range js {
		out = append(out, string(j.Raw))
	}
	sort.Strings(out)
	return out
}
