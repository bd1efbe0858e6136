package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/notifications"
)

// notificationFlags say where the notification configuration is: the
// cluster's ConfigMap and Secret in the controller's namespace, or files.
type notificationFlags struct {
	namespace, configMap, secret string
}

func newNotificationsCommand(e *env) *cobra.Command {
	f := &notificationFlags{}
	cmd := &cobra.Command{
		Use:   "notifications",
		Short: "Preview and test notification templates and triggers (Argo Rollouts' configuration)",
	}
	cmd.PersistentFlags().StringVar(&f.namespace, "notifications-namespace", "argo-rollouts", "the controller's namespace, where "+notifications.ConfigMapName+" is")
	cmd.PersistentFlags().StringVar(&f.configMap, "config-map", "", "a file with the ConfigMap, in place of the cluster's")
	cmd.PersistentFlags().StringVar(&f.secret, "secret", "", "a file with the Secret, in place of the cluster's (\":empty\" for none)")

	template := &cobra.Command{Use: "template", Short: "Notification templates"}
	template.AddCommand(&cobra.Command{
		Use:   "get [NAME]",
		Short: "List the templates, or print one",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := f.load(cmd.Context(), e)
			if err != nil {
				return err
			}
			return printTemplates(cmd, cfg, args)
		},
	})
	var recipients []string
	notify := &cobra.Command{
		Use:   "notify NAME ROLLOUT",
		Short: "Render a template with a Rollout (a name, or a file) and send it to the recipients",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(recipients) == 0 {
				return usageError(cmd, "--recipient SERVICE:RECIPIENT is required (for example slack:my-channel or webhook.ci:)")
			}
			cfg, err := f.load(cmd.Context(), e)
			if err != nil {
				return err
			}
			obj, err := f.rollout(cmd.Context(), e, args[1])
			if err != nil {
				return err
			}
			n, err := cfg.Render(args[0], cfg.Vars(obj, time.Now()))
			if err != nil {
				return err
			}
			for _, r := range recipients {
				service, recipient, ok := strings.Cut(r, ":")
				if !ok || service == "" {
					return usageError(cmd, fmt.Sprintf("--recipient %q: give SERVICE:RECIPIENT", r))
				}
				if err := cfg.Send(cmd.Context(), n, notifications.Destination{Service: service, Recipient: recipient}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "sent %s to %s\n", args[0], r)
			}
			return nil
		},
	}
	notify.Flags().StringArrayVar(&recipients, "recipient", nil, "SERVICE:RECIPIENT to send to (repeatable)")
	template.AddCommand(notify)

	trigger := &cobra.Command{Use: "trigger", Short: "Notification triggers"}
	trigger.AddCommand(&cobra.Command{
		Use:   "get [NAME]",
		Short: "List the triggers, or print one",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := f.load(cmd.Context(), e)
			if err != nil {
				return err
			}
			return printTriggers(cmd, cfg, args)
		},
	})
	trigger.AddCommand(&cobra.Command{
		Use:   "run NAME ROLLOUT",
		Short: "Evaluate a trigger's conditions with a Rollout (a name, or a file) and print which fire",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := f.load(cmd.Context(), e)
			if err != nil {
				return err
			}
			if _, ok := cfg.Triggers[args[0]]; !ok {
				return fmt.Errorf("no trigger.%s in the configuration", args[0])
			}
			obj, err := f.rollout(cmd.Context(), e, args[1])
			if err != nil {
				return err
			}
			fired, err := cfg.Run(args[0], cfg.Vars(obj, time.Now()))
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "CONDITION\tWHEN\tFIRES\tTEMPLATES")
			for i, c := range cfg.Triggers[args[0]] {
				fires := slices.ContainsFunc(fired, func(x notifications.Fired) bool { return slices.Equal(x.Templates, c.Send) })
				when := c.When
				if when == "" {
					when = "(always: on its Event)"
				}
				fmt.Fprintf(tw, "%d\t%s\t%v\t%s\n", i, when, fires, strings.Join(c.Send, ", "))
			}
			return tw.Flush()
		},
	})
	cmd.AddCommand(template, trigger)
	return cmd
}

// load reads the configuration from files or the cluster.
func (f *notificationFlags) load(ctx context.Context, e *env) (*notifications.Config, error) {
	var cm corev1.ConfigMap
	var secret corev1.Secret
	if f.configMap != "" {
		data, err := e.readFile(f.configMap)
		if err != nil {
			return nil, err
		}
		if err := yaml.Unmarshal(data, &cm); err != nil {
			return nil, fmt.Errorf("--config-map %s: %w", f.configMap, err)
		}
	}
	if f.secret != "" && f.secret != ":empty" {
		data, err := e.readFile(f.secret)
		if err != nil {
			return nil, err
		}
		if err := yaml.Unmarshal(data, &secret); err != nil {
			return nil, fmt.Errorf("--secret %s: %w", f.secret, err)
		}
		for k, v := range secret.StringData {
			if secret.Data == nil {
				secret.Data = map[string][]byte{}
			}
			secret.Data[k] = []byte(v)
		}
	}
	if f.configMap == "" || f.secret == "" {
		c, err := e.Client()
		if err != nil {
			return nil, err
		}
		if f.configMap == "" {
			if err := c.Get(ctx, client.ObjectKey{Namespace: f.namespace, Name: notifications.ConfigMapName}, &cm); err != nil {
				return nil, fmt.Errorf("reading %s/%s: %w (or give --config-map FILE)", f.namespace, notifications.ConfigMapName, err)
			}
		}
		if f.secret == "" {
			if err := c.Get(ctx, client.ObjectKey{Namespace: f.namespace, Name: notifications.SecretName}, &secret); err != nil && !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("reading %s/%s: %w", f.namespace, notifications.SecretName, err)
			}
		}
	}
	return notifications.Parse(cm.Data, secret.Data)
}

// rollout reads the Rollout a command names: a file when the argument is
// one (it has a slash or ends in .yaml, .yml or .json), else a name in the
// namespace.
func (f *notificationFlags) rollout(ctx context.Context, e *env, arg string) (map[string]any, error) {
	var ro v1alpha1.Rollout
	if strings.ContainsAny(arg, "/") || strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml") || strings.HasSuffix(arg, ".json") || arg == "-" {
		data, err := e.readFile(arg)
		if err != nil {
			return nil, err
		}
		if err := yaml.Unmarshal(data, &ro); err != nil {
			return nil, fmt.Errorf("%s: %w", arg, err)
		}
	} else {
		c, key, err := e.target(arg)
		if err != nil {
			return nil, err
		}
		if err := c.Get(ctx, key, &ro); err != nil {
			return nil, err
		}
	}
	return runtime.DefaultUnstructuredConverter.ToUnstructured(&ro)
}

func printTemplates(cmd *cobra.Command, cfg *notifications.Config, args []string) error {
	names := make([]string, 0, len(cfg.Templates))
	for n := range cfg.Templates {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(args) == 1 {
		t, ok := cfg.Templates[args[0]]
		if !ok {
			return fmt.Errorf("no template.%s in the configuration (it has %s)", args[0], strings.Join(names, ", "))
		}
		out, _ := yaml.Marshal(map[string]any{"message": t.Message})
		parts, _ := yaml.Marshal(t.Parts)
		fmt.Fprintf(cmd.OutOrStdout(), "%s%s", out, parts)
		return nil
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSERVICES\tMESSAGE")
	for _, n := range names {
		t := cfg.Templates[n]
		var parts []string
		for k := range t.Parts {
			parts = append(parts, k)
		}
		slices.Sort(parts)
		msg, _, _ := strings.Cut(strings.TrimSpace(t.Message), "\n")
		if len(msg) > 60 {
			msg = msg[:57] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", n, strings.Join(parts, ","), msg)
	}
	return tw.Flush()
}

func printTriggers(cmd *cobra.Command, cfg *notifications.Config, args []string) error {
	names := make([]string, 0, len(cfg.Triggers))
	for n := range cfg.Triggers {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(args) == 1 {
		if _, ok := cfg.Triggers[args[0]]; !ok {
			return fmt.Errorf("no trigger.%s in the configuration (it has %s)", args[0], strings.Join(names, ", "))
		}
		names = args
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTEMPLATES\tCONDITIONS\tDEFAULT")
	for _, n := range names {
		var templates []string
		for _, c := range cfg.Triggers[n] {
			templates = append(templates, c.Send...)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%v\n", n, strings.Join(templates, ","), len(cfg.Triggers[n]), slices.Contains(cfg.DefaultTriggers, n))
	}
	return tw.Flush()
}
