// Command vireo-demo is Vireo's demo application: a page of coloured squares,
// each showing which version answered a request, with errors and latency that
// can be injected while it runs. The local live stack (hack/live) runs one per
// pod of the image vireo-demo:COLOUR.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vireo-dev/vireo/internal/demoapp"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "vireo-demo:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("vireo-demo", flag.ContinueOnError)
	listen := fs.String("listen", ":8080", "address to serve on")
	color := fs.String("color", envOr("VIREO_DEMO_COLOR", "blue"), "this version's colour (the image tag)")
	dir := fs.String("faults-dir", "", "directory shared by every process of the demo that holds each version's faults (default: this process only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if !demoapp.ValidColor(*color) {
		return fmt.Errorf("--color: %q is not a colour (lower-case letters, digits and dashes)", *color)
	}
	var store demoapp.Store = &demoapp.MemoryStore{}
	if *dir != "" {
		if st, err := os.Stat(*dir); err != nil || !st.IsDir() {
			return fmt.Errorf("--faults-dir: %s is not a directory", *dir)
		}
		store = demoapp.DirStore{Dir: *dir}
	}
	srv := &http.Server{Addr: *listen, Handler: demoapp.New(*color, store).Handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return fmt.Errorf("--listen %s: %w", *listen, err)
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
