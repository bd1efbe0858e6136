package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// exporter is a small Prometheus exporter standing in for an ingress
// controller and a service mesh: it counts requests at a steady 50 per
// second, a share of them errors that the test sets, as NGINX Ingress counts
// them (seed 000) and as Istio does (seed 004).
type exporter struct {
	mu        sync.Mutex
	last      time.Time
	ok, fail  float64
	errorRate float64
	addr      string
}

func startExporter(t *testing.T) *exporter {
	t.Helper()
	e := &exporter{last: time.Now()}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = l.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.advance()
		ok, fail := e.ok, e.fail
		e.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintln(w, "# TYPE nginx_ingress_controller_requests counter")
		fmt.Fprintf(w, "nginx_ingress_controller_requests{ingress=\"canary-demo\",status=\"200\"} %f\n", ok)
		fmt.Fprintf(w, "nginx_ingress_controller_requests{ingress=\"canary-demo\",status=\"500\"} %f\n", fail)
		fmt.Fprintln(w, "# TYPE istio_requests_total counter")
		const istio = `istio_requests_total{reporter="source",destination_service="guestbook-svc.default.svc.cluster.local",response_code="%d"} %f` + "\n"
		fmt.Fprintf(w, istio, 200, ok)
		fmt.Fprintf(w, istio, 500, fail)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return e
}

// advance counts the requests since the last look.
func (e *exporter) advance() {
	now := time.Now()
	n := 50 * now.Sub(e.last).Seconds()
	e.last = now
	e.fail += n * e.errorRate
	e.ok += n * (1 - e.errorRate)
}

// setErrorRate changes the share of failing requests from now on.
func (e *exporter) setErrorRate(r float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.advance()
	e.errorRate = r
}

// startPrometheus runs Debian's Prometheus on loopback, scraping the
// exporter every second, and returns its address.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is not installed: hack/install-deps installs Debian's package")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	err = os.WriteFile(cfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
- job_name: ingress
  static_configs:
  - targets: [%q]
`, target)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	logPath := filepath.Join(dir, "prometheus.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			t.Logf("prometheus log:\n%s", data)
		}
	})
	waitHTTPOK(t, "http://"+addr+"/-/ready", "prometheus ready")
	return "http://" + addr
}
