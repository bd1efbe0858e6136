package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/pkg/actions"
)

// action is a command that changes one rollout through pkg/actions.
type action struct {
	use, short, example string
	done                string // what to print once done, after "rollout 'NAME' "
	args                cobra.PositionalArgs
	flags               func(*cobra.Command)
	run                 func(ctx context.Context, c client.Client, key types.NamespacedName, args []string) (*v1alpha1.Rollout, error)
}

func (e *env) actionCommand(a action) *cobra.Command {
	args := a.args
	if args == nil {
		args = exactlyOne("rollout")
	}
	cmd := &cobra.Command{Use: a.use, Short: a.short, Example: a.example, Args: args,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, key, err := e.target(args[0])
			if err != nil {
				return err
			}
			if _, err := a.run(cmd.Context(), c, key, args); err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.streams.Out, "rollout '%s' %s\n", key.Name, a.done)
			return err
		}}
	if a.flags != nil {
		a.flags(cmd)
	}
	return cmd
}

func newActionCommands(e *env) []*cobra.Command {
	var full bool
	var in time.Duration
	var toRevision int64
	promote := e.actionCommand(action{use: "promote NAME", done: "promoted",
		short:   "Release a paused rollout, or skip the current step; --full promotes the new version at once",
		example: "  kubectl vireo promote rollouts-demo\n  kubectl vireo promote rollouts-demo --full",
		flags: func(c *cobra.Command) {
			c.Flags().BoolVar(&full, "full", false, "skip every remaining step, pause and analysis")
		},
		run: func(ctx context.Context, c client.Client, key types.NamespacedName, _ []string) (*v1alpha1.Rollout, error) {
			return actions.Promote(ctx, c, key, actions.PromoteOptions{Full: full})
		}})
	abort := e.actionCommand(action{use: "abort NAME", done: "aborted",
		short: "Stop the update and go back to the stable version",
		run: func(ctx context.Context, c client.Client, key types.NamespacedName, _ []string) (*v1alpha1.Rollout, error) {
			return actions.Abort(ctx, c, key)
		}})
	pause := e.actionCommand(action{use: "pause NAME", done: "paused",
		short: "Pause a rollout where it is; promote resumes it",
		run: func(ctx context.Context, c client.Client, key types.NamespacedName, _ []string) (*v1alpha1.Rollout, error) {
			return actions.Pause(ctx, c, key)
		}})
	restart := e.actionCommand(action{use: "restart NAME", done: "restarts",
		short:   "Replace every pod of a rollout, a few at a time; --in schedules it",
		example: "  kubectl vireo restart rollouts-demo --in 10m",
		flags:   func(c *cobra.Command) { c.Flags().DurationVar(&in, "in", 0, "restart this long from now") },
		run: func(ctx context.Context, c client.Client, key types.NamespacedName, _ []string) (*v1alpha1.Rollout, error) {
			if in < 0 {
				return nil, fmt.Errorf("--in %s: give a duration from now, not before it", in)
			}
			return actions.Restart(ctx, c, key, e.now().Add(in))
		}})
	undo := e.actionCommand(action{use: "undo NAME", done: "rolled back",
		short:   "Roll back to the previous revision, or to --to-revision",
		example: "  kubectl vireo undo rollouts-demo --to-revision 2",
		flags: func(c *cobra.Command) {
			c.Flags().Int64Var(&toRevision, "to-revision", 0, "the revision to go back to (0: the previous one)")
		},
		run: func(ctx context.Context, c client.Client, key types.NamespacedName, _ []string) (*v1alpha1.Rollout, error) {
			return actions.Undo(ctx, c, key, toRevision)
		}})

	retryExperiment, terminateExperiment := newExperimentActions(e)
	retry := &cobra.Command{Use: "retry", Short: "Start an aborted rollout, or an ended experiment, again"}
	retry.AddCommand(retryExperiment)
	retry.AddCommand(e.actionCommand(action{use: "rollout NAME", done: "retried",
		short: "Start an aborted rollout's update again from its first step",
		run: func(ctx context.Context, c client.Client, key types.NamespacedName, _ []string) (*v1alpha1.Rollout, error) {
			return actions.Retry(ctx, c, key)
		}}))

	set := &cobra.Command{Use: "set", Short: "Change a rollout's template"}
	set.AddCommand(e.actionCommand(action{use: "image NAME CONTAINER=IMAGE", done: "image updated",
		short:   "Set the image of a container (or of every container, with *)",
		example: "  kubectl vireo set image rollouts-demo rollouts-demo=argoproj/rollouts-demo:yellow",
		args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageError(cmd, "give the rollout's name and CONTAINER=IMAGE")
			}
			if _, _, ok := strings.Cut(args[1], "="); !ok {
				return usageError(cmd, fmt.Sprintf("%q is not CONTAINER=IMAGE", args[1]))
			}
			return nil
		},
		run: func(ctx context.Context, c client.Client, key types.NamespacedName, args []string) (*v1alpha1.Rollout, error) {
			container, image, _ := strings.Cut(args[1], "=")
			return actions.SetImage(ctx, c, key, container, image)
		}}))
	terminate := &cobra.Command{Use: "terminate", Short: "Stop an analysis run or an experiment"}
	terminate.AddCommand(terminateExperiment)
	terminate.AddCommand(&cobra.Command{Use: "analysisrun NAME", Aliases: []string{"ar"},
		Short: "Stop an AnalysisRun: no more measurements; it ends with the outcome of those it has",
		Args:  exactlyOne("AnalysisRun"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, key, err := e.target(args[0])
			if err != nil {
				return err
			}
			if _, err := actions.TerminateAnalysisRun(cmd.Context(), c, key); err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.streams.Out, "analysisrun '%s' terminated\n", key.Name)
			return err
		}})
	return []*cobra.Command{promote, abort, pause, restart, undo, retry, set, terminate}
}
