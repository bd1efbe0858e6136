package metrics

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
)

// Vireo's own metrics, beside Argo's: how promptly it acts, and what a
// pass costs.
var (
	stepDelay = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "vireo_step_transition_delay_seconds",
		Help:    "From the end of a timed canary pause to the pass that moved the rollout to its next step, in seconds.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30},
	})
	measurementLateness = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vireo_measurement_lateness_seconds",
		Help:    "From when an analysis measurement was due (its interval's schedule) to when it was taken, in seconds.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30},
	}, []string{"provider"})
	routerVerify = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vireo_router_verify_seconds",
		Help:    "From the pass that recorded a new canary weight, unverified, to the pass that found the routers holding it, in seconds.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30},
	}, []string{"traffic_router"})
	writesPerReconcile = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vireo_writes_per_reconcile",
		Help:    "Writes (create, update, patch, delete) a reconcile sent to the API server; Events are not counted.",
		Buckets: []float64{0, 1, 2, 3, 4, 6, 8, 12, 20},
	}, []string{"controller"})
)

func vireoCollectors() []prometheus.Collector {
	return []prometheus.Collector{stepDelay, measurementLateness, routerVerify, writesPerReconcile, notificationSuccess, notificationError, notificationSend}
}

// StepTransition records how long after its pause expired a rollout moved
// to its next step.
func StepTransition(delay time.Duration) { stepDelay.Observe(max(0, delay.Seconds())) }

// MeasurementLateness records how late a measurement was taken against
// its schedule.
func MeasurementLateness(provider string, late time.Duration) {
	measurementLateness.WithLabelValues(provider).Observe(max(0, late.Seconds()))
}

// unverified are the rollouts whose routers were last sent a weight not yet
// verified, and since when.
var unverified sync.Map // types.UID -> time.Time

// WeightRecorded notes that a pass recorded a new weight, unverified.
func WeightRecorded(uid types.UID, at time.Time) { unverified.LoadOrStore(uid, at) }

// WeightVerified records, for a rollout whose weight was unverified, how
// long the routers took to be found holding it.
func WeightVerified(uid types.UID, router string, at time.Time) {
	if since, ok := unverified.LoadAndDelete(uid); ok {
		routerVerify.WithLabelValues(router).Observe(max(0, at.Sub(since.(time.Time)).Seconds()))
	}
}

// Forget drops what is noted of a rollout that is gone.
func Forget(uid types.UID) { unverified.Delete(uid) }

type writesKey struct{}

// countWrites returns ctx carrying a counter of the writes sent with it.
func countWrites(ctx context.Context) (context.Context, *atomic.Int64) {
	n := &atomic.Int64{}
	return context.WithValue(ctx, writesKey{}, n), n
}

// countWrite counts r against its context's counter if it is a write.
func countWrite(r *http.Request) {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		if n, ok := r.Context().Value(writesKey{}).(*atomic.Int64); ok {
			n.Add(1)
		}
	}
}

// Argo Rollouts' notification metrics.
var (
	notificationSuccess = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "notification_send_success", Help: "Notifications sent."},
		append(objectLabels, "type", "reason"))
	notificationError = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "notification_send_error", Help: "Notifications that could not be sent."},
		append(objectLabels, "type", "reason"))
	notificationSend = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "notification_send", Help: "How long sending an Event's notifications took, in seconds.",
		Buckets: reconcileBuckets}, objectLabels)
)

// NotificationSent counts a notification delivered.
func NotificationSent(namespace, name, eventType, reason string) {
	notificationSuccess.WithLabelValues(namespace, name, eventType, reason).Inc()
}

// NotificationFailed counts a notification that could not be delivered.
func NotificationFailed(namespace, name, eventType, reason string) {
	notificationError.WithLabelValues(namespace, name, eventType, reason).Inc()
}

// NotificationSendTime records how long an Event's notifications took.
func NotificationSendTime(namespace, name string, d time.Duration) {
	notificationSend.WithLabelValues(namespace, name).Observe(d.Seconds())
}
