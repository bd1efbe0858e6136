package testenv

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The modules whose CRDs the router tests install, at the versions they
// are tested with. go fetches them through the module proxy into the
// module cache once.
const (
	TraefikModule = "github.com/traefik/traefik/v3@v3.6.0"
	SMIModule     = "github.com/servicemeshinterface/smi-sdk-go@v0.5.0"
	IstioModule   = "istio.io/api@v1.31.1"
	// EmissaryModule is Emissary-ingress, the open-source Ambassador.
	EmissaryModule = "github.com/emissary-ingress/emissary/v3@v3.10.0"
	// APISIXModule is the APISIX ingress controller: v1.7.0 is the newest
	// version the module proxy serves.
	APISIXModule = "github.com/apache/apisix-ingress-controller@v1.7.0"
	// KEDAModule carries KEDA's CRDs (a Canary's autoscalerRef may name a
	// ScaledObject).
	KEDAModule = "github.com/kedacore/keda/v2@v2.16.1"
)

// ModuleFile is the path of a file inside a Go module (module@version),
// downloaded into the module cache when it is not there yet.
func ModuleFile(t testing.TB, module, path string) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", module)
	cmd.Dir = t.TempDir() // outside this module: its go.mod stays as it is
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("downloading %s: %v %s", module, err, out)
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		t.Fatalf("downloading %s: %s %v", module, info.Error, err)
	}
	return filepath.Join(info.Dir, path)
}

// CRDDir writes, into a new directory for envtest, the YAML documents of
// file whose metadata.name is one of names, each passed through edit (nil
// keeps it as it is).
func CRDDir(t testing.TB, file string, names []string, edit func(doc string) string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	found := 0
	for _, doc := range strings.Split(string(data), "\n---") {
		for _, name := range names {
			if !strings.Contains(doc, "\n  name: "+name+"\n") {
				continue
			}
			if edit != nil {
				doc = edit(doc)
			}
			if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			found++
		}
	}
	if found != len(names) {
		t.Fatalf("%s: found %d of the CRDs %v", file, found, names)
	}
	return dir
}
