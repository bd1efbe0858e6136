package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/internal/apischeme"
	"github.com/vireo-dev/vireo/internal/version"
)

// env is what every command works with: the kubeconfig flags, the streams,
// and a client made from them on first use.
type env struct {
	flags   *genericclioptions.ConfigFlags
	streams genericiooptions.IOStreams
	client  client.WithWatch
	// now is the clock for ages; tests fix it.
	now func() time.Time
	// rawOut is the Out given, before safeWriter: whether it is a terminal.
	rawOut io.Writer
}

// namespace is --namespace, or the kubeconfig context's, or "default".
func (e *env) namespace() (string, error) {
	ns, _, err := e.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", fmt.Errorf("reading the namespace from the kubeconfig: %w", err)
	}
	return ns, nil
}

func (e *env) key(name string) (types.NamespacedName, error) {
	ns, err := e.namespace()
	return types.NamespacedName{Namespace: ns, Name: name}, err
}

// target is the client and the namespaced name of the object a command names.
func (e *env) target(name string) (client.WithWatch, types.NamespacedName, error) {
	key, err := e.key(name)
	if err != nil {
		return nil, key, err
	}
	c, err := e.Client()
	return c, key, err
}

// namespaced is the client and the namespace commands without a name work in.
func (e *env) namespaced() (client.WithWatch, string, error) {
	ns, err := e.namespace()
	if err != nil {
		return nil, "", err
	}
	c, err := e.Client()
	return c, ns, err
}

// readFile reads a file named on the command line; "-" is standard input.
func (e *env) readFile(name string) ([]byte, error) {
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(e.streams.In)
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return data, nil
}

// Client connects to the cluster the kubeconfig flags name.
func (e *env) Client() (client.WithWatch, error) {
	if e.client != nil {
		return e.client, nil
	}
	cfg, err := e.flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	scheme, err := apischeme.New()
	if err != nil {
		return nil, err
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", cfg.Host, err)
	}
	e.client = c
	return c, nil
}

// color reports whether output goes to a terminal that wants colour.
func (e *env) color() bool {
	if _, off := os.LookupEnv("NO_COLOR"); off {
		return false
	}
	f, ok := e.rawOut.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// NewRootCommand builds kubectl-vireo with its commands.
func NewRootCommand(streams genericiooptions.IOStreams) *cobra.Command {
	e := &env{flags: genericclioptions.NewConfigFlags(true), streams: streams, now: time.Now}
	return newRoot(e)
}

func newRoot(e *env) *cobra.Command {
	// What the cluster says reaches a terminal only through safeWriter;
	// isTerminal looks at the Out given.
	if _, wrapped := e.streams.Out.(safeWriter); !wrapped {
		e.rawOut = e.streams.Out
		e.streams.Out, e.streams.ErrOut = safeWriter{e.streams.Out}, safeWriter{e.streams.ErrOut}
	}
	root := &cobra.Command{
		Use:           "kubectl-vireo",
		Short:         "Manage Vireo rollouts (also as `kubectl vireo`)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(e.streams.Out)
	root.SetErr(e.streams.ErrOut)
	root.SetIn(e.streams.In)
	e.flags.AddFlags(root.PersistentFlags())
	root.AddCommand(
		&cobra.Command{
			Use:   "version",
			Short: "Print the version of kubectl-vireo",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), "kubectl-vireo", version.String())
				return err
			},
		},
		newGetCommand(e),
		newCanaryCommand(e),
		newListCommand(e),
		newStatusCommand(e),
		newLintCommand(e),
		newCreateCommand(e),
		newSimulateCommand(e),
		newDashboardCommand(e),
		newNotificationsCommand(e),
	)
	root.AddCommand(newActionCommands(e)...)
	return root
}

// Main runs the command line and returns the process's exit code.
func Main(ctx context.Context, args []string, streams genericiooptions.IOStreams) int {
	root := NewRootCommand(streams)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(safeWriter{streams.ErrOut}, "error: %v\n", err)
		if code, ok := err.(exitCode); ok {
			return code.code
		}
		return 1
	}
	return 0
}

// exitCode is an error that asks for a particular exit code.
type exitCode struct {
	code int
	err  error
}

func (e exitCode) Error() string { return e.err.Error() }
func (e exitCode) Unwrap() error { return e.err }
