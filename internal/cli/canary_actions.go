package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
	"github.com/vireo-dev/vireo/pkg/actions"
)

// newCanaryCommand is `canary promote|abort NAME`: a person's decision on a
// Flagger Canary's analysis, kept in its status.
func newCanaryCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "canary", Short: "Promote or abort a Flagger Canary's analysis"}
	sub := func(use, short, done string, run func(context.Context, client.Client, types.NamespacedName) (*v1beta1.Canary, error)) *cobra.Command {
		return &cobra.Command{Use: use + " NAME", Short: short, Args: exactlyOne("canary"),
			Example: "  kubectl vireo canary " + use + " podinfo -n test",
			RunE: func(cmd *cobra.Command, args []string) error {
				c, key, err := e.target(args[0])
				if err != nil {
					return err
				}
				if _, err := run(cmd.Context(), c, key); err != nil {
					return err
				}
				_, err = fmt.Fprintf(e.streams.Out, "canary '%s' %s\n", key.Name, done)
				return err
			}}
	}
	cmd.AddCommand(
		sub("promote", "Skip the rest of the analysis and its gates, and promote the new version at once", "promotion requested", actions.PromoteCanary),
		sub("abort", "Roll the analysis back at once: all traffic to the primary, the canary scaled to zero", "abort requested", actions.AbortCanary),
	)
	return cmd
}
