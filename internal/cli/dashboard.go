package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/vireo-dev/vireo/internal/dashboard"
)

func newDashboardCommand(e *env) *cobra.Command {
	var port int
	var address string
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve the web dashboard on this machine, behind a random access token",
		Long: `Serve Vireo's web dashboard: the rollouts of a namespace with their status,
and for each its steps, weights, revisions, pods and analysis charts, with
buttons to promote, promote fully, abort, retry and restart. It updates live.

The dashboard listens on 127.0.0.1 unless --address says otherwise, and lets
in only a browser that opens the printed URL with its random access token.
It acts on the cluster with your kubeconfig's credentials, so it can do
exactly what you can. Stop it with Ctrl-C.`,
		Example: `  kubectl vireo dashboard
  kubectl vireo dashboard -n shop --port 3200`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if port < 0 || port > 65535 {
				return usageError(cmd, fmt.Sprintf("--port %d: give 0 (any free port) to 65535", port))
			}
			ip := net.ParseIP(address)
			if ip == nil && address != "localhost" {
				return usageError(cmd, fmt.Sprintf("--address %q: give an IP address such as 127.0.0.1", address))
			}
			c, ns, err := e.namespaced()
			if err != nil {
				return err
			}
			token, err := dashboard.NewToken()
			if err != nil {
				return err
			}
			l, err := net.Listen("tcp", net.JoinHostPort(address, strconv.Itoa(port)))
			if err != nil {
				return fmt.Errorf("--address %s --port %d: %w", address, port, err)
			}
			loopback := address == "localhost" || ip.IsLoopback()
			s := &dashboard.Server{Client: c, Namespace: ns, Token: token, Loopback: loopback}
			srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
			host := l.Addr().(*net.TCPAddr)
			shown := address
			if ip != nil && ip.IsUnspecified() {
				shown = "127.0.0.1"
			}
			url := fmt.Sprintf("http://%s/?token=%s#/%s", net.JoinHostPort(shown, strconv.Itoa(host.Port)), token, ns)
			fmt.Fprintf(e.streams.Out, "Vireo dashboard for namespace %s: open\n  %s\n", ns, url)
			if !loopback {
				fmt.Fprintf(e.streams.ErrOut, "warning: listening on %s, beyond this machine; anyone with the URL acts with your credentials\n", l.Addr())
			}
			fmt.Fprintln(e.streams.Out, "Press Ctrl-C to stop.")
			go func() {
				<-cmd.Context().Done()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_ = srv.Shutdown(ctx)
			}()
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&port, "port", 3100, "the port to listen on (0 picks a free one)")
	cmd.Flags().StringVar(&address, "address", "127.0.0.1", "the address to listen on; anything but loopback exposes your credentials to the network")
	return cmd
}
