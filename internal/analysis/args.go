package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// SecretGetter reads one key of a Secret in the run's own namespace.
type SecretGetter func(ctx context.Context, name, key string) (string, error)

// Values are resolved args. Secret holds the values that came from Secrets,
// which must be kept out of status, events and logs (see Redact).
type Values struct {
	ByName map[string]string
	Secret []string
}

// ResolveArgs gives every arg its value: a literal, a Secret's key, or a
// field of owner (the object the run belongs to). An arg with none of these
// is an error naming it.
func ResolveArgs(ctx context.Context, args []v1alpha1.Argument, secrets SecretGetter, owner any) (Values, error) {
	v := Values{ByName: map[string]string{}}
	for _, a := range args {
		switch {
		case a.Value != nil:
			v.ByName[a.Name] = *a.Value
		case a.ValueFrom != nil && a.ValueFrom.SecretKeyRef != nil:
			ref := a.ValueFrom.SecretKeyRef
			if secrets == nil {
				return v, fmt.Errorf("args.%s: secretKeyRef %s/%s cannot be read here", a.Name, ref.Name, ref.Key)
			}
			s, err := secrets(ctx, ref.Name, ref.Key)
			if err != nil {
				return v, fmt.Errorf("args.%s: secretKeyRef %s/%s: %w", a.Name, ref.Name, ref.Key, err)
			}
			v.ByName[a.Name] = s
			if s != "" {
				v.Secret = append(v.Secret, s)
			}
		case a.ValueFrom != nil && a.ValueFrom.FieldRef != nil:
			s, err := FieldValue(owner, a.ValueFrom.FieldRef.FieldPath)
			if err != nil {
				return v, fmt.Errorf("args.%s: fieldRef: %w", a.Name, err)
			}
			v.ByName[a.Name] = s
		default:
			return v, fmt.Errorf("args.%s: no value: give it a value or valueFrom", a.Name)
		}
	}
	return v, nil
}

// Redact replaces every secret value in s, in every form an error or an
// answer may carry it: as is, trimmed of surrounding space (a Secret
// written with a trailing newline), quoted as Go's %q and JSON write it,
// and URL-escaped as a query or a path does.
func (v Values) Redact(s string) string {
	for _, secret := range v.Secret {
		for _, form := range secretForms(secret) {
			s = strings.ReplaceAll(s, form, "*****")
		}
	}
	return s
}

// secretForms are the spellings of a secret to redact, longest first (so
// that a form that contains another goes whole).
func secretForms(secret string) []string {
	forms := map[string]bool{}
	for _, x := range []string{secret, strings.TrimSpace(secret)} {
		if x == "" {
			continue
		}
		quoted := strconv.Quote(x)
		js, _ := json.Marshal(x)
		for _, f := range []string{x, quoted[1 : len(quoted)-1], string(js[1 : len(js)-1]), url.QueryEscape(x), url.PathEscape(x)} {
			forms[f] = true
		}
	}
	out := make([]string, 0, len(forms))
	for f := range forms {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) || len(out[i]) == len(out[j]) && out[i] < out[j] })
	return out
}

// placeholder is {{args.NAME}}, spaces allowed inside the braces.
var placeholder = regexp.MustCompile(`\{\{\s*args\.([^\s{}]+)\s*\}\}`)

// Substitute puts the args' values in place of {{args.NAME}} everywhere in
// the metrics: provider configuration, conditions, limits. A placeholder
// naming no arg is an error naming the metric.
func Substitute(metrics []v1alpha1.Metric, values map[string]string) ([]v1alpha1.Metric, error) {
	out := make([]v1alpha1.Metric, len(metrics))
	for i := range metrics {
		data, err := json.Marshal(&metrics[i])
		if err != nil {
			return nil, err
		}
		var missing []string
		replaced := placeholder.ReplaceAllStringFunc(string(data), func(m string) string {
			name := placeholder.FindStringSubmatch(m)[1]
			value, ok := values[name]
			if !ok {
				missing = append(missing, name)
				return m
			}
			// The placeholder sits inside a JSON string: escape the value for it.
			quoted, _ := json.Marshal(value)
			return string(quoted[1 : len(quoted)-1])
		})
		if len(missing) > 0 {
			return nil, fmt.Errorf("metrics[%d] %q: {{args.%s}} names no arg of the run", i, metrics[i].Name, missing[0])
		}
		if err := json.Unmarshal([]byte(replaced), &out[i]); err != nil {
			return nil, fmt.Errorf("metrics[%d] %q: after putting in the args: %w", i, metrics[i].Name, err)
		}
	}
	return out, nil
}

// SecretsInJobs refuses a job metric whose Job would carry an arg that
// comes from a Secret: {{args.X}} is written into the Job's spec, where
// anyone who may read Jobs reads it in plain text. The Job's container
// reads the Secret itself instead (env[].valueFrom.secretKeyRef).
func SecretsInJobs(metrics []v1alpha1.Metric, args []v1alpha1.Argument) error {
	secret := map[string]bool{}
	for _, a := range args {
		if a.ValueFrom != nil && a.ValueFrom.SecretKeyRef != nil {
			secret[a.Name] = true
		}
	}
	if len(secret) == 0 {
		return nil
	}
	for i, m := range metrics {
		if m.Provider.Job == nil {
			continue
		}
		data, err := json.Marshal(m.Provider.Job)
		if err != nil {
			return err
		}
		for _, match := range placeholder.FindAllStringSubmatch(string(data), -1) {
			if secret[match[1]] {
				return fmt.Errorf("spec.metrics[%d].provider.job: {{args.%s}} comes from a Secret and would be written into the Job in plain text; "+
					"have the Job's container read it with env[].valueFrom.secretKeyRef instead", i, match[1])
			}
		}
	}
	return nil
}

// MergeArgs lays the args given (by a Rollout, say) over those the
// templates declare: a given value replaces the template's. Args the
// templates do not declare are ignored, as the metrics cannot refer to them.
// Every declared arg must end up with a value or valueFrom.
func MergeArgs(declared, given []v1alpha1.Argument) ([]v1alpha1.Argument, error) {
	byName := map[string]v1alpha1.Argument{}
	for _, g := range given {
		byName[g.Name] = g
	}
	out := make([]v1alpha1.Argument, 0, len(declared))
	for _, d := range declared {
		if g, ok := byName[d.Name]; ok && (g.Value != nil || g.ValueFrom != nil) {
			d = g
		}
		if d.Value == nil && d.ValueFrom == nil {
			return nil, fmt.Errorf("args.%s: the template declares it without a value and none was given", d.Name)
		}
		out = append(out, d)
	}
	return out, nil
}

// FieldValue reads a field of an object by a path such as metadata.name,
// metadata.labels['env'], metadata.annotations['team'] or
// spec.template.spec.containers[0].image. Maps and lists are given as JSON.
func FieldValue(obj any, path string) (string, error) {
	if obj == nil {
		return "", fmt.Errorf("%q: there is no object to read it from", path)
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return "", fmt.Errorf("%q: %w", path, err)
	}
	keys, err := splitFieldPath(path)
	if err != nil {
		return "", err
	}
	var cur any = m
	for _, k := range keys {
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[k]
			if !ok {
				return "", fmt.Errorf("%q: %q is not set", path, k)
			}
			cur = next
		case []any:
			n, err := strconv.Atoi(k)
			if err != nil || n < 0 || n >= len(c) {
				return "", fmt.Errorf("%q: no item %s in a list of %d", path, k, len(c))
			}
			cur = c[n]
		default:
			return "", fmt.Errorf("%q: %q is below a plain value", path, k)
		}
	}
	switch c := cur.(type) {
	case string:
		return c, nil
	case map[string]any, []any:
		data, err := json.Marshal(c)
		return string(data), err
	}
	return fmt.Sprint(cur), nil
}

// splitFieldPath splits a.b['c.d'][0] into a, b, c.d, 0.
func splitFieldPath(path string) ([]string, error) {
	var keys []string
	rest := path
	bad := func() ([]string, error) {
		return nil, fmt.Errorf("%q: not a field path such as metadata.labels['app']", path)
	}
	for rest != "" {
		switch {
		case strings.HasPrefix(rest, "['") || strings.HasPrefix(rest, `["`):
			q := rest[1:2]
			end := strings.Index(rest[2:], q+"]")
			if end < 0 {
				return bad()
			}
			keys = append(keys, rest[2:2+end])
			rest = rest[2+end+2:]
		case strings.HasPrefix(rest, "["):
			end := strings.Index(rest, "]")
			if end < 0 {
				return bad()
			}
			keys = append(keys, rest[1:end])
			rest = rest[end+1:]
		case strings.HasPrefix(rest, "."):
			rest = rest[1:]
		default:
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			keys = append(keys, rest[:end])
			rest = rest[end:]
		}
	}
	if len(keys) == 0 {
		return bad()
	}
	return keys, nil
}
