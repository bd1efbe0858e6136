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
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
	fc := fake.NewClientBuilder().WithObjects(cm).Build()
	n := &Notifier{Reader: fc, Writer: fc, Namespace: "ops", wait: 100 * time.Millisecond}
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

// An Event whose delivery is still failing when the controller stops stays
// in the outbox; the next controller delivers it (at least once), with the
// Rollout as it is then, and empties the outbox.
func TestOutboxSurvivesARestart(t *testing.T) {
	h := &hook{failures: 1000}
	srv := httptest.NewServer(h)
	defer srv.Close()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: notifications.ConfigMapName}, Data: map[string]string{
		"service.webhook.ci":           "url: " + srv.URL,
		"template.completed":           "webhook:\n  ci: {body: 'completed {{.rollout.metadata.name}}'}",
		"trigger.on-rollout-completed": "- send: [completed]",
	}}
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "demo", Annotations: map[string]string{
		notifications.SubscribePrefix + "on-rollout-completed.webhook.ci": ""}}}
	fc := fake.NewClientBuilder().WithScheme(scheme(t)).WithObjects(cm, ro.DeepCopy()).Build()
	outbox := func() string {
		var box corev1.ConfigMap
		if err := fc.Get(context.Background(), client.ObjectKey{Namespace: "ops", Name: OutboxName}, &box); err != nil {
			return "(none: " + err.Error() + ")"
		}
		return box.Data[outboxKey]
	}

	first := &Notifier{Reader: fc, Writer: fc, Namespace: "ops", wait: 50 * time.Millisecond}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { first.Start(ctx); close(done) }()
	first.Event(ro, corev1.EventTypeNormal, "RolloutCompleted")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(outbox(), `"reason":"RolloutCompleted"`) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(outbox(), `"reason":"RolloutCompleted"`) {
		t.Fatalf("the Event never reached the outbox: %s", outbox())
	}
	time.Sleep(200 * time.Millisecond) // a few failed tries
	stop()
	<-done
	if len(h.received()) != 0 {
		t.Fatal("delivered by the first controller")
	}

	h.mu.Lock()
	h.failures = 0
	h.mu.Unlock()
	second := &Notifier{Reader: fc, Writer: fc, Namespace: "ops", wait: 50 * time.Millisecond}
	ctx2, stop2 := context.WithCancel(context.Background())
	defer stop2()
	go second.Start(ctx2)
	deadline = time.Now().Add(10 * time.Second)
	for (len(h.received()) == 0 || outbox() != "[]") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := h.received(); len(got) != 1 || got[0] != "completed demo" {
		t.Errorf("after the restart the webhook got %v", got)
	}
	if box := outbox(); box != "[]" {
		t.Errorf("the outbox after delivery: %s", box)
	}
}

func scheme(t *testing.T) *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// Only an Event whose trigger the Rollout subscribes to (or a service's
// default triggers) enters the outbox: the rest cost no write.
func TestOnlySubscribedEventsAreKept(t *testing.T) {
	n := &Notifier{}
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "demo", Annotations: map[string]string{
		notifications.SubscribePrefix + "on-rollout-completed.slack": "ch"}}}
	n.Event(ro, corev1.EventTypeNormal, "ScalingReplicaSet")
	n.Event(ro, corev1.EventTypeNormal, "RolloutStepCompleted")
	if len(n.outbox) != 0 {
		t.Errorf("unsubscribed Events kept: %d", len(n.outbox))
	}
	n.Event(ro, corev1.EventTypeNormal, "RolloutCompleted")
	ro.Annotations = map[string]string{notifications.SubscribePrefix + "slack": "ch"} // the default triggers
	n.Event(ro, corev1.EventTypeNormal, "RolloutPaused")
	if len(n.outbox) != 2 {
		t.Errorf("subscribed Events kept: %d, want 2", len(n.outbox))
	}
}

// --notification-configmap and --notification-secret name the
// configuration.
func TestConfigurationNames(t *testing.T) {
	fc := fake.NewClientBuilder().WithObjects(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "team-notes"}, Data: map[string]string{"service.webhook.ci": "url: $url"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "team-secrets"}, Data: map[string][]byte{"url": []byte("http://x")}},
	).Build()
	n := &Notifier{Reader: fc, Namespace: "ops", ConfigMap: "team-notes", Secret: "team-secrets"}
	cfg, err := n.config(context.Background())
	if err != nil || cfg == nil || cfg.Services["webhook.ci"].Type != "webhook" || string(cfg.Secrets["url"]) != "http://x" {
		t.Errorf("configuration from the named ConfigMap and Secret: %+v %v", cfg, err)
	}
}
