// Package analysisrun is the AnalysisRun controller: it takes each metric's
// measurements when they are due, through the metric providers, keeps the
// tally in the run's status, and decides the run. Args are resolved on every
// pass, so a Secret's value lives only in memory, never in the run.
package analysisrun

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vireo-dev/vireo/internal/controller/metrics"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/analysis"
	"github.com/vireo-dev/vireo/internal/controller/fence"
	"github.com/vireo-dev/vireo/internal/controller/owned"
	"github.com/vireo-dev/vireo/internal/controller/shard"
	"github.com/vireo-dev/vireo/internal/metricprovider"
	"github.com/vireo-dev/vireo/internal/metricprovider/cloudwatch"
	"github.com/vireo-dev/vireo/internal/reasons"
)

// Reconciler drives AnalysisRuns.
type Reconciler struct {
	Client client.Client
	// SecretReader reads the Secrets args refer to; Secrets are not cached.
	SecretReader client.Reader
	Recorder     record.EventRecorder
	Clock        clock.PassiveClock
	// Providers measures; the built-in providers when nil.
	Providers Providers
	// CredentialsNamespace holds the credentials Secrets of metric services
	// (datadog, newrelic, wavefront-api-tokens, influxdb) for the built-in
	// providers; the controller's namespace when empty.
	CredentialsNamespace string
	// Workers is how many runs are looked at in parallel; 10 when 0.
	Workers int
	// Fence, when set, is asked at the start of each pass whether this
	// replica still leads; Client and Recorder should be fenced with it too
	// (see package fence), so that no write of a pass escapes it.
	Fence fence.Fence
	// Resync requeues the objects of a shard this replica takes over
	// (--shards); nil without shards.
	Resync <-chan event.GenericEvent

	tenants share // the workers each namespace holds
}

// SetupWithManager registers the reconciler: it watches AnalysisRuns and the
// Jobs they own.
func (r *Reconciler) SetupWithManager(mgr manager.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorderFor("vireo-controller")
	}
	if r.SecretReader == nil {
		r.SecretReader = mgr.GetAPIReader()
	}
	if r.Providers == nil {
		ns := r.CredentialsNamespace
		if ns == "" {
			ns = metricprovider.ControllerNamespace()
		}
		r.Providers = Builtin{Client: r.Client, APIReader: mgr.GetAPIReader(), Now: r.Clock.Now,
			Credentials: metricprovider.Credentials{Secrets: SecretReader{Reader: r.SecretReader}, Namespace: ns},
			CloudWatch:  cloudwatch.Provider{Now: r.Clock.Now, Config: cloudwatch.CachedConfig()}}
	}
	if r.Workers == 0 {
		r.Workers = 10
	}
	r.tenants.limit = perNamespace(r.Workers)
	return builder.ControllerManagedBy(mgr).
		For(&v1alpha1.AnalysisRun{}).
		Owns(&batchv1.Job{}).
		WatchesRawSource(shard.Source(r.Resync)).
		Named("analysisrun").
		WithOptions(crcontroller.Options{MaxConcurrentReconciles: r.Workers}).
		Complete(metrics.Timed(metrics.AnalysisRun, r))
}

// tenantWait is how soon a run whose namespace held its share of the
// workers is looked at again.
const tenantWait = 250 * time.Millisecond

// Reconcile looks at one AnalysisRun.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	logger := log.FromContext(ctx)
	var run v1alpha1.AnalysisRun
	if err := r.Client.Get(ctx, req.NamespacedName, &run); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if run.DeletionTimestamp != nil {
		return reconcile.Result{}, nil // its Jobs go with it
	}
	ctx, later, ok := fence.Begin(ctx, r.Fence, &run)
	if !ok {
		return later, nil
	}
	if r.tenants.limit > 0 {
		if !r.tenants.acquire(run.Namespace) {
			// The namespace holds its share of the workers: back soon,
			// behind the other namespaces' runs.
			return reconcile.Result{RequeueAfter: tenantWait}, nil
		}
		defer r.tenants.release(run.Namespace)
	}
	now := r.Clock.Now()
	if analysis.Completed(run.Status.Phase) {
		return r.expire(ctx, &run, now)
	}

	values, err := analysis.ResolveArgs(ctx, run.Spec.Args, r.secret(run.Namespace), &run)
	if err != nil {
		return r.finish(ctx, &run, values.Redact(err.Error()), now)
	}
	if err := analysis.SecretsInJobs(run.Spec.Metrics, run.Spec.Args); err != nil {
		return r.finish(ctx, &run, err.Error(), now)
	}
	metrics, err := analysis.Substitute(run.Spec.Metrics, values.ByName)
	if err != nil {
		return r.finish(ctx, &run, values.Redact(err.Error()), now)
	}
	if errs := analysis.ValidateRun(&run.Spec, metrics); len(errs) > 0 {
		return r.finish(ctx, &run, values.Redact(errs.ToAggregate().Error()), now)
	}

	p := pass{run: &run, metrics: metrics, providers: r.Providers, now: now, redact: values.Redact}
	status, next := p.advance(ctx)
	if conflict, err := r.writeStatus(ctx, &run, status); err != nil || conflict {
		return reconcile.Result{Requeue: conflict}, err
	}
	if next.IsZero() {
		res, err := r.expire(ctx, &run, r.Clock.Now())
		return res, err
	}
	logger.V(4).Info("next look", "analysisrun", klog.KObj(&run), "at", next)
	return reconcile.Result{RequeueAfter: max(next.Sub(r.Clock.Now()), time.Millisecond)}, nil
}

// secret reads Secrets of the run's own namespace, and no other.
func (r *Reconciler) secret(namespace string) analysis.SecretGetter {
	return func(ctx context.Context, name, key string) (string, error) {
		data, err := SecretReader{Reader: r.SecretReader}.ReadSecret(ctx, namespace, name)
		if err != nil {
			return "", err
		}
		v, ok := data[key]
		if !ok {
			return "", fmt.Errorf("Secret %s has no key %s", name, key)
		}
		return string(v), nil
	}
}

// finish ends a run that cannot be measured (bad args, bad metrics) in Error.
func (r *Reconciler) finish(ctx context.Context, run *v1alpha1.AnalysisRun, msg string, now time.Time) (reconcile.Result, error) {
	st := *run.Status.DeepCopy()
	t := metav1.NewTime(now)
	st.Phase, st.Message = v1alpha1.AnalysisPhaseError, msg
	if st.StartedAt == nil {
		st.StartedAt = &t
	}
	st.CompletedAt = &t
	if conflict, err := r.writeStatus(ctx, run, st); err != nil || conflict {
		return reconcile.Result{Requeue: conflict}, err
	}
	return reconcile.Result{}, nil
}

// writeStatus patches the status, conditional on the run as read: a pass on a
// stale copy must not record measurements twice. conflict means it changed.
func (r *Reconciler) writeStatus(ctx context.Context, run *v1alpha1.AnalysisRun, next v1alpha1.AnalysisRunStatus) (conflict bool, err error) {
	if equality.Semantic.DeepEqual(next, run.Status) {
		return false, nil
	}
	before := run.DeepCopy()
	run.Status = next
	conflict, err = owned.PatchStatus(ctx, r.Client, "analysisrun", run, before)
	if err != nil && tooLarge(err) {
		// The run outgrew what the API server stores: it ends in Error,
		// saying so, rather than failing to record anything, forever.
		next = erroredTooLarge(next, err, metav1.NewTime(r.Clock.Now()))
		run.Status = next
		conflict, err = owned.PatchStatus(ctx, r.Client, "analysisrun", run, before)
	}
	if conflict || err != nil {
		return conflict, err
	}
	if before.Status.Phase != next.Phase {
		r.announce(ctx, run, next)
	}
	return false, nil
}

// tooLarge reports whether the API server refused a write for its size.
func tooLarge(err error) bool {
	return apierrors.IsRequestEntityTooLargeError(err) || strings.Contains(err.Error(), "request is too large") ||
		strings.Contains(err.Error(), "Too long: must have at most")
}

// erroredTooLarge is the status of a run whose status was too large to
// store: Error, with the results' tallies and without their measurements.
func erroredTooLarge(next v1alpha1.AnalysisRunStatus, err error, now metav1.Time) v1alpha1.AnalysisRunStatus {
	st := *next.DeepCopy()
	for i := range st.MetricResults {
		st.MetricResults[i].Measurements = nil
	}
	st.Phase = v1alpha1.AnalysisPhaseError
	st.Message = "the run's status is too large to store, measurements dropped: " + err.Error()
	if len(st.Message) > 1024 {
		st.Message = st.Message[:1024]
	}
	if st.CompletedAt == nil {
		st.CompletedAt = &now
	}
	return st
}

// announce records an Event (and a log line) when a run changes phase.
// Messages were redacted before they got here.
func (r *Reconciler) announce(ctx context.Context, run *v1alpha1.AnalysisRun, st v1alpha1.AnalysisRunStatus) {
	typ := corev1.EventTypeNormal
	switch st.Phase {
	case v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError, v1alpha1.AnalysisPhaseInconclusive:
		typ = corev1.EventTypeWarning
	case v1alpha1.AnalysisPhasePending:
		return
	}
	msg := "AnalysisRun " + string(st.Phase)
	if st.Message != "" {
		msg += ": " + st.Message
	}
	r.Recorder.Event(run, typ, reasons.AnalysisRunPrefix+string(st.Phase), msg)
	log.FromContext(ctx).V(1).Info(msg, "analysisrun", klog.KObj(run))
}

// expire deletes a completed run once its ttlStrategy says so.
func (r *Reconciler) expire(ctx context.Context, run *v1alpha1.AnalysisRun, now time.Time) (reconcile.Result, error) {
	ttl := run.Spec.TTLStrategy
	if ttl == nil || run.Status.CompletedAt == nil {
		return reconcile.Result{}, nil
	}
	secs := ttl.SecondsAfterCompletion
	switch run.Status.Phase {
	case v1alpha1.AnalysisPhaseSuccessful:
		if ttl.SecondsAfterSuccess != nil {
			secs = ttl.SecondsAfterSuccess
		}
	case v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError:
		if ttl.SecondsAfterFailure != nil {
			secs = ttl.SecondsAfterFailure
		}
	}
	if secs == nil {
		return reconcile.Result{}, nil
	}
	if left := run.Status.CompletedAt.Add(time.Duration(*secs) * time.Second).Sub(now); left > 0 {
		return reconcile.Result{RequeueAfter: left}, nil
	}
	if err := r.Client.Delete(ctx, run, client.Preconditions{UID: &run.UID}); client.IgnoreNotFound(err) != nil {
		return reconcile.Result{}, fmt.Errorf("deleting expired analysisrun %s: %w", klog.KObj(run), err)
	}
	return reconcile.Result{}, nil
}
