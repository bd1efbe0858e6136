package analysis

import (
	"testing"
	"time"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// Any condition a template author writes either is refused or evaluates
// quickly on any result, without a panic.
func FuzzCondition(f *testing.F) {
	for _, s := range []string{"result[0] >= 0.95", "all(result, # > 0.9)", "reduce(1..64, #acc + #acc, 'x') != ''",
		"len(result) == 0 || result[0] < 0.05", "default(result, 0) > 1", "result.major == '1'", "asInt(result) < 3 ? true : false"} {
		f.Add(s, 0.5)
	}
	f.Fuzz(func(t *testing.T, src string, v float64) {
		if _, err := Compile(src); err != nil {
			return
		}
		start := time.Now()
		for _, result := range []any{v, []any{v, v * 2}, map[string]any{"major": "1", "items": []any{map[string]any{"status": "ok"}}}, nil, "0.9"} {
			_, _ = Evaluate(src, result)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%q took %s", src, d)
		}
	})
}

// Durations parse or are refused, never panic.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30s", "5m", "1h", "10", "", "-1s", "9999999999999h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(v1alpha1.DurationString(s), "interval")
		if err == nil && d < 0 {
			t.Errorf("%q parsed to a negative %s", s, d)
		}
	})
}
