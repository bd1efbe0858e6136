package notifications

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/vireo-dev/vireo/internal/httpquery"
)

// Request is one message to a service: what both Argo Rollouts'
// notifications and Flagger's alerts send through.
type Request struct {
	// Service names the sender in errors (slack, webhook.ci, ...).
	Service string
	Method  string
	URL     string
	Header  http.Header
	Body    []byte
	// Insecure skips TLS verification; Proxy sends through an HTTP proxy.
	Insecure bool
	Proxy    string
	// SecretURL hides the address in errors beyond its scheme and host:
	// an incoming webhook's URL is its credential.
	SecretURL bool
}

// Post sends a message through the guarded transport (no link-local or
// metadata addresses; the controller's egress policy) and returns the
// answer's start; an answer other than 2xx is an error that names the
// service and, unless secret, the address.
func Post(ctx context.Context, r Request) ([]byte, error) {
	method := r.Method
	if method == "" {
		method = http.MethodPost
	}
	where := r.URL
	if u, err := url.Parse(r.URL); err == nil && u.Host != "" {
		u.RawQuery, u.User = "", nil
		where = u.String()
		if r.SecretURL {
			where = u.Scheme + "://" + u.Host
		}
	} else if r.SecretURL {
		where = "the configured address"
	}
	req, err := http.NewRequestWithContext(ctx, method, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return nil, fmt.Errorf("%s: %s to %s: not a valid address", r.Service, method, where)
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	t := httpquery.Transport(r.Insecure)
	if r.Proxy != "" {
		p, err := url.Parse(r.Proxy)
		if err != nil {
			return nil, fmt.Errorf("%s: the proxy is not a URL", r.Service)
		}
		t.Proxy = http.ProxyURL(p)
	}
	client := &http.Client{Transport: t}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%s: %s to %s: %w", r.Service, method, where, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		snippet := strings.TrimSpace(string(body))
		if len(snippet) > 300 {
			snippet = snippet[:300] + "..."
		}
		return body, fmt.Errorf("%s: %s to %s answered %s: %s", r.Service, method, where, resp.Status, snippet)
	}
	return body, nil
}
