package analysisrun

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/testenv"
)

// One namespace holds at most its share of the analysis workers: while a
// tenant's runs hold it (slow metrics services, say), its next run waits,
// and another namespace's run is measured at once.
func TestOneNamespaceHoldsItsShareOfWorkers(t *testing.T) {
	s := share{limit: perNamespace(4)}
	if !s.acquire("a") || !s.acquire("a") || s.acquire("a") {
		t.Fatal("namespace a: want 2 of 4 workers, no more")
	}
	if !s.acquire("b") {
		t.Fatal("namespace b refused while a holds its share")
	}
	s.release("a")
	if !s.acquire("a") {
		t.Fatal("a released a worker and cannot take one again")
	}
	if perNamespace(1) != 1 {
		t.Error("a single worker must still be shared")
	}

	env := testenv.Start(t)
	ctx := context.Background()
	for _, ns := range []string{"slow", "other"} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	var measured atomic.Int32
	prov := scripted{now: time.Now, value: func(string, time.Time) (any, error) { measured.Add(1); return 1.0, nil }}
	r := &Reconciler{Client: env.Client, Recorder: record.NewFakeRecorder(100), Clock: clocktesting.NewFakeClock(time.Now()), Providers: prov,
		tenants: share{limit: perNamespace(2)}}
	run := func(ns string) reconcile.Request {
		ar := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "run"}, Spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{webMetric("m")}}}
		if err := env.Client.Create(ctx, ar); err != nil {
			t.Fatal(err)
		}
		return reconcile.Request{NamespacedName: client.ObjectKeyFromObject(ar)}
	}
	slowReq, otherReq := run("slow"), run("other")
	// A worker is busy with a run of "slow".
	if !r.tenants.acquire("slow") {
		t.Fatal("no worker for slow")
	}
	res, err := r.Reconcile(ctx, slowReq)
	if err != nil || res.RequeueAfter != tenantWait || measured.Load() != 0 {
		t.Errorf("slow's next run: %+v, %v, %d measured; want it to wait its turn", res, err, measured.Load())
	}
	if _, err := r.Reconcile(ctx, otherReq); err != nil || measured.Load() != 1 {
		t.Errorf("other's run: %v, %d measured; want it measured at once", err, measured.Load())
	}
	r.tenants.release("slow")
	if _, err := r.Reconcile(ctx, slowReq); err != nil || measured.Load() != 2 {
		t.Errorf("slow's run once a worker is free: %v, %d measured", err, measured.Load())
	}
}
