package notifications

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/smtp"
	"strings"
	"time"
)

// ServiceTypes are the service types Vireo sends to: Argo Rollouts'
// (notifications engine) names, and discord (Vireo's).
var ServiceTypes = []string{"webhook", "slack", "teams", "googlechat", "mattermost", "email", "alertmanager", "pagerdutyv2", "discord"}

// sendTimeout bounds one delivery attempt.
const sendTimeout = 15 * time.Second

// Send delivers a rendered notification to a destination, with the
// service's settings' $key references resolved from the Secret now. Errors
// never carry a secret, nor an address that is one (webhook URLs).
func (c *Config) Send(ctx context.Context, n Notification, d Destination) error {
	svc, ok := c.Services[d.Service]
	if !ok {
		return fmt.Errorf("no service.%s in %s", d.Service, ConfigMapName)
	}
	opts, _ := resolve(svc.Opts, c.Secrets).(map[string]any)
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	var err error
	switch svc.Type {
	case "webhook":
		err = sendWebhook(ctx, svc.Name, opts, n)
	case "slack":
		err = sendSlack(ctx, opts, n, d.Recipient)
	case "teams":
		err = sendTeams(ctx, opts, n, d.Recipient)
	case "googlechat":
		err = sendGoogleChat(ctx, opts, n, d.Recipient)
	case "mattermost":
		err = sendMattermost(ctx, opts, n, d.Recipient)
	case "email":
		err = sendEmail(ctx, opts, n, d.Recipient)
	case "alertmanager":
		err = sendAlertmanager(ctx, opts, n)
	case "pagerdutyv2":
		err = sendPagerDuty(ctx, opts, n, d.Recipient)
	case "discord":
		err = sendDiscord(ctx, opts, n, d.Recipient)
	default:
		err = fmt.Errorf("service type %q is not one Vireo sends to", svc.Type)
	}
	if err != nil {
		return fmt.Errorf("service.%s: %w", d.Service, redact(err, c.Secrets))
	}
	return nil
}

// resolve replaces, in a service's settings, every string "$key" with the
// Secret's value for key (as Argo's engine does).
func resolve(v any, secrets map[string][]byte) any {
	switch x := v.(type) {
	case string:
		if k, ok := strings.CutPrefix(x, "$"); ok {
			if s, found := secrets[k]; found {
				return string(s)
			}
		}
		return x
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = resolve(e, secrets)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = resolve(e, secrets)
		}
		return out
	}
	return v
}

// redact takes every secret value out of an error's text.
func redact(err error, secrets map[string][]byte) error {
	msg := err.Error()
	for _, s := range secrets {
		if v := strings.TrimSpace(string(s)); len(v) >= 4 {
			msg = strings.ReplaceAll(msg, v, "[redacted]")
		}
	}
	return errors.New(msg)
}

func str(opts map[string]any, key string) string {
	s, _ := opts[key].(string)
	return s
}

func strMap(v any) map[string]string {
	out := map[string]string{}
	if m, ok := v.(map[string]any); ok {
		for k, e := range m {
			out[k] = fmt.Sprint(e)
		}
	}
	return out
}

func part(n Notification, typ string) map[string]any {
	p, _ := n.Parts[typ].(map[string]any)
	return p
}

// post sends a body through Post.
func post(ctx context.Context, service, method, address string, header http.Header, body []byte, insecure, secretURL bool) ([]byte, error) {
	return Post(ctx, Request{Service: service, Method: method, URL: address, Header: header, Body: body, Insecure: insecure, SecretURL: secretURL})
}

// sendWebhook: service.webhook.NAME {url, headers: [{name, value}],
// basicAuth: {username, password}, insecureSkipVerify}; the template's
// webhook.NAME {method (POST), path, body}.
func sendWebhook(ctx context.Context, name string, opts map[string]any, n Notification) error {
	short := strings.TrimPrefix(strings.TrimPrefix(name, "webhook"), ".")
	tmpl, _ := part(n, "webhook")[short].(map[string]any)
	if tmpl == nil {
		tmpl, _ = part(n, "webhook")[name].(map[string]any)
	}
	if tmpl == nil {
		return nil // this template says nothing to this webhook, as in Argo
	}
	method := strings.ToUpper(str(tmpl, "method"))
	if method == "" {
		method = http.MethodPost
	}
	address := strings.TrimRight(str(opts, "url"), "/") + str(tmpl, "path")
	header := http.Header{}
	if hs, ok := opts["headers"].([]any); ok {
		for _, h := range hs {
			hm := strMap(h)
			header.Add(hm["name"], hm["value"])
		}
	}
	if ba, ok := opts["basicAuth"].(map[string]any); ok {
		req := &http.Request{Header: header}
		req.SetBasicAuth(str(ba, "username"), str(ba, "password"))
	}
	insecure, _ := opts["insecureSkipVerify"].(bool)
	_, err := post(ctx, "webhook."+short, method, address, header, []byte(str(tmpl, "body")), insecure, false)
	return err
}

// sendSlack: service.slack {token, apiURL, username, icon} posts with
// chat.postMessage to the channel the recipient names; with a webhook
// setting (an incoming webhook URL, Vireo's addition) it posts there. The
// template's slack {attachments, blocks} are JSON texts.
func sendSlack(ctx context.Context, opts map[string]any, n Notification, channel string) error {
	msg := map[string]any{"text": n.Message}
	if channel != "" {
		msg["channel"] = channel
	}
	if u := str(opts, "username"); u != "" {
		msg["username"] = u
	}
	if icon := str(opts, "icon"); strings.HasPrefix(icon, ":") {
		msg["icon_emoji"] = icon
	} else if icon != "" {
		msg["icon_url"] = icon
	}
	p := part(n, "slack")
	for _, k := range []string{"attachments", "blocks"} {
		if s := strings.TrimSpace(str(p, k)); s != "" {
			var v any
			if err := json.Unmarshal([]byte(s), &v); err != nil {
				return fmt.Errorf("template.%s.slack.%s is not JSON: %v", n.Template, k, err)
			}
			msg[k] = v
		}
	}
	body, _ := json.Marshal(msg)
	if hook := str(opts, "webhook"); hook != "" {
		_, err := post(ctx, "slack", http.MethodPost, hook, nil, body, false, true)
		return err
	}
	api := strings.TrimRight(str(opts, "apiURL"), "/")
	if api == "" {
		api = "https://slack.com/api"
	}
	header := http.Header{"Authorization": {"Bearer " + str(opts, "token")}, "Content-Type": {"application/json; charset=utf-8"}}
	out, err := post(ctx, "slack", http.MethodPost, api+"/chat.postMessage", header, body, false, false)
	if err != nil {
		return err
	}
	var answer struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if json.Unmarshal(out, &answer) == nil && !answer.OK {
		return fmt.Errorf("slack: chat.postMessage to %s: %s", channel, answer.Error)
	}
	return nil
}

// sendTeams: service.teams {recipientUrls: {NAME: URL}}; the recipient
// names the URL. The payload is a Workflows (Power Automate) message: an
// Adaptive Card with the message, title and facts; the template's teams
// {title, text, facts (JSON [{name, value}]), themeColor}.
func sendTeams(ctx context.Context, opts map[string]any, n Notification, recipient string) error {
	address := strMap(opts["recipientUrls"])[recipient]
	if address == "" {
		return fmt.Errorf("teams: no recipientUrls entry %q", recipient)
	}
	p := part(n, "teams")
	text := n.Message
	if t := str(p, "text"); t != "" {
		text = t
	}
	var body []any
	if title := str(p, "title"); title != "" {
		body = append(body, map[string]any{"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": true})
	}
	body = append(body, map[string]any{"type": "TextBlock", "text": text, "wrap": true})
	if f := strings.TrimSpace(str(p, "facts")); f != "" {
		var facts []map[string]any
		if err := json.Unmarshal([]byte(f), &facts); err != nil {
			return fmt.Errorf("template.%s.teams.facts is not JSON: %v", n.Template, err)
		}
		var set []map[string]string
		for _, fact := range facts {
			set = append(set, map[string]string{"title": fmt.Sprint(fact["name"]), "value": fmt.Sprint(fact["value"])})
		}
		body = append(body, map[string]any{"type": "FactSet", "facts": set})
	}
	card := map[string]any{
		"type": "message",
		"attachments": []any{map[string]any{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"content":     map[string]any{"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4", "body": body},
		}},
	}
	data, _ := json.Marshal(card)
	_, err := post(ctx, "teams", http.MethodPost, address, nil, data, false, true)
	return err
}

// sendGoogleChat: service.googlechat {webhooks: {NAME: URL}}; the message
// as text, and the template's googlechat {cardsV2} (JSON) when given.
func sendGoogleChat(ctx context.Context, opts map[string]any, n Notification, recipient string) error {
	address := strMap(opts["webhooks"])[recipient]
	if address == "" {
		return fmt.Errorf("googlechat: no webhooks entry %q", recipient)
	}
	msg := map[string]any{"text": n.Message}
	if s := strings.TrimSpace(str(part(n, "googlechat"), "cardsV2")); s != "" {
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return fmt.Errorf("template.%s.googlechat.cardsV2 is not JSON: %v", n.Template, err)
		}
		msg["cardsV2"] = v
	}
	data, _ := json.Marshal(msg)
	_, err := post(ctx, "googlechat", http.MethodPost, address, nil, data, false, true)
	return err
}

// sendMattermost: service.mattermost {apiURL, token}; a post to the
// channel id the recipient names, with the template's mattermost
// {attachments} (JSON).
func sendMattermost(ctx context.Context, opts map[string]any, n Notification, channel string) error {
	post1 := map[string]any{"channel_id": channel, "message": n.Message}
	if s := strings.TrimSpace(str(part(n, "mattermost"), "attachments")); s != "" {
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return fmt.Errorf("template.%s.mattermost.attachments is not JSON: %v", n.Template, err)
		}
		post1["props"] = map[string]any{"attachments": v}
	}
	data, _ := json.Marshal(post1)
	insecure, _ := opts["insecureSkipVerify"].(bool)
	_, err := post(ctx, "mattermost", http.MethodPost, strings.TrimRight(str(opts, "apiURL"), "/")+"/api/v4/posts",
		http.Header{"Authorization": {"Bearer " + str(opts, "token")}}, data, insecure, false)
	return err
}

// sendDiscord: service.discord {webhooks: {NAME: URL}} (Vireo's); the
// message as the webhook's content.
func sendDiscord(ctx context.Context, opts map[string]any, n Notification, recipient string) error {
	address := strMap(opts["webhooks"])[recipient]
	if address == "" {
		return fmt.Errorf("discord: no webhooks entry %q", recipient)
	}
	data, _ := json.Marshal(map[string]any{"content": n.Message})
	_, err := post(ctx, "discord", http.MethodPost, address, nil, data, false, true)
	return err
}

// sendAlertmanager: service.alertmanager {targets: [host:port], scheme,
// apiPath (/api/v2/alerts), basicAuth, bearerToken}; one alert with the
// template's alertmanager {labels, annotations, generatorURL}, to every
// target (delivered when one takes it).
func sendAlertmanager(ctx context.Context, opts map[string]any, n Notification) error {
	p := part(n, "alertmanager")
	labels := strMap(p["labels"])
	if len(labels) == 0 {
		return fmt.Errorf("template.%s.alertmanager.labels: an alert needs at least one label", n.Template)
	}
	annotations := strMap(p["annotations"])
	if _, ok := annotations["message"]; !ok && n.Message != "" {
		annotations["message"] = n.Message
	}
	alert := map[string]any{"labels": labels, "annotations": annotations, "startsAt": time.Now().UTC().Format(time.RFC3339)}
	if g := str(p, "generatorURL"); g != "" {
		alert["generatorURL"] = g
	}
	data, _ := json.Marshal([]any{alert})
	scheme, path := str(opts, "scheme"), str(opts, "apiPath")
	if scheme == "" {
		scheme = "http"
	}
	if path == "" {
		path = "/api/v2/alerts"
	}
	header := http.Header{}
	if t := str(opts, "bearerToken"); t != "" {
		header.Set("Authorization", "Bearer "+t)
	} else if ba, ok := opts["basicAuth"].(map[string]any); ok {
		(&http.Request{Header: header}).SetBasicAuth(str(ba, "username"), str(ba, "password"))
	}
	insecure, _ := opts["insecureSkipVerify"].(bool)
	targets, _ := opts["targets"].([]any)
	if len(targets) == 0 {
		return errors.New("alertmanager: no targets")
	}
	var errs []error
	for _, t := range targets {
		if _, err := post(ctx, "alertmanager", http.MethodPost, scheme+"://"+fmt.Sprint(t)+path, header.Clone(), data, insecure, false); err != nil {
			errs = append(errs, err)
			continue
		}
		return nil
	}
	return errors.Join(errs...)
}

// sendPagerDuty: service.pagerdutyv2 {serviceKeys: {NAME: routing key}},
// and apiURL (Vireo's, for a proxy; default PagerDuty's Events API v2); a
// trigger event with the template's pagerdutyv2 {summary, severity,
// source, component, group, class, url}.
func sendPagerDuty(ctx context.Context, opts map[string]any, n Notification, recipient string) error {
	key := strMap(opts["serviceKeys"])[recipient]
	if key == "" {
		return fmt.Errorf("pagerdutyv2: no serviceKeys entry %q", recipient)
	}
	p := part(n, "pagerdutyv2")
	payload := map[string]any{"summary": str(p, "summary"), "severity": str(p, "severity"), "source": str(p, "source")}
	if payload["summary"] == "" {
		payload["summary"] = n.Message
	}
	if payload["severity"] == "" {
		payload["severity"] = "error"
	}
	for _, k := range []string{"component", "group", "class"} {
		if v := str(p, k); v != "" {
			payload[k] = v
		}
	}
	event := map[string]any{"routing_key": key, "event_action": "trigger", "payload": payload}
	if u := str(p, "url"); u != "" {
		event["links"] = []any{map[string]any{"href": u}}
	}
	data, _ := json.Marshal(event)
	api := str(opts, "apiURL")
	if api == "" {
		api = "https://events.pagerduty.com"
	}
	_, err := post(ctx, "pagerdutyv2", http.MethodPost, strings.TrimRight(api, "/")+"/v2/enqueue", nil, data, false, false)
	return err
}

// sendEmail: service.email {host, port, from, username, password,
// insecureSkipVerify, html}; the template's email {subject, body}
// (subject defaults to the message's first line).
func sendEmail(ctx context.Context, opts map[string]any, n Notification, to string) error {
	if to == "" {
		return errors.New("email: no recipient address")
	}
	p := part(n, "email")
	subject, body := str(p, "subject"), str(p, "body")
	if body == "" {
		body = n.Message
	}
	if subject == "" {
		subject, _, _ = strings.Cut(n.Message, "\n")
	}
	host := str(opts, "host")
	port := fmt.Sprint(opts["port"])
	if port == "" || port == "<nil>" {
		port = "587"
	}
	from := str(opts, "from")
	contentType := "text/plain"
	if h, _ := opts["html"].(bool); h {
		contentType = "text/html"
	}
	clean := func(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }
	msg := "From: " + clean(from) + "\r\nTo: " + clean(to) + "\r\nSubject: " + clean(subject) +
		"\r\nMIME-Version: 1.0\r\nContent-Type: " + contentType + "; charset=UTF-8\r\n\r\n" + strings.ReplaceAll(body, "\n", "\r\n")
	insecure, _ := opts["insecureSkipVerify"].(bool)
	d := net.Dialer{}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return fmt.Errorf("email: %v", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("email: %v", err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host, InsecureSkipVerify: insecure}); err != nil {
			return fmt.Errorf("email: STARTTLS: %v", err)
		}
	}
	if u := str(opts, "username"); u != "" {
		if err := c.Auth(smtp.PlainAuth("", u, str(opts, "password"), host)); err != nil {
			return fmt.Errorf("email: authentication: %v", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("email: MAIL FROM: %v", err)
	}
	for _, addr := range strings.Split(to, ",") {
		if err := c.Rcpt(strings.TrimSpace(addr)); err != nil {
			return fmt.Errorf("email: RCPT TO: %v", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("email: DATA: %v", err)
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return fmt.Errorf("email: %v", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("email: %v", err)
	}
	return c.Quit()
}
