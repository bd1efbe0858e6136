// Package metrics exposes the controller's Prometheus metrics under Argo
// Rollouts' names, labels and types, so that the dashboards and alerts a
// team built for Argo Rollouts keep working: the state of every Rollout,
// AnalysisRun and Experiment (read from the informer cache when scraped),
// reconcile durations and errors, and the Events raised on Rollouts.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/analysis"
	"github.com/vireo-dev/vireo/internal/reasons"
)

// Kind names a controller, as Argo's metric names do.
type Kind string

const (
	Rollout     Kind = "rollout"
	AnalysisRun Kind = "analysis_run"
	Experiment  Kind = "experiment"
)

var objectLabels = []string{"namespace", "name"}

// Argo's reconcile buckets, in seconds.
var reconcileBuckets = []float64{0.01, 0.15, .25, .5, 1}

var (
	reconcileDuration = map[Kind]*prometheus.HistogramVec{}
	reconcileErrors   = map[Kind]*prometheus.CounterVec{}
	rolloutEvents     = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rollout_events_total", Help: "Events raised on Rollouts, by type and reason."},
		append(objectLabels, "type", "reason"))
)

func init() {
	for _, k := range []Kind{Rollout, AnalysisRun, Experiment} {
		reconcileDuration[k] = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: string(k) + "_reconcile",
			Help: fmt.Sprintf("How long a %s reconcile takes, in seconds.", k), Buckets: reconcileBuckets}, objectLabels)
		reconcileErrors[k] = prometheus.NewCounterVec(prometheus.CounterOpts{Name: string(k) + "_reconcile_error",
			Help: fmt.Sprintf("Reconciles of a %s that ended in an error.", k)}, objectLabels)
	}
}

var (
	registerOnce sync.Once
	objects      = &state{}
)

// Register adds the metrics to controller-runtime's registry (served at
// /metrics), with the object state read through reader (the cache). With
// several managers in one process (tests), the last one's cache is read.
func Register(reader client.Reader) error {
	objects.mu.Lock()
	objects.reader = reader
	objects.mu.Unlock()
	var err error
	registerOnce.Do(func() {
		cs := append([]prometheus.Collector{rolloutEvents, objects, k8sRequests}, vireoCollectors()...)
		for _, k := range []Kind{Rollout, AnalysisRun, Experiment} {
			cs = append(cs, reconcileDuration[k], reconcileErrors[k])
		}
		for _, c := range cs {
			if e := crmetrics.Registry.Register(c); e != nil && !errors.As(e, &prometheus.AlreadyRegisteredError{}) {
				err = e
			}
		}
	})
	return err
}

// Timed measures a reconciler's passes: their duration, and those that
// end in an error.
func Timed(k Kind, r reconcile.Reconciler) reconcile.Reconciler {
	return reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		start := time.Now()
		ctx, writes := countWrites(ctx)
		res, err := r.Reconcile(ctx, req)
		reconcileDuration[k].WithLabelValues(req.Namespace, req.Name).Observe(time.Since(start).Seconds())
		writesPerReconcile.WithLabelValues(string(k)).Observe(float64(writes.Load()))
		if err != nil {
			reconcileErrors[k].WithLabelValues(req.Namespace, req.Name).Inc()
		}
		return res, err
	})
}

// CountingRecorder counts the Events raised on Rollouts
// (rollout_events_total), hands each to onRollout (the notifier; nil for
// none), and passes every Event on to r.
func CountingRecorder(r record.EventRecorder, onRollout func(ro *v1alpha1.Rollout, eventType, reason string)) record.EventRecorder {
	return counting{r, onRollout}
}

type counting struct {
	record.EventRecorder
	onRollout func(ro *v1alpha1.Rollout, eventType, reason string)
}

func (c counting) count(obj runtime.Object, eventType, reason string) {
	if ro, ok := obj.(*v1alpha1.Rollout); ok {
		rolloutEvents.WithLabelValues(ro.Namespace, ro.Name, eventType, reason).Inc()
		if c.onRollout != nil {
			c.onRollout(ro, eventType, reason)
		}
	}
}

func (c counting) Event(obj runtime.Object, eventType, reason, message string) {
	c.count(obj, eventType, reason)
	c.EventRecorder.Event(obj, eventType, reason, message)
}

func (c counting) Eventf(obj runtime.Object, eventType, reason, format string, args ...any) {
	c.count(obj, eventType, reason)
	c.EventRecorder.Eventf(obj, eventType, reason, format, args...)
}

func (c counting) AnnotatedEventf(obj runtime.Object, annotations map[string]string, eventType, reason, format string, args ...any) {
	c.count(obj, eventType, reason)
	c.EventRecorder.AnnotatedEventf(obj, annotations, eventType, reason, format, args...)
}

// The state metrics, as Argo names and labels them.
var (
	rolloutInfo = prometheus.NewDesc("rollout_info", "Information about a rollout: its strategy, traffic router and phase.",
		append(objectLabels, "strategy", "traffic_router", "phase"), nil)
	rolloutAvailable   = prometheus.NewDesc("rollout_info_replicas_available", "Available replicas of a rollout.", objectLabels, nil)
	rolloutUnavailable = prometheus.NewDesc("rollout_info_replicas_unavailable", "Unavailable replicas of a rollout.", objectLabels, nil)
	rolloutDesired     = prometheus.NewDesc("rollout_info_replicas_desired", "Desired replicas of a rollout.", objectLabels, nil)
	rolloutUpdated     = prometheus.NewDesc("rollout_info_replicas_updated", "Updated replicas of a rollout.", objectLabels, nil)
	rolloutPhase       = prometheus.NewDesc("rollout_phase", "1 for the phase a rollout is in, 0 for the others (deprecated by Argo: use rollout_info).",
		append(objectLabels, "strategy", "phase"), nil)
	runInfo       = prometheus.NewDesc("analysis_run_info", "Information about an analysis run: its phase.", append(objectLabels, "phase"), nil)
	runPhase      = prometheus.NewDesc("analysis_run_phase", "1 for the phase an analysis run is in, 0 for the others (deprecated by Argo).", append(objectLabels, "phase"), nil)
	runMetricType = prometheus.NewDesc("analysis_run_metric_type", "The provider type of each metric of an analysis run.",
		append(objectLabels, "metric", "type"), nil)
	runMetricPhase = prometheus.NewDesc("analysis_run_metric_phase", "1 for the phase a metric of an analysis run is in, 0 for the others.",
		append(objectLabels, "metric", "type", "dry_run", "phase"), nil)
	experimentInfo  = prometheus.NewDesc("experiment_info", "Information about an experiment: its phase.", append(objectLabels, "phase"), nil)
	experimentPhase = prometheus.NewDesc("experiment_phase", "1 for the phase an experiment is in, 0 for the others (deprecated by Argo).",
		append(objectLabels, "phase"), nil)
)

// Argo's phases for rollout_info and rollout_phase: from the Progressing
// condition's reason, not status.phase.
const (
	phaseCompleted   = "Completed"
	phaseProgressing = "Progressing"
	phasePaused      = "Paused"
	phaseTimeout     = "Timeout"
	phaseError       = "Error"
	phaseAbort       = "Abort"
	phaseInvalidSpec = "InvalidSpec"
)

var rolloutPhases = []string{phaseCompleted, phaseProgressing, phasePaused, phaseTimeout, phaseError, phaseAbort}

var runPhases = []v1alpha1.AnalysisPhase{v1alpha1.AnalysisPhasePending, v1alpha1.AnalysisPhaseError, v1alpha1.AnalysisPhaseFailed,
	v1alpha1.AnalysisPhaseSuccessful, v1alpha1.AnalysisPhaseRunning, v1alpha1.AnalysisPhaseInconclusive}

var experimentPhases = []v1alpha1.AnalysisPhase{v1alpha1.AnalysisPhasePending, v1alpha1.AnalysisPhaseError,
	v1alpha1.AnalysisPhaseSuccessful, v1alpha1.AnalysisPhaseRunning, v1alpha1.AnalysisPhaseInconclusive}

// state collects the objects' state from the cache at each scrape.
type state struct {
	mu     sync.Mutex
	reader client.Reader
}

func (s *state) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{rolloutInfo, rolloutAvailable, rolloutUnavailable, rolloutDesired, rolloutUpdated, rolloutPhase,
		runInfo, runPhase, runMetricType, runMetricPhase, experimentInfo, experimentPhase} {
		ch <- d
	}
}

func (s *state) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	reader := s.reader
	s.mu.Unlock()
	if reader == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var ros v1alpha1.RolloutList
	if err := reader.List(ctx, &ros); err == nil {
		for i := range ros.Items {
			collectRollout(ch, &ros.Items[i])
		}
	}
	var runs v1alpha1.AnalysisRunList
	if err := reader.List(ctx, &runs); err == nil {
		for i := range runs.Items {
			collectRun(ch, &runs.Items[i])
		}
	}
	var exs v1alpha1.ExperimentList
	if err := reader.List(ctx, &exs); err == nil {
		for i := range exs.Items {
			collectExperiment(ch, &exs.Items[i])
		}
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, ns, name string, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{ns, name}, labels...)...)
}

func one(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func collectRollout(ch chan<- prometheus.Metric, ro *v1alpha1.Rollout) {
	strategy, router := StrategyAndRouter(ro)
	phase := Phase(ro)
	st := &ro.Status
	gauge(ch, rolloutInfo, 1, ro.Namespace, ro.Name, strategy, router, phase)
	gauge(ch, rolloutAvailable, float64(st.AvailableReplicas), ro.Namespace, ro.Name)
	gauge(ch, rolloutUnavailable, float64(st.Replicas-st.AvailableReplicas), ro.Namespace, ro.Name)
	gauge(ch, rolloutDesired, float64(ptr.Deref(ro.Spec.Replicas, 1)), ro.Namespace, ro.Name)
	gauge(ch, rolloutUpdated, float64(st.UpdatedReplicas), ro.Namespace, ro.Name)
	for _, p := range rolloutPhases {
		gauge(ch, rolloutPhase, one(phase == p), ro.Namespace, ro.Name, strategy, p)
	}
}

// StrategyAndRouter are rollout_info's strategy and traffic_router labels,
// spelled as Argo spells them.
func StrategyAndRouter(ro *v1alpha1.Rollout) (strategy, router string) {
	s := ro.Spec.Strategy
	switch {
	case s.BlueGreen != nil:
		return "blueGreen", ""
	case s.Canary == nil:
		return "none", ""
	}
	t := s.Canary.TrafficRouting
	switch {
	case t == nil:
	case t.AppMesh != nil:
		router = "AppMesh"
	case t.SMI != nil:
		router = "SMI"
	case t.Nginx != nil:
		router = "Nginx"
	case t.Istio != nil:
		router = "Istio"
	case t.Ambassador != nil:
		router = "Ambassador"
	case t.ALB != nil:
		router = "ALB"
	}
	return "canary", router
}

// Phase is rollout_info's phase: the reason of the Progressing condition,
// in Argo's words, or InvalidSpec.
func Phase(ro *v1alpha1.Rollout) string {
	phase := phaseProgressing
	for _, c := range ro.Status.Conditions {
		switch {
		case c.Type == v1alpha1.RolloutInvalidSpec:
			return phaseInvalidSpec
		case c.Type != v1alpha1.RolloutProgressing:
		case c.Reason == reasons.NewReplicaSetAvailable:
			phase = phaseCompleted
		case c.Reason == reasons.RolloutPaused:
			phase = phasePaused
		case c.Reason == reasons.ReplicaSetCreateError:
			phase = phaseError
		case c.Reason == reasons.ProgressDeadlineExceeded:
			phase = phaseTimeout
		case c.Reason == reasons.RolloutAborted:
			phase = phaseAbort
		}
	}
	return phase
}

func collectRun(ch chan<- prometheus.Metric, run *v1alpha1.AnalysisRun) {
	phase := run.Status.Phase
	gauge(ch, runInfo, 1, run.Namespace, run.Name, string(phase))
	for _, p := range runPhases {
		gauge(ch, runPhase, one(phase == p || p == v1alpha1.AnalysisPhasePending && phase == ""), run.Namespace, run.Name, string(p))
	}
	for _, m := range run.Spec.Metrics {
		typ := ProviderType(&m.Provider)
		gauge(ch, runMetricType, 1, run.Namespace, run.Name, m.Name, typ)
		var mp v1alpha1.AnalysisPhase
		for _, r := range run.Status.MetricResults {
			if r.Name == m.Name {
				mp = r.Phase
			}
		}
		for _, p := range runPhases {
			gauge(ch, runMetricPhase, one(mp == p || p == v1alpha1.AnalysisPhasePending && mp == ""), run.Namespace, run.Name,
				m.Name, typ, fmt.Sprint(analysis.IsDryRun(run.Spec.DryRun, m.Name)), string(p))
		}
	}
}

// ProviderType is analysis_run_metric_type's type label, as Argo spells it.
func ProviderType(p *v1alpha1.MetricProvider) string {
	switch analysis.ProviderName(p) {
	case "prometheus":
		return "Prometheus"
	case "web":
		return "Web"
	case "job":
		return "Job"
	case "kayenta":
		return "Kayenta"
	case "datadog":
		return "Datadog"
	case "newRelic":
		return "NewRelic"
	case "wavefront":
		return "Wavefront"
	case "cloudWatch":
		return "CloudWatch"
	case "graphite":
		return "Graphite"
	case "influxdb":
		return "Influxdb"
	case "skywalking":
		return "skywalking"
	case "plugin":
		return "RPCPlugin"
	}
	return "Unknown"
}

func collectExperiment(ch chan<- prometheus.Metric, ex *v1alpha1.Experiment) {
	phase := ex.Status.Phase
	gauge(ch, experimentInfo, 1, ex.Namespace, ex.Name, string(phase))
	for _, p := range experimentPhases {
		gauge(ch, experimentPhase, one(phase == p || p == v1alpha1.AnalysisPhasePending && phase == ""), ex.Namespace, ex.Name, string(p))
	}
}
