package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The index holds each module once per entry, with the newest fixed version
// of all its ranges, and an entry without a modified time takes the given one.
func TestBuildIndexesEntries(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "db")
	write := func(id, body string) {
		if err := os.WriteFile(filepath.Join(in, id+".json"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("GO-2026-0001", `{"id":"GO-2026-0001","modified":"0001-01-01T00:00:00Z","affected":[
	  {"package":{"name":"example.com/a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.0"}]}]},
	  {"package":{"name":"example.com/a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"1.10.0"},{"fixed":"1.10.3"}]}]},
	  {"package":{"name":"stdlib"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.26.9"}]}]}]}`)
	write("GO-2026-0002", `{"id":"GO-2026-0002","modified":"2026-10-01T00:00:00Z","affected":[
	  {"package":{"name":"example.com/a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`)
	fallback := time.Date(2026, 11, 5, 23, 49, 57, 0, time.UTC)
	n, err := build(in, out, fallback)
	if err != nil || n != 2 {
		t.Fatalf("build: %d entries, %v", n, err)
	}
	var mods []module
	read := func(path string, into any) {
		raw, err := os.ReadFile(filepath.Join(out, path))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, into); err != nil {
			t.Fatal(err)
		}
	}
	read("index/modules.json", &mods)
	got, _ := json.Marshal(mods)
	want := `[{"path":"example.com/a","vulns":[{"id":"GO-2026-0001","modified":"2026-11-05T23:49:57Z","fixed":"1.10.3"},{"id":"GO-2026-0002","modified":"2026-10-01T00:00:00Z"}]},` +
		`{"path":"stdlib","vulns":[{"id":"GO-2026-0001","modified":"2026-11-05T23:49:57Z","fixed":"1.26.9"}]}]`
	if string(got) != want {
		t.Errorf("modules index\n got %s\nwant %s", got, want)
	}
	var db map[string]time.Time
	read("index/db.json", &db)
	if !db["modified"].Equal(fallback) {
		t.Errorf("db modified %v, want the newest entry's %v", db["modified"], fallback)
	}
	var e entry
	read("ID/GO-2026-0001.json", &e)
	if !e.Modified.Equal(fallback) || len(e.Affected) != 3 {
		t.Errorf("entry as stored: modified %v, %d affected", e.Modified, len(e.Affected))
	}
	// A file whose id disagrees with its name is refused.
	write("GO-2026-0003", `{"id":"GO-2026-9999"}`)
	if _, err := build(in, out, fallback); err == nil {
		t.Error("an entry whose id is not its file name was accepted")
	}
}
