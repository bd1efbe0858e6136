package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/rolloutview"
)

func newStatusCommand(e *env) *cobra.Command {
	var follow bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Print a rollout's status; exit 0 when Healthy, 1 when Degraded, on timeout or when not found",
		Long: `Print a rollout's status and message.

With --watch, print each change until the rollout is Healthy (exit 0) or
Degraded (exit 1), or --timeout passes (exit 1): a CI script can wait on it.
Without --watch the exit code is 1 only when the rollout is Degraded.`,
		Example: "  kubectl vireo status rollouts-demo --watch --timeout 10m",
		Args:    exactlyOne("rollout"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := e.key(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			return e.status(ctx, key, follow, timeout)
		},
	}
	cmd.Flags().BoolVarP(&follow, "watch", "w", false, "wait until the rollout is Healthy or Degraded, printing each change")
	cmd.Flags().DurationVarP(&timeout, "timeout", "t", 0, "with --watch, give up after this long (0: never)")
	return cmd
}

func (e *env) status(ctx context.Context, key types.NamespacedName, follow bool, timeout time.Duration) error {
	c, err := e.Client()
	if err != nil {
		return err
	}
	ro, err := rolloutview.Get(ctx, c, key)
	if err != nil {
		return err
	}
	last := ""
	// report prints the status when it changed; done once there is nothing
	// more to wait for, with the exit error of a Degraded rollout.
	report := func(ro *v1alpha1.Rollout) (done bool, err error) {
		phase := ro.Status.Phase
		if phase == "" {
			phase = v1alpha1.RolloutPhaseProgressing
		}
		line := string(phase)
		if ro.Status.Message != "" {
			line += " - " + ro.Status.Message
		}
		if line != last {
			fmt.Fprintln(e.streams.Out, line)
			last = line
		}
		switch phase {
		case v1alpha1.RolloutPhaseDegraded:
			return true, exitCode{1, fmt.Errorf("rollout %s is Degraded: %s", key.Name, ro.Status.Message)}
		case v1alpha1.RolloutPhaseHealthy:
			return true, nil
		}
		return !follow, nil
	}
	if done, err := report(ro); done {
		return err
	}
	w, err := c.Watch(ctx, &v1alpha1.RolloutList{}, inNamespaceNamed(key)...)
	if err != nil {
		return fmt.Errorf("watching rollout %s: %w", key.Name, err)
	}
	defer func() { w.Stop() }()
	timedOut := func() error {
		return exitCode{1, fmt.Errorf("rollout %s is still %s after %s", key.Name, last, timeout)}
	}
	for {
		select {
		case <-ctx.Done():
			return timedOut()
		case ev, ok := <-w.ResultChan():
			if !ok { // the API server ended the watch: start another
				next, err := c.Watch(ctx, &v1alpha1.RolloutList{}, inNamespaceNamed(key)...)
				switch {
				case err != nil && ctx.Err() != nil:
					return timedOut()
				case err != nil:
					return fmt.Errorf("watching rollout %s: %w", key.Name, err)
				}
				w = next
				continue
			}
			r, isRollout := ev.Object.(*v1alpha1.Rollout)
			switch {
			case ev.Type == watch.Deleted:
				return exitCode{1, fmt.Errorf("rollout %s was deleted", key.Name)}
			case !isRollout:
				continue
			}
			if done, err := report(r); done {
				return err
			}
		}
	}
}

// inNamespaceNamed selects one object by namespace and name, for watches.
func inNamespaceNamed(key types.NamespacedName) []client.ListOption {
	return []client.ListOption{client.InNamespace(key.Namespace), client.MatchingFields{"metadata.name": key.Name}}
}
