package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	flaggerv1beta1 "github.com/vireo-dev/vireo/api/flagger/v1beta1"
	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// CheckCRDs reports a clear error when the API server does not serve Vireo's
// kinds, instead of the manager's failure to map them.
func CheckCRDs(cfg *rest.Config) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("creating discovery client: %w", err)
	}
	gv := v1alpha1.GroupVersion.String()
	list, err := dc.ServerResourcesForGroupVersion(gv)
	if err != nil {
		return fmt.Errorf("the API server at %s does not serve %s (install Vireo's CRDs: kubectl apply -k config/crd): %w", cfg.Host, gv, err)
	}
	have := map[string]bool{}
	for _, r := range list.APIResources {
		have[r.Name] = true
	}
	var missing []string
	for _, name := range []string{"rollouts", "analysisruns", "analysistemplates", "clusteranalysistemplates", "experiments"} {
		if !have[name] {
			missing = append(missing, name+"."+v1alpha1.GroupVersion.Group)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the API server at %s lacks the CRDs %v (install them: kubectl apply -k config/crd)", cfg.Host, missing)
	}
	return nil
}

// flaggerEnabled says whether the Canary controller runs: mode "on" needs
// the flagger.app CRDs, "off" never runs it, and "auto" (or empty) runs it
// when the API server serves canaries.flagger.app.
func flaggerEnabled(cfg *rest.Config, mode string) (bool, error) {
	switch mode {
	case "off":
		return false, nil
	case "", "auto", "on":
	default:
		return false, fmt.Errorf("--flagger %q: want auto, on or off", mode)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return false, fmt.Errorf("creating discovery client: %w", err)
	}
	gv := flaggerv1beta1.GroupVersion.String()
	list, err := dc.ServerResourcesForGroupVersion(gv)
	served := false
	if err == nil {
		for _, r := range list.APIResources {
			served = served || r.Name == "canaries"
		}
	}
	if mode == "on" && !served {
		return false, fmt.Errorf("--flagger on: the API server at %s does not serve canaries.%s (install Vireo's CRDs: kubectl apply -k config/crd)", cfg.Host, flaggerv1beta1.GroupVersion.Group)
	}
	return served, nil
}

// WaitForCRDs waits until the API server serves Vireo's kinds, checking
// every interval (doubling up to 10 s) and logging why it waits, and
// returns when they are served or ctx ends. A controller applied together
// with its CRDs (a GitOps sync) starts before they are established: it waits
// instead of exiting into a restart loop.
func WaitForCRDs(ctx context.Context, cfg *rest.Config, logger logr.Logger, interval time.Duration) error {
	for {
		err := CheckCRDs(cfg)
		if err == nil {
			return nil
		}
		logger.Info("waiting for the API server to serve Vireo's CRDs", "reason", err.Error(), "retryIn", interval.String())
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped while waiting for the CRDs: %w", err)
		case <-time.After(interval):
		}
		interval = min(2*interval, 10*time.Second)
	}
}
