package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

type received struct {
	path, auth string
	body       map[string]any
}

func receiver(t *testing.T, status int) (*httptest.Server, func() []received) {
	var mu sync.Mutex
	var got []received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(data, &body); err != nil || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("not a JSON post: %q %v", data, err)
		}
		mu.Lock()
		got = append(got, received{r.URL.Path, r.Header.Get("Authorization"), body})
		mu.Unlock()
		w.WriteHeader(status)
		_, _ = w.Write([]byte("no_service"))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []received { mu.Lock(); defer mu.Unlock(); return append([]received(nil), got...) }
}

func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// Each AlertProvider type posts the payload its service documents (as
// Flagger posts it), to a local receiver.
func TestAlertPayloads(t *testing.T) {
	srv, got := receiver(t, http.StatusOK)
	alert := Alert{Workload: "podinfo", Namespace: "test", Message: "Failed checks threshold reached 5", Severity: "error",
		Fields: []Field{{"Target", "Deployment/podinfo.test"}}}
	for _, tc := range []struct {
		typ   string
		path  string
		check func(b map[string]any) bool
	}{
		{"slack", "/hook", func(b map[string]any) bool {
			return dig(b, "channel") == "deploys" && dig(b, "username") == "vireo" && dig(b, "attachments", 0, "color") == "danger" &&
				dig(b, "attachments", 0, "author_name") == "podinfo.test" && dig(b, "attachments", 0, "text") == alert.Message &&
				dig(b, "attachments", 0, "fields", 0, "title") == "Target"
		}},
		{"discord", "/hook/slack", func(b map[string]any) bool { return dig(b, "attachments", 0, "color") == "danger" }},
		{"rocket", "/hook", func(b map[string]any) bool { return dig(b, "attachments", 0, "color") == "#FF0000" }},
		{"msteams", "/hook", func(b map[string]any) bool {
			return dig(b, "@type") == "MessageCard" && dig(b, "themeColor") == "FF0000" && dig(b, "summary") == "podinfo.test" &&
				dig(b, "sections", 0, "activityTitle") == alert.Message && dig(b, "sections", 0, "facts", 0, "name") == "Target"
		}},
		{"gchat", "/hook", func(b map[string]any) bool {
			return dig(b, "cards", 0, "header", "subtitle") == "podinfo.test" &&
				strings.Contains(dig(b, "cards", 0, "sections", 0, "widgets", 0, "textParagraph", "text").(string), alert.Message)
		}},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			n := len(got())
			e := Endpoint{Type: tc.typ, Address: srv.URL + "/hook", Token: "s3cret", Username: "vireo", Channel: "deploys"}
			if err := PostAlert(context.Background(), e, alert); err != nil {
				t.Fatal(err)
			}
			r := got()[n]
			if r.path != tc.path || r.auth != "Bearer s3cret" || !tc.check(r.body) {
				t.Errorf("posted to %s (auth %q): %v", r.path, r.auth, r.body)
			}
		})
	}
}

func TestAlertErrorsSayWhyWithoutTheAddress(t *testing.T) {
	srv, _ := receiver(t, http.StatusNotFound)
	e := Endpoint{Type: "slack", Address: srv.URL + "/services/T000/B000/XXXXSECRET", Username: "u", Channel: "c"}
	err := PostAlert(context.Background(), e, Alert{Message: "m"})
	if err == nil || !strings.Contains(err.Error(), "404") || strings.Contains(err.Error(), "XXXXSECRET") {
		t.Errorf("error %v: want the status, never the hook's secret path", err)
	}
	if err := PostAlert(context.Background(), Endpoint{Type: "pagerduty", Address: srv.URL}, Alert{}); err == nil || !strings.Contains(err.Error(), "not one of") {
		t.Errorf("an unknown type: %v", err)
	}
	if err := PostAlert(context.Background(), Endpoint{Type: "slack", Address: "http://169.254.169.254/latest"}, Alert{}); err == nil ||
		!strings.Contains(err.Error(), "metadata") {
		t.Errorf("a metadata address: %v", err)
	}
}
