package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/pkg/actions"
)

// newGetExperimentCommand is `get experiment NAME`.
func newGetExperimentCommand(e *env) *cobra.Command {
	var watch bool
	cmd := &cobra.Command{
		Use:     "experiment NAME",
		Aliases: []string{"experiments", "exp"},
		Short:   "Show an experiment: status, templates with their ReplicaSets and Services, analysis runs",
		Example: "  kubectl vireo get experiment rollouts-demo-6c5b4b4c5c-2-1 --watch",
		Args:    exactlyOne("experiment"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, key, err := e.target(args[0])
			if err != nil {
				return err
			}
			draw := func(b *bytes.Buffer) error {
				var ex v1alpha1.Experiment
				if err := c.Get(cmd.Context(), key, &ex); err != nil {
					return fmt.Errorf("experiment %q in namespace %q: %w", key.Name, key.Namespace, err)
				}
				return WriteExperiment(b, &ex, e.now(), e.color())
			}
			return e.show(cmd.Context(), key.Namespace, watch, draw)
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "keep watching, redrawing on every change")
	return cmd
}

// WriteExperiment prints an experiment: a header, then a line per template
// and per analysis.
func WriteExperiment(w io.Writer, ex *v1alpha1.Experiment, now time.Time, color bool) error {
	s := style{color}
	st := &ex.Status
	phase := string(st.Phase)
	if phase == "" {
		phase = "Pending"
	}
	var b bytes.Buffer
	field := func(name, value string) { fmt.Fprintf(&b, "%-14s %s\n", name+":", value) }
	field("Name", ex.Name)
	field("Namespace", ex.Namespace)
	field("Status", s.status(phase))
	if st.Message != "" {
		field("Message", st.Message)
	}
	if ex.Spec.Duration != "" {
		field("Duration", string(ex.Spec.Duration))
	}
	if st.AvailableAt != nil {
		field("Available", age(now, st.AvailableAt.Time)+" ago")
	}
	if ex.Spec.Terminate {
		field("Terminated", "yes")
	}
	b.WriteString("\n")
	rows := [][]string{{"TEMPLATE", "STATUS", "REPLICAS", "READY", "AVAILABLE", "POD-TEMPLATE-HASH", "SERVICE"}}
	for _, t := range ex.Spec.Templates {
		ts := templateStatusOf(st, t.Name)
		word := ts.Status
		if word == "" {
			word = "Pending"
		}
		rows = append(rows, []string{t.Name, s.measuring(word), fmt.Sprintf("%d/%d", ts.Replicas, ptr.Deref(t.Replicas, 1)),
			itoa(int(ts.ReadyReplicas)), itoa(int(ts.AvailableReplicas)), orDash(ts.PodTemplateHash), orDash(ts.ServiceName)})
		if ts.Message != "" {
			rows = append(rows, []string{"  " + ts.Message})
		}
	}
	writeTable(&b, rows)
	if len(ex.Spec.Analyses) > 0 {
		b.WriteString("\n")
		rows = [][]string{{"ANALYSIS", "TEMPLATE", "ANALYSISRUN", "STATUS", "REQUIRED"}}
		for _, a := range ex.Spec.Analyses {
			run, word, msg := "-", "Pending", ""
			for _, r := range st.AnalysisRuns {
				if r.Name == a.Name {
					run, word, msg = r.AnalysisRun, string(r.Phase), r.Message
				}
			}
			required := "no"
			if a.RequiredForCompletion {
				required = "yes"
			}
			rows = append(rows, []string{a.Name, a.TemplateName, run, s.measuring(word), required})
			if msg != "" {
				rows = append(rows, []string{"  " + msg})
			}
		}
		writeTable(&b, rows)
	}
	_, err := w.Write(b.Bytes())
	return err
}

func templateStatusOf(st *v1alpha1.ExperimentStatus, name string) v1alpha1.TemplateStatus {
	for _, ts := range st.TemplateStatuses {
		if ts.Name == name {
			return ts
		}
	}
	return v1alpha1.TemplateStatus{Name: name}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// newListExperimentsCommand is `list experiments`.
func newListExperimentsCommand(e *env) *cobra.Command {
	var all, watch bool
	cmd := &cobra.Command{
		Use:     "experiments",
		Aliases: []string{"experiment", "exp"},
		Short:   "List the experiments of a namespace, or of all with -A",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ns, opts, err := e.listScope(all)
			if err != nil {
				return err
			}
			draw := func(b *bytes.Buffer) error {
				var list v1alpha1.ExperimentList
				if err := c.List(cmd.Context(), &list, opts...); err != nil {
					return fmt.Errorf("listing experiments: %w", err)
				}
				if len(list.Items) == 0 {
					noneIn(b, "experiments", ns)
				} else {
					WriteExperimentList(b, list.Items, all, e.now(), e.color())
				}
				return nil
			}
			return e.show(cmd.Context(), ns, watch, draw)
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list the experiments of every namespace")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "keep watching, redrawing on every change")
	return cmd
}

// WriteExperimentList prints one line per experiment.
func WriteExperimentList(b *bytes.Buffer, list []v1alpha1.Experiment, withNamespace bool, now time.Time, color bool) {
	s := style{color}
	sort.Slice(list, func(i, j int) bool {
		if list[i].Namespace != list[j].Namespace {
			return list[i].Namespace < list[j].Namespace
		}
		return list[i].Name < list[j].Name
	})
	header := []string{"NAME", "STATUS", "TEMPLATES", "ANALYSES", "DURATION", "AGE"}
	if withNamespace {
		header = append([]string{"NAMESPACE"}, header...)
	}
	rows := [][]string{header}
	for _, ex := range list {
		phase := string(ex.Status.Phase)
		if phase == "" {
			phase = "Pending"
		}
		row := []string{ex.Name, s.status(phase), itoa(len(ex.Spec.Templates)), itoa(len(ex.Spec.Analyses)),
			orDash(string(ex.Spec.Duration)), age(now, ex.CreationTimestamp.Time)}
		if withNamespace {
			row = append([]string{ex.Namespace}, row...)
		}
		rows = append(rows, row)
	}
	writeTable(b, rows)
}

// experimentAction is `retry experiment` or `terminate experiment`.
func (e *env) experimentAction(done, short string, run func(context.Context, client.Client, types.NamespacedName) (*v1alpha1.Experiment, error)) *cobra.Command {
	return &cobra.Command{Use: "experiment NAME", Aliases: []string{"exp"}, Short: short, Args: exactlyOne("experiment"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, key, err := e.target(args[0])
			if err != nil {
				return err
			}
			if _, err := run(cmd.Context(), c, key); err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.streams.Out, "experiment '%s' %s\n", key.Name, done)
			return err
		}}
}

func newExperimentActions(e *env) (retry, terminate *cobra.Command) {
	retry = e.experimentAction("retried", "Start an experiment that has ended again: its pods come back and its analyses run anew", actions.RetryExperiment)
	terminate = e.experimentAction("terminated", "End an experiment now: its analyses stop and its pods go after its scale-down delay", actions.TerminateExperiment)
	return retry, terminate
}
