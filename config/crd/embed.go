// Package crd holds Vireo's CustomResourceDefinitions, generated into
// bases/ by `make generate`, for the tools that check manifests against them.
package crd

import "embed"

// Bases are the generated CRD files, one per kind.
//
//go:embed bases/*.yaml
var Bases embed.FS
