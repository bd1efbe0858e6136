// Package web is the web metric provider: an HTTP request whose JSON answer,
// or the part of it jsonPath selects, is the result.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"k8s.io/client-go/util/jsonpath"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/httpquery"
)

// DefaultTimeout applies when timeoutSeconds is unset.
const DefaultTimeout = 10 * time.Second

// Provider queries web metrics.
type Provider struct{}

// MaxTimeout bounds a web metric's timeoutSeconds: an analysis worker is
// shared by every tenant.
const MaxTimeout = time.Minute

// timeoutOf is the metric's request timeout: timeoutSeconds clamped
// before it is multiplied (a huge value would overflow into a negative
// duration, which means none), and no more than MaxTimeout.
func timeoutOf(w *v1alpha1.WebMetric) time.Duration {
	if w.TimeoutSeconds <= 0 {
		return DefaultTimeout
	}
	return time.Duration(min(w.TimeoutSeconds, int64(MaxTimeout/time.Second))) * time.Second
}

// Query sends the metric's request and returns the selected value.
func (Provider) Query(ctx context.Context, metric *v1alpha1.Metric) (any, error) {
	w := metric.Provider.Web
	if w == nil {
		return nil, errors.New("provider.web is not set")
	}
	if w.URL == "" {
		return nil, errors.New("provider.web.url is required")
	}
	timeout := timeoutOf(w)
	method := string(w.Method)
	if method == "" {
		method = http.MethodGet
	}
	header := httpquery.Headers(w.Headers)
	var body []byte
	switch {
	case w.JSONBody != nil && len(w.JSONBody.Raw) > 0:
		body = w.JSONBody.Raw
		header.Set("Content-Type", "application/json")
	case w.Body != "":
		body = []byte(w.Body)
	}
	data, err := httpquery.Do(ctx, httpquery.Request{Provider: "provider.web", Method: method, URL: w.URL, Header: header,
		Body: body, Timeout: timeout, Insecure: w.Insecure, Auth: &w.Authentication})
	if err != nil {
		return nil, err
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("provider.web: the answer is not JSON: %w", err)
	}
	if w.JSONPath == "" {
		return doc, nil
	}
	return selectPath(w.JSONPath, doc)
}

// selectPath evaluates a kubectl-style JSONPath ({$.data.ok}) on a document.
func selectPath(path string, doc any) (any, error) {
	jp := jsonpath.New("jsonPath")
	if err := jp.Parse(path); err != nil {
		return nil, fmt.Errorf("provider.web.jsonPath %q: %w", path, err)
	}
	results, err := jp.FindResults(doc)
	if err != nil {
		return nil, fmt.Errorf("provider.web.jsonPath %q: %w", path, err)
	}
	if len(results) == 0 || len(results[0]) == 0 {
		return nil, fmt.Errorf("provider.web.jsonPath %q selects nothing", path)
	}
	if len(results[0]) == 1 {
		return results[0][0].Interface(), nil
	}
	out := make([]any, len(results[0]))
	for i, v := range results[0] {
		out[i] = v.Interface()
	}
	return out, nil
}
