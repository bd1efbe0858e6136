package cli

import (
	"bytes"

	"github.com/spf13/cobra"

	"github.com/vireo-dev/vireo/internal/rolloutview"
)

func newGetCommand(e *env) *cobra.Command {
	get := &cobra.Command{
		Use:   "get",
		Short: "Show a rollout as a tree of revisions, ReplicaSets, pods and analysis runs, an experiment, or a Flagger canary",
	}
	var watch bool
	rollout := &cobra.Command{
		Use:     "rollout NAME",
		Aliases: []string{"rollouts", "ro"},
		Short:   "Show a rollout: status, step, weights, images, revisions, ReplicaSets, pods and analysis runs",
		Example: "  kubectl vireo get rollout rollouts-demo --watch",
		Args:    exactlyOne("rollout"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, key, err := e.target(args[0])
			if err != nil {
				return err
			}
			draw := func(b *bytes.Buffer) error {
				o, err := rolloutview.Load(cmd.Context(), c, key)
				if err != nil {
					return err
				}
				return WriteRollout(b, rolloutview.Build(o), e.now(), e.color())
			}
			return e.show(cmd.Context(), key.Namespace, watch, draw)
		},
	}
	rollout.Flags().BoolVarP(&watch, "watch", "w", false, "keep watching, redrawing on every change")
	get.AddCommand(rollout, newGetExperimentCommand(e), newGetCanaryCommand(e))
	return get
}

// exactlyOne accepts one argument, the name of a what.
func exactlyOne(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) == 0:
			return usageError(cmd, "the name of the "+what+" is required")
		case len(args) > 1:
			return usageError(cmd, "one "+what+" name, got "+itoa(len(args))+" arguments")
		}
		return nil
	}
}
