package manifests

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/vireo-dev/vireo/internal/testenv"
)

// krewPlugin is the part of a krew plugin manifest the test reads.
type krewPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version, Homepage, ShortDescription, Description string
		Platforms                                        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			SHA256 string `json:"sha256"`
			Bin    string `json:"bin"`
			Files  []struct {
				From, To string
			} `json:"files"`
		} `json:"platforms"`
	} `json:"spec"`
}

// The krew plugin manifest: hack/krew packages kubectl-vireo for this
// machine's platform, twice (the same bytes both times), and krew itself,
// built from the module proxy, installs it from the manifest and archive
// into an empty krew root, where `kubectl-vireo version` runs.
func TestKrewPluginManifest(t *testing.T) {
	root := testenv.RepoRoot()
	platform := runtime.GOOS + "/" + runtime.GOARCH
	pack := func(out string) krewPlugin {
		cmd := exec.Command("go", "run", "./hack/krew", "-version", "v0.1.0", "-out", out, "-platforms", platform)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("hack/krew: %v\n%s", err, b)
		}
		data, err := os.ReadFile(filepath.Join(out, "vireo.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var p krewPlugin
		if err := yaml.UnmarshalStrict(data, &p); err != nil {
			t.Fatalf("vireo.yaml: %v\n%s", err, data)
		}
		return p
	}
	out := t.TempDir()
	p := pack(out)
	if p.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || p.Kind != "Plugin" || p.Metadata.Name != "vireo" ||
		p.Spec.Version != "v0.1.0" || p.Spec.Homepage == "" || p.Spec.ShortDescription == "" || len(p.Spec.ShortDescription) > 60 || p.Spec.Description == "" {
		t.Errorf("manifest header: %+v", p)
	}
	if len(p.Spec.Platforms) != 1 {
		t.Fatalf("platforms: %d, want 1", len(p.Spec.Platforms))
	}
	pl := p.Spec.Platforms[0]
	archive := filepath.Join(out, filepath.Base(pl.URI))
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatalf("the archive the uri names: %v", err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != pl.SHA256 {
		t.Errorf("sha256 %s in the manifest, %s of the archive", pl.SHA256, got)
	}
	if pl.Selector.MatchLabels["os"] != runtime.GOOS || pl.Selector.MatchLabels["arch"] != runtime.GOARCH || pl.Bin != "kubectl-vireo" ||
		!strings.HasPrefix(pl.URI, "https://github.com/vireo-dev/vireo/releases/download/v0.1.0/") {
		t.Errorf("platform: %+v", pl)
	}
	if again := pack(t.TempDir()); again.Spec.Platforms[0].SHA256 != pl.SHA256 {
		t.Errorf("not reproducible: %s, then %s", pl.SHA256, again.Spec.Platforms[0].SHA256)
	}

	krew := filepath.Join(testenv.BinDir(), "krew")
	if _, err := os.Stat(krew); err != nil {
		if os.Getenv("VIREO_REQUIRE_CLUSTER") != "" {
			t.Fatalf("krew is not built (hack/cluster/build krew builds it): %v", err)
		}
		t.Skip("krew is not built; run hack/cluster/build krew")
	}
	home := t.TempDir()
	install := exec.Command(krew, "install", "--manifest="+filepath.Join(out, "vireo.yaml"), "--archive="+archive)
	install.Env = append(os.Environ(), "KREW_ROOT="+filepath.Join(home, "krew"), "HOME="+home)
	if b, err := install.CombinedOutput(); err != nil {
		t.Fatalf("krew install: %v\n%s", err, b)
	}
	b, err := exec.Command(filepath.Join(home, "krew", "bin", "kubectl-vireo"), "version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(b)) != "kubectl-vireo v0.1.0" {
		t.Errorf("the installed plugin: %v: %q", err, b)
	}
}
