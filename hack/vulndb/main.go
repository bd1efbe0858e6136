// Command vulndb lays out an offline Go vulnerability database for
// govulncheck's -db file:// mode, from the OSV entries that the
// golang.org/x/vulndb module carries in data/osv.
//
// govulncheck reads three things from a local database: index/db.json (when
// the database last changed), index/modules.json (each affected module, with
// its entries and the newest fixed version) and ID/<id>.json (the entries).
//
//	go run ./hack/vulndb -osv <vulndb module>/data/osv -modified 2026-11-05T23:49:57Z -out .cache/vulndb
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/semver"
)

// entry is the part of an OSV entry the index needs.
type entry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
		Ranges []osvRange `json:"ranges"`
	} `json:"affected"`
}

// osvRange is one range of affected versions: events introduce and fix.
type osvRange struct {
	Type   string `json:"type"`
	Events []struct {
		Introduced string `json:"introduced,omitempty"`
		Fixed      string `json:"fixed,omitempty"`
	} `json:"events"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Fixed    string    `json:"fixed,omitempty"`
}

type module struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

func main() {
	osvDir := flag.String("osv", "", "the data/osv directory of the golang.org/x/vulndb module")
	out := flag.String("out", "", "where to write the database")
	modified := flag.String("modified", "", "RFC 3339 time for entries whose modified time is unset (the module's commit time)")
	flag.Parse()
	if *osvDir == "" || *out == "" || *modified == "" {
		fmt.Fprintln(os.Stderr, "vulndb: -osv, -out and -modified are required")
		os.Exit(2)
	}
	at, err := time.Parse(time.RFC3339, *modified)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vulndb: -modified: %v\n", err)
		os.Exit(2)
	}
	n, err := build(*osvDir, *out, at)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vulndb: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("vulndb: %d entries in %s\n", n, *out)
}

// build writes the database; it returns how many entries it holds.
func build(osvDir, out string, fallback time.Time) (int, error) {
	files, err := filepath.Glob(filepath.Join(osvDir, "GO-*.json"))
	if err != nil {
		return 0, err
	}
	if len(files) == 0 {
		return 0, fmt.Errorf("no GO-*.json entries in %s", osvDir)
	}
	tmp := out + ".tmp"
	_ = os.RemoveAll(tmp)
	for _, d := range []string{"ID", "index"} {
		if err := os.MkdirAll(filepath.Join(tmp, d), 0o755); err != nil {
			return 0, err
		}
	}
	modules := map[string]*module{}
	var newest time.Time
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		var e entry
		if err := json.Unmarshal(raw, &e); err != nil {
			return 0, fmt.Errorf("%s: %w", filepath.Base(f), err)
		}
		if e.ID == "" || e.ID != strings.TrimSuffix(filepath.Base(f), ".json") {
			return 0, fmt.Errorf("%s: id %q does not match the file name", filepath.Base(f), e.ID)
		}
		if e.Modified.Year() <= 1 {
			// The entry is rewritten with its time set, so that govulncheck's
			// output and the index agree.
			e.Modified = fallback
			var full map[string]any
			if err := json.Unmarshal(raw, &full); err != nil {
				return 0, err
			}
			full["modified"] = fallback.Format(time.RFC3339)
			if raw, err = json.Marshal(full); err != nil {
				return 0, err
			}
		}
		if e.Modified.After(newest) {
			newest = e.Modified
		}
		if err := os.WriteFile(filepath.Join(tmp, "ID", e.ID+".json"), raw, 0o644); err != nil {
			return 0, err
		}
		for _, a := range e.Affected {
			m := modules[a.Package.Name]
			if m == nil {
				m = &module{Path: a.Package.Name}
				modules[a.Package.Name] = m
			}
			fixed := latestFix(a.Ranges)
			// An entry can name a module more than once (one per package):
			// the index holds it once, with the newest fix.
			if i := slices.IndexFunc(m.Vulns, func(v moduleVuln) bool { return v.ID == e.ID }); i >= 0 {
				if newer(fixed, m.Vulns[i].Fixed) {
					m.Vulns[i].Fixed = fixed
				}
				continue
			}
			m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: e.Modified, Fixed: fixed})
		}
	}
	list := make([]*module, 0, len(modules))
	for _, m := range modules {
		sort.Slice(m.Vulns, func(i, j int) bool { return m.Vulns[i].ID < m.Vulns[j].ID })
		list = append(list, m)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Path < list[j].Path })
	if err := writeJSON(filepath.Join(tmp, "index", "modules.json"), list); err != nil {
		return 0, err
	}
	if err := writeJSON(filepath.Join(tmp, "index", "db.json"), map[string]time.Time{"modified": newest}); err != nil {
		return 0, err
	}
	_ = os.RemoveAll(out)
	return len(files), os.Rename(tmp, out)
}

// latestFix is the newest version among the SEMVER ranges' fixed events,
// without the leading "v" (the index's form); "" when none is fixed.
func latestFix(ranges []osvRange) string {
	best := ""
	for _, r := range ranges {
		if r.Type != "SEMVER" {
			continue
		}
		for _, ev := range r.Events {
			if ev.Fixed == "" {
				continue
			}
			if newer(ev.Fixed, best) {
				best = ev.Fixed
			}
		}
	}
	return best
}

// newer says whether version a (no leading "v") is newer than b; any
// version is newer than none.
func newer(a, b string) bool {
	return a != "" && (b == "" || semver.Compare("v"+a, "v"+b) > 0)
}

func writeJSON(path string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o644)
}
