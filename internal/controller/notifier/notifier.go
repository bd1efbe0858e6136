// Package notifier sends the notifications that Events on Rollouts trigger,
// as Argo Rollouts does: an Event's reason names the trigger (on- and the
// reason in kebab case), the Rollout's subscription annotations name the
// destinations, and the configuration is read from
// argo-rollouts-notification-configmap and its Secret in the controller's
// namespace. Delivery never holds up a reconcile: Events are queued, and a
// failed delivery is retried with backoff on its own, so a later Event is
// never blocked behind it.
package notifier

import (
	"context"
	"errors"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/controller/metrics"
	"github.com/vireo-dev/vireo/internal/notifications"
)

// Retry policy: a delivery is tried up to attempts times, waiting backoff,
// then twice that, up to maxBackoff, between tries.
const (
	attempts   = 6
	backoff    = time.Second
	maxBackoff = time.Minute
	// queueSize bounds the Events waiting; past it an Event's
	// notifications are dropped and counted as errors.
	queueSize = 1000
	workers   = 4
	// configTTL is how long a read configuration is used.
	configTTL = 5 * time.Second
)

// Notifier queues Events and delivers their notifications.
type Notifier struct {
	// Reader reads the ConfigMap and Secret (the API server, not the cache).
	Reader    client.Reader
	Namespace string

	once   sync.Once
	queue  chan event
	mu     sync.Mutex
	cfg    *notifications.Config
	cfgAt  time.Time
	cfgErr error
	// sent are oncePer keys already notified, by trigger and destination.
	sent sync.Map
	// wait is how long the first retry waits (tests shorten it).
	wait time.Duration
}

type event struct {
	rollout     map[string]any
	namespace   string
	name        string
	annotations map[string]string
	eventType   string
	reason      string
}

// Start runs the workers until ctx ends.
func (n *Notifier) Start(ctx context.Context) error {
	n.init()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case e := <-n.queue:
					n.deliver(ctx, e)
				}
			}
		})
	}
	wg.Wait()
	return nil
}

func (n *Notifier) init() {
	n.once.Do(func() {
		n.queue = make(chan event, queueSize)
		if n.wait == 0 {
			n.wait = backoff
		}
	})
}

// Event queues the notifications an Event on a Rollout may trigger.
func (n *Notifier) Event(ro *v1alpha1.Rollout, eventType, reason string) {
	n.init()
	hasSubscription := false
	for k := range ro.Annotations {
		if len(k) > len(notifications.SubscribePrefix) && k[:len(notifications.SubscribePrefix)] == notifications.SubscribePrefix {
			hasSubscription = true
			break
		}
	}
	if !hasSubscription {
		return // nothing to read the configuration for
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ro.DeepCopy())
	if err != nil {
		return
	}
	e := event{rollout: obj, namespace: ro.Namespace, name: ro.Name, annotations: ro.Annotations, eventType: eventType, reason: reason}
	select {
	case n.queue <- e:
	default:
		metrics.NotificationFailed(e.namespace, e.name, e.eventType, e.reason)
	}
}

// config reads the configuration, at most every configTTL. No ConfigMap
// means no notifications.
func (n *Notifier) config(ctx context.Context) (*notifications.Config, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if time.Since(n.cfgAt) < configTTL {
		return n.cfg, n.cfgErr
	}
	n.cfgAt = time.Now()
	var cm corev1.ConfigMap
	if err := n.Reader.Get(ctx, client.ObjectKey{Namespace: n.Namespace, Name: notifications.ConfigMapName}, &cm); err != nil {
		n.cfg, n.cfgErr = nil, client.IgnoreNotFound(err)
		return n.cfg, n.cfgErr
	}
	var secret corev1.Secret
	if err := n.Reader.Get(ctx, client.ObjectKey{Namespace: n.Namespace, Name: notifications.SecretName}, &secret); err != nil && !apierrors.IsNotFound(err) {
		n.cfg, n.cfgErr = nil, err
		return nil, err
	}
	n.cfg, n.cfgErr = notifications.Parse(cm.Data, secret.Data)
	return n.cfg, n.cfgErr
}

// deliver sends an Event's notifications: each template to each
// destination, each retried on its own.
func (n *Notifier) deliver(ctx context.Context, e event) {
	logger := log.FromContext(ctx).WithValues("rollout", e.namespace+"/"+e.name, "reason", e.reason)
	start := time.Now()
	defer func() { metrics.NotificationSendTime(e.namespace, e.name, time.Since(start)) }()
	cfg, err := n.config(ctx)
	if err != nil {
		logger.Error(err, "reading the notification configuration", "configmap", n.Namespace+"/"+notifications.ConfigMapName)
		metrics.NotificationFailed(e.namespace, e.name, e.eventType, e.reason)
		return
	}
	if cfg == nil {
		return
	}
	trigger := notifications.TriggerName(e.reason)
	dests := cfg.Subscriptions(e.annotations)[trigger]
	if len(dests) == 0 {
		return
	}
	vars := cfg.Vars(e.rollout, time.Now())
	fired, err := cfg.Run(trigger, vars)
	if err != nil {
		logger.Error(err, "running the trigger", "trigger", trigger)
		metrics.NotificationFailed(e.namespace, e.name, e.eventType, e.reason)
		return
	}
	for _, f := range fired {
		for _, d := range dests {
			if f.OncePer != "" {
				key := e.namespace + "/" + e.name + "|" + trigger + "|" + d.String() + "|" + f.OncePer
				if _, seen := n.sent.LoadOrStore(key, true); seen {
					continue
				}
			}
			for _, name := range f.Templates {
				msg, err := cfg.Render(name, vars)
				if err != nil {
					logger.Error(err, "rendering the template", "template", name)
					metrics.NotificationFailed(e.namespace, e.name, e.eventType, e.reason)
					continue
				}
				go n.send(ctx, cfg, msg, d, e, trigger)
			}
		}
	}
}

// send delivers one notification, retrying with backoff.
func (n *Notifier) send(ctx context.Context, cfg *notifications.Config, msg notifications.Notification, d notifications.Destination, e event, trigger string) {
	logger := log.FromContext(ctx).WithValues("rollout", e.namespace+"/"+e.name, "trigger", trigger, "template", msg.Template, "destination", d.String())
	wait := n.wait
	var err error
	for attempt := 1; attempt <= attempts; attempt++ {
		if err = cfg.Send(ctx, msg, d); err == nil {
			metrics.NotificationSent(e.namespace, e.name, e.eventType, e.reason)
			logger.Info("notification sent", "attempt", attempt)
			return
		}
		logger.Info("notification not delivered; will retry", "attempt", attempt, "error", err.Error())
		select {
		case <-ctx.Done():
			err = errors.Join(err, ctx.Err())
			attempt = attempts
		case <-time.After(wait):
		}
		wait = min(2*wait, maxBackoff)
	}
	metrics.NotificationFailed(e.namespace, e.name, e.eventType, e.reason)
	logger.Error(err, "notification given up", "attempts", attempts)
}
