package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
	planner "github.com/vireo-dev/vireo/internal/canary"
)

// CanaryView is a Canary with the Deployments it releases.
type CanaryView struct {
	Canary          *v1beta1.Canary
	Target, Primary *appsv1.Deployment // nil when missing
}

// loadCanary reads a Canary, its target and its primary.
func loadCanary(ctx context.Context, c client.Client, key client.ObjectKey) (*CanaryView, error) {
	var cn v1beta1.Canary
	if err := c.Get(ctx, key, &cn); err != nil {
		return nil, fmt.Errorf("canary %q in namespace %q: %w", key.Name, key.Namespace, err)
	}
	v := &CanaryView{Canary: &cn}
	for _, d := range []struct {
		name string
		into **appsv1.Deployment
	}{{cn.Spec.TargetRef.Name, &v.Target}, {planner.PrimaryName(&cn), &v.Primary}} {
		var dep appsv1.Deployment
		err := c.Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: d.name}, &dep)
		switch {
		case err == nil:
			*d.into = &dep
		case !apierrors.IsNotFound(err):
			return nil, fmt.Errorf("deployment %q in namespace %q: %w", d.name, key.Namespace, err)
		}
	}
	return v, nil
}

// newGetCanaryCommand is `get canary NAME`.
func newGetCanaryCommand(e *env) *cobra.Command {
	var watch bool
	cmd := &cobra.Command{
		Use:     "canary NAME",
		Aliases: []string{"canaries"},
		Short:   "Show a Flagger Canary: phase, traffic, primary and canary, the analysis and its checks",
		Example: "  kubectl vireo get canary podinfo -n test --watch",
		Args:    exactlyOne("canary"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, key, err := e.target(args[0])
			if err != nil {
				return err
			}
			draw := func(b *bytes.Buffer) error {
				v, err := loadCanary(cmd.Context(), c, key)
				if err != nil {
					return err
				}
				return WriteCanary(b, v, e.now(), e.color())
			}
			return e.show(cmd.Context(), key.Namespace, watch, draw)
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "keep watching, redrawing on every change")
	return cmd
}

func phaseOf(cn *v1beta1.Canary) string {
	if cn.Status.Phase == "" {
		return "Pending"
	}
	return string(cn.Status.Phase)
}

// WriteCanary prints a Canary: a header, the two Deployments and the
// analysis.
func WriteCanary(w io.Writer, v *CanaryView, now time.Time, color bool) error {
	s := style{color}
	cn := v.Canary
	st := &cn.Status
	var b bytes.Buffer
	field := func(name, value string) { fmt.Fprintf(&b, "%-14s %s\n", name+":", value) }
	field("Name", cn.Name)
	field("Namespace", cn.Namespace)
	field("Status", s.status(phaseOf(cn)))
	for _, c := range st.Conditions {
		switch c.Type {
		case v1beta1.PromotedCondition:
			field("Message", c.Message)
		case planner.InvalidSpecCondition:
			field("Invalid", s.paint(red, c.Message))
		}
	}
	provider := cn.Spec.Provider
	if provider == "" {
		provider = "(controller default)"
	}
	field("Provider", provider)
	field("Strategy", strategyOf(cn))
	if a := cn.Spec.Analysis; a != nil {
		field("Traffic", fmt.Sprintf("primary %d%%, canary %d%%", planner.TotalWeight-st.CanaryWeight, st.CanaryWeight))
		field("Checks", fmt.Sprintf("%d failed of %d allowed", st.FailedChecks, planner.Threshold(cn)))
		if a.Iterations > 0 {
			field("Iterations", fmt.Sprintf("%d/%d", st.Iterations, a.Iterations))
		}
		if a.SessionAffinity != nil {
			switch {
			case st.SessionAffinityCookie != "":
				field("Sticky", "cookie "+st.SessionAffinityCookie+" keeps its users on the canary")
			case st.PreviousSessionAffinityCookie != "":
				field("Sticky", "cookie "+st.PreviousSessionAffinityCookie+" of the last release is being dropped")
			default:
				field("Sticky", "no cookie yet: one is set while the canary holds weight")
			}
		}
	}
	if !st.LastTransitionTime.IsZero() {
		field("Last change", age(now, st.LastTransitionTime.Time)+" ago")
	}
	b.WriteString("\n")
	rows := [][]string{{"DEPLOYMENT", "ROLE", "IMAGES", "REPLICAS", "READY", "AVAILABLE"}}
	for _, d := range []struct {
		role string
		name string
		dep  *appsv1.Deployment
	}{{"primary", planner.PrimaryName(cn), v.Primary}, {"canary", cn.Spec.TargetRef.Name, v.Target}} {
		if d.dep == nil {
			rows = append(rows, []string{d.name, d.role, "(missing)", "-", "-", "-"})
			continue
		}
		var images []string
		for _, c := range d.dep.Spec.Template.Spec.Containers {
			images = append(images, c.Image)
		}
		rows = append(rows, []string{d.name, d.role, strings.Join(images, ","),
			fmt.Sprintf("%d/%d", d.dep.Status.Replicas, ptr.Deref(d.dep.Spec.Replicas, 1)),
			itoa(int(d.dep.Status.ReadyReplicas)), itoa(int(d.dep.Status.AvailableReplicas))})
	}
	writeTable(&b, rows)
	if a := cn.Spec.Analysis; a != nil && (len(a.Metrics) > 0 || len(a.Webhooks) > 0) {
		b.WriteString("\n")
		rows = [][]string{{"CHECK", "KIND", "BOUND"}}
		for _, m := range a.Metrics {
			kind := "built-in"
			if m.TemplateRef != nil {
				kind = "template " + m.TemplateRef.Name
			}
			rows = append(rows, []string{m.Name, "metric (" + kind + ")", boundOf(&m)})
		}
		for _, h := range a.Webhooks {
			t := string(h.Type)
			if t == "" {
				t = string(v1beta1.HookRollout)
			}
			rows = append(rows, []string{h.Name, "webhook " + t, "answer ≤ 202"})
		}
		writeTable(&b, rows)
	}
	if len(st.Checks) > 0 {
		b.WriteString("\n")
		rows = [][]string{{"LAST CHECKS", "KIND", "VALUE", "RESULT", "AGE"}}
		for i := len(st.Checks) - 1; i >= 0; i-- {
			ch := st.Checks[i]
			result := s.paint(green, "✔ passed")
			if !ch.Passed {
				result = s.paint(red, "✖ "+ch.Message)
			}
			rows = append(rows, []string{ch.Name, ch.Kind, orDash(ch.Value), result, age(now, ch.Time.Time)})
		}
		writeTable(&b, rows)
	}
	_, err := w.Write(b.Bytes())
	return err
}

func strategyOf(cn *v1beta1.Canary) string {
	a := cn.Spec.Analysis
	if a == nil || cn.Spec.SkipAnalysis {
		return "no analysis (promoted at once)"
	}
	every := fmt.Sprintf("every %s, rolled back at %d failed checks", planner.Interval(cn), planner.Threshold(cn))
	switch {
	case len(a.Match) > 0 && a.Iterations > 0:
		return fmt.Sprintf("A/B testing, %d iterations, %s", a.Iterations, every)
	case a.Iterations > 0:
		return fmt.Sprintf("blue-green, %d iterations, %s", a.Iterations, every)
	case len(a.StepWeights) > 0:
		return fmt.Sprintf("canary, weights %v, %s", a.StepWeights, every)
	}
	return fmt.Sprintf("canary, +%d%% up to %d%%, %s", a.StepWeight, planner.MaxWeight(cn), every)
}

func boundOf(m *v1beta1.CanaryMetric) string {
	unit := ""
	switch m.Name {
	case "request-success-rate":
		unit = "%"
	case "request-duration":
		unit = "ms"
	}
	if r := m.ThresholdRange; r != nil {
		var parts []string
		if r.Min != nil {
			parts = append(parts, fmt.Sprintf("≥ %g%s", *r.Min, unit))
		}
		if r.Max != nil {
			parts = append(parts, fmt.Sprintf("≤ %g%s", *r.Max, unit))
		}
		return strings.Join(parts, ", ")
	}
	if m.Name == "request-success-rate" {
		return fmt.Sprintf("≥ %g%%", m.Threshold)
	}
	return fmt.Sprintf("≤ %g%s", m.Threshold, unit)
}

// newListCanariesCommand is `list canaries`.
func newListCanariesCommand(e *env) *cobra.Command {
	var all, watch bool
	cmd := &cobra.Command{
		Use:     "canaries",
		Aliases: []string{"canary"},
		Short:   "List the Flagger Canaries of a namespace, or of all with -A",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ns, opts, err := e.listScope(all)
			if err != nil {
				return err
			}
			draw := func(b *bytes.Buffer) error {
				var list v1beta1.CanaryList
				if err := c.List(cmd.Context(), &list, opts...); err != nil {
					return fmt.Errorf("listing canaries: %w", err)
				}
				if len(list.Items) == 0 {
					noneIn(b, "canaries", ns)
					return nil
				}
				WriteCanaryList(b, list.Items, all, e.now(), e.color())
				return nil
			}
			return e.show(cmd.Context(), ns, watch, draw)
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list the canaries of every namespace")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "keep watching, redrawing on every change")
	return cmd
}

// WriteCanaryList prints one line per Canary: status, weight, failed
// checks and the last change.
func WriteCanaryList(b *bytes.Buffer, items []v1beta1.Canary, withNamespace bool, now time.Time, color bool) {
	s := style{color}
	sort.Slice(items, func(i, j int) bool {
		if items[i].Namespace != items[j].Namespace {
			return items[i].Namespace < items[j].Namespace
		}
		return items[i].Name < items[j].Name
	})
	head := []string{"NAME", "STATUS", "WEIGHT", "FAILEDCHECKS", "LASTTRANSITIONTIME"}
	if withNamespace {
		head = append([]string{"NAMESPACE"}, head...)
	}
	rows := [][]string{head}
	for i := range items {
		cn := &items[i]
		last := "-"
		if !cn.Status.LastTransitionTime.IsZero() {
			last = age(now, cn.Status.LastTransitionTime.Time) + " ago"
		}
		row := []string{cn.Name, s.status(phaseOf(cn)), itoa(cn.Status.CanaryWeight), itoa(cn.Status.FailedChecks), last}
		if withNamespace {
			row = append([]string{cn.Namespace}, row...)
		}
		rows = append(rows, row)
	}
	writeTable(b, rows)
}
