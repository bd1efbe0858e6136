package analysisrun

import (
	"encoding/json"
	"fmt"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// A measured value is whatever a metrics service answered, and a run's
// status is one etcd object: both are bounded here, whatever the provider.
const (
	// maxField bounds a measurement's value and message, in bytes.
	maxField = 1024
	// maxMetadata bounds each metadata value: a provider's state (the
	// judge's, up to 8 boundaries' sums) lives there.
	maxMetadata = 8 << 10
	// maxResults bounds the JSON of a run's metricResults: with the spec
	// and metadata, a run stays well under etcd's 1.5 MiB request limit
	// and the 256 KiB this controller allows itself.
	maxResults = 192 << 10
)

// clip shortens s to maxField bytes (on a rune boundary), saying so.
func clip(s string) string { return clipTo(s, maxField) }

// clipTo shortens s to n bytes (on a rune boundary), saying so.
func clipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 64
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + fmt.Sprintf("... (%d bytes; the first %d kept)", len(s), cut)
}

// bound clips a measurement's free text.
func bound(m v1alpha1.Measurement) v1alpha1.Measurement {
	m.Value, m.Message = clip(m.Value), clip(m.Message)
	for k, v := range m.Metadata {
		m.Metadata[k] = clipTo(v, maxMetadata)
	}
	return m
}

// trimResults drops the oldest kept measurements, from the metric that
// keeps the most, until the results fit maxResults: the counts and the
// latest measurements stay, so nothing the run decides on is lost. It
// reports how many it dropped.
func trimResults(results []v1alpha1.MetricResult) int {
	dropped := 0
	for size(results) > maxResults {
		longest := -1
		for i := range results {
			if n := len(results[i].Measurements); n > 1 && (longest < 0 || n > len(results[longest].Measurements)) {
				longest = i
			}
		}
		if longest < 0 {
			return dropped
		}
		results[longest].Measurements = results[longest].Measurements[1:]
		dropped++
	}
	return dropped
}

func size(results []v1alpha1.MetricResult) int {
	data, _ := json.Marshal(results)
	return len(data)
}
