// Package shard splits the objects Vireo reconciles among controller
// replicas (--shards N). Each object belongs to one shard, found from its
// namespace and name by a stable hash, or named by the vireo.dev/shard
// label; each shard has a Lease, and only the replica holding it reconciles
// and writes for the shard's objects.
package shard

import (
	"context"
	"fmt"
	"hash/fnv"
	"strconv"

	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// Label names an object's shard explicitly ("0" to N-1), overriding the
// hash: to keep related Rollouts together, or to move a heavy one.
const Label = "vireo.dev/shard"

// LeasePrefix begins each shard's Lease name; the shard's number ends it.
const LeasePrefix = "vireo-controller-shard-"

// LeaseName is shard k's Lease.
func LeaseName(k int) string { return LeasePrefix + strconv.Itoa(k) }

// Of is the shard, among n, of the object namespace/name with these labels.
// A label that is not a shard number below n is ignored (the hash decides),
// so a typo never strands an object in no shard.
func Of(namespace, name string, labels map[string]string, n int) int {
	if n <= 1 {
		return 0
	}
	if v, ok := labels[Label]; ok {
		if k, err := strconv.Atoi(v); err == nil && k >= 0 && k < n {
			return k
		}
	}
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%s", namespace, name)
	return int(h.Sum32() % uint32(n))
}

type ctxKey struct{}

// With returns ctx carrying shard k: the writes of a pass over one of the
// shard's objects are checked against the shard's Lease.
func With(ctx context.Context, k int) context.Context { return context.WithValue(ctx, ctxKey{}, k) }

// From is the shard ctx carries, if any.
func From(ctx context.Context) (int, bool) {
	k, ok := ctx.Value(ctxKey{}).(int)
	return k, ok
}

// Source is the watch source that requeues the objects sent on resync (a
// shard taken over, see controller.Shards.Resync). Without shards resync is
// nil and the source never sends.
func Source(resync <-chan event.GenericEvent) source.Source {
	if resync == nil {
		resync = make(chan event.GenericEvent)
	}
	return source.Channel(resync, &handler.EnqueueRequestForObject{})
}
