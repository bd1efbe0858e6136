package httpquery

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// The egress policy, at dial time: loopback refused unless allowed; an
// allowlist refuses every other network, redirects included; link-local
// and metadata addresses stay refused whatever the policy.
func TestEgressPolicy(t *testing.T) {
	t.Cleanup(func() { SetPolicy(Policy{}) })
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer target.Close()
	// A server on another loopback address that redirects to the target.
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 here: %v", err)
	}
	redirect := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.RedirectHandler(target.URL, http.StatusFound)}}
	redirect.Start()
	defer redirect.Close()
	get := func(url string) error {
		_, err := Do(context.Background(), Request{Provider: "provider.web", URL: url})
		return err
	}

	SetPolicy(Policy{})
	if err := get(target.URL); err != nil {
		t.Fatalf("the zero policy refused loopback: %v", err)
	}
	SetPolicy(Policy{RefuseLoopback: true})
	if err := get(target.URL); err == nil || !strings.Contains(err.Error(), "--allow-loopback") {
		t.Errorf("loopback refused by default: %v", err)
	}
	allow, err := ParseAllowlist("127.0.0.2, 10.0.0.0/8")
	if err != nil || len(allow) != 2 || allow[0] != netip.MustParsePrefix("127.0.0.2/32") {
		t.Fatalf("allowlist: %v %v", allow, err)
	}
	SetPolicy(Policy{RefuseLoopback: true, Allow: allow})
	if err := get(redirect.URL); err == nil || !strings.Contains(err.Error(), "not in the controller's --egress-allowlist") {
		t.Errorf("a redirect off the allowlist: %v", err)
	}
	SetPolicy(Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err := get(redirect.URL); err != nil {
		t.Errorf("a redirect within the allowlist: %v", err)
	}
	SetPolicy(Policy{Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}})
	if err := get("http://169.254.169.254/latest/meta-data/"); err == nil || !strings.Contains(err.Error(), "metadata") {
		t.Errorf("a metadata address with an allowlist of everything: %v", err)
	}
	if _, err := ParseAllowlist("10.0.0.0/33"); err == nil || !strings.Contains(err.Error(), "--egress-allowlist") {
		t.Errorf("a bad CIDR: %v", err)
	}
}
