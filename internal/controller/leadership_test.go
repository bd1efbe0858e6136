package controller

import (
	"context"
	"errors"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestLeadershipFencesWrites(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	key := types.NamespacedName{Namespace: "vireo-system", Name: LeaderElectionID}
	lease := func(holder string, renewed time.Time) *coordinationv1.Lease {
		return &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(holder), RenewTime: ptr.To(metav1.NewMicroTime(renewed))},
		}
	}
	for _, tc := range []struct {
		name  string
		lease *coordinationv1.Lease
		ok    bool
	}{
		{"holder, renewed 2s ago", lease("me", now.Add(-2*time.Second)), true},
		{"another holder", lease("other", now.Add(-time.Second)), false},
		{"holder, but the last renewal is past the renew deadline (a frozen leader waking up)", lease("me", now.Add(-renewDeadline)), false},
		{"no lease", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := fake.NewClientBuilder()
			if tc.lease != nil {
				b = b.WithObjects(tc.lease)
			}
			l := &Leadership{reader: b.Build(), key: key, identity: "me", clock: clocktesting.NewFakePassiveClock(now)}
			err := l.MayWrite(context.Background())
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrNotLeader)) {
				t.Errorf("MayWrite = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	var none *Leadership
	if err := none.MayWrite(context.Background()); err != nil {
		t.Errorf("without leader election every write is allowed, got %v", err)
	}
}
