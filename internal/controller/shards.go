package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vireo-dev/vireo/internal/controller/fence"
	"github.com/vireo-dev/vireo/internal/controller/shard"
)

// Shards is this replica's part of --shards N: it runs one leader election
// per shard (Lease vireo-controller-shard-K), reconciles the objects of the
// shards it holds, and fences each write against the Lease of the shard the
// pass is for. A replica that loses a shard it held exits, as a deposed
// leader does, so that nothing it remembers outlives its right to act.
type Shards struct {
	n         int
	namespace string
	identity  string
	cs        kubernetes.Interface
	leases    []*Leadership // one per shard, for the fence
	reader    client.Reader // the cache: the objects of a shard taken over
	synced    func(context.Context) bool

	mu        sync.Mutex
	held      map[int]bool
	acquiring map[int]bool // Leases being taken, not yet held
	resync    []resyncTarget
}

// patience is how long a free shard waits, per shard a replica already
// holds, before that replica takes it: a replica holding none takes it at
// once, so shards spread over the replicas (3 replicas started together
// hold one of 3 shards each), and a dead replica's shards go first to the
// replicas that hold the fewest.
const patience = 5 * time.Second

// resyncTarget is one controller's kind, and the channel that wakes it up
// for every object of a shard this replica takes over.
type resyncTarget struct {
	list func() client.ObjectList
	ch   chan event.GenericEvent
}

var _ fence.Sharded = (*Shards)(nil)

// newShards prepares n shards whose Leases live in namespace.
func newShards(cs kubernetes.Interface, namespace, identity string, n int) *Shards {
	s := &Shards{n: n, namespace: namespace, identity: identity, cs: cs, held: map[int]bool{}, acquiring: map[int]bool{}}
	for k := range n {
		s.leases = append(s.leases, &Leadership{key: types.NamespacedName{Namespace: namespace, Name: shard.LeaseName(k)},
			identity: identity, clock: clock.RealClock{}})
	}
	return s
}

// of is obj's shard.
func (s *Shards) of(obj runtime.Object) (int, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return 0, err
	}
	return shard.Of(m.GetNamespace(), m.GetName(), m.GetLabels(), s.n), nil
}

// Holds says whether this replica holds shard k.
func (s *Shards) Holds(k int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held[k]
}

// Claim implements fence.Sharded.
func (s *Shards) Claim(ctx context.Context, obj client.Object) (context.Context, bool) {
	k, err := s.of(obj)
	if err != nil || !s.Holds(k) {
		return ctx, false
	}
	return shard.With(ctx, k), true
}

// MayWrite checks the Lease of the shard ctx carries. A write outside a
// pass over one shard's object is refused: with shards, every write
// belongs to one.
func (s *Shards) MayWrite(ctx context.Context) error {
	k, ok := shard.From(ctx)
	if !ok {
		return fmt.Errorf("%w: a write outside any shard's pass", ErrNotLeader)
	}
	return s.leases[k].MayWrite(ctx)
}

// MayWriteFor checks the Lease of obj's shard.
func (s *Shards) MayWriteFor(obj runtime.Object) error {
	k, err := s.of(obj)
	if err != nil {
		return err
	}
	return s.leases[k].MayWrite(context.Background())
}

// Fence is the fence of shard k alone (its notification outbox).
func (s *Shards) Fence(k int) fence.Fence { return s.leases[k] }

// Resync returns a channel that carries, for each shard this replica takes
// over, every object of that shard of the kind list lists, to requeue it.
// Call it before Start.
func (s *Shards) Resync(list func() client.ObjectList) <-chan event.GenericEvent {
	ch := make(chan event.GenericEvent, 1024)
	s.mu.Lock()
	s.resync = append(s.resync, resyncTarget{list: list, ch: ch})
	s.mu.Unlock()
	return ch
}

// errShardLost ends the process: a shard this replica held went to another.
var errShardLost = errors.New("lost a shard's Lease")

// Start runs the shards' leader elections until ctx ends, or one held is lost.
func (s *Shards) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("shards")
	// A shard is taken only once the cache can list its objects.
	if s.synced != nil && !s.synced(ctx) {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lost := make(chan int, s.n)
	var wg sync.WaitGroup
	for k := range s.n {
		lock, err := resourcelock.New(resourcelock.LeasesResourceLock, s.namespace, shard.LeaseName(k),
			s.cs.CoreV1(), s.cs.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: s.identity})
		if err != nil {
			return fmt.Errorf("shard %d: %w", k, err)
		}
		elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock: &patientLock{Interface: lock, s: s, k: k}, LeaseDuration: leaseDuration, RenewDeadline: renewDeadline, RetryPeriod: retryPeriod,
			ReleaseOnCancel: true, Name: shard.LeaseName(k),
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) { s.take(ctx, k) },
				OnStoppedLeading: func() {
					s.mu.Lock()
					had := s.held[k]
					delete(s.held, k)
					s.mu.Unlock()
					if had {
						lost <- k
					}
				},
			},
		})
		if err != nil {
			return fmt.Errorf("shard %d: %w", k, err)
		}
		wg.Go(func() { elector.Run(ctx) })
	}
	logger.Info("competing for shards", "shards", s.n, "identity", s.identity, "namespace", s.namespace)
	select {
	case <-ctx.Done():
		wg.Wait()
		return nil
	case k := <-lost:
		if ctx.Err() != nil {
			return nil
		}
		logger.Info("lost a shard's Lease; exiting so that nothing of it is acted on", "shard", k)
		cancel()
		wg.Wait()
		return fmt.Errorf("shard %d: %w", k, errShardLost)
	}
}

// mayTake says whether this replica may take shard k now, free since
// freeSince, and if so counts it as being taken.
func (s *Shards) mayTake(k int, freeSince time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	mine := len(s.held) + len(s.acquiring)
	if mine > 0 && (freeSince.IsZero() || time.Since(freeSince) < time.Duration(mine)*patience) {
		return false
	}
	s.acquiring[k] = true
	return true
}

// holdsOrTaking says whether shard k is held, or was just taken.
func (s *Shards) holdsOrTaking(k int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held[k] || s.acquiring[k]
}

// gaveUp forgets an attempt to take shard k that failed.
func (s *Shards) gaveUp(k int) {
	s.mu.Lock()
	delete(s.acquiring, k)
	s.mu.Unlock()
}

// take records shard k as held and requeues its objects.
func (s *Shards) take(ctx context.Context, k int) {
	s.mu.Lock()
	s.held[k] = true
	delete(s.acquiring, k)
	targets := append([]resyncTarget(nil), s.resync...)
	s.mu.Unlock()
	logger := log.FromContext(ctx).WithName("shards")
	n := 0
	for _, t := range targets {
		list := t.list()
		if err := s.reader.List(ctx, list); err != nil {
			logger.Error(err, "listing a shard's objects to resync; they wait for their next change", "shard", k)
			continue
		}
		_ = meta.EachListItem(list, func(o runtime.Object) error {
			obj, ok := o.(client.Object)
			if !ok {
				return nil
			}
			if kk, err := s.of(obj); err == nil && kk == k {
				select {
				case t.ch <- event.GenericEvent{Object: obj}:
					n++
				case <-ctx.Done():
				}
			}
			return ctx.Err()
		})
	}
	logger.Info("leading a shard", "shard", k, "objects requeued", n, "lease", klog.KRef(s.namespace, shard.LeaseName(k)))
}

// patientLock is a shard's Lease lock that takes a free shard only when
// Shards.mayTake allows (renewing a shard held is never delayed).
type patientLock struct {
	resourcelock.Interface
	s         *Shards
	k         int
	freeSince time.Time // when the Lease was first seen free (zero: held by someone)
}

func (l *patientLock) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	rec, raw, err := l.Interface.Get(ctx)
	switch {
	case apierrors.IsNotFound(err), err == nil && (rec.HolderIdentity == "" ||
		time.Since(rec.RenewTime.Time) > time.Duration(rec.LeaseDurationSeconds)*time.Second):
		if l.freeSince.IsZero() {
			l.freeSince = time.Now()
		}
	case err == nil:
		l.freeSince = time.Time{}
	}
	return rec, raw, err
}

// errPatient refuses to take a shard yet.
var errPatient = errors.New("leaving a free shard to a replica that holds fewer, for now")

func (l *patientLock) Create(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	return l.take(func() error { return l.Interface.Create(ctx, ler) })
}

func (l *patientLock) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	if l.s.holdsOrTaking(l.k) || ler.HolderIdentity != l.Identity() {
		return l.Interface.Update(ctx, ler) // a renewal, or the release on exit
	}
	return l.take(func() error { return l.Interface.Update(ctx, ler) })
}

// take writes the Lease to take the shard, if Shards.mayTake allows it now.
func (l *patientLock) take(write func() error) error {
	if !l.s.mayTake(l.k, l.freeSince) {
		return errPatient
	}
	if err := write(); err != nil {
		l.s.gaveUp(l.k)
		return err
	}
	return nil
}
