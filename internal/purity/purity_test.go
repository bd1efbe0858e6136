package purity_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// planners are the packages that decide; everything they link is checked.
var planners = []string{
	"github.com/vireo-dev/vireo/api/v1alpha1",
	"github.com/vireo-dev/vireo/internal/rollout",
	// The order of a plan's writes: shared by the controller and the
	// simulations, so it must not write anything itself.
	"github.com/vireo-dev/vireo/internal/rollout/apply",
	"github.com/vireo-dev/vireo/internal/experiment",
	"github.com/vireo-dev/vireo/api/flagger/v1beta1",
	"github.com/vireo-dev/vireo/internal/canary",
	"github.com/vireo-dev/vireo/internal/canary/apply",
	"github.com/vireo-dev/vireo/internal/canary/sim",
	"github.com/vireo-dev/vireo/internal/analysis",
	"github.com/vireo-dev/vireo/internal/analysisrun",
	"github.com/vireo-dev/vireo/internal/judge",
	"github.com/vireo-dev/vireo/internal/conditions",
	"github.com/vireo-dev/vireo/internal/reasons",
	"github.com/vireo-dev/vireo/internal/trafficrouting/trafficshare",
}

// forbiddenDeps may not be linked by a planner, directly or not.
var forbiddenDeps = []string{
	"sigs.k8s.io/controller-runtime",
	"k8s.io/client-go/kubernetes",
	"k8s.io/client-go/rest",
	"k8s.io/client-go/dynamic",
	"k8s.io/client-go/discovery",
	"k8s.io/client-go/tools/cache",
	"github.com/aws/",
}

// forbiddenImports may not be imported by a planner's own files (apimachinery
// links net/http itself, for status codes, so only direct imports count).
var forbiddenImports = []string{"net/http", "os/exec", "net"}

// clockReads are the calls that read the time; a planner is given "now".
var clockReads = map[string]bool{"Now": true, "Since": true, "Until": true, "Tick": true, "After": true, "NewTimer": true, "NewTicker": true}

type pkg struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Deps       []string
}

func list(t *testing.T, args ...string) []pkg {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-json"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("reading go list's output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestPlannersArePure(t *testing.T) {
	for _, p := range list(t, planners...) {
		for _, dep := range p.Deps {
			for _, bad := range forbiddenDeps {
				if strings.HasPrefix(dep, bad) {
					t.Errorf("%s links %s: a planner must not reach a client", p.ImportPath, dep)
				}
			}
		}
		fset := token.NewFileSet()
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			checkFile(t, fset, p.ImportPath, f)
		}
	}
}

func checkFile(t *testing.T, fset *token.FileSet, path string, f *ast.File) {
	t.Helper()
	timeName := ""
	for _, imp := range f.Imports {
		ip, _ := strconv.Unquote(imp.Path.Value)
		for _, bad := range forbiddenImports {
			if ip == bad {
				t.Errorf("%s: %s imports %s", path, fset.Position(imp.Pos()), ip)
			}
		}
		if ip == "time" {
			timeName = "time"
			if imp.Name != nil {
				timeName = imp.Name.Name
			}
		}
	}
	if timeName == "" {
		return
	}
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if id, ok := sel.X.(*ast.Ident); ok && id.Name == timeName && clockReads[sel.Sel.Name] {
			t.Errorf("%s: %s reads the clock (time.%s); a planner is given the time", path, fset.Position(sel.Pos()), sel.Sel.Name)
		}
		return true
	})
}

// The kubectl plugin builds its clients from its own scheme: it does not link
// the controller manager, nor the metric providers' cloud SDKs.
func TestCLILinksNoController(t *testing.T) {
	for _, p := range list(t, "github.com/vireo-dev/vireo/cmd/kubectl-vireo") {
		for _, dep := range p.Deps {
			if strings.HasPrefix(dep, "github.com/aws/") || dep == "github.com/vireo-dev/vireo/internal/controller" ||
				strings.HasPrefix(dep, "github.com/vireo-dev/vireo/internal/metricprovider") {
				t.Errorf("kubectl-vireo links %s", dep)
			}
		}
	}
}
