package controller

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Leader-election timing: a leader that cannot renew for renewDeadline stops
// leading; others take over after leaseDuration.
const (
	leaseDuration = 15 * time.Second
	renewDeadline = 10 * time.Second
	retryPeriod   = 2 * time.Second
)

// ErrNotLeader is returned by Leadership.MayWrite when this replica must not write.
var ErrNotLeader = errors.New("this replica does not hold the leader-election Lease")

// Leadership fences writes. A replica may write only while the Lease names it
// and its own last renewal, as recorded in the Lease, is younger than the
// renew deadline, measured on its own clock. A replica that was frozen (a long
// pause, SIGSTOP, a partition) and wakes with a stale cache therefore writes
// nothing before it notices it lost the lease and exits.
type Leadership struct {
	reader   client.Reader
	key      types.NamespacedName
	identity string
	clock    clock.PassiveClock
}

// MayWrite returns nil when this replica may write, ErrNotLeader otherwise.
// A nil Leadership (no leader election) always may.
func (l *Leadership) MayWrite(ctx context.Context) error {
	if l == nil {
		return nil
	}
	var lease coordinationv1.Lease
	if err := l.reader.Get(ctx, l.key, &lease); err != nil {
		return fmt.Errorf("%w: reading Lease %s: %v", ErrNotLeader, l.key, err)
	}
	if h := lease.Spec.HolderIdentity; h == nil || *h != l.identity {
		return ErrNotLeader
	}
	if r := lease.Spec.RenewTime; r == nil || l.clock.Since(r.Time) >= renewDeadline {
		return fmt.Errorf("%w: last renewal too old", ErrNotLeader)
	}
	return nil
}

// replicaIdentity names this process in Leases: host, pid and a random
// part (tests find a replica's writes in the audit log by its pid).
func replicaIdentity() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s_%d_%s", host, os.Getpid(), rand.String(6))
}

// newLeaseLock makes the Lease lock with an identity this process knows, so
// that Leadership can recognise itself in the Lease.
func newLeaseLock(cfg *rest.Config, namespace string) (resourcelock.Interface, string, error) {
	identity := replicaIdentity()
	cs, err := kubernetes.NewForConfig(rest.CopyConfig(cfg))
	if err != nil {
		return nil, "", fmt.Errorf("creating leader-election client: %w", err)
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, namespace, LeaderElectionID,
		cs.CoreV1(), cs.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: identity})
	if err != nil {
		return nil, "", fmt.Errorf("creating leader-election lock: %w", err)
	}
	return lock, identity, nil
}

// leaseNamespace is where the leader-election Lease (or the shards'
// Leases) lives: --leader-election-namespace, else --namespace, else the
// pod's own when running in a cluster.
func leaseNamespace(opts Options) (string, error) {
	if opts.LeaderElectionNamespace != "" {
		return opts.LeaderElectionNamespace, nil
	}
	if opts.Namespace != "" {
		return opts.Namespace, nil
	}
	data, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
	if err != nil {
		return "", fmt.Errorf("--leader-elect and --shards need --leader-election-namespace (or --namespace) outside a cluster")
	}
	return strings.TrimSpace(string(data)), nil
}
