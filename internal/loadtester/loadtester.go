// Package loadtester is vireo-loadtester's server: the webhook receiver
// that Flagger users point their Canaries' webhooks at (Flagger's
// flagger-loadtester answers the same requests). It runs the command a
// webhook's metadata names, in the background (type cmd, the default) or
// while the webhook waits (bash, kubectl, helm), and keeps the manual gates
// that confirm-* and rollback webhooks ask.
//
// It runs what a Canary's author writes, as a shell would: deploy it only
// where that is acceptable, and limit the namespaces it serves with
// Namespaces.
package loadtester

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Payload is the body Flagger's (and Vireo's) webhooks post.
type Payload struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Phase     string            `json:"phase"`
	Checksum  string            `json:"checksum"`
	Metadata  map[string]string `json:"metadata,omitempty"`
}

// The task types of a payload's metadata.type.
const (
	TypeCmd     = "cmd"
	TypeBash    = "bash"
	TypeKubectl = "kubectl"
	TypeHelm    = "helm"
	TypeHelmv3  = "helmv3"
)

// maxBody bounds a webhook's body.
const maxBody = 1 << 20

// maxOutput bounds the command output kept and returned.
const maxOutput = 64 << 10

// Server answers the webhooks.
type Server struct {
	// Timeout bounds every command (Flagger's -timeout; 1h when zero).
	Timeout time.Duration
	// Namespaces, when set, is the only namespaces served; others are
	// answered 403.
	Namespaces *regexp.Regexp
	// MaxRunning bounds the commands running at once (8 when zero); a
	// synchronous task beyond it is answered 503, a background one skipped.
	MaxRunning int
	Log        logr.Logger

	once    sync.Once
	mu      sync.Mutex
	gates   map[string]bool // "name.namespace" and "rollback.name.namespace": open
	running map[string]bool // background tasks by hash
	slots   chan struct{}
	wg      sync.WaitGroup

	registry *prometheus.Registry
	tasks    *prometheus.CounterVec
	busy     prometheus.Gauge
}

func (s *Server) init() {
	s.once.Do(func() {
		if s.Timeout <= 0 {
			s.Timeout = time.Hour
		}
		if s.MaxRunning <= 0 {
			s.MaxRunning = 8
		}
		s.gates, s.running = map[string]bool{}, map[string]bool{}
		s.slots = make(chan struct{}, s.MaxRunning)
		s.registry = prometheus.NewRegistry()
		s.tasks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vireo_loadtester_tasks_total",
			Help: "Tasks run by the load tester, by type and result (ok, failed, skipped, refused)."}, []string{"type", "result"})
		s.busy = prometheus.NewGauge(prometheus.GaugeOpts{Name: "vireo_loadtester_running_tasks", Help: "Tasks running now."})
		s.registry.MustRegister(s.tasks, s.busy)
	})
}

// Wait waits for the background tasks to end.
func (s *Server) Wait() { s.wg.Wait() }

// Handler serves POST / (tasks), the gates, /healthz and /metrics.
func (s *Server) Handler() http.Handler {
	s.init()
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("OK")) })
	mux.HandleFunc("/gate/approve", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("OK")) })
	mux.HandleFunc("/gate/halt", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "Forbidden", http.StatusForbidden) })
	for _, g := range []struct{ path, prefix string }{{"/gate/", ""}, {"/rollback/", "rollback."}} {
		mux.HandleFunc(g.path+"check", s.gate(g.prefix, "check"))
		mux.HandleFunc(g.path+"open", s.gate(g.prefix, "open"))
		mux.HandleFunc(g.path+"close", s.gate(g.prefix, "close"))
	}
	mux.HandleFunc("/", s.task)
	return mux
}

// read decodes a payload and checks its namespace.
func (s *Server) read(w http.ResponseWriter, r *http.Request) (*Payload, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		http.Error(w, "the body is unreadable or larger than 1 MiB", http.StatusBadRequest)
		return nil, false
	}
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, "the body is not a webhook payload: "+err.Error(), http.StatusBadRequest)
		return nil, false
	}
	if s.Namespaces != nil && !s.Namespaces.MatchString(p.Namespace) {
		http.Error(w, "Forbidden", http.StatusForbidden)
		return nil, false
	}
	return &p, true
}

func (s *Server) gate(prefix, op string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.read(w, r)
		if !ok {
			return
		}
		key := prefix + p.Name + "." + p.Namespace
		s.mu.Lock()
		defer s.mu.Unlock()
		switch op {
		case "open":
			s.gates[key] = true
			w.WriteHeader(http.StatusAccepted)
		case "close":
			delete(s.gates, key)
			w.WriteHeader(http.StatusAccepted)
		default:
			if s.gates[key] {
				_, _ = w.Write([]byte("Approved"))
			} else {
				http.Error(w, "Forbidden", http.StatusForbidden)
			}
		}
		s.Log.Info("gate", "gate", key, "op", op)
	}
}

func (s *Server) task(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST a webhook payload", http.StatusMethodNotAllowed)
		return
	}
	p, ok := s.read(w, r)
	if !ok {
		return
	}
	if len(p.Metadata) == 0 {
		http.Error(w, "metadata not found in payload", http.StatusBadRequest)
		return
	}
	typ := p.Metadata["type"]
	if typ == "" {
		typ = TypeCmd
	}
	cmd := p.Metadata["cmd"]
	if strings.TrimSpace(cmd) == "" {
		http.Error(w, "cmd not found in metadata", http.StatusBadRequest)
		return
	}
	canary := p.Name + "." + p.Namespace
	var argv []string
	switch typ {
	case TypeCmd:
		s.background(canary, cmd)
		w.WriteHeader(http.StatusAccepted)
		return
	case TypeBash:
		argv = []string{"bash", "-c", cmd}
	case TypeKubectl, TypeHelm, TypeHelmv3:
		tool := map[string]string{TypeKubectl: "kubectl", TypeHelm: "helm", TypeHelmv3: "helm"}[typ]
		if !strings.HasPrefix(strings.TrimSpace(cmd), tool+" ") {
			http.Error(w, fmt.Sprintf("a %s task's cmd must start with %q", typ, tool+" "), http.StatusBadRequest)
			return
		}
		argv = []string{"sh", "-c", cmd}
	default:
		s.tasks.WithLabelValues(typ, "refused").Inc()
		http.Error(w, "unknown task type "+typ, http.StatusBadRequest)
		return
	}
	select {
	case s.slots <- struct{}{}:
	default:
		s.tasks.WithLabelValues(typ, "refused").Inc()
		http.Error(w, fmt.Sprintf("%d commands are running already; try again", s.MaxRunning), http.StatusServiceUnavailable)
		return
	}
	defer func() { <-s.slots }()
	out, err := s.run(r.Context(), canary, argv)
	if err != nil {
		s.tasks.WithLabelValues(typ, "failed").Inc()
		http.Error(w, fmt.Sprintf("command %s failed: %s: %v", cmd, out, err), http.StatusInternalServerError)
		return
	}
	s.tasks.WithLabelValues(typ, "ok").Inc()
	if ret, _ := strconv.ParseBool(p.Metadata["returnCmdOutput"]); ret {
		_, _ = w.Write(out)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// background starts a cmd task unless the same command for the same canary
// is running already.
func (s *Server) background(canary, cmd string) {
	sum := sha256.Sum256([]byte(canary + "\x00" + cmd))
	key := hex.EncodeToString(sum[:])
	s.mu.Lock()
	if s.running[key] {
		s.mu.Unlock()
		s.tasks.WithLabelValues(TypeCmd, "skipped").Inc()
		s.Log.Info("command skipped, it is already running", "canary", canary, "cmd", cmd)
		return
	}
	select {
	case s.slots <- struct{}{}:
	default:
		s.mu.Unlock()
		s.tasks.WithLabelValues(TypeCmd, "refused").Inc()
		s.Log.Info("command skipped, too many are running", "canary", canary, "cmd", cmd, "max", s.MaxRunning)
		return
	}
	s.running[key] = true
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			<-s.slots
			s.mu.Lock()
			delete(s.running, key)
			s.mu.Unlock()
		}()
		if _, err := s.run(context.Background(), canary, []string{"sh", "-c", cmd}); err != nil {
			s.tasks.WithLabelValues(TypeCmd, "failed").Inc()
			return
		}
		s.tasks.WithLabelValues(TypeCmd, "ok").Inc()
	}()
}

// run runs argv with the timeout and returns its (bounded) output.
func (s *Server) run(ctx context.Context, canary string, argv []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	s.busy.Inc()
	defer s.busy.Dec()
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out limited
	c.Stdout, c.Stderr = &out, &out
	c.WaitDelay = 5 * time.Second
	s.Log.Info("command starting", "canary", canary, "cmd", argv[len(argv)-1])
	err := c.Run()
	if ctx.Err() != nil && err != nil {
		err = fmt.Errorf("%w (timed out after %s)", err, s.Timeout)
	}
	if err != nil {
		s.Log.Info("command failed", "canary", canary, "cmd", argv[len(argv)-1], "error", err.Error(), "output", out.String())
		return out.Bytes(), err
	}
	s.Log.Info("command finished", "canary", canary, "cmd", argv[len(argv)-1])
	return out.Bytes(), nil
}

// limited keeps the first maxOutput bytes written to it.
type limited struct {
	mu  sync.Mutex
	buf []byte
}

func (l *limited) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := maxOutput - len(l.buf); room > 0 {
		l.buf = append(l.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limited) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.buf...)
}

func (l *limited) String() string { return strings.TrimSpace(string(l.Bytes())) }
