package analysisrun

import "sync"

// share bounds how many of the analysis workers one namespace (one tenant)
// holds at once: a tenant whose metrics services are slow, or whose runs
// are many, waits for its own turn and leaves the other workers to the
// other namespaces.
type share struct {
	mu    sync.Mutex
	limit int
	busy  map[string]int
}

// perNamespace is the share of the workers one namespace may hold: half,
// and at least one.
func perNamespace(workers int) int {
	return max(1, workers/2)
}

// acquire takes a worker for ns, or reports that ns holds its share.
func (s *share) acquire(ns string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy == nil {
		s.busy = map[string]int{}
	}
	if s.busy[ns] >= s.limit {
		return false
	}
	s.busy[ns]++
	return true
}

func (s *share) release(ns string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy[ns]--; s.busy[ns] <= 0 {
		delete(s.busy, ns)
	}
}
