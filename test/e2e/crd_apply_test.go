package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vireo-dev/vireo/internal/testenv"
)

// The API server limits an object's annotations to this many bytes in total; a
// client-side apply stores the whole object in one annotation.
const annotationLimit = 262144

// Vireo's CRDs install with a plain client-side `kubectl apply -f`.
func TestCRDsApplyClientSide(t *testing.T) {
	c := requireCluster(t)
	dir := filepath.Join(testenv.RepoRoot(), "config", "crd", "bases")
	c.must(t, "", "apply", "-f", dir)
	c.must(t, "", "wait", "--for=condition=Established", "crd", "--all", "--timeout=30s")

	crds := []string{"rollouts.argoproj.io", "analysistemplates.argoproj.io", "clusteranalysistemplates.argoproj.io",
		"analysisruns.argoproj.io", "experiments.argoproj.io", "canaries.flagger.app", "metrictemplates.flagger.app", "alertproviders.flagger.app"}
	for _, crd := range crds {
		ann := c.jsonpath(t, "", "crd/"+crd, `.metadata.annotations.kubectl\.kubernetes\.io/last-applied-configuration`)
		if len(ann) == 0 {
			t.Errorf("%s: no last-applied annotation, so it was not applied client-side", crd)
			continue
		}
		t.Logf("%-40s last-applied annotation %6d bytes (limit %d)", crd, len(ann), annotationLimit)
		if len(ann) > annotationLimit/2 {
			t.Errorf("%s: last-applied annotation is %d bytes, less than 2x headroom under the %d limit", crd, len(ann), annotationLimit)
		}
	}
	// Re-applying is a no-op that still works (what users and CD tools do).
	out := c.must(t, "", "apply", "-f", dir)
	if strings.Count(out, "unchanged") != len(crds) {
		t.Errorf("re-apply changed CRDs:\n%s", out)
	}
}

// The limit is real: the same CRDs with every Kubernetes description kept (the
// shape of Argo Rollouts' published CRDs) fail a client-side apply, and need
// server-side apply.
func TestOversizedCRDFailsClientSide(t *testing.T) {
	c := requireCluster(t)
	tmp := t.TempDir()
	gen := exec.Command("go", "run", "sigs.k8s.io/controller-tools/cmd/controller-gen@v0.20.1",
		"crd:generateEmbeddedObjectMeta=true,allowDangerousTypes=true", "paths=./api/...", "output:crd:dir="+tmp)
	gen.Dir = testenv.RepoRoot()
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("controller-gen: %v\n%s", err, out)
	}
	full := filepath.Join(tmp, "argoproj.io_analysisruns.yaml")
	info, err := os.Stat(full)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("untrimmed AnalysisRun CRD: %d bytes of YAML", info.Size())

	out, err := c.kubectl("", "apply", "-f", full)
	if err == nil {
		t.Fatalf("client-side apply of a %d-byte CRD succeeded; the annotation limit check is not meaningful:\n%s", info.Size(), out)
	}
	if !strings.Contains(out, "Too long") {
		t.Fatalf("client-side apply failed for another reason than the annotation size:\n%s", out)
	}
	t.Logf("client-side apply refused: %s", firstLine(out))

	// Server-side apply has no such limit. Use a copy under another name so the
	// CRD that the other tests use stays as installed.
	data, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	renamed := strings.NewReplacer(
		"name: analysisruns.argoproj.io", "name: bigruns.example.vireo.dev",
		"group: argoproj.io", "group: example.vireo.dev",
		"kind: AnalysisRun", "kind: BigRun",
		"listKind: AnalysisRunList", "listKind: BigRunList",
		"plural: analysisruns", "plural: bigruns",
		"singular: analysisrun", "singular: bigrun",
		"- ar\n", "- bigr\n",
	).Replace(string(data))
	c.must(t, renamed, "apply", "--server-side", "-f", "-")
	c.must(t, "", "delete", "crd", "bigruns.example.vireo.dev")
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
