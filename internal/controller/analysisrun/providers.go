package analysisrun

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/analysis"
	"github.com/vireo-dev/vireo/internal/metricprovider"
	"github.com/vireo-dev/vireo/internal/metricprovider/cloudwatch"
	"github.com/vireo-dev/vireo/internal/metricprovider/datadog"
	"github.com/vireo-dev/vireo/internal/metricprovider/graphite"
	"github.com/vireo-dev/vireo/internal/metricprovider/influxdb"
	"github.com/vireo-dev/vireo/internal/metricprovider/job"
	"github.com/vireo-dev/vireo/internal/metricprovider/judgeprovider"
	"github.com/vireo-dev/vireo/internal/metricprovider/kayenta"
	"github.com/vireo-dev/vireo/internal/metricprovider/newrelic"
	"github.com/vireo-dev/vireo/internal/metricprovider/prometheus"
	"github.com/vireo-dev/vireo/internal/metricprovider/wavefront"
	"github.com/vireo-dev/vireo/internal/metricprovider/web"
)

// Providers picks the provider of a run's metric.
type Providers interface {
	For(run *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) (metricprovider.Provider, error)
}

// Builtin are the providers Vireo ships, working through a Kubernetes client
// (for Jobs), the credentials Secrets of metric services, and a clock.
type Builtin struct {
	Client client.Client
	// APIReader reads what the cache does not hold (a Job's pods).
	APIReader   client.Reader
	Credentials metricprovider.Credentials
	Now         func() time.Time
	// CloudWatch is shared by every cloudWatch metric, so that its AWS
	// configuration and credentials are loaded once.
	CloudWatch cloudwatch.Provider
}

// For returns the provider the metric names.
func (b Builtin) For(run *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) (metricprovider.Provider, error) {
	sync := func(q metricprovider.Querier) metricprovider.Provider {
		return metricprovider.Sync{Querier: q, Now: b.Now}
	}
	switch name := analysis.ProviderName(&metric.Provider); name {
	case "prometheus":
		return sync(prometheus.Provider{Now: b.Now}), nil
	case "web":
		return sync(web.Provider{}), nil
	case "job":
		return job.Provider{Client: b.Client, Pods: b.APIReader, Now: b.Now}, nil
	case "datadog":
		return sync(datadog.Provider{Credentials: b.Credentials, Namespace: run.Namespace, Now: b.Now}), nil
	case "newRelic":
		return sync(newrelic.Provider{Credentials: b.Credentials}), nil
	case "wavefront":
		return sync(wavefront.Provider{Credentials: b.Credentials, Now: b.Now}), nil
	case "influxdb":
		return sync(influxdb.Provider{Credentials: b.Credentials}), nil
	case "graphite":
		return sync(graphite.Provider{}), nil
	case "cloudWatch":
		return sync(b.CloudWatch), nil
	case "kayenta":
		return kayenta.Provider{Now: b.Now}, nil
	case "plugin":
		if _, ok := metric.Provider.Plugin[judgeprovider.Key]; ok {
			return judgeprovider.Provider{Now: b.Now}, nil
		}
		return nil, fmt.Errorf("provider.plugin: the only plugin Vireo runs is %s", judgeprovider.Key)
	default:
		return nil, fmt.Errorf("provider %s: not supported by Vireo (supported: %v)", name, analysis.Supported)
	}
}

// SecretReader reads Secrets through a Kubernetes reader.
type SecretReader struct{ Reader client.Reader }

// ReadSecret returns a Secret's data.
func (s SecretReader) ReadSecret(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	var secret corev1.Secret
	if err := s.Reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("Secret %s not found in namespace %s", name, namespace)
		}
		return nil, fmt.Errorf("reading Secret %s/%s: %w", namespace, name, err)
	}
	return secret.Data, nil
}
