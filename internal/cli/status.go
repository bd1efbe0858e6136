package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/rolloutview"
)

func newStatusCommand(e *env) *cobra.Command {
	var watch bool
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
			return e.status(ctx, key, watch, timeout)
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "wait until the rollout is Healthy or Degraded, printing each change")
	cmd.Flags().DurationVarP(&timeout, "timeout", "t", 0, "with --watch, give up after this long (0: never)")
	return cmd
}

func (e *env) status(ctx context.Context, key types.NamespacedName, watch bool, timeout time.Duration) error {
	c, err := e.Client()
	if err != nil {
		return err
	}
	last := ""
	done := errors.New("done")
	var result error
	check := func() error {
		o, err := rolloutview.Load(ctx, c, key)
		if err != nil {
			return err
		}
		v := rolloutview.Build(o)
		line := v.Status
		if v.Message != "" {
			line += " - " + v.Message
		}
		if line != last {
			fmt.Fprintln(e.streams.Out, line)
			last = line
		}
		switch v.Status {
		case string(v1alpha1.RolloutPhaseDegraded):
			result = exitCode{1, fmt.Errorf("rollout %s is Degraded: %s", key.Name, v.Message)}
			return done
		case string(v1alpha1.RolloutPhaseHealthy):
			return done
		}
		if !watch {
			return done
		}
		return nil
	}
	if err := check(); err != nil {
		if errors.Is(err, done) {
			return result
		}
		return err
	}
	c2, err := e.Client()
	if err != nil {
		return err
	}
	w, err := c2.Watch(ctx, &v1alpha1.RolloutList{}, inNamespaceNamed(key)...)
	if err != nil {
		return fmt.Errorf("watching rollout %s: %w", key.Name, err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return exitCode{1, fmt.Errorf("rollout %s is still %s after %s", key.Name, last, timeout)}
		case _, ok := <-w.ResultChan():
			if !ok {
				// The API server ended the watch: start another.
				if w, err = c2.Watch(ctx, &v1alpha1.RolloutList{}, inNamespaceNamed(key)...); err != nil {
					if ctx.Err() != nil {
						continue
					}
					return fmt.Errorf("watching rollout %s: %w", key.Name, err)
				}
				continue
			}
			if err := check(); err != nil {
				if errors.Is(err, done) {
					return result
				}
				if ctx.Err() != nil {
					continue
				}
				return err
			}
		}
	}
}

// inNamespaceNamed selects one object by namespace and name, for watches.
func inNamespaceNamed(key types.NamespacedName) []client.ListOption {
	return []client.ListOption{client.InNamespace(key.Namespace), client.MatchingFields{"metadata.name": key.Name}}
}
