// Command vireo-loadtester receives Canary webhooks and runs their commands:
// Flagger's flagger-loadtester API (POST / with metadata.type cmd, bash,
// kubectl or helm; /gate/* and /rollback/* gates; /healthz; /metrics).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/vireo-dev/vireo/internal/loadtester"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "vireo-loadtester:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("vireo-loadtester", flag.ContinueOnError)
	port := fs.String("port", "8080", "port to listen on")
	address := fs.String("listen-address", "", "address to listen on (default all, on --port)")
	timeout := fs.Duration("timeout", time.Hour, "time limit of every command")
	namespaces := fs.String("namespace-regexp", "", "serve only the canaries of namespaces matching this regular expression")
	maxRunning := fs.Int("max-running", 8, "commands running at once")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %s", *timeout)
	}
	if *maxRunning < 1 {
		return fmt.Errorf("--max-running must be at least 1, got %d", *maxRunning)
	}
	s := &loadtester.Server{Timeout: *timeout, MaxRunning: *maxRunning, Log: logr.Logger(zap.New())}
	if *namespaces != "" {
		re, err := regexp.Compile(*namespaces)
		if err != nil {
			return fmt.Errorf("--namespace-regexp %q: %w", *namespaces, err)
		}
		s.Namespaces = re
	}
	addr := *address
	if addr == "" {
		addr = ":" + *port
	}
	srv := &http.Server{Addr: addr, Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	s.Log.Info("listening", "address", addr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
