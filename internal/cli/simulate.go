package cli

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	flaggerv1beta1 "github.com/vireo-dev/vireo/api/flagger/v1beta1"
	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/lint"
	"github.com/vireo-dev/vireo/internal/simulate"
)

func newSimulateCommand(e *env) *cobra.Command {
	var file string
	var replicas int32
	o := simulate.Options{}
	var analysisResult string
	var judgeMode bool
	jf := judgeFlags{}
	cmd := &cobra.Command{
		Use:   "simulate -f FILE | --judge",
		Short: "Print the timeline of a Rollout's next update before applying it",
		Long: `Play the next update of every Rollout in a file on Vireo's own planner, with
no cluster: the current version comes up and becomes stable, then a new
version rolls out. The timeline shows each step, the set and routed weight,
the new and stable versions' pods (available/desired), pauses, the analyses
and when they run, and the controller's events.

The simulation assumes pods become ready --ready-after their start, analyses
--analysis pass or fail after --analysis-duration (background analyses run
until the rollout ends them when they pass), and a person promotes at every
manual gate --promote-after it is reached.`,
		Example: `  kubectl vireo simulate -f rollout.yaml
  kubectl vireo simulate -f rollout.yaml --replicas 10 --analysis fail
  kubectl vireo simulate --judge --error-rate 0.005 --rps 50 --weight 0.1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if judgeMode {
				if file != "" {
					return usageError(cmd, "--judge simulates synthetic traffic: give no -f")
				}
				return jf.run(cmd)
			}
			if file == "" {
				return usageError(cmd, "give the manifest with -f")
			}
			if cmd.Flags().Changed("replicas") {
				if replicas < 0 {
					return usageError(cmd, fmt.Sprintf("--replicas %d: give 0 or more", replicas))
				}
				o.Replicas = ptr.To(replicas)
			}
			switch analysisResult {
			case "pass":
			case "fail":
				o.AnalysisFails = true
			default:
				return usageError(cmd, fmt.Sprintf("--analysis %q: give pass or fail", analysisResult))
			}
			for flag, d := range map[string]time.Duration{"ready-after": o.ReadyAfter, "analysis-duration": o.AnalysisDuration, "promote-after": o.PromoteAfter} {
				if d < 0 {
					return usageError(cmd, fmt.Sprintf("--%s %s: give a duration of 0 or more", flag, d))
				}
			}
			if o.Limit <= 0 {
				return usageError(cmd, fmt.Sprintf("--limit %s: give a positive duration", o.Limit))
			}
			data, err := e.readFile(file)
			if err != nil {
				return err
			}
			return e.simulateFile(file, data, o)
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "the manifest with the Rollout (- for standard input)")
	cmd.Flags().Int32Var(&replicas, "replicas", 0, "simulate with this many replicas instead of spec.replicas")
	cmd.Flags().DurationVar(&o.ReadyAfter, "ready-after", 5*time.Second, "how long a new pod takes to become ready")
	cmd.Flags().StringVar(&analysisResult, "analysis", "pass", "how analyses end: pass or fail")
	cmd.Flags().DurationVar(&o.AnalysisDuration, "analysis-duration", 30*time.Second, "how long an analysis runs before it passes or fails")
	cmd.Flags().DurationVar(&o.PromoteAfter, "promote-after", 0, "how long a person takes to promote at a manual gate")
	cmd.Flags().DurationVar(&o.Limit, "limit", 24*time.Hour, "stop after this much simulated time")
	cmd.Flags().BoolVar(&judgeMode, "judge", false, "instead: play the vireo.dev/judge analysis on synthetic traffic, for canaries 1x to 5x as bad as stable")
	jf.add(cmd)
	return cmd
}

// simulateFile checks a manifest as lint does, then simulates each of its
// Rollouts.
func (e *env) simulateFile(file string, data []byte, o simulate.Options) (err error) {
	problems, err := lint.File(data)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	for _, p := range problems {
		fmt.Fprintf(e.streams.ErrOut, "%s:%d: %s: %s: %s\n", file, p.Line, p.Object, p.Path, p.Message)
	}
	if len(problems) > 0 {
		return exitCode{1, fmt.Errorf("%s: %d problems; fix them before simulating (see kubectl vireo lint)", file, len(problems))}
	}
	rollouts, deployments, canaries, err := decodeForSimulation(data)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if len(rollouts) == 0 && len(canaries) == 0 {
		return fmt.Errorf("%s holds no Rollout or Canary", file)
	}
	defer func() {
		for _, cn := range canaries {
			if err != nil {
				return
			}
			var b bytes.Buffer
			if err = simulateCanary(&b, cn, deployments, data, o); err != nil {
				err = fmt.Errorf("%s: %w", file, err)
				return
			}
			_, err = e.streams.Out.Write(b.Bytes())
		}
	}()
	for i, ro := range rollouts {
		var workload *appsv1.Deployment
		if ref := ro.Spec.WorkloadRef; ref != nil {
			workload = deployments[ref.Name]
		}
		t, err := simulate.Run(ro, workload, o)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		var b bytes.Buffer
		if i > 0 {
			b.WriteString("\n")
		}
		writeTimeline(&b, t)
		if _, err := e.streams.Out.Write(b.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// decodeForSimulation reads the Rollouts and Canaries of a manifest, and
// its Deployments by name (for workloadRef and targetRef).
func decodeForSimulation(data []byte) ([]*v1alpha1.Rollout, map[string]*appsv1.Deployment, []*flaggerv1beta1.Canary, error) {
	var rollouts []*v1alpha1.Rollout
	var canaries []*flaggerv1beta1.Canary
	deployments := map[string]*appsv1.Deployment{}
	objects, err := decodeManifest(data)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, u := range objects {
		var into any
		switch gvk := u.GroupVersionKind(); {
		case gvk == v1alpha1.GroupVersion.WithKind("Rollout"):
			ro := &v1alpha1.Rollout{}
			rollouts = append(rollouts, ro)
			into = ro
		case gvk == appsv1.SchemeGroupVersion.WithKind("Deployment"):
			d := &appsv1.Deployment{}
			deployments[u.GetName()] = d
			into = d
		case gvk == flaggerv1beta1.GroupVersion.WithKind("Canary"):
			cn := &flaggerv1beta1.Canary{}
			canaries = append(canaries, cn)
			into = cn
		default:
			continue
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
			return nil, nil, nil, fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	return rollouts, deployments, canaries, nil
}

// writeTimeline prints a simulated update: what was assumed, then a table
// with a row per visible change and the events beneath it.
func writeTimeline(b *bytes.Buffer, t *simulate.Timeline) {
	ro := t.Rollout
	o := t.Options
	strategy := "canary"
	if t.BlueGreen() {
		strategy = "blue-green"
	}
	desc := fmt.Sprintf("%s, %d replicas", strategy, ptr.Deref(ro.Spec.Replicas, 1))
	if c := ro.Spec.Strategy.Canary; c != nil && len(c.Steps) > 0 {
		desc += fmt.Sprintf(", %d steps", len(c.Steps))
	}
	if t.Routed() {
		desc += ", traffic routing"
	}
	fmt.Fprintf(b, "Rollout %s (%s): the next update, simulated\n", ro.Name, desc)
	analysis := "pass"
	if o.AnalysisFails {
		analysis = "fail"
	}
	fmt.Fprintf(b, "Assuming pods are ready %s after they start, analyses %s after %s, and a person promotes %s after each manual gate.\n\n",
		o.ReadyAfter, analysis, o.AnalysisDuration, o.PromoteAfter)

	newCol, stableCol := "CANARY", "STABLE"
	if t.BlueGreen() {
		newCol, stableCol = "PREVIEW", "ACTIVE"
	}
	header := []string{"TIME"}
	if !t.BlueGreen() {
		header = append(header, "STEP", "WEIGHT")
		if t.Routed() {
			header = append(header, "TRAFFIC")
		}
	}
	header = append(header, newCol, stableCol, "OLD", "ANALYSIS", "STATUS")
	rows := [][]string{header}
	for _, m := range t.Moments {
		row := []string{formatAt(m.At)}
		if !t.BlueGreen() {
			row = append(row, dash(m.Step), m.Weight+"%")
			if t.Routed() {
				row = append(row, dash(m.Traffic))
			}
		}
		rows = append(rows, append(row, dash(m.New), dash(m.Stable), dash(m.Old), dash(m.Analysis), m.Status))
	}
	var table bytes.Buffer
	writeTable(&table, rows)
	lines := strings.SplitAfter(table.String(), "\n")
	b.WriteString(lines[0])
	for i, m := range t.Moments {
		b.WriteString(lines[i+1])
		for _, n := range m.Notes {
			fmt.Fprintf(b, "        · %s\n", n)
		}
	}
	if t.Unfinished {
		fmt.Fprintf(b, "The update had not finished after %s of simulated time (--limit).\n", o.Limit)
		return
	}
	last := t.Moments[len(t.Moments)-1]
	fmt.Fprintf(b, "Ends %s after %s.\n", strings.SplitN(last.Status, ":", 2)[0], formatAt(last.At))
}

// formatAt is a time since the update began: 0s, 45s, 2m30s, 1h0m5s.
func formatAt(d time.Duration) string { return d.Truncate(time.Second).String() }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
