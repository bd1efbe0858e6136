package crdschema

import (
	"strings"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// Trim makes a generated CRD schema match the published shape of the API and
// keeps it small enough for a plain client-side `kubectl apply`:
//
//   - Descriptions are dropped inside embedded Kubernetes types (pod templates
//     and Job specs). They dominate the size and `kubectl explain pod` already
//     documents them; descriptions of Vireo's own fields stay.
//   - A pod spec's `volumes` and each container's `resources.limits` and
//     `resources.requests` accept any content, as the reference API does: volume
//     sources added by newer Kubernetes releases are kept, not pruned, and the API
//     server validates them when the pods are created.
func Trim(crd *apiextv1.CustomResourceDefinition) {
	for i := range crd.Spec.Versions {
		v := &crd.Spec.Versions[i]
		if v.Schema != nil && v.Schema.OpenAPIV3Schema != nil {
			trim("", v.Schema.OpenAPIV3Schema, false)
		}
	}
}

func trim(path string, s *apiextv1.JSONSchemaProps, embedded bool) {
	if isPodSpec(s) || isJobSpec(path, s) {
		embedded = true
	}
	if embedded {
		s.Description = ""
	}
	if isPodSpec(s) {
		if _, ok := s.Properties["volumes"]; ok {
			s.Properties["volumes"] = anything()
		}
		for _, list := range []string{"containers", "initContainers", "ephemeralContainers"} {
			c, ok := s.Properties[list]
			if !ok || c.Items == nil || c.Items.Schema == nil {
				continue
			}
			if res, ok := c.Items.Schema.Properties["resources"]; ok {
				for _, q := range []string{"limits", "requests"} {
					if _, ok := res.Properties[q]; ok {
						res.Properties[q] = anything()
					}
				}
				c.Items.Schema.Properties["resources"] = res
			}
			s.Properties[list] = c
		}
	}
	for name, child := range s.Properties {
		trim(path+"."+name, &child, embedded)
		s.Properties[name] = child
	}
	if s.Items != nil && s.Items.Schema != nil {
		trim(path+"[]", s.Items.Schema, embedded)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		trim(path+"{}", s.AdditionalProperties.Schema, embedded)
	}
}

// isPodSpec recognises a core/v1 PodSpec by its required containers list.
func isPodSpec(s *apiextv1.JSONSchemaProps) bool {
	_, hasContainers := s.Properties["containers"]
	_, hasVolumes := s.Properties["volumes"]
	return hasContainers && hasVolumes
}

// isJobSpec recognises the batch/v1 JobSpec of a job metric.
func isJobSpec(path string, s *apiextv1.JSONSchemaProps) bool {
	_, hasTemplate := s.Properties["template"]
	_, hasBackoff := s.Properties["backoffLimit"]
	return strings.HasSuffix(path, ".job.spec") && hasTemplate && hasBackoff
}

func anything() apiextv1.JSONSchemaProps {
	t := true
	return apiextv1.JSONSchemaProps{XPreserveUnknownFields: &t}
}
