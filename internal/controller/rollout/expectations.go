package rollout

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// expectations remember the writes whose effect the informer cache has not
// shown yet. Planning on a cache that lags behind one's own writes would redo
// them: the resourceVersion-conditional status patch would be refused, and a
// repeated scale would be a wasted write. So after writing an object the
// reconciler notes the resourceVersion it had; while the cache still shows
// that version, the Rollout waits a moment instead of planning. Creations are
// noted by name until the cache shows the object.
type expectations struct {
	clock clock.PassiveClock
	mu    sync.Mutex
	stale map[types.UID]expectation      // object -> resourceVersion before our write
	born  map[types.NamespacedName]birth // Rollout -> the ReplicaSet it just created
}

type birth struct {
	name string
	when time.Time
}

type expectation struct {
	rv   string
	when time.Time
}

// expectationTTL bounds how long a write may stay unseen before the cache is
// trusted again anyway (a watch that restarted, an object deleted meanwhile).
const expectationTTL = 5 * time.Second

func newExpectations(c clock.PassiveClock) *expectations {
	return &expectations{clock: c, stale: map[types.UID]expectation{}, born: map[types.NamespacedName]birth{}}
}

// wrote notes that an object, read at resourceVersion rv, was just written.
func (e *expectations) wrote(uid types.UID, rv string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stale[uid] = expectation{rv: rv, when: e.clock.Now()}
}

// created notes that a Rollout just created the named ReplicaSet.
func (e *expectations) created(rollout types.NamespacedName, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.born[rollout] = birth{name: name, when: e.clock.Now()}
}

// behind reports whether the cache still shows an object as it was before
// one of our writes; seeing a newer version clears the expectation.
func (e *expectations) behind(uid types.UID, rv string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.stale[uid]
	if !ok {
		return false
	}
	if x.rv != rv || e.clock.Since(x.when) > expectationTTL {
		delete(e.stale, uid)
		return false
	}
	return true
}

// unborn reports whether a ReplicaSet the Rollout created is still missing
// from the cache; present tells whether a name is in the cache now.
func (e *expectations) unborn(rollout types.NamespacedName, present func(name string) bool) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	b, ok := e.born[rollout]
	if !ok {
		return false
	}
	if present(b.name) || e.clock.Since(b.when) > expectationTTL {
		delete(e.born, rollout)
		return false
	}
	return true
}
