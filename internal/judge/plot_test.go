package judge

import (
	"slices"
	"time"
)

// Row is one cell of the simulation table, for the plot.
type Row struct {
	Base, Ratio, RPS          float64
	Judge, Threshold, Peeking Summary
}

// Summary is one method's outcome in a cell: the share of runs aborted
// and the median time to abort among them.
type Summary struct {
	Aborted float64
	Median  time.Duration
}

func summary(l []int, runs int) Summary {
	s := Summary{Aborted: float64(len(l)) / float64(runs)}
	if len(l) > 0 {
		slices.Sort(l)
		s.Median = time.Duration(l[len(l)/2]+1) * interval
	}
	return s
}
