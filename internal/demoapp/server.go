// Package demoapp is Vireo's demo application, the counterpart of the
// tutorials' rollouts-demo image: a page of coloured squares, each showing
// which version answered one request, faults that can be injected at
// runtime, and Prometheus metrics.
package demoapp

import (
	"context"
	_ "embed"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

//go:embed index.html
var page []byte

// ColorHeader carries the answering version's colour on every /color
// answer, failed ones included, so a client can tell who failed.
const ColorHeader = "X-Vireo-Color"

// Answer is the body of /color.
type Answer struct {
	Color string `json:"color"`
	Error string `json:"error,omitempty"`
}

// Server serves one version of the demo.
type Server struct {
	color  string
	store  Store
	sleep  func(context.Context, time.Duration)
	fail   func(percent float64) bool
	reg    *prometheus.Registry
	total  *prometheus.CounterVec
	timing *prometheus.HistogramVec
}

// New returns the server of the version with this colour, reading its faults
// from store.
func New(color string, store Store) *Server {
	s := &Server{
		color: color,
		store: store,
		sleep: sleepCtx,
		fail:  func(p float64) bool { return p > 0 && rand.Float64()*100 < p },
		reg:   prometheus.NewRegistry(),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vireo_demo_requests_total",
			Help: "Requests to /color, by the answering version's colour and the status code.",
		}, []string{"color", "code"}),
		timing: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vireo_demo_request_duration_seconds",
			Help:    "Time to answer /color, injected latency included.",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"color"}),
	}
	s.reg.MustRegister(s.total, s.timing)
	return s
}

// Handler routes the demo's endpoints:
//
//	GET  /         the page of squares
//	GET  /color    this version's colour (500 with the colour when a fault hits)
//	GET  /config   ?color=C: the faults of version C (default: this one)
//	POST /config   ?color=C&error=PERCENT&latency=MILLIS: set them
//	GET  /metrics  Prometheus metrics
//	GET  /healthz  ok
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(page)
	})
	mux.HandleFunc("GET /color", s.serveColor)
	mux.HandleFunc("GET /config", s.getConfig)
	mux.HandleFunc("POST /config", s.setConfig)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	return mux
}

func (s *Server) serveColor(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	f, err := s.store.Get(s.color)
	code, answer := http.StatusOK, Answer{Color: s.color}
	switch {
	case err != nil:
		code, answer.Error = http.StatusInternalServerError, "reading faults: "+err.Error()
	default:
		if f.LatencyMillis > 0 {
			s.sleep(r.Context(), time.Duration(f.LatencyMillis)*time.Millisecond)
		}
		if s.fail(f.ErrorPercent) {
			code, answer.Error = http.StatusInternalServerError, "injected error ("+strconv.FormatFloat(f.ErrorPercent, 'g', -1, 64)+"%)"
		}
	}
	w.Header().Set(ColorHeader, s.color)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, code, answer)
	s.total.WithLabelValues(s.color, strconv.Itoa(code)).Inc()
	s.timing.WithLabelValues(s.color).Observe(time.Since(start).Seconds())
}

// configColor is the version a /config request is about.
func (s *Server) configColor(w http.ResponseWriter, r *http.Request) (string, bool) {
	c := r.URL.Query().Get("color")
	if c == "" {
		return s.color, true
	}
	if !ValidColor(c) {
		http.Error(w, "color: "+strconv.Quote(c)+" is not a version's colour (lower-case letters, digits and dashes)", http.StatusBadRequest)
		return "", false
	}
	return c, true
}

func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) {
	c, ok := s.configColor(w, r)
	if !ok {
		return
	}
	f, err := s.store.Get(c)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

func (s *Server) setConfig(w http.ResponseWriter, r *http.Request) {
	c, ok := s.configColor(w, r)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	cur, err := s.store.Get(c)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	f, err := ParseFaults(r.Form.Get, cur)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := s.store.Set(c, f); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
