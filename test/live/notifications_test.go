package live

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// received is one notification the stack's receiver logged.
type received struct {
	At   time.Time       `json:"at"`
	Path string          `json:"path"`
	Auth string          `json:"auth"`
	Body json.RawMessage `json:"body"`
}

// notificationsBetween reads the receiver's log for [from, to), a few
// seconds' grace after to for deliveries in flight.
func (s *stack) notificationsBetween(t *testing.T, from, to time.Time) []received {
	t.Helper()
	time.Sleep(3 * time.Second)
	f, err := os.Open(filepath.Join(s.dir, "notifications.log"))
	if err != nil {
		t.Fatalf("the notification receiver's log: %v", err)
	}
	defer f.Close()
	var out []received
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r received
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("a line of the receiver's log: %v", err)
		}
		if !r.At.Before(from) && r.At.Before(to.Add(3*time.Second)) {
			out = append(out, r)
		}
	}
	return out
}

// checkNotifications checks that seed 000's story (a promotion, then a bad
// canary aborted by its analysis) sent exactly what rollout.yaml subscribes
// to: to the webhook every completed step, the completion, the failed
// analysis and the abort; to Slack (chat.postMessage, with the Secret's
// token) the completion and the abort; to Teams (a Workflows card) the
// failed analysis and the abort. It returns the log, a line each.
func checkNotifications(t *testing.T, s *stack, res result) []string {
	t.Helper()
	got := s.notificationsBetween(t, res.began, res.ended)
	counts := map[string]int{}
	var log []string
	steps := 0
	for _, r := range got {
		var body map[string]any
		_ = json.Unmarshal(r.Body, &body)
		var what string
		switch r.Path {
		case "/webhook":
			what = fmt.Sprint(body["trigger"])
			if what == "on-rollout-step-completed" {
				steps++
			}
		case "/slack/chat.postMessage":
			if r.Auth != "Bearer" || body["channel"] != "deploys" {
				t.Errorf("a Slack message without the token or channel: %s %s", r.Auth, r.Body)
			}
			what = "slack: " + fmt.Sprint(body["text"])
		case "/teams":
			att, _ := body["attachments"].([]any)
			if body["type"] != "message" || len(att) != 1 {
				t.Errorf("a Teams message that is not a Workflows card: %s", r.Body)
			}
			what = "teams: " + teamsTitle(body)
		default:
			t.Errorf("a notification on an unknown path %s: %s", r.Path, r.Body)
		}
		counts[r.Path+" "+strings.SplitN(what, ":", 2)[0]]++
		log = append(log, fmt.Sprintf("%s  %-24s %s", r.At.Format("15:04:05.000"), r.Path, what))
	}
	// blue's first revision completes too (Argo raises RolloutCompleted for
	// it), then green; yellow fails its analysis and is aborted.
	want := map[string]int{
		"/webhook on-rollout-completed":   2,
		"/webhook on-analysis-run-failed": 1,
		"/webhook on-rollout-aborted":     1,
		"/slack/chat.postMessage slack":   3,
		"/teams teams":                    2,
	}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%s: %d notifications, want %d", k, counts[k], n)
		}
	}
	// Every step of green's promotion: 8, each once (by the image in the
	// body: each notification is delivered on its own, so green's last
	// step may arrive after its completion); and yellow's, at least its
	// first, before the abort.
	if green := stepNotifications(got, "vireo-demo:green"); fmt.Sprint(green) != "[1 2 3 4 5 6 7 8]" {
		t.Errorf("step notifications of green's promotion for steps %v, want its 8 steps once each", green)
	}
	if steps < 9 {
		t.Errorf("%d step notifications; want green's 8 and yellow's first", steps)
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := want[k]; !ok && k != "/webhook on-rollout-step-completed" {
			t.Errorf("a notification nothing subscribes to: %s ×%d", k, counts[k])
		}
	}
	return log
}

func teamsTitle(body map[string]any) string {
	att, _ := body["attachments"].([]any)
	if len(att) == 0 {
		return ""
	}
	content, _ := att[0].(map[string]any)["content"].(map[string]any)
	blocks, _ := content["body"].([]any)
	if len(blocks) == 0 {
		return ""
	}
	first, _ := blocks[0].(map[string]any)
	return fmt.Sprint(first["text"])
}

// stepNotifications lists, sorted, the steps of the webhook's step
// notifications for a rollout running image.
func stepNotifications(got []received, image string) []int {
	var steps []int
	for _, r := range got {
		if r.Path != "/webhook" {
			continue
		}
		var body struct {
			Trigger string `json:"trigger"`
			Step    int    `json:"step"`
			Image   string `json:"image"`
		}
		if json.Unmarshal(r.Body, &body) == nil && body.Trigger == "on-rollout-step-completed" && body.Image == image {
			steps = append(steps, body.Step)
		}
	}
	sort.Ints(steps)
	return steps
}
