package demoapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
)

// Faults are what a version is told to do wrong: answer a share of requests
// with an error, and wait before answering.
type Faults struct {
	// ErrorPercent is the share of requests answered with 500, 0 to 100
	// (fractions too: 0.5 fails one request in 200).
	ErrorPercent float64 `json:"errorPercent"`
	// LatencyMillis is added to every answer, 0 to 10000.
	LatencyMillis int `json:"latencyMillis"`
}

// Validate names the first field out of range.
func (f Faults) Validate() error {
	if f.ErrorPercent < 0 || f.ErrorPercent > 100 {
		return fmt.Errorf("error: %g is not a percentage (0 to 100)", f.ErrorPercent)
	}
	if f.LatencyMillis < 0 || f.LatencyMillis > 10000 {
		return fmt.Errorf("latency: %d is not between 0 and 10000 milliseconds", f.LatencyMillis)
	}
	return nil
}

// ParseFaults reads error and latency from query or form values, starting
// from base for any that is missing.
func ParseFaults(get func(string) string, base Faults) (Faults, error) {
	f := base
	if raw := get("error"); raw != "" {
		p, err := strconv.ParseFloat(raw, 64)
		if err != nil || p != p {
			return base, fmt.Errorf("error: %q is not a number", raw)
		}
		f.ErrorPercent = p
	}
	for _, field := range []struct {
		name string
		into *int
	}{{"latency", &f.LatencyMillis}} {
		raw := get(field.name)
		if raw == "" {
			continue
		}
		n, err := strconv.Atoi(raw)
		if err != nil {
			return base, fmt.Errorf("%s: %q is not a whole number", field.name, raw)
		}
		*field.into = n
	}
	return f, f.Validate()
}

var colorName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)

// ValidColor tells whether s can name a version: lower-case letters, digits
// and dashes, as in an image tag like green or bad-red.
func ValidColor(s string) bool { return colorName.MatchString(s) }

// Store holds the faults of every version, by colour.
type Store interface {
	Get(color string) (Faults, error)
	Set(color string, f Faults) error
}

// MemoryStore keeps faults in this process only.
type MemoryStore struct {
	mu     sync.Mutex
	faults map[string]Faults
}

func (s *MemoryStore) Get(color string) (Faults, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults[color], nil
}

func (s *MemoryStore) Set(color string, f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults == nil {
		s.faults = map[string]Faults{}
	}
	s.faults[color] = f
	return nil
}

// DirStore keeps faults in one file per colour in a directory that every
// process of the demo shares, so a setting sent to one pod reaches every pod
// of that version, as a setting of a real deployment would.
type DirStore struct{ Dir string }

func (s DirStore) path(color string) string { return filepath.Join(s.Dir, color+".json") }

func (s DirStore) Get(color string) (Faults, error) {
	var f Faults
	data, err := os.ReadFile(s.path(color))
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return Faults{}, fmt.Errorf("%s: %w", s.path(color), err)
	}
	return f, nil
}

// Set writes through a temporary file and a rename, so a reader never sees
// half a file.
func (s DirStore) Set(color string, f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.Dir, "."+color+"-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), s.path(color))
}
