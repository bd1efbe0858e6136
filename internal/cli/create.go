package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/vireo-dev/vireo/pkg/actions"
)

func newCreateCommand(e *env) *cobra.Command {
	var file string
	create := &cobra.Command{
		Use:   "create -f FILE",
		Short: "Create the objects of a manifest file, or an AnalysisRun from a template",
		Example: `  kubectl vireo create -f analysisrun.yaml
  kubectl vireo create analysisrun --from success-rate -a service-name=rollouts-demo`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageError(cmd, "give the manifest with -f, or use create analysisrun --from")
			}
			return e.createFile(cmd, file)
		},
	}
	create.Flags().StringVarP(&file, "filename", "f", "", "the manifest to create (- for standard input)")

	var from, fromCluster, name string
	var args []string
	run := &cobra.Command{
		Use:     "analysisrun --from TEMPLATE",
		Aliases: []string{"ar"},
		Short:   "Create a standalone AnalysisRun from an AnalysisTemplate (or a ClusterAnalysisTemplate with --global)",
		Example: "  kubectl vireo create analysisrun --from success-rate -a service-name=rollouts-demo --name check-1",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			global, _ := cmd.Flags().GetBool("global")
			if fromCluster != "" {
				from, global = fromCluster, true
			}
			if from == "" {
				return usageError(cmd, "name the template with --from")
			}
			values := map[string]string{}
			for _, a := range args {
				k, v, ok := strings.Cut(a, "=")
				if !ok || k == "" {
					return usageError(cmd, fmt.Sprintf("-a %q: give NAME=VALUE", a))
				}
				values[k] = v
			}
			c, ns, err := e.namespaced()
			if err != nil {
				return err
			}
			r, err := actions.CreateAnalysisRun(cmd.Context(), c, ns, actions.AnalysisRunFrom{Template: from, Cluster: global, Name: name, Args: values})
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.streams.Out, "analysisrun.argoproj.io/%s created\n", r.Name)
			return err
		},
	}
	run.Flags().StringVar(&from, "from", "", "the AnalysisTemplate to create the run from")
	run.Flags().StringVar(&fromCluster, "from-cluster-template", "", "the ClusterAnalysisTemplate to create the run from")
	run.Flags().Bool("global", false, "--from names a ClusterAnalysisTemplate")
	run.Flags().StringVar(&name, "name", "", "the run's name (default: the template's name and a random suffix)")
	run.Flags().StringArrayVarP(&args, "argument", "a", nil, "an arg of the template, NAME=VALUE (repeatable)")
	create.AddCommand(run)
	return create
}

// createFile creates every object of a manifest, in order, and says which.
// A file that does not parse creates nothing.
func (e *env) createFile(cmd *cobra.Command, file string) error {
	data, err := e.readFile(file)
	if err != nil {
		return err
	}
	c, ns, err := e.namespaced()
	if err != nil {
		return err
	}
	objects, err := decodeManifest(data)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if len(objects) == 0 {
		return fmt.Errorf("%s holds no objects", file)
	}
	for _, u := range objects {
		namespaced, err := c.IsObjectNamespaced(u)
		if err != nil {
			return fmt.Errorf("%s: %s %s: %w", file, u.GetKind(), u.GetName(), err)
		}
		if namespaced && u.GetNamespace() == "" {
			u.SetNamespace(ns)
		}
		if err := c.Create(cmd.Context(), u); err != nil {
			return fmt.Errorf("%s: creating %s %s: %w", file, u.GetKind(), u.GetName()+u.GetGenerateName(), err)
		}
		fmt.Fprintf(e.streams.Out, "%s/%s created\n", strings.ToLower(u.GetKind()), u.GetName())
	}
	return nil
}

// decodeManifest reads every object of a YAML or JSON manifest, in order,
// skipping empty documents.
func decodeManifest(data []byte) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}
