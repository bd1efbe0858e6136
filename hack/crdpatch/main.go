// Command crdpatch rewrites the CRD files that controller-gen wrote, applying
// crdschema.Trim to each. `make generate` runs it after controller-gen.
//
// Usage: go run ./hack/crdpatch FILE...
package main

import (
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/vireo-dev/vireo/internal/crdschema"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: crdpatch FILE...")
		os.Exit(2)
	}
	for _, path := range os.Args[1:] {
		if err := patch(path); err != nil {
			fmt.Fprintf(os.Stderr, "crdpatch: %v\n", err)
			os.Exit(1)
		}
	}
}

func patch(path string) error {
	crds, err := crdschema.ReadFile(path)
	if err != nil {
		return err
	}
	if len(crds) != 1 {
		return fmt.Errorf("%s: want exactly one CRD, found %d", path, len(crds))
	}
	crd := crds[0]
	crdschema.Trim(&crd)
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&crd)
	if err != nil {
		return fmt.Errorf("converting %s: %w", path, err)
	}
	// The API server writes a CRD's status and creation time, not we.
	delete(obj, "status")
	unstructured.RemoveNestedField(obj, "metadata", "creationTimestamp")
	out, err := yaml.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	return os.WriteFile(path, append([]byte("---\n"), out...), 0o644)
}
