package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vireo-dev/vireo/internal/lint"
)

func newLintCommand(e *env) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "lint -f FILE",
		Short: "Check a manifest's Rollouts and AnalysisTemplates before applying it; every problem, with its line",
		Long: `Check every Rollout, AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun
and Experiment in a file against Vireo's CRD schemas, as the API server would,
and against the rules the controller applies. Every problem is printed with
its line and field path; the exit code is 1 when there is any. Documents of
other kinds are left alone. -f - reads standard input.`,
		Example: "  kubectl vireo lint -f rollout.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageError(cmd, "give the file to check with -f")
			}
			data, err := e.readFile(file)
			if err != nil {
				return err
			}
			problems, err := lint.File(data)
			for _, p := range problems {
				fmt.Fprintf(e.streams.Out, "%s:%d: %s: %s: %s\n", file, p.Line, p.Object, p.Path, p.Message)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			if len(problems) > 0 {
				return exitCode{1, fmt.Errorf("%s: %d problems", file, len(problems))}
			}
			_, err = fmt.Fprintf(e.streams.Out, "%s: no problems found\n", file)
			return err
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "the manifest file to check (- for standard input)")
	return cmd
}
