package metrics

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
)

// k8sRequests is Argo's controller_clientset_k8s_request_total: every
// request the controller sends to the API server, by the resource (its
// plural, as in the URL), namespace, name, verb and status code.
var k8sRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "controller_clientset_k8s_request_total",
	Help: "Requests sent to the Kubernetes API server, by resource, namespace, name, verb and status code.",
}, []string{"kind", "namespace", "name", "verb", "status_code"})

// CountRequests makes cfg's clients count their requests in
// controller_clientset_k8s_request_total.
func CountRequests(cfg *rest.Config) {
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return counter{rt} })
}

type counter struct{ next http.RoundTripper }

func (c counter) RoundTrip(r *http.Request) (*http.Response, error) {
	kind, ns, name, verb := describe(r)
	countWrite(r)
	resp, err := c.next.RoundTrip(r)
	code := "0"
	if resp != nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	k8sRequests.WithLabelValues(kind, ns, name, verb, code).Inc()
	return resp, err
}

// describe reads a request as Argo's labels put it: the resource from the
// path, List or Watch for a collection, names left out of lists, Events
// and ReplicaSets (too many of them for a label).
func describe(r *http.Request) (kind, ns, name, verb string) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	namespaced := -1
	for i, p := range parts {
		if p == "namespaces" && i+2 < len(parts) {
			namespaced = i + 1
			break
		}
	}
	if namespaced >= 0 {
		ns = parts[namespaced]
	}
	// A subresource (.../RESOURCE/NAME/status) counts as its object's
	// request: Argo's parser reads its path one step off (kind = the name,
	// name = "status"); here kind and name stay the object's.
	sub := namespaced >= 0 && len(parts) == namespaced+4
	if sub {
		parts = parts[:len(parts)-1]
	}
	last := func(k int) string {
		if len(parts) >= k {
			return parts[len(parts)-k]
		}
		return ""
	}
	switch r.Method {
	case http.MethodGet:
		// A collection ends at the resource: .../namespaces/NS/RESOURCE or
		// /api(s)/.../RESOURCE; an object has its name after it.
		collection := namespaced >= 0 && len(parts) == namespaced+2 || namespaced < 0 && len(parts) <= 4 && parts[0] == "apis" || namespaced < 0 && len(parts) <= 3 && parts[0] == "api"
		switch {
		case r.URL.Query().Get("watch") == "true":
			verb, kind = "Watch", last(1)
			if f := r.URL.Query().Get("fieldSelector"); strings.HasPrefix(f, "metadata.name=") {
				name = strings.TrimPrefix(f, "metadata.name=")
			}
		case collection:
			verb, kind = "List", last(1)
		default:
			verb, kind, name = "Get", last(2), last(1)
		}
	case http.MethodPost:
		verb, kind, name = "Create", last(1), createdName(r)
		if sub { // an eviction, say
			kind, name = last(2), last(1)
		}
	case http.MethodPut:
		verb, kind, name = "Update", last(2), last(1)
	case http.MethodPatch:
		verb, kind, name = "Patch", last(2), last(1)
	case http.MethodDelete:
		verb, kind, name = "Delete", last(2), last(1)
	default:
		return "Unknown", "Unknown", "Unknown", "Unknown"
	}
	if verb == "List" || kind == "events" || kind == "replicasets" {
		name = "N/A"
	}
	return kind, ns, name, verb
}

// createdName is metadata.name of the object a create request carries.
func createdName(r *http.Request) string {
	if r.GetBody == nil {
		return ""
	}
	body, err := r.GetBody()
	if err != nil {
		return ""
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, 1<<20))
	if err != nil {
		return ""
	}
	var obj struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if json.NewDecoder(bytes.NewReader(data)).Decode(&obj) != nil {
		return ""
	}
	return obj.Metadata.Name
}
