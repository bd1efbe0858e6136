// Package httpquery sends the outbound HTTP requests whose address a user
// chose: the metric providers that talk to a web service, Flagger's
// webhooks, and alert and notification services. It gives timeouts, TLS
// verification that may be turned off, authentication (headers, basic,
// OAuth 2 client credentials), a bounded answer, a dial guard against
// metadata addresses, and errors that say which caller asked what.
package httpquery

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// MaxBody bounds how much of an answer is read: a larger one is an error
// (a metrics query that answers more is not measuring one canary).
const MaxBody = 1 << 20

// Request is one call to a metrics service.
type Request struct {
	// Provider names the provider in messages, e.g. "provider.prometheus".
	Provider string
	Method   string
	URL      string
	Header   http.Header
	Body     []byte
	Timeout  time.Duration
	Insecure bool
	Auth     *v1alpha1.Authentication
}

var (
	secure   = &http.Client{Transport: transport(false)}
	insecure = &http.Client{Transport: transport(true)}
)

func transport(skipVerify bool) http.RoundTripper { return Transport(skipVerify) }

// Transport is the transport of every outbound call whose address a user
// chose (metric providers, webhooks, alert and notification services): it
// refuses link-local and cloud metadata addresses at dial time.
func Transport(skipVerify bool) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: refuseMetadata}
	t.DialContext = dialer.DialContext
	if skipVerify {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the metric asks for it
	}
	return t
}

// refuseMetadata refuses, at dial time (after name resolution, so for
// redirects too), the addresses a template author must not reach through
// the controller: link-local ones, where clouds serve their instance
// metadata and credentials (169.254.169.254, fd00:ec2::254 and the like),
// Alibaba's metadata address, and the unspecified address, always; and
// what the egress policy refuses (loopback, or anything off its allowlist).
func refuseMetadata(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("dialing %s: not an IP address", address)
	}
	ip = ip.Unmap()
	if ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() || metadataAddrs[ip] {
		return fmt.Errorf("%s is a link-local or cloud metadata address, which metric providers may not reach", ip)
	}
	return currentPolicy().check(ip)
}

// Policy is the egress policy of the calls whose address a user chose
// (metrics, webhooks, notifications), set once by the controller from its
// flags. The zero Policy refuses nothing beyond link-local and metadata
// addresses.
type Policy struct {
	// RefuseLoopback refuses 127.0.0.0/8 and ::1 unless Allow has them.
	RefuseLoopback bool
	// Allow, when not empty, is the only networks that may be reached.
	Allow []netip.Prefix
}

func (p Policy) check(ip netip.Addr) error {
	for _, n := range p.Allow {
		if n.Contains(ip) {
			return nil
		}
	}
	if len(p.Allow) > 0 {
		return fmt.Errorf("%s is not in the controller's --egress-allowlist", ip)
	}
	if p.RefuseLoopback && ip.IsLoopback() {
		return fmt.Errorf("%s is a loopback address, which metric providers may not reach unless the controller runs with --allow-loopback", ip)
	}
	return nil
}

var policy atomic.Pointer[Policy]

func currentPolicy() Policy {
	if p := policy.Load(); p != nil {
		return *p
	}
	return Policy{}
}

// SetPolicy sets the egress policy for every call from now on: the
// connections kept open are closed, so that none was dialed under another.
func SetPolicy(p Policy) {
	policy.Store(&p)
	secure.CloseIdleConnections()
	insecure.CloseIdleConnections()
}

// ParseAllowlist reads --egress-allowlist: CIDRs (or addresses), comma-separated.
func ParseAllowlist(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("--egress-allowlist: %q is not an address or CIDR", f)
			}
			f = netip.PrefixFrom(a, a.BitLen()).String()
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("--egress-allowlist: %q is not a CIDR such as 10.0.0.0/8", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("100.100.100.200"): true, // Alibaba Cloud
	netip.MustParseAddr("fd00:ec2::254"):   true, // AWS over IPv6
}

// Do sends the request and returns the answer's body; an answer other than
// 2xx is an error that quotes the start of the body.
func Do(ctx context.Context, r Request) ([]byte, error) {
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	client := secure
	if r.Insecure {
		client = insecure
	}
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.URL, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.Provider, err)
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			if strings.EqualFold(k, "host") {
				req.Host = v
				continue
			}
			req.Header.Add(k, v)
		}
	}
	if err := authenticate(ctx, client, req, r.Auth); err != nil {
		return nil, fmt.Errorf("%s: %w", r.Provider, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %s %s: %w", r.Provider, method, redactURL(r.URL), withoutURL(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the answer of %s: %w", r.Provider, redactURL(r.URL), err)
	}
	if len(data) > MaxBody {
		return nil, fmt.Errorf("%s: the answer of %s is larger than %d KiB", r.Provider, redactURL(r.URL), MaxBody>>10)
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return data, &StatusError{Provider: r.Provider, Method: method, URL: redactURL(r.URL), Status: resp.Status, Code: resp.StatusCode, Body: snippet(data)}
	}
	return data, nil
}

// StatusError is an answer other than 2xx.
type StatusError struct {
	Provider, Method, URL, Status, Body string
	Code                                int
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s: %s %s answered %s", e.Provider, e.Method, e.URL, e.Status)
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// JSON sends the request and decodes a JSON answer into out.
func JSON(ctx context.Context, r Request, out any) error {
	data, err := Do(ctx, r)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: the answer of %s is not the JSON expected: %w", r.Provider, redactURL(r.URL), err)
	}
	return nil
}

func snippet(data []byte) string {
	s := strings.TrimSpace(string(data))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// withoutURL is a client error without the request's URL: a *url.Error
// spells it out in full, query (API keys) and redirect targets included.
// The caller names the URL, redacted.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, withoutURL(ue.Err))
	}
	return err
}

// redactURL drops a URL's query and user info from messages: API keys travel there.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(an unparsable URL)"
	}
	u.User, u.RawQuery = nil, ""
	return u.String()
}

// authenticate adds basic or OAuth 2 credentials.
func authenticate(ctx context.Context, client *http.Client, req *http.Request, auth *v1alpha1.Authentication) error {
	if auth == nil {
		return nil
	}
	if auth.Sigv4.Region != "" || auth.Sigv4.RoleARN != "" || auth.Sigv4.Profile != "" {
		return errors.New("authentication.sigv4: AWS request signing is not supported by Vireo")
	}
	if b := auth.BasicAuth; b.Username != "" || b.Password != "" {
		req.SetBasicAuth(b.Username, b.Password)
	}
	if o := auth.OAuth2; o.TokenURL != "" {
		token, err := clientCredentials(ctx, client, o)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return nil
}

// clientCredentials fetches an access token with the OAuth 2 client
// credentials grant (RFC 6749, section 4.4).
func clientCredentials(ctx context.Context, client *http.Client, o v1alpha1.OAuth2Config) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(o.Scopes) > 0 {
		form.Set("scope", strings.Join(o.Scopes, " "))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("authentication.oauth2.tokenUrl: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(o.ClientID), url.QueryEscape(o.ClientSecret))
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("authentication.oauth2: fetching a token from %s: %w", redactURL(o.TokenURL), withoutURL(err))
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("authentication.oauth2: %s answered %s", redactURL(o.TokenURL), resp.Status)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(data, &tok); err != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("authentication.oauth2: %s gave no access_token", redactURL(o.TokenURL))
	}
	return tok.AccessToken, nil
}

// Headers turns a metric's header list into an http.Header.
func Headers(list []v1alpha1.WebMetricHeader) http.Header {
	h := http.Header{}
	for _, kv := range list {
		h.Add(kv.Key, kv.Value)
	}
	return h
}
