package notifications

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTriggerNames(t *testing.T) {
	for reason, want := range map[string]string{
		"RolloutUpdated":       "on-rollout-updated",
		"RolloutStepCompleted": "on-rollout-step-completed",
		"RolloutPaused":        "on-rollout-paused",
		"RolloutCompleted":     "on-rollout-completed",
		"RolloutAborted":       "on-rollout-aborted",
		"ScalingReplicaSet":    "on-scaling-replica-set",
		"AnalysisRunRunning":   "on-analysis-run-running",
		"AnalysisRunFailed":    "on-analysis-run-failed",
		"AnalysisRunError":     "on-analysis-run-error",
	} {
		if got := TriggerName(reason); got != want {
			t.Errorf("%s: %s, want %s", reason, got, want)
		}
	}
}

var sample = map[string]string{
	"service.slack":                     "token: $slack-token\napiURL: BASE/slack",
	"service.webhook.hook":              "url: BASE/hook\nheaders: [{name: X-Token, value: $hook-token}]\nbasicAuth: {username: u, password: $hook-password}",
	"template.done":                     "message: Rollout {{.rollout.metadata.name}} is done.\nslack:\n  attachments: '[{\"title\": \"{{.rollout.metadata.name}}\"}]'\nwebhook:\n  hook:\n    method: PUT\n    path: /done/{{.rollout.metadata.name}}\n    body: '{\"rollout\": \"{{.rollout.metadata.name}}\"}'",
	"template.step":                     "message: step {{.rollout.status.currentStepIndex}}",
	"trigger.on-rollout-completed":      "- send: [done]",
	"trigger.on-rollout-step-completed": "- send: [step]\n  when: rollout.status.currentStepIndex > 1",
	"defaultTriggers":                   "[on-rollout-completed]",
}

func TestParseAndSubscriptions(t *testing.T) {
	c, err := Parse(sample, nil)
	if err != nil {
		t.Fatal(err)
	}
	subs := c.Subscriptions(map[string]string{
		SubscribePrefix + "on-rollout-step-completed.slack": "a; b",
		SubscribePrefix + "webhook.hook":                    "",
		"other":                                             "x",
	})
	if got := subs["on-rollout-step-completed"]; len(got) != 2 || got[0] != (Destination{"slack", "a"}) || got[1] != (Destination{"slack", "b"}) {
		t.Errorf("step subscriptions: %v", got)
	}
	if got := subs["on-rollout-completed"]; len(got) != 1 || got[0].Service != "webhook.hook" {
		t.Errorf("the default trigger's subscription: %v", got)
	}
	vars := c.Vars(map[string]any{"metadata": map[string]any{"name": "demo"}, "status": map[string]any{"currentStepIndex": 1}}, time.Now())
	if fired, err := c.Run("on-rollout-step-completed", vars); err != nil || len(fired) != 0 {
		t.Errorf("a when that does not hold: %v %v", fired, err)
	}
	vars["rollout"].(map[string]any)["status"] = map[string]any{"currentStepIndex": 3}
	if fired, err := c.Run("on-rollout-step-completed", vars); err != nil || len(fired) != 1 || fired[0].Templates[0] != "step" {
		t.Errorf("a when that holds: %v %v", fired, err)
	}
	n, err := c.Render("done", vars)
	if err != nil || n.Message != "Rollout demo is done." {
		t.Errorf("rendered: %+v %v", n, err)
	}
	for data, want := range map[string]string{
		"service.sms":                    "service.sms: service type \"sms\"",
		"trigger.on-x":                   "trigger.on-x[0].send",
		"template.t":                     "template.t:",
		"trigger.on-y|- send: [missing]": "no template.missing",
	} {
		k, v, _ := strings.Cut(data, "|")
		if v == "" {
			v = map[string]string{"service.sms": "{}", "trigger.on-x": "- when: 'true'", "template.t": "[not, a, map]"}[k]
		}
		if _, err := Parse(map[string]string{k: v}, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error naming %q", k, err, want)
		}
	}
}

// receiver is a local server that keeps what each path received.
type receiver struct {
	mu   sync.Mutex
	got  map[string][]*http.Request
	body map[string][]string
	fail map[string]int // answer this status on the path
}

func newReceiver(t *testing.T) (*receiver, string) {
	r := &receiver{got: map[string][]*http.Request{}, body: map[string][]string{}, fail: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got[req.URL.Path] = append(r.got[req.URL.Path], req)
		r.body[req.URL.Path] = append(r.body[req.URL.Path], string(b))
		code := r.fail[req.URL.Path]
		r.mu.Unlock()
		if code != 0 {
			http.Error(w, "no", code)
			return
		}
		if req.URL.Path == "/slack/chat.postMessage" {
			w.Write([]byte(`{"ok": true}`))
		}
	}))
	t.Cleanup(srv.Close)
	return r, srv.URL
}

func (r *receiver) last(t *testing.T, path string) (*http.Request, map[string]any) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got[path]) == 0 {
		t.Fatalf("nothing received on %s (received: %v)", path, r.body)
	}
	var v any
	body := r.body[path][len(r.body[path])-1]
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("%s: not JSON: %s", path, body)
	}
	m, _ := v.(map[string]any)
	if m == nil {
		m = map[string]any{"list": v}
	}
	return r.got[path][len(r.got[path])-1], m
}

// Every service, against a local server that checks what the service
// documents: the address, the authentication and the payload's shape.
func TestServices(t *testing.T) {
	recv, base := newReceiver(t)
	data := map[string]string{}
	for k, v := range sample {
		data[k] = strings.ReplaceAll(v, "BASE", base)
	}
	data["service.slack.hooked"] = "webhook: " + base + "/slack-hook/T000/B000/XXXX"
	data["service.teams"] = "recipientUrls: {ops: " + base + "/teams/workflow}"
	data["service.googlechat"] = "webhooks: {room: " + base + "/gchat}"
	data["service.mattermost"] = "apiURL: " + base + "/mm\ntoken: $mm-token"
	data["service.discord"] = "webhooks: {dev: " + base + "/discord}"
	data["service.alertmanager"] = "targets: [" + strings.TrimPrefix(base, "http://") + "]\nbearerToken: $am-token"
	data["service.pagerdutyv2"] = "apiURL: " + base + "/pd\nserviceKeys: {team: $pd-key}"
	data["template.done"] += "\nteams: {title: Done, facts: '[{\"name\": \"Rollout\", \"value\": \"{{.rollout.metadata.name}}\"}]'}" +
		"\nalertmanager: {labels: {alertname: RolloutDone, rollout: '{{.rollout.metadata.name}}'}}" +
		"\npagerdutyv2: {summary: 'done {{.rollout.metadata.name}}', severity: info, source: vireo}"
	secrets := map[string][]byte{"slack-token": []byte("xoxb-secret"), "hook-token": []byte("hook-secret"), "hook-password": []byte("pw-secret"),
		"mm-token": []byte("mm-secret"), "am-token": []byte("am-secret"), "pd-key": []byte("pd-routing-key")}
	c, err := Parse(data, secrets)
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.Render("done", c.Vars(map[string]any{"metadata": map[string]any{"name": "demo"}}, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, d := range []Destination{{"slack", "#deploys"}, {"slack.hooked", ""}, {"webhook.hook", ""}, {"teams", "ops"}, {"googlechat", "room"},
		{"mattermost", "chan1"}, {"discord", "dev"}, {"alertmanager", ""}, {"pagerdutyv2", "team"}} {
		if err := c.Send(ctx, n, d); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}

	req, m := recv.last(t, "/slack/chat.postMessage")
	if req.Header.Get("Authorization") != "Bearer xoxb-secret" || m["channel"] != "#deploys" || m["text"] != "Rollout demo is done." {
		t.Errorf("slack chat.postMessage: %v %v", req.Header, m)
	}
	if att, _ := m["attachments"].([]any); len(att) != 1 || att[0].(map[string]any)["title"] != "demo" {
		t.Errorf("slack attachments: %v", m["attachments"])
	}
	if _, m := recv.last(t, "/slack-hook/T000/B000/XXXX"); m["text"] != "Rollout demo is done." {
		t.Errorf("slack incoming webhook: %v", m)
	}
	req, m = recv.last(t, "/hook/done/demo")
	if u, p, _ := req.BasicAuth(); req.Method != http.MethodPut || req.Header.Get("X-Token") != "hook-secret" || u != "u" || p != "pw-secret" || m["rollout"] != "demo" {
		t.Errorf("webhook: %s %v %v", req.Method, req.Header, m)
	}
	_, m = recv.last(t, "/teams/workflow")
	content := m["attachments"].([]any)[0].(map[string]any)
	if m["type"] != "message" || content["contentType"] != "application/vnd.microsoft.card.adaptive" ||
		!strings.Contains(mustJSON(content), `"Rollout demo is done."`) || !strings.Contains(mustJSON(content), `"title":"Rollout","value":"demo"`) {
		t.Errorf("teams: %v", m)
	}
	if _, m := recv.last(t, "/gchat"); m["text"] != "Rollout demo is done." {
		t.Errorf("googlechat: %v", m)
	}
	req, m = recv.last(t, "/mm/api/v4/posts")
	if req.Header.Get("Authorization") != "Bearer mm-secret" || m["channel_id"] != "chan1" || m["message"] != "Rollout demo is done." {
		t.Errorf("mattermost: %v %v", req.Header, m)
	}
	if _, m := recv.last(t, "/discord"); m["content"] != "Rollout demo is done." {
		t.Errorf("discord: %v", m)
	}
	req, m = recv.last(t, "/api/v2/alerts")
	alerts, _ := m["list"].([]any)
	if req.Header.Get("Authorization") != "Bearer am-secret" || len(alerts) != 1 || alerts[0].(map[string]any)["labels"].(map[string]any)["rollout"] != "demo" {
		t.Errorf("alertmanager: %v %v", req.Header, m)
	}
	_, m = recv.last(t, "/pd/v2/enqueue")
	payload, _ := m["payload"].(map[string]any)
	if m["routing_key"] != "pd-routing-key" || m["event_action"] != "trigger" || payload["summary"] != "done demo" || payload["severity"] != "info" || payload["source"] != "vireo" {
		t.Errorf("pagerdutyv2: %v", m)
	}

	// A failure names the service and never a secret: not a token, not an
	// incoming webhook's address.
	recv.mu.Lock()
	recv.fail["/teams/workflow"], recv.fail["/hook/done/demo"] = 500, 401
	recv.mu.Unlock()
	for _, d := range []Destination{{"teams", "ops"}, {"webhook.hook", ""}} {
		err := c.Send(ctx, n, d)
		if err == nil || !strings.Contains(err.Error(), "service."+d.Service) || strings.Contains(err.Error(), "/teams/workflow") || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s failing: %v", d, err)
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// smtpServer is a small SMTP server: it takes one message at a time and
// keeps it.
func smtpServer(t *testing.T) (addr string, messages chan string) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	messages = make(chan string, 4)
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r, w := bufio.NewReader(conn), bufio.NewWriter(conn)
				say := func(s string) { w.WriteString(s + "\r\n"); w.Flush() }
				say("220 test ESMTP")
				var env, data strings.Builder
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					cmd := strings.ToUpper(strings.TrimSpace(line))
					switch {
					case strings.HasPrefix(cmd, "EHLO"):
						say("250-test\r\n250 AUTH PLAIN")
					case strings.HasPrefix(cmd, "AUTH PLAIN"):
						env.WriteString("AUTH " + strings.TrimSpace(line[10:]) + "\n")
						say("235 ok")
					case strings.HasPrefix(cmd, "MAIL FROM"), strings.HasPrefix(cmd, "RCPT TO"):
						env.WriteString(strings.TrimSpace(line) + "\n")
						say("250 ok")
					case cmd == "DATA":
						say("354 go on")
						for {
							l, err := r.ReadString('\n')
							if err != nil || l == ".\r\n" {
								break
							}
							data.WriteString(l)
						}
						messages <- env.String() + "\n" + data.String()
						say("250 queued")
					case cmd == "QUIT":
						say("221 bye")
						return
					default:
						say("250 ok")
					}
				}
			}()
		}
	}()
	return l.Addr().String(), messages
}

func TestEmail(t *testing.T) {
	addr, messages := smtpServer(t)
	host, port, _ := net.SplitHostPort(addr)
	c, err := Parse(map[string]string{
		"service.email.ops": "host: " + host + "\nport: " + port + "\nfrom: vireo@example.com\nusername: vireo\npassword: $email-password",
		"template.done":     "message: Rollout {{.rollout.metadata.name}} is done.\nemail: {subject: 'Rollout {{.rollout.metadata.name}} completed'}",
	}, map[string][]byte{"email-password": []byte("mail-secret")})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := c.Render("done", c.Vars(map[string]any{"metadata": map[string]any{"name": "demo"}}, time.Now()))
	if err := c.Send(context.Background(), n, Destination{"email.ops", "team@example.com"}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-messages:
		for _, want := range []string{"MAIL FROM:<vireo@example.com>", "RCPT TO:<team@example.com>", "Subject: Rollout demo completed", "Rollout demo is done.", "AUTH "} {
			if !strings.Contains(m, want) {
				t.Errorf("the message lacks %q:\n%s", want, m)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no message reached the SMTP server")
	}
}
