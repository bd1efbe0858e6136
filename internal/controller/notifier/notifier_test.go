package notifier

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/notifications"
)

// hook is a webhook receiver that fails its first failures requests.
type hook struct {
	mu       sync.Mutex
	failures int
	bodies   []string
	at       []time.Time
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failures > 0 {
		h.failures--
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	h.bodies = append(h.bodies, string(b))
	h.at = append(h.at, time.Now())
}

func (h *hook) received() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.bodies...)
}

// A delivery that fails is retried with backoff until it gets through; an
// Event after it is delivered meanwhile, not held up behind it; and a
// Rollout without subscriptions sends nothing.
func TestRetriedAndNotBlocking(t *testing.T) {
	down, up := &hook{failures: 3}, &hook{}
	srvDown, srvUp := httptest.NewServer(down), httptest.NewServer(up)
	defer srvDown.Close()
	defer srvUp.Close()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: notifications.ConfigMapName}, Data: map[string]string{
		"service.webhook.down":         "url: " + srvDown.URL,
		"service.webhook.up":           "url: " + srvUp.URL,
		"template.updated":             "webhook:\n  down: {body: 'updated {{.rollout.metadata.name}}'}\n  up: {body: 'updated {{.rollout.metadata.name}}'}",
		"template.completed":           "webhook:\n  down: {body: 'completed {{.rollout.metadata.name}}'}\n  up: {body: 'completed {{.rollout.metadata.name}}'}",
		"trigger.on-rollout-updated":   "- send: [updated]",
		"trigger.on-rollout-completed": "- send: [completed]",
	}}
	n := &Notifier{Reader: fake.NewClientBuilder().WithObjects(cm).Build(), Namespace: "ops", wait: 100 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Start(ctx)

	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "demo", Annotations: map[string]string{
		notifications.SubscribePrefix + "on-rollout-updated.webhook.down": "",
		notifications.SubscribePrefix + "on-rollout-completed.webhook.up": "",
	}}}
	n.Event(ro, corev1.EventTypeNormal, "RolloutUpdated")
	n.Event(ro, corev1.EventTypeNormal, "RolloutCompleted")
	n.Event(&v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "quiet"}}, corev1.EventTypeNormal, "RolloutCompleted")

	deadline := time.Now().Add(10 * time.Second)
	for len(down.received()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := down.received(); len(got) != 1 || got[0] != "updated demo" {
		t.Fatalf("the failing webhook got %v; want the update once, after its retries", got)
	}
	if got := up.received(); len(got) != 1 || got[0] != "completed demo" {
		t.Fatalf("the other webhook got %v", got)
	}
	if !up.at[0].Before(down.at[0]) {
		t.Errorf("the later Event waited for the failing one: delivered at %s, the failing one at %s", up.at[0], down.at[0])
	}
	time.Sleep(200 * time.Millisecond)
	for _, b := range append(down.received(), up.received()...) {
		if strings.Contains(b, "quiet") {
			t.Errorf("a Rollout without subscriptions was notified: %s", b)
		}
	}
}
