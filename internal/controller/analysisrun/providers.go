package analysisrun

import (
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/analysis"
	"github.com/vireo-dev/vireo/internal/metricprovider"
	"github.com/vireo-dev/vireo/internal/metricprovider/job"
	"github.com/vireo-dev/vireo/internal/metricprovider/prometheus"
	"github.com/vireo-dev/vireo/internal/metricprovider/web"
)

// Providers picks the provider of a metric.
type Providers interface {
	For(metric *v1alpha1.Metric) (metricprovider.Provider, error)
}

// Builtin are the providers Vireo ships, working through a Kubernetes client
// (for Jobs) and a clock.
type Builtin struct {
	Client client.Client
	Now    func() time.Time
}

// For returns the provider the metric names.
func (b Builtin) For(metric *v1alpha1.Metric) (metricprovider.Provider, error) {
	sync := func(q metricprovider.Querier) metricprovider.Provider {
		return metricprovider.Sync{Querier: q, Now: b.Now}
	}
	switch name := analysis.ProviderName(&metric.Provider); name {
	case "prometheus":
		return sync(prometheus.Provider{Now: b.Now}), nil
	case "web":
		return sync(web.Provider{}), nil
	case "job":
		return job.Provider{Client: b.Client, Now: b.Now}, nil
	default:
		return nil, fmt.Errorf("provider %s: not supported by Vireo (supported: %v)", name, analysis.Supported)
	}
}
