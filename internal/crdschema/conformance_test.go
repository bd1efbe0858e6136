package crdschema_test

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/vireo-dev/vireo/internal/crdschema"
)

// repoRoot is the repository's top directory, found from this file's location.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// referenceDir holds the reference CRDs (argo-rollouts-crds/ and
// flagger-crds/): testdata/reference in this package (see its README), or
// VIREO_REFERENCE_DIR.
func referenceDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("VIREO_REFERENCE_DIR")
	if dir == "" {
		dir = filepath.Join("testdata", "reference")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("reference CRDs not found at %s (set VIREO_REFERENCE_DIR): %v", dir, err)
	}
	return dir
}

func vireoCRDDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("VIREO_CRD_DIR"); d != "" {
		return d
	}
	return filepath.Join(repoRoot(t), "config", "crd", "bases")
}

func TestReferenceConformance(t *testing.T) {
	kinds := []struct{ kind, ref, ours string }{
		{"Rollout", "argo-rollouts-crds/rollout-crd.yaml", "argoproj.io_rollouts.yaml"},
		{"AnalysisTemplate", "argo-rollouts-crds/analysis-template-crd.yaml", "argoproj.io_analysistemplates.yaml"},
		{"ClusterAnalysisTemplate", "argo-rollouts-crds/cluster-analysis-template-crd.yaml", "argoproj.io_clusteranalysistemplates.yaml"},
		{"AnalysisRun", "argo-rollouts-crds/analysis-run-crd.yaml", "argoproj.io_analysisruns.yaml"},
		{"Experiment", "argo-rollouts-crds/experiment-crd.yaml", "argoproj.io_experiments.yaml"},
		// Flagger publishes its three kinds in one file.
		{"Canary", "flagger-crds/crd.yaml", "flagger.app_canaries.yaml"},
		{"MetricTemplate", "flagger-crds/crd.yaml", "flagger.app_metrictemplates.yaml"},
		{"AlertProvider", "flagger-crds/crd.yaml", "flagger.app_alertproviders.yaml"},
	}
	refDir, ourDir := referenceDir(t), vireoCRDDir(t)
	for _, k := range kinds {
		t.Run(k.kind, func(t *testing.T) {
			ref := readKind(t, filepath.Join(refDir, k.ref), k.kind)
			ours := readOne(t, filepath.Join(ourDir, k.ours))
			// kubectl get all (and other categories) must list what it
			// lists for the reference; Vireo may add its own.
			for _, c := range ref.Spec.Names.Categories {
				if !slices.Contains(ours.Spec.Names.Categories, c) {
					t.Errorf("categories %v lack %q", ours.Spec.Names.Categories, c)
				}
			}
			if ref.Spec.Names.Kind != k.kind || ours.Spec.Names.Kind != k.kind {
				t.Fatalf("kinds: reference %q, Vireo %q, want %q", ref.Spec.Names.Kind, ours.Spec.Names.Kind, k.kind)
			}
			if ours.Spec.Group != ref.Spec.Group || ours.Spec.Scope != ref.Spec.Scope {
				t.Errorf("group/scope %s/%s, want %s/%s", ours.Spec.Group, ours.Spec.Scope, ref.Spec.Group, ref.Spec.Scope)
			}
			if ours.Spec.Names.Plural != ref.Spec.Names.Plural || strings.Join(ours.Spec.Names.ShortNames, ",") != strings.Join(ref.Spec.Names.ShortNames, ",") {
				t.Errorf("names %s %v, want %s %v", ours.Spec.Names.Plural, ours.Spec.Names.ShortNames, ref.Spec.Names.Plural, ref.Spec.Names.ShortNames)
			}
			for _, rv := range ref.Spec.Versions {
				refSchema, err := crdschema.Schema(&ref, rv.Name)
				if err != nil {
					t.Fatal(err)
				}
				ourSchema, err := crdschema.Schema(&ours, rv.Name)
				if err != nil {
					t.Fatal(err)
				}
				// The subresources decide how status is written: a
				// controller writing AnalysisRun status through a
				// subresource Argo's CRD lacks (or Argo's controller writing
				// it with the object, where Vireo's CRD has one) is ignored.
				var ourVersion *apiextv1.CustomResourceDefinitionVersion
				for i := range ours.Spec.Versions {
					if ours.Spec.Versions[i].Name == rv.Name {
						ourVersion = &ours.Spec.Versions[i]
					}
				}
				if ourVersion == nil || !equality.Semantic.DeepEqual(ourVersion.Subresources, rv.Subresources) {
					var got any
					if ourVersion != nil {
						got = ourVersion.Subresources
					}
					t.Errorf("%s %s: subresources %+v, want Argo's %+v", k.kind, rv.Name, got, rv.Subresources)
				}
				// kubectl get prints these columns; users' scripts
				// read them (kubectl get canaries in a watch loop).
				if !equality.Semantic.DeepEqual(ourVersion.AdditionalPrinterColumns, rv.AdditionalPrinterColumns) {
					t.Errorf("%s %s: printer columns\n%+v\nwant\n%+v", k.kind, rv.Name, ourVersion.AdditionalPrinterColumns, rv.AdditionalPrinterColumns)
				}
				rep := crdschema.Compare(refSchema, ourSchema)
				t.Logf("%s %s: %d of %d reference paths present", k.kind, rv.Name, rep.Present, rep.Total)
				for _, m := range rep.Mismatches {
					t.Errorf("%s %s: %s", k.kind, rv.Name, m)
				}
			}
		})
	}
}

// readKind returns the CRD of one kind from a file that may hold several.
func readKind(t *testing.T, path, kind string) apiextv1.CustomResourceDefinition {
	t.Helper()
	crds, err := crdschema.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range crds {
		if c.Spec.Names.Kind == kind {
			return c
		}
	}
	t.Fatalf("%s holds no CRD of kind %s", path, kind)
	return apiextv1.CustomResourceDefinition{}
}

func readOne(t *testing.T, path string) apiextv1.CustomResourceDefinition {
	t.Helper()
	crds, err := crdschema.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(crds) != 1 {
		t.Fatalf("%s holds %d CRDs, want 1", path, len(crds))
	}
	return crds[0]
}
