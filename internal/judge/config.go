package judge

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// The kinds of test.
const (
	KindErrors  = "errors"
	KindLatency = "latency"
)

// Spec is the judge's configuration, as a metric gives it.
type Spec struct {
	Prometheus struct {
		Address string `json:"address"`
	} `json:"prometheus"`
	Kind       string    `json:"kind,omitempty"`
	Canary     Queries   `json:"canary"`
	Stable     Queries   `json:"stable"`
	Boundaries []float64 `json:"boundaries,omitempty"`
	Tolerance  *float64  `json:"tolerance,omitempty"`
	Alpha      *float64  `json:"alpha,omitempty"`
}

// Queries are the PromQL queries of one version's cumulative counters:
// requests and errors, or (kind latency) the histogram's buckets.
type Queries struct {
	Requests string `json:"requests,omitempty"`
	Errors   string `json:"errors,omitempty"`
	Buckets  string `json:"buckets,omitempty"`
}

// ParseSpec reads and checks the judge's configuration (JSON), naming the
// field that is wrong under path p.
func ParseSpec(raw []byte, p string) (Spec, Config, error) {
	var c Spec
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, Config{}, bad(p, "", err.Error())
	}
	if c.Kind == "" {
		c.Kind = KindErrors
	}
	switch {
	case c.Prometheus.Address == "":
		return c, Config{}, bad(p, "prometheus.address", "required")
	case c.Kind != KindErrors && c.Kind != KindLatency:
		return c, Config{}, bad(p, "kind", fmt.Sprintf("%q: give %s or %s", c.Kind, KindErrors, KindLatency))
	case c.Kind == KindErrors && (c.Canary.Requests == "" || c.Canary.Errors == "" || c.Stable.Requests == "" || c.Stable.Errors == ""):
		return c, Config{}, bad(p, "canary", "canary and stable each need requests and errors queries")
	case c.Kind == KindLatency && (c.Canary.Buckets == "" || c.Stable.Buckets == ""):
		return c, Config{}, bad(p, "canary.buckets", "kind latency: canary.buckets and stable.buckets are required (a histogram's cumulative _bucket counts by le)")
	case c.Kind == KindErrors && len(c.Boundaries) > 0:
		return c, Config{}, bad(p, "boundaries", "only for kind latency")
	case len(c.Boundaries) > MaxBoundaries:
		return c, Config{}, bad(p, "boundaries", fmt.Sprintf("%d given; give at most %d", len(c.Boundaries), MaxBoundaries))
	}
	cfg := Defaults
	if c.Tolerance != nil {
		if *c.Tolerance < 0 || *c.Tolerance > 10 {
			return c, cfg, bad(p, "tolerance", fmt.Sprintf("%g: must be between 0 and 10", *c.Tolerance))
		}
		cfg.Tolerance = *c.Tolerance
	}
	if c.Alpha != nil {
		if *c.Alpha <= 0 || *c.Alpha >= 0.5 {
			return c, cfg, bad(p, "alpha", fmt.Sprintf("%g: must be above 0 and below 0.5", *c.Alpha))
		}
		cfg.Alpha = *c.Alpha
	}
	return c, cfg, nil
}

// SpecError is a bad field of the judge's configuration: Field is its path
// under the configuration ("" for the whole), Path where that sits.
type SpecError struct {
	Path, Field, Detail string
}

func (e *SpecError) Error() string {
	if e.Field == "" {
		return e.Path + ": " + e.Detail
	}
	return e.Path + "." + e.Field + ": " + e.Detail
}

func bad(path, field, detail string) error {
	return &SpecError{Path: path, Field: field, Detail: detail}
}
