package cli

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/rolloutview"
)

func newListCommand(e *env) *cobra.Command {
	list := &cobra.Command{Use: "list", Short: "List rollouts, experiments or Flagger canaries"}
	var all, watch bool
	rollouts := &cobra.Command{
		Use:     "rollouts",
		Aliases: []string{"rollout", "ro"},
		Short:   "List the rollouts of a namespace, or of all with -A",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ns, opts, err := e.listScope(all)
			if err != nil {
				return err
			}
			draw := func(b *bytes.Buffer) error {
				var ros v1alpha1.RolloutList
				if err := c.List(cmd.Context(), &ros, opts...); err != nil {
					return fmt.Errorf("listing rollouts: %w", err)
				}
				if len(ros.Items) == 0 {
					noneIn(b, "rollouts", ns)
					return nil
				}
				WriteRolloutList(b, ros.Items, all, e.color())
				return nil
			}
			return e.show(cmd.Context(), ns, watch, draw)
		},
	}
	rollouts.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list the rollouts of every namespace")
	rollouts.Flags().BoolVarP(&watch, "watch", "w", false, "keep watching, redrawing on every change")
	list.AddCommand(rollouts, newListExperimentsCommand(e), newListCanariesCommand(e))
	return list
}

// listScope is where a list command looks: the namespace, or every one
// (ns "") with all.
func (e *env) listScope(all bool) (c client.WithWatch, ns string, opts []client.ListOption, err error) {
	if !all {
		if ns, err = e.namespace(); err != nil {
			return nil, "", nil, err
		}
		opts = append(opts, client.InNamespace(ns))
	}
	c, err = e.Client()
	return c, ns, opts, err
}

// noneIn says that a list found nothing, and where it looked.
func noneIn(b *bytes.Buffer, what, ns string) {
	where := "namespace " + ns
	if ns == "" {
		where = "any namespace"
	}
	fmt.Fprintf(b, "No %s in %s.\n", what, where)
}

// WriteRolloutList prints one line per rollout: strategy, status, step,
// weights and replica counts.
func WriteRolloutList(b *bytes.Buffer, ros []v1alpha1.Rollout, withNamespace, color bool) {
	s := style{color}
	sort.Slice(ros, func(i, j int) bool {
		if ros[i].Namespace != ros[j].Namespace {
			return ros[i].Namespace < ros[j].Namespace
		}
		return ros[i].Name < ros[j].Name
	})
	header := []string{"NAME", "STRATEGY", "STATUS", "STEP", "SET-WEIGHT", "ACTUAL-WEIGHT", "DESIRED", "CURRENT", "UP-TO-DATE", "AVAILABLE"}
	if withNamespace {
		header = append([]string{"NAMESPACE"}, header...)
	}
	rows := [][]string{header}
	for i := range ros {
		v := rolloutview.Build(rolloutview.Objects{Rollout: &ros[i]})
		step, set, actual := "-", "-", "-"
		if v.Steps > 0 {
			step = fmt.Sprintf("%d/%d", v.Step, v.Steps)
		}
		if v.SetWeight != nil {
			set = strconv.Itoa(int(*v.SetWeight))
		}
		if w := ros[i].Status.Canary.Weights; w != nil {
			actual = strconv.Itoa(int(w.Canary.Weight))
		}
		row := []string{v.Name, v.Strategy, s.status(v.Status), step, set, actual,
			itoa(int(v.Replicas.Desired)), itoa(int(v.Replicas.Current)), itoa(int(v.Replicas.Updated)), itoa(int(v.Replicas.Available))}
		if withNamespace {
			row = append([]string{v.Namespace}, row...)
		}
		rows = append(rows, row)
		// A value the API types refuse was left out when the rollout was
		// read (see RolloutSpec.UnmarshalJSON): say which, under its row.
		for _, p := range ros[i].Spec.DecodeProblems {
			rows = append(rows, []string{"  ! " + p})
		}
	}
	writeTable(b, rows)
}

// writeTable prints rows in columns two spaces apart. A row of one cell is a
// note under the row above: printed as it is, it sets no column's width.
func writeTable(b *bytes.Buffer, rows [][]string) {
	widths := map[int]int{}
	for _, r := range rows {
		if len(r) == 1 {
			continue
		}
		for i, c := range r {
			widths[i] = max(widths[i], width(c))
		}
	}
	for _, r := range rows {
		line := ""
		for i, c := range r {
			if i < len(r)-1 {
				c = pad(c, widths[i]+2)
			}
			line += c
		}
		b.WriteString(line + "\n")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func usageError(cmd *cobra.Command, msg string) error {
	return fmt.Errorf("%s: %s (see %s --help)", cmd.CommandPath(), msg, cmd.CommandPath())
}
