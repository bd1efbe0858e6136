// Command kubectl-vireo is Vireo's command-line tool. Installed on the PATH it
// also works as a kubectl plugin: `kubectl vireo ...`.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/vireo-dev/vireo/internal/version"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "kubectl-vireo",
		Short:         "Manage Vireo rollouts (also as `kubectl vireo`)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version of kubectl-vireo",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "kubectl-vireo", version.String())
			return err
		},
	})
	return root
}
