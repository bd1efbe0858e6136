package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/controller/fence"
	rolloutctrl "github.com/vireo-dev/vireo/internal/controller/rollout"
	"github.com/vireo-dev/vireo/internal/testenv"
)

// fenceFunc is a Fence made of a function: the tests use it to count the
// writes that reach the API server, and to freeze a leader at its first write.
type fenceFunc func() error

func (f fenceFunc) MayWrite(context.Context) error { return f() }

// A leader frozen in the middle of a pass, after it read and planned and
// before its first write, while another replica takes the Lease over, wakes
// up and writes nothing: not the new ReplicaSet, not the status, not an
// Event. The reconciler is Vireo's, the API server real.
func TestFrozenLeaderWritesNothing(t *testing.T) {
	env := testenv.StartAudited(t)
	raw := env.Client
	ctx := context.Background()
	// The leader's own connection, named in the audit log by its user agent.
	leaderCfg := rest.CopyConfig(env.Config)
	leaderCfg.UserAgent = "vireo-fence-test/leader-a"
	leaderRaw, err := client.New(leaderCfg, client.Options{Scheme: raw.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ns := "fence"
	if err := raw.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	clock := clocktesting.NewFakeClock(time.Now().UTC().Truncate(time.Microsecond))
	key := types.NamespacedName{Namespace: ns, Name: LeaderElectionID}
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: LeaderElectionID},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("a"), RenewTime: ptr.To(metav1.NewMicroTime(clock.Now()))},
	}
	if err := raw.Create(ctx, lease); err != nil {
		t.Fatal(err)
	}
	leadership := &Leadership{reader: raw, key: key, identity: "a", clock: clock}

	// raw <- counted <- fenced by the Lease <- frozen at the first write.
	var reached atomic.Int32
	counted := fence.Client(leaderRaw, fenceFunc(func() error { reached.Add(1); return nil }))
	var freeze sync.Once
	var frozen atomic.Bool
	deposeAtFirstWrite := fenceFunc(func() error {
		if frozen.Load() {
			freeze.Do(func() {
				// Frozen for 20s: meanwhile "b" took the Lease over.
				clock.Step(20 * time.Second)
				lease.Spec.HolderIdentity = ptr.To("b")
				lease.Spec.RenewTime = ptr.To(metav1.NewMicroTime(clock.Now()))
				if err := raw.Update(ctx, lease); err != nil {
					t.Errorf("handing the Lease to b: %v", err)
				}
			})
		}
		return nil
	})
	c := fence.Client(fence.Client(counted, leadership), deposeAtFirstWrite)
	events := record.NewFakeRecorder(100)
	r := &rolloutctrl.Reconciler{Client: c, APIReader: leaderRaw, Recorder: fence.Recorder(events, leadership), Clock: clock, Fence: leadership}

	ro := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "demo"},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "demo"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "demo"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "demo:blue"}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
				Steps: []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](50)}, {Pause: &v1alpha1.RolloutPause{}}},
			}},
		},
	}
	if err := raw.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	req := reconcile.Request{NamespacedName: client.ObjectKeyFromObject(ro)}

	// Leading: the first pass writes (the ReplicaSet, the status).
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatalf("first pass, leading: %v", err)
	}
	if reached.Load() == 0 {
		t.Fatal("a leader's pass wrote nothing: the test would prove nothing")
	}
	if len(events.Events) == 0 {
		t.Fatal("a leader's pass raised no Event")
	}
	if n := auditedWrites(t, env.AuditLog, leaderCfg.UserAgent); n == 0 {
		t.Fatal("the audit log shows no write of the leading pass: the test would prove nothing")
	}
	for len(events.Events) > 0 {
		<-events.Events
	}

	// A new version, then the frozen pass.
	if err := raw.Get(ctx, req.NamespacedName, ro); err != nil {
		t.Fatal(err)
	}
	ro.Spec.Template.Spec.Containers[0].Image = "demo:green"
	if err := raw.Update(ctx, ro); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, raw, ns)
	writesBefore := auditedWrites(t, env.AuditLog, leaderCfg.UserAgent)
	reached.Store(0)
	frozen.Store(true)
	_, err = r.Reconcile(ctx, req)
	if !errors.Is(err, fence.ErrFenced) {
		t.Errorf("the woken pass returned %v, want a fenced write", err)
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("%d writes of the deposed leader reached the API server", n)
	}
	if n := len(events.Events); n != 0 {
		t.Errorf("%d Events raised by the deposed leader", n)
	}
	if after := snapshot(t, raw, ns); after != before {
		t.Errorf("objects changed under a deposed leader:\nbefore %s\nafter  %s", before, after)
	}
	// And the next pass does not even plan.
	if _, err := r.Reconcile(ctx, req); err != nil || reached.Load() != 0 {
		t.Errorf("a later pass: err %v, %d writes", err, reached.Load())
	}
	// The API server's own record agrees: no write request from the
	// deposed leader's connection arrived at all, refused or not.
	if n := auditedWrites(t, env.AuditLog, leaderCfg.UserAgent) - writesBefore; n != 0 {
		t.Errorf("the audit log shows %d write requests of the deposed leader", n)
	}
}

// auditedWrites counts the write requests (create, update, patch, delete)
// the API server's audit log records from a user agent.
func auditedWrites(t *testing.T, path, userAgent string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the audit log: %v", err)
	}
	n := 0
	for _, line := range bytes.Split(data, []byte("\n")) {
		var e struct {
			Verb      string `json:"verb"`
			UserAgent string `json:"userAgent"`
		}
		if json.Unmarshal(line, &e) != nil || e.UserAgent != userAgent {
			continue
		}
		switch e.Verb {
		case "create", "update", "patch", "delete", "deletecollection":
			n++
		}
	}
	return n
}

// snapshot names every ReplicaSet and the Rollout, with resourceVersions.
func snapshot(t *testing.T, c client.Client, ns string) string {
	t.Helper()
	var sets appsv1.ReplicaSetList
	if err := c.List(context.Background(), &sets, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var ros v1alpha1.RolloutList
	if err := c.List(context.Background(), &ros, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	s := ""
	for _, rs := range sets.Items {
		s += rs.Name + "@" + rs.ResourceVersion + " "
	}
	for _, ro := range ros.Items {
		s += ro.Name + "@" + ro.ResourceVersion + " "
	}
	return s
}
