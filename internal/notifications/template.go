package notifications

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/expr-lang/expr"
)

// Notification is a rendered template: the message, and each service
// type's part with its strings rendered.
type Notification struct {
	Template string
	Message  string
	Parts    map[string]any
}

// Vars are what templates and trigger conditions read: .rollout (the
// Rollout as its JSON), .time and .secrets, as Argo Rollouts gives them.
func (c *Config) Vars(rollout map[string]any, now time.Time) map[string]any {
	secrets := map[string]string{}
	for k, v := range c.Secrets {
		secrets[k] = string(v)
	}
	return map[string]any{
		"rollout": rollout,
		"time":    map[string]any{"Now": func() time.Time { return now }, "Parse": func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }},
		"secrets": secrets,
	}
}

// funcs are the template functions: the few that notification templates
// commonly use.
var funcs = template.FuncMap{
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"trim":  strings.TrimSpace,
	"quote": func(s any) string { return fmt.Sprintf("%q", fmt.Sprint(s)) },
	"toJson": func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	},
	"default": func(def, v any) any {
		if v == nil || v == "" {
			return def
		}
		return v
	},
	"join": func(sep string, v []any) string {
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = fmt.Sprint(x)
		}
		return strings.Join(s, sep)
	},
}

// Render renders the named template with vars.
func (c *Config) Render(name string, vars map[string]any) (Notification, error) {
	t, ok := c.Templates[name]
	if !ok {
		return Notification{}, fmt.Errorf("no template.%s", name)
	}
	msg, err := render("template."+name+".message", t.Message, vars)
	if err != nil {
		return Notification{}, err
	}
	n := Notification{Template: name, Message: msg, Parts: map[string]any{}}
	for k, v := range t.Parts {
		out, err := renderAny("template."+name+"."+k, v, vars)
		if err != nil {
			return Notification{}, err
		}
		n.Parts[k] = out
	}
	return n, nil
}

func renderAny(path string, v any, vars map[string]any) (any, error) {
	switch x := v.(type) {
	case string:
		return render(path, x, vars)
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			r, err := renderAny(path+"."+k, e, vars)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := renderAny(fmt.Sprintf("%s[%d]", path, i), e, vars)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

// maxRendered bounds a rendered string: a template is the admin's, the
// Rollout the tenant's, and a message goes out over the network.
const maxRendered = 64 << 10

func render(path, src string, vars map[string]any) (string, error) {
	t, err := template.New(path).Funcs(funcs).Option("missingkey=zero").Parse(src)
	if err != nil {
		return "", fmt.Errorf("%s: %v", path, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&limited{&b, maxRendered}, vars); err != nil {
		return "", fmt.Errorf("%s: %v", path, err)
	}
	return strings.ReplaceAll(b.String(), "<no value>", ""), nil
}

type limited struct {
	b *bytes.Buffer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if l.b.Len()+len(p) > l.n {
		return 0, fmt.Errorf("the rendered text passes %d bytes", l.n)
	}
	return l.b.Write(p)
}

// Fired is a condition of a trigger that holds: the templates to send, and
// the oncePer value (empty when the condition has none).
type Fired struct {
	Templates []string
	OncePer   string
}

// Run evaluates a trigger's conditions against vars and returns those
// that hold. A trigger not configured fires nothing.
func (c *Config) Run(trigger string, vars map[string]any) ([]Fired, error) {
	var out []Fired
	for i, cond := range c.Triggers[trigger] {
		if cond.When != "" {
			ok, err := evalBool(cond.When, vars)
			if err != nil {
				return nil, fmt.Errorf("trigger.%s[%d].when: %v", trigger, i, err)
			}
			if !ok {
				continue
			}
		}
		f := Fired{Templates: cond.Send}
		if cond.OncePer != "" {
			v, err := expr.Eval(cond.OncePer, vars)
			if err != nil {
				return nil, fmt.Errorf("trigger.%s[%d].oncePer: %v", trigger, i, err)
			}
			f.OncePer = fmt.Sprint(v)
		}
		out = append(out, f)
	}
	return out, nil
}

func evalBool(src string, vars map[string]any) (bool, error) {
	program, err := expr.Compile(src, expr.AsBool(), expr.MaxNodes(512))
	if err != nil {
		return false, err
	}
	v, err := expr.Run(program, vars)
	if err != nil {
		return false, err
	}
	return v.(bool), nil
}
