// Package controller assembles Vireo's controllers into a controller-runtime
// manager: caches scoped to the objects this instance owns, leader election,
// metrics and health probes.
package controller

import (
	"fmt"
	"net/http"

	"github.com/vireo-dev/vireo/internal/controller/metrics"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	flaggerv1beta1 "github.com/vireo-dev/vireo/api/flagger/v1beta1"
	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/apischeme"
	analysisrunctrl "github.com/vireo-dev/vireo/internal/controller/analysisrun"
	canaryctrl "github.com/vireo-dev/vireo/internal/controller/canary"
	experimentctrl "github.com/vireo-dev/vireo/internal/controller/experiment"
	"github.com/vireo-dev/vireo/internal/controller/fence"
	"github.com/vireo-dev/vireo/internal/controller/notifier"
	rolloutctrl "github.com/vireo-dev/vireo/internal/controller/rollout"
	"github.com/vireo-dev/vireo/internal/controller/shard"
	"github.com/vireo-dev/vireo/internal/metricprovider"
	"github.com/vireo-dev/vireo/internal/metricprovider/job"
	rolloutpkg "github.com/vireo-dev/vireo/internal/rollout"
)

// LeaderElectionID is the name of the Lease that elects the active controller.
const LeaderElectionID = "vireo-controller-leader"

// Options configure a manager.
type Options struct {
	// Namespace limits the controller to one namespace; empty means all.
	Namespace string
	// InstanceID selects the objects labelled with this instance id; empty
	// selects the objects that carry no instance id at all.
	InstanceID string
	// LeaderElect turns on leader election through a Lease.
	LeaderElect bool
	// Shards splits the objects among replicas (--shards): each of Shards
	// shards has a Lease, and a replica reconciles the shards it holds.
	// 0 or 1: no shards. It replaces LeaderElect, which it excludes.
	Shards int
	// LeaderElectionNamespace holds the Lease (or the shards' Leases); defaults to Namespace, or to the
	// pod's namespace when running in a cluster.
	LeaderElectionNamespace string
	// MetricsBindAddress serves Prometheus metrics; "0" turns them off.
	MetricsBindAddress string
	// HealthProbeBindAddress serves /healthz and /readyz; "0" turns them off.
	HealthProbeBindAddress string
	// RolloutThreads is how many Rollouts are reconciled in parallel; 10 when 0.
	RolloutThreads int
	// AnalysisThreads is how many AnalysisRuns are looked at in parallel; 10 when 0.
	AnalysisThreads int
	// CredentialsNamespace holds metric services' credentials Secrets; the
	// controller's own namespace when empty.
	CredentialsNamespace string
	// NotificationConfigMap and NotificationSecret name the notification
	// configuration in that namespace; Argo Rollouts' names when empty.
	NotificationConfigMap, NotificationSecret string
	// Flagger turns the Canary controller on ("on"), off ("off"), or on
	// when the API server serves flagger.app/v1beta1 ("auto" or empty).
	Flagger string
	// FlaggerProvider is the router of Canaries without spec.provider
	// (Flagger's -mesh-provider); istio when empty.
	FlaggerProvider string
	// FlaggerMetricsServer is the Prometheus of the Canaries' built-in
	// metrics (Flagger's -metrics-server).
	FlaggerMetricsServer string
	// SeveralPerProcess lets tests start more than one manager in a process,
	// which controller-runtime otherwise refuses (its metrics are per name).
	SeveralPerProcess bool
}

// InstanceSelector selects the objects that an instance with the given id
// reconciles: those labelled with the id, or, without an id, those with no
// instance-id label.
func InstanceSelector(instanceID string) (labels.Selector, error) {
	op, vals := selection.DoesNotExist, []string(nil)
	if instanceID != "" {
		op, vals = selection.Equals, []string{instanceID}
	}
	req, err := labels.NewRequirement(rolloutpkg.InstanceIDLabel, op, vals)
	if err != nil {
		return nil, fmt.Errorf("--instance-id %q: %w", instanceID, err)
	}
	return labels.NewSelector().Add(*req), nil
}

// NewManager builds a manager with every Vireo controller registered.
func NewManager(cfg *rest.Config, opts Options) (ctrl.Manager, error) {
	// Every request to the API server is counted, as Argo counts them
	// (controller_clientset_k8s_request_total).
	cfg = rest.CopyConfig(cfg)
	metrics.CountRequests(cfg)
	scheme, err := apischeme.New()
	if err != nil {
		return nil, fmt.Errorf("building scheme: %w", err)
	}
	sel, err := InstanceSelector(opts.InstanceID)
	if err != nil {
		return nil, err
	}
	// Only the ReplicaSets a Rollout made, and their pods, carry the hash label;
	// Deployments' ReplicaSets and other pods stay out of the cache.
	rolloutOwned, err := labels.Parse(rolloutpkg.PodTemplateHashLabel)
	if err != nil {
		return nil, err
	}
	// Only the Jobs of AnalysisRuns are cached.
	runOwned, err := labels.Parse(job.RunUIDLabel)
	if err != nil {
		return nil, err
	}
	// What Vireo never reads is dropped before it is cached (transform.go):
	// managedFields everywhere, and most of each pod.
	cacheOpts := cache.Options{
		DefaultTransform: stripManagedFields,
		ByObject: map[client.Object]cache.ByObject{
			&v1alpha1.Rollout{}:      {Label: sel},
			&v1alpha1.AnalysisRun{}:  {Label: sel},
			&v1alpha1.Experiment{}:   {Label: sel},
			&flaggerv1beta1.Canary{}: {Label: sel},
			&appsv1.ReplicaSet{}:     {Label: rolloutOwned},
			&corev1.Pod{}:            {Label: rolloutOwned, Transform: slimPod},
			&batchv1.Job{}:           {Label: runOwned},
		},
	}
	if opts.Namespace != "" {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{opts.Namespace: {}}
	}
	mgrOpts := ctrl.Options{
		Scheme:                        scheme,
		Cache:                         cacheOpts,
		Metrics:                       metricsserver.Options{BindAddress: opts.MetricsBindAddress},
		HealthProbeBindAddress:        opts.HealthProbeBindAddress,
		LeaderElection:                opts.LeaderElect,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 ptr.To(leaseDuration),
		RenewDeadline:                 ptr.To(renewDeadline),
		RetryPeriod:                   ptr.To(retryPeriod),
		Controller:                    config.Controller{SkipNameValidation: ptr.To(opts.SeveralPerProcess)},
	}
	if opts.Shards > 1 && opts.LeaderElect {
		return nil, fmt.Errorf("--shards and --leader-elect exclude each other: with shards, each shard has its own Lease")
	}
	if opts.Shards < 0 {
		return nil, fmt.Errorf("--shards %d: must be 0 or more", opts.Shards)
	}
	var shards *Shards
	if opts.Shards > 1 {
		ns, err := leaseNamespace(opts)
		if err != nil {
			return nil, err
		}
		cs, err := kubernetes.NewForConfig(rest.CopyConfig(cfg))
		if err != nil {
			return nil, fmt.Errorf("creating the shards' Lease client: %w", err)
		}
		shards = newShards(cs, ns, replicaIdentity(), opts.Shards)
		// The shards' Leases are cached, for the write fence.
		cacheOpts.ByObject[&coordinationv1.Lease{}] = cache.ByObject{Namespaces: map[string]cache.Config{ns: {}}}
		mgrOpts.Cache = cacheOpts
	}
	var leadership *Leadership
	if opts.LeaderElect {
		ns, err := leaseNamespace(opts)
		if err != nil {
			return nil, err
		}
		lock, identity, err := newLeaseLock(cfg, ns)
		if err != nil {
			return nil, err
		}
		mgrOpts.LeaderElectionResourceLockInterface = lock
		// Only our own Lease is cached, for the write fence.
		cacheOpts.ByObject[&coordinationv1.Lease{}] = cache.ByObject{
			Namespaces: map[string]cache.Config{ns: {}},
			Field:      fields.OneTermEqualSelector("metadata.name", LeaderElectionID),
		}
		mgrOpts.Cache = cacheOpts
		leadership = &Leadership{key: types.NamespacedName{Namespace: ns, Name: LeaderElectionID}, identity: identity, clock: clock.RealClock{}}
	}
	mgr, err := ctrl.NewManager(cfg, mgrOpts)
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	if opts.HealthProbeBindAddress != "" && opts.HealthProbeBindAddress != "0" {
		if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
			return nil, fmt.Errorf("adding health check: %w", err)
		}
		if err := mgr.AddReadyzCheck("cache", func(req *http.Request) error {
			if !mgr.GetCache().WaitForCacheSync(req.Context()) {
				return fmt.Errorf("informer caches not synced")
			}
			return nil
		}); err != nil {
			return nil, fmt.Errorf("adding readiness check: %w", err)
		}
	}
	// One client and one Event recorder for every controller, both fenced:
	// with leader election, each write (status, ReplicaSets, Services,
	// routers, evictions, AnalysisRuns, Jobs, Experiments) and each Event is
	// checked against the Lease where it is made.
	var f fence.Fence
	if leadership != nil {
		leadership.reader = mgr.GetClient()
		f = leadership
	}
	if shards != nil {
		shards.reader = mgr.GetClient()
		for _, l := range shards.leases {
			l.reader = mgr.GetClient()
		}
		shards.synced = mgr.GetCache().WaitForCacheSync
		if err := mgr.Add(shards); err != nil {
			return nil, err
		}
		f = shards
	}
	writer := fence.Client(mgr.GetClient(), f)
	// Events are counted (rollout_events_total) once the fence lets them by.
	// Notifications (Argo Rollouts' configuration) are sent for them too.
	notifyNS := opts.CredentialsNamespace
	if notifyNS == "" {
		notifyNS = metricprovider.ControllerNamespace()
	}
	// It keeps an outbox (a ConfigMap) there, written through the fence;
	// with shards, one per shard, delivered by the replica holding it.
	boxes := 1
	if shards != nil {
		boxes = shards.n
	}
	notes := make([]*notifier.Notifier, boxes)
	for k := range notes {
		notes[k] = &notifier.Notifier{Reader: mgr.GetAPIReader(), Writer: writer, Namespace: notifyNS,
			ConfigMap: opts.NotificationConfigMap, Secret: opts.NotificationSecret}
		switch {
		case shards != nil:
			// Its outbox is written outside any reconcile pass, so against
			// its own shard's Lease, not the pass's.
			notes[k].Outbox = fmt.Sprintf("%s-%d", notifier.OutboxName, k)
			notes[k].Fence = shards.Fence(k)
			notes[k].Writer = fence.Client(mgr.GetClient(), notes[k].Fence)
		case f != nil:
			notes[k].Fence = f
		}
		if err := mgr.Add(manager.RunnableFunc(notes[k].Start)); err != nil {
			return nil, err
		}
	}
	notify := func(ro *v1alpha1.Rollout, eventType, reason string) {
		notes[shard.Of(ro.Namespace, ro.Name, ro.Labels, boxes)].Event(ro, eventType, reason)
	}
	recorder := fence.Recorder(metrics.CountingRecorder(mgr.GetEventRecorderFor("vireo-controller"), notify), f)
	// Argo Rollouts' metrics, the objects' state read from the cache.
	if err := metrics.Register(mgr.GetClient()); err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	resync := func(list func() client.ObjectList) <-chan event.GenericEvent {
		if shards == nil {
			return nil
		}
		return shards.Resync(list)
	}
	rollouts := &rolloutctrl.Reconciler{Client: writer, Recorder: recorder, Fence: f, Workers: opts.RolloutThreads, NamespaceOnly: opts.Namespace != "",
		Resync: resync(func() client.ObjectList { return &v1alpha1.RolloutList{} })}
	if err := rollouts.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("registering the rollout controller: %w", err)
	}
	runs := &analysisrunctrl.Reconciler{Client: writer, Recorder: recorder, Fence: f, Workers: opts.AnalysisThreads, CredentialsNamespace: opts.CredentialsNamespace,
		Resync: resync(func() client.ObjectList { return &v1alpha1.AnalysisRunList{} })}
	if err := runs.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("registering the analysisrun controller: %w", err)
	}
	experiments := &experimentctrl.Reconciler{Client: writer, Recorder: recorder, Fence: f, NamespaceOnly: opts.Namespace != "",
		Resync: resync(func() client.ObjectList { return &v1alpha1.ExperimentList{} })}
	if err := experiments.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("registering the experiment controller: %w", err)
	}
	flagger, err := flaggerEnabled(cfg, opts.Flagger)
	if err != nil {
		return nil, err
	}
	if flagger {
		canaries := &canaryctrl.Reconciler{Client: writer, Fence: f, Provider: opts.FlaggerProvider, MetricsServer: opts.FlaggerMetricsServer,
			Resync: resync(func() client.ObjectList { return &flaggerv1beta1.CanaryList{} }),
			// Flagger's events come from "flagger"; kubectl describe shows it.
			Recorder: fence.Recorder(mgr.GetEventRecorderFor("flagger"), f)}
		if err := canaries.SetupWithManager(mgr); err != nil {
			return nil, fmt.Errorf("registering the canary controller: %w", err)
		}
	}
	return mgr, nil
}
