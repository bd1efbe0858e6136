package controller

import (
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// --shards excludes --leader-elect, and a negative count is refused, each
// with a message that names the flag.
func TestShardsFlags(t *testing.T) {
	for _, c := range []struct {
		opts Options
		want string
	}{
		{Options{Shards: 3, LeaderElect: true}, "--shards and --leader-elect"},
		{Options{Shards: -1}, "--shards -1"},
	} {
		_, err := NewManager(&rest.Config{Host: "https://127.0.0.1:1"}, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %q", c.opts, err, c.want)
		}
	}
}

// A replica holding shards waits before it takes another free one, longer
// the more it holds; one holding none takes it at once.
func TestPatience(t *testing.T) {
	s := newShards(nil, "ns", "me", 3)
	if !s.mayTake(0, time.Time{}) {
		t.Fatal("a replica with no shard may not take one")
	}
	if s.mayTake(1, time.Now()) {
		t.Error("a replica taking a shard took a second, just freed, at once")
	}
	s.take(t.Context(), 0)
	if !s.Holds(0) || s.holdsOrTaking(1) {
		t.Errorf("held %v, taking %v", s.held, s.acquiring)
	}
	if s.mayTake(1, time.Now().Add(-patience/2)) {
		t.Error("a replica with one shard took another free for half its patience")
	}
	if !s.mayTake(1, time.Now().Add(-patience-time.Second)) {
		t.Error("a replica with one shard did not take another free for longer than its patience")
	}
	s.gaveUp(1)
	if s.holdsOrTaking(1) {
		t.Error("a failed attempt still counted")
	}
}
