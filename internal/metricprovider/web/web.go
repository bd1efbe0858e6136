// Package web is the web metric provider: an HTTP request whose JSON answer,
// or the part of it jsonPath selects, is the result.
package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"k8s.io/client-go/util/jsonpath"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// DefaultTimeout applies when timeoutSeconds is unset.
const DefaultTimeout = 10 * time.Second

// maxBody bounds how much of an answer is read.
const maxBody = 4 << 20

// Provider queries web metrics.
type Provider struct{}

// Query sends the metric's request and returns the selected value.
func (Provider) Query(ctx context.Context, metric *v1alpha1.Metric) (any, error) {
	w := metric.Provider.Web
	if w == nil {
		return nil, errors.New("provider.web is not set")
	}
	if w.URL == "" {
		return nil, errors.New("provider.web.url is required")
	}
	timeout := DefaultTimeout
	if w.TimeoutSeconds > 0 {
		timeout = time.Duration(w.TimeoutSeconds) * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	method := string(w.Method)
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	contentType := ""
	switch {
	case w.JSONBody != nil && len(w.JSONBody.Raw) > 0:
		body, contentType = bytes.NewReader(w.JSONBody.Raw), "application/json"
	case w.Body != "":
		body = strings.NewReader(w.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, w.URL, body)
	if err != nil {
		return nil, fmt.Errorf("provider.web: %w", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for _, h := range w.Headers {
		if strings.EqualFold(h.Key, "host") {
			req.Host = h.Value
			continue
		}
		req.Header.Set(h.Key, h.Value)
	}
	client := &http.Client{Transport: transport(w.Insecure)}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("provider.web: %s %s: %w", method, w.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("provider.web: reading the answer of %s: %w", w.URL, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return nil, fmt.Errorf("provider.web: %s %s answered %s", method, w.URL, resp.Status)
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("provider.web: the answer of %s is not JSON: %w", w.URL, err)
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

func transport(insecure bool) http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if insecure {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the metric asks for it
	}
	return t
}
