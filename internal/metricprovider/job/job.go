// Package job is the job metric provider: each measurement is a Kubernetes
// Job, owned by its AnalysisRun; it succeeds when the Job completes and fails
// when the Job fails.
package job

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"regexp"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/metricprovider"
)

// Labels put on every Job, so that a Job can be traced to its run and metric.
const (
	RunNameLabel    = "analysisrun.argoproj.io/name"
	RunUIDLabel     = "analysisrun.argoproj.io/uid"
	MetricNameLabel = "analysisrun.argoproj.io/metric-name"
)

// Measurement metadata keys naming the Job.
const (
	JobNameKey      = "job-name"
	JobNamespaceKey = "job-namespace"
)

// keepJobs is how many finished Jobs of one metric are kept; older ones go.
const keepJobs = 10

// PollEvery is how often a running Job is looked at when no watch event
// comes sooner.
const PollEvery = 10 * time.Second

// Provider runs Jobs through a Kubernetes client.
type Provider struct {
	Client client.Client
	// Pods reads a Job's pods, to see one that cannot start (its image
	// cannot be pulled); the API server itself, as the controller's cache
	// holds no Job pods. Without it pods are not looked at.
	Pods client.Reader
	Now  func() time.Time
}

// stuckReasons are the waiting reasons of a container that will not start
// by waiting longer: the measurement is Inconclusive at once, as in Argo.
var stuckReasons = map[string]bool{"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true}

// pollAfter is when to look at a running Job again: soon after it starts,
// when a pod that cannot start shows, then less often, up to PollEvery.
func pollAfter(running time.Duration) time.Duration {
	d := time.Duration(math.Sqrt(2*running.Seconds()) * float64(time.Second))
	return min(max(d, time.Second), PollEvery)
}

// Run creates the Job of the metric's next measurement and returns a Running
// measurement naming it.
func (p Provider) Run(ctx context.Context, run *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) v1alpha1.Measurement {
	started := metav1.NewTime(p.Now())
	m := v1alpha1.Measurement{StartedAt: &started}
	if metric.Provider.Job == nil {
		return metricprovider.Finish(m, v1alpha1.AnalysisPhaseError, "provider.job is not set", p.Now())
	}
	n := int32(1)
	for _, r := range run.Status.MetricResults {
		if r.Name == metric.Name {
			n = r.Count + r.Error + 1 // every measurement so far, errors too
		}
	}
	job := build(run, metric, n)
	if err := p.Client.Create(ctx, job); err != nil && !apierrors.IsAlreadyExists(err) {
		return metricprovider.Finish(m, v1alpha1.AnalysisPhaseError, fmt.Sprintf("provider.job: creating Job %s: %v", job.Name, err), p.Now())
	}
	if n > keepJobs {
		old := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: run.Namespace, Name: JobName(run, metric.Name, n-keepJobs)}}
		_ = client.IgnoreNotFound(p.Client.Delete(ctx, old, client.PropagationPolicy(metav1.DeletePropagationBackground)))
	}
	m.Metadata = map[string]string{JobNameKey: job.Name, JobNamespaceKey: job.Namespace}
	return metricprovider.Later(m, p.Now().Add(pollAfter(0)))
}

// Resume looks at the Job of a running measurement.
func (p Provider) Resume(ctx context.Context, run *v1alpha1.AnalysisRun, metric *v1alpha1.Metric, m v1alpha1.Measurement) v1alpha1.Measurement {
	name := m.Metadata[JobNameKey]
	job := &batchv1.Job{}
	if err := p.Client.Get(ctx, client.ObjectKey{Namespace: run.Namespace, Name: name}, job); err != nil {
		if apierrors.IsNotFound(err) {
			return metricprovider.Finish(m, v1alpha1.AnalysisPhaseError, fmt.Sprintf("provider.job: Job %s was deleted before it finished", name), p.Now())
		}
		return metricprovider.Later(m, p.Now().Add(PollEvery))
	}
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return metricprovider.Finish(m, v1alpha1.AnalysisPhaseSuccessful, "", p.Now())
		case batchv1.JobFailed:
			return metricprovider.Finish(m, v1alpha1.AnalysisPhaseFailed, fmt.Sprintf("Job %s failed: %s", name, strings.TrimSpace(c.Reason+" "+c.Message)), p.Now())
		}
	}
	if why := p.stuck(ctx, job); why != "" {
		return metricprovider.Finish(m, v1alpha1.AnalysisPhaseInconclusive, fmt.Sprintf("Job %s cannot run: %s", name, why), p.Now())
	}
	running := time.Duration(0)
	if m.StartedAt != nil {
		running = p.Now().Sub(m.StartedAt.Time)
	}
	return metricprovider.Later(m, p.Now().Add(pollAfter(running)))
}

// stuck names a container of the Job's pods that waits for an image that
// cannot be pulled, or "".
func (p Provider) stuck(ctx context.Context, job *batchv1.Job) string {
	if p.Pods == nil {
		return ""
	}
	var pods corev1.PodList
	if err := p.Pods.List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name}); err != nil {
		return "" // looked at again on the next poll
	}
	for _, pod := range pods.Items {
		for _, cs := range append(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses...) {
			if w := cs.State.Waiting; w != nil && stuckReasons[w.Reason] {
				return fmt.Sprintf("container %s of pod %s is waiting: %s %s", cs.Name, pod.Name, w.Reason, w.Message)
			}
		}
	}
	return ""
}

// Terminate deletes the Job of a measurement the run no longer waits for;
// the measurement ends Inconclusive, as in Argo: the Job never said.
func (p Provider) Terminate(ctx context.Context, run *v1alpha1.AnalysisRun, _ *v1alpha1.Metric, m v1alpha1.Measurement) v1alpha1.Measurement {
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: run.Namespace, Name: m.Metadata[JobNameKey]}}
	if err := client.IgnoreNotFound(p.Client.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground))); err != nil {
		return metricprovider.Finish(m, v1alpha1.AnalysisPhaseError, fmt.Sprintf("provider.job: deleting Job %s: %v", job.Name, err), p.Now())
	}
	return metricprovider.Finish(m, v1alpha1.AnalysisPhaseInconclusive, "terminated: the run ended before the Job did", p.Now())
}

// build makes the Job of a metric's n-th measurement.
func build(run *v1alpha1.AnalysisRun, metric *v1alpha1.Metric, n int32) *batchv1.Job {
	jm := metric.Provider.Job
	labels := maps.Clone(jm.Metadata.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[RunNameLabel] = truncateLabel(run.Name)
	labels[RunUIDLabel] = string(run.UID)
	labels[MetricNameLabel] = truncateLabel(metric.Name)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            JobName(run, metric.Name, n),
			Namespace:       run.Namespace,
			Labels:          labels,
			Annotations:     maps.Clone(jm.Metadata.Annotations),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(run, v1alpha1.GroupVersion.WithKind("AnalysisRun"))},
		},
		Spec: *jm.Spec.DeepCopy(),
	}
}

var notLabelChar = regexp.MustCompile(`[^a-z0-9-]+`)

// JobName is the name of a metric's n-th Job: <run>-<metric>-<n>, made a
// valid DNS label (the Job controller puts the name in a label of its pods)
// and, when too long, shortened with a hash that keeps it unique.
func JobName(run *v1alpha1.AnalysisRun, metric string, n int32) string {
	base := notLabelChar.ReplaceAllString(strings.ToLower(run.Name+"-"+metric), "-")
	suffix := fmt.Sprintf("-%d", n)
	if len(base)+len(suffix) <= 63 && base == strings.Trim(base, "-") {
		return base + suffix
	}
	sum := sha256.Sum256([]byte(string(run.UID) + "/" + run.Name + "/" + metric))
	h := "-" + hex.EncodeToString(sum[:])[:8]
	keep := 63 - len(h) - len(suffix)
	return strings.Trim(base[:min(keep, len(base))], "-") + h + suffix
}

func truncateLabel(s string) string {
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-_.")
	}
	return s
}
