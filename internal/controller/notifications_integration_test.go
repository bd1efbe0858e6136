package controller_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/internal/controller"
	"github.com/vireo-dev/vireo/internal/notifications"
	"github.com/vireo-dev/vireo/internal/testenv"
)

// Notifications on a real API server: the controller reads
// argo-rollouts-notification-configmap from its namespace, and an Event on
// a subscribed Rollout reaches the webhook, rendered from the Rollout, with
// the Secret's token in its header; the metrics count it.
//
// With shards, the same: each shard's outbox is written through its own
// shard's fence, by the replica that holds it.
func TestNotificationsFromEvents(t *testing.T) {
	env := testenv.Start(t)
	t.Run("one controller", func(t *testing.T) {
		notificationsFromEvents(t, env, func(ops string) controller.Options { return controller.Options{} })
	})
	t.Run("shards", func(t *testing.T) {
		notificationsFromEvents(t, env, func(ops string) controller.Options {
			return controller.Options{Shards: 2, LeaderElectionNamespace: ops}
		})
	})
}

func notificationsFromEvents(t *testing.T, env *testenv.Env, options func(ops string) controller.Options) {
	c := env.Client
	ops := namespace(t, c, "vireo-ops")
	ns := namespace(t, c, "notify")
	var mu sync.Mutex
	var got []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Header.Get("X-Token")+" "+string(b))
		mu.Unlock()
	}))
	defer hook.Close()
	create(t, c, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ops, Name: notifications.SecretName}, StringData: map[string]string{"token": "s3cret"}})
	create(t, c, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ops, Name: notifications.ConfigMapName}, Data: map[string]string{
		"service.webhook.ci":         fmt.Sprintf("url: %s\nheaders: [{name: X-Token, value: $token}]", hook.URL),
		"template.rollout-updated":   "webhook:\n  ci: {body: '{{.rollout.metadata.name}} updated to {{(index .rollout.spec.template.spec.containers 0).image}}'}",
		"trigger.on-rollout-updated": "- send: [rollout-updated]",
	}})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	opts := options(ops)
	opts.MetricsBindAddress, opts.CredentialsNamespace = addr, ops
	startManagerServing(t, env, opts)

	ro := rollout(ns, "notified", nil)
	ro.Spec.Replicas = ptr.To[int32](1)
	ro.Annotations = map[string]string{notifications.SubscribePrefix + "on-rollout-updated.webhook.ci": ""}
	create(t, c, ro)
	deadline := time.Now().Add(45 * time.Second) // with shards, a second shard is taken after 5 s
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || !strings.HasPrefix(got[0], "s3cret notified updated to ") {
		t.Fatalf("the webhook received %q; want one notification of the update, with the Secret's token", got)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if want := fmt.Sprintf(`notification_send_success{name="notified",namespace=%q,reason="RolloutUpdated",type="Normal"} 1`, ns); !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %s", want)
	}
}
