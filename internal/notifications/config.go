// Package notifications sends messages about Rollouts as Argo Rollouts'
// notifications do, from the same configuration: the ConfigMap
// argo-rollouts-notification-configmap (service.<type>[.<name>],
// template.<name>, trigger.<name>, defaultTriggers) and the Secret
// argo-rollouts-notification-secret, whose keys service settings name as
// $key. A Rollout subscribes with annotations such as
// notifications.argoproj.io/subscribe.on-rollout-completed.slack: my-channel.
// A trigger is named for the Event that fires it: on- and the Event's
// reason in kebab case (RolloutCompleted: on-rollout-completed).
//
// This package reads the configuration, finds a Rollout's destinations,
// evaluates triggers and renders templates; services.go sends.
package notifications

import (
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// The names Argo Rollouts gives its notification configuration.
const (
	ConfigMapName = "argo-rollouts-notification-configmap"
	SecretName    = "argo-rollouts-notification-secret"
	// SubscribePrefix starts a subscription annotation.
	SubscribePrefix = "notifications.argoproj.io/subscribe."
)

// Service is a configured service: its type (slack, webhook, ...), the
// name subscriptions use (the type, or type.name for service.type.name),
// and its settings, with $key references to the Secret unresolved.
type Service struct {
	Type, Name string
	Opts       map[string]any
}

// Template is a notification template: the message, and the parts for
// particular service types (slack: {attachments: ...}, webhook: {NAME:
// {method, path, body}}, email: {subject, body}, ...), every string of
// which is a Go template.
type Template struct {
	Message string
	Parts   map[string]any
}

// Condition is one of a trigger's: when it holds (an expression over the
// Rollout; empty: always), the templates it sends, and oncePer (an
// expression whose value, once notified, is not notified again).
type Condition struct {
	When        string   `json:"when,omitempty"`
	Send        []string `json:"send"`
	OncePer     string   `json:"oncePer,omitempty"`
	Description string   `json:"description,omitempty"`
}

// Config is the notification configuration.
type Config struct {
	Services  map[string]Service
	Templates map[string]Template
	Triggers  map[string][]Condition
	// DefaultTriggers are the triggers of a subscription that names none;
	// ServiceDefaultTriggers the same for one service (defaultTriggers.NAME).
	DefaultTriggers        []string
	ServiceDefaultTriggers map[string][]string
	// Secrets is the Secret's data, for $key references and templates.
	Secrets map[string][]byte
}

// Parse reads the ConfigMap's data and the Secret's, naming the key of
// anything that does not read.
func Parse(data map[string]string, secrets map[string][]byte) (*Config, error) {
	c := &Config{Services: map[string]Service{}, Templates: map[string]Template{}, Triggers: map[string][]Condition{},
		ServiceDefaultTriggers: map[string][]string{}, Secrets: secrets}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := data[k]
		switch {
		case strings.HasPrefix(k, "service."):
			name := strings.TrimPrefix(k, "service.")
			typ, _, _ := strings.Cut(name, ".")
			opts := map[string]any{}
			if err := yaml.Unmarshal([]byte(v), &opts); err != nil {
				return nil, fmt.Errorf("%s: %v", k, err)
			}
			if !slices.Contains(ServiceTypes, typ) {
				return nil, fmt.Errorf("%s: service type %q is not one Vireo sends to (%s)", k, typ, strings.Join(ServiceTypes, ", "))
			}
			c.Services[name] = Service{Type: typ, Name: name, Opts: opts}
		case strings.HasPrefix(k, "template."):
			var raw map[string]any
			if err := yaml.Unmarshal([]byte(v), &raw); err != nil {
				return nil, fmt.Errorf("%s: %v", k, err)
			}
			t := Template{Parts: map[string]any{}}
			for field, val := range raw {
				if field == "message" {
					s, ok := val.(string)
					if !ok {
						return nil, fmt.Errorf("%s: message is not a string", k)
					}
					t.Message = s
					continue
				}
				t.Parts[field] = val
			}
			c.Templates[strings.TrimPrefix(k, "template.")] = t
		case strings.HasPrefix(k, "trigger."):
			var conds []Condition
			if err := yaml.UnmarshalStrict([]byte(v), &conds); err != nil {
				return nil, fmt.Errorf("%s: %v", k, err)
			}
			for i, cond := range conds {
				if len(cond.Send) == 0 {
					return nil, fmt.Errorf("%s[%d].send: name at least one template", k, i)
				}
			}
			c.Triggers[strings.TrimPrefix(k, "trigger.")] = conds
		case k == "defaultTriggers" || strings.HasPrefix(k, "defaultTriggers."):
			var list []string
			if err := yaml.Unmarshal([]byte(v), &list); err != nil {
				return nil, fmt.Errorf("%s: %v", k, err)
			}
			if k == "defaultTriggers" {
				c.DefaultTriggers = list
			} else {
				c.ServiceDefaultTriggers[strings.TrimPrefix(k, "defaultTriggers.")] = list
			}
		}
	}
	for name, conds := range c.Triggers {
		for i, cond := range conds {
			for _, t := range cond.Send {
				if _, ok := c.Templates[t]; !ok {
					return nil, fmt.Errorf("trigger.%s[%d].send: no template.%s", name, i, t)
				}
			}
		}
	}
	return c, nil
}

// Destination is where a notification goes: a configured service and a
// recipient it understands (a channel, a name of a webhook URL, an
// address).
type Destination struct {
	Service, Recipient string
}

func (d Destination) String() string { return d.Service + ":" + d.Recipient }

// Subscriptions are a Rollout's destinations by trigger, from its
// annotations: subscribe.TRIGGER.SERVICE for one trigger, and
// subscribe.SERVICE for the default triggers. Recipients are separated by
// semicolons.
func (c *Config) Subscriptions(annotations map[string]string) map[string][]Destination {
	out := map[string][]Destination{}
	add := func(trigger string, d Destination) {
		if !slices.Contains(out[trigger], d) {
			out[trigger] = append(out[trigger], d)
		}
	}
	keys := make([]string, 0, len(annotations))
	for k := range annotations {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, SubscribePrefix)
		if !ok || rest == "" {
			continue
		}
		var recipients []string
		for _, r := range strings.Split(annotations[k], ";") {
			if r = strings.TrimSpace(r); r != "" {
				recipients = append(recipients, r)
			}
		}
		if len(recipients) == 0 {
			recipients = []string{""} // a service without recipients (a webhook)
		}
		trigger, service, hasTrigger := strings.Cut(rest, ".")
		if _, isService := c.Services[rest]; isService || !hasTrigger {
			// subscribe.SERVICE: the default triggers.
			service, trigger = rest, ""
		}
		triggers := []string{trigger}
		if trigger == "" {
			triggers = c.ServiceDefaultTriggers[service]
			if len(triggers) == 0 {
				triggers = c.DefaultTriggers
			}
		}
		for _, t := range triggers {
			for _, r := range recipients {
				add(t, Destination{Service: service, Recipient: r})
			}
		}
	}
	return out
}

// TriggerName is the trigger an Event's reason fires: on- and the reason
// in kebab case (RolloutStepCompleted: on-rollout-step-completed).
func TriggerName(reason string) string {
	var b strings.Builder
	b.WriteString("on-")
	for i, r := range reason {
		upper := r >= 'A' && r <= 'Z'
		if upper && i > 0 {
			prevLower := reason[i-1] >= 'a' && reason[i-1] <= 'z' || reason[i-1] >= '0' && reason[i-1] <= '9'
			nextLower := i+1 < len(reason) && reason[i+1] >= 'a' && reason[i+1] <= 'z'
			if prevLower || (nextLower && reason[i-1] >= 'A' && reason[i-1] <= 'Z') {
				b.WriteByte('-')
			}
		}
		if upper {
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
