// Package providertest helps test metric providers: Secrets kept in memory.
package providertest

import (
	"context"
	"fmt"

	"github.com/vireo-dev/vireo/internal/metricprovider"
)

// Secrets maps "namespace/name" to a Secret's data.
type Secrets map[string]map[string]string

// ReadSecret returns the Secret's data, or an error like the API server's.
func (s Secrets) ReadSecret(_ context.Context, namespace, name string) (map[string][]byte, error) {
	data, ok := s[namespace+"/"+name]
	if !ok {
		return nil, fmt.Errorf("Secret %s not found in namespace %s", name, namespace)
	}
	out := map[string][]byte{}
	for k, v := range data {
		out[k] = []byte(v)
	}
	return out, nil
}

// Credentials are credentials read from s, with Secrets of the controller in
// namespace "vireo-system" and an empty environment.
func Credentials(s Secrets) metricprovider.Credentials {
	return metricprovider.Credentials{Secrets: s, Namespace: "vireo-system",
		LookupEnv: func(string) (string, bool) { return "", false }}
}
