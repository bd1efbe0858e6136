package metricprovider

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// SecretReader reads a Secret's data.
type SecretReader interface {
	ReadSecret(ctx context.Context, namespace, name string) (map[string][]byte, error)
}

// Credentials finds the Secrets that hold a metric service's credentials
// (datadog, newRelic, wavefront, influxdb). They live in the controller's own
// namespace, as they do for Argo Rollouts, unless a metric says otherwise.
type Credentials struct {
	Secrets SecretReader
	// Namespace holds the credential Secrets.
	Namespace string
	// LookupEnv reads the controller's environment (os.LookupEnv when nil);
	// datadog may take its keys from there.
	LookupEnv func(string) (string, bool)
}

// Read returns a credentials Secret's data as strings. provider names the
// asker in the error ("provider.datadog").
func (c Credentials) Read(ctx context.Context, provider, namespace, name string) (map[string]string, error) {
	if namespace == "" {
		namespace = c.Namespace
	}
	if c.Secrets == nil {
		return nil, fmt.Errorf("%s: no Secret reader to find credentials Secret %s/%s", provider, namespace, name)
	}
	data, err := c.Secrets.ReadSecret(ctx, namespace, name)
	if err != nil {
		return nil, fmt.Errorf("%s: credentials: %w", provider, err)
	}
	out := make(map[string]string, len(data))
	for k, v := range data {
		out[k] = string(v)
	}
	return out, nil
}

// Env looks up an environment variable.
func (c Credentials) Env(name string) (string, bool) {
	if c.LookupEnv != nil {
		return c.LookupEnv(name)
	}
	return os.LookupEnv(name)
}

// Require returns the named keys of a credentials Secret, or an error that
// names every missing one (and never a value).
func Require(provider, secret string, data map[string]string, keys ...string) error {
	var missing []string
	for _, k := range keys {
		if data[k] == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: credentials Secret %s has no %s", provider, secret, strings.Join(missing, ", "))
	}
	return nil
}

// ControllerNamespace is where the controller runs: $POD_NAMESPACE, the
// in-cluster ServiceAccount's namespace, or "argo-rollouts", where teams
// coming from Argo Rollouts keep their provider Secrets.
func ControllerNamespace() string {
	if ns, ok := os.LookupEnv("POD_NAMESPACE"); ok && ns != "" {
		return ns
	}
	if data, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
		if ns := strings.TrimSpace(string(data)); ns != "" {
			return ns
		}
	}
	return "argo-rollouts"
}
