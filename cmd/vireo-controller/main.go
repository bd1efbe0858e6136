// Command vireo-controller runs Vireo's controllers: progressive delivery for
// Kubernetes, serving the argoproj.io/v1alpha1 Rollout API.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/vireo-dev/vireo/internal/controller"
	"github.com/vireo-dev/vireo/internal/controller/shard"
	"github.com/vireo-dev/vireo/internal/httpquery"
	planner "github.com/vireo-dev/vireo/internal/rollout"
	"github.com/vireo-dev/vireo/internal/version"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "vireo-controller: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("vireo-controller", flag.ContinueOnError)
	var (
		kubeconfig = fs.String("kubeconfig", "", "path to a kubeconfig; without it, $KUBECONFIG, ~/.kube/config or the in-cluster ServiceAccount")
		opts       controller.Options
		qps        = fs.Float64("qps", 100, "queries per second to the API server")
		burst      = fs.Int("burst", 200, "burst of queries to the API server")
		logLevel   = fs.String("log-level", "info", "debug, info, warn, error, or a verbosity number (4 shows how things happen)")
		showVer    = fs.Bool("version", false, "print the version and exit")
	)
	fs.StringVar(&opts.Namespace, "namespace", "", "watch only this namespace (default: all namespaces)")
	fs.StringVar(&opts.InstanceID, "instance-id", "", "reconcile only objects labelled "+planner.InstanceIDLabel+"=ID; without it, only objects without that label")
	fs.BoolVar(&opts.LeaderElect, "leader-elect", false, "elect one active controller through a Lease")
	fs.IntVar(&opts.Shards, "shards", 0, "split the objects among replicas in N shards, each with its own Lease (vireo-controller-shard-K), assigned by a hash of namespace and name or by the "+shard.Label+" label; replaces --leader-elect")
	fs.StringVar(&opts.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader-election Lease, or of the shards' Leases (default: --namespace, or the pod's namespace in a cluster)")
	fs.StringVar(&opts.MetricsBindAddress, "metrics-bind-address", ":8090", "address of the Prometheus metrics endpoint; 0 turns it off")
	fs.StringVar(&opts.HealthProbeBindAddress, "health-probe-bind-address", ":8080", "address of /healthz and /readyz; 0 turns them off")
	fs.IntVar(&opts.RolloutThreads, "rollout-threads", 10, "Rollouts reconciled in parallel")
	fs.IntVar(&opts.AnalysisThreads, "analysis-threads", 10, "AnalysisRuns measured in parallel")
	fs.StringVar(&opts.Flagger, "flagger", "auto", "run the controller of Flagger's Canary kind: auto (when the API server serves flagger.app/v1beta1), on or off")
	fs.StringVar(&opts.FlaggerProvider, "flagger-provider", "istio", "router of Canaries without spec.provider (Flagger's -mesh-provider)")
	fs.StringVar(&opts.FlaggerMetricsServer, "flagger-metrics-server", "http://prometheus:9090", "Prometheus of the Canaries' built-in metrics (Flagger's -metrics-server)")
	fs.StringVar(&opts.CredentialsNamespace, "credentials-namespace", "", "namespace of the metric services' credentials Secrets (datadog, newrelic, wavefront-api-tokens, influxdb); default $POD_NAMESPACE, the pod's namespace in a cluster, else argo-rollouts")
	fs.StringVar(&opts.NotificationConfigMap, "notification-configmap", "argo-rollouts-notification-configmap", "the notification configuration's ConfigMap, in the credentials namespace")
	fs.StringVar(&opts.NotificationSecret, "notification-secret", "argo-rollouts-notification-secret", "the notification configuration's Secret, in the credentials namespace")
	allowLoopback := fs.Bool("allow-loopback", false, "let metric providers, webhooks and notifications reach loopback addresses (127.0.0.0/8, ::1): for a Prometheus beside the controller, and tests")
	allowlist := fs.String("egress-allowlist", "", "CIDRs (comma-separated) that metric providers, webhooks and notifications may reach; empty: any but link-local, metadata and (without --allow-loopback) loopback addresses")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *showVer {
		fmt.Println("vireo-controller", version.String())
		return nil
	}
	level, err := parseLogLevel(*logLevel)
	if err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.Level(level)))
	allowed, err := httpquery.ParseAllowlist(*allowlist)
	if err != nil {
		return err
	}
	httpquery.SetPolicy(httpquery.Policy{RefuseLoopback: !*allowLoopback, Allow: allowed})
	if *qps <= 0 {
		return fmt.Errorf("--qps must be positive, got %v", *qps)
	}
	if *burst <= 0 {
		return fmt.Errorf("--burst must be positive, got %d", *burst)
	}
	if opts.AnalysisThreads < 1 {
		return fmt.Errorf("--analysis-threads must be at least 1, got %d", opts.AnalysisThreads)
	}
	if opts.RolloutThreads < 1 {
		return fmt.Errorf("--rollout-threads must be at least 1, got %d", opts.RolloutThreads)
	}
	if _, err := controller.InstanceSelector(opts.InstanceID); err != nil {
		return err
	}

	cfg, err := restConfig(*kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = float32(*qps), *burst
	// The pid tells replicas apart in the API server's audit log.
	cfg.UserAgent = fmt.Sprintf("vireo-controller/%s (pid %d)", version.Version, os.Getpid())

	ctx := ctrl.SetupSignalHandler()
	setup := ctrl.Log.WithName("setup")
	if err := controller.WaitForCRDs(ctx, cfg, setup, time.Second); err != nil {
		return err
	}
	mgr, err := controller.NewManager(cfg, opts)
	if err != nil {
		return err
	}
	setup.Info("starting vireo-controller", "version", version.String(),
		"namespace", opts.Namespace, "instanceID", opts.InstanceID, "leaderElect", opts.LeaderElect, "shards", opts.Shards)
	return mgr.Start(ctx)
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("--kubeconfig %s: %w", kubeconfig, err)
		}
		return cfg, nil
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("no Kubernetes configuration found (give --kubeconfig): %w", err)
	}
	return cfg, nil
}

// parseLogLevel reads a level name or a verbosity number into a zap level;
// verbosity N shows logger.V(N) lines.
func parseLogLevel(s string) (zapcore.Level, error) {
	switch s {
	case "debug":
		return zapcore.Level(-4), nil
	case "info":
		return zapcore.InfoLevel, nil
	case "warn":
		return zapcore.WarnLevel, nil
	case "error":
		return zapcore.ErrorLevel, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 10 {
		return 0, fmt.Errorf("--log-level %q: want debug, info, warn, error or a verbosity from 0 to 10", s)
	}
	return zapcore.Level(-n), nil
}
