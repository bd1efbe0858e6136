// Package notifier sends the notifications that Events on Rollouts trigger,
// as Argo Rollouts does: an Event's reason names the trigger (on- and the
// reason in kebab case), the Rollout's subscription annotations name the
// destinations, and the configuration is read from
// argo-rollouts-notification-configmap and its Secret in the controller's
// namespace.
//
// Delivery is at least once per Event, across a controller restart: an
// Event with subscriptions is first written to an outbox (the ConfigMap
// vireo-notification-outbox beside the configuration), and leaves it once
// its notifications are delivered or given up. A controller that starts
// (or becomes the leader) delivers what the outbox holds. Delivery never
// holds up a reconcile, and a failed delivery is retried with backoff on
// its own, so a later Event is never blocked behind it.
package notifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	// maxOutbox bounds the Events waiting; past it an Event's
	// notifications are dropped and counted as errors.
	maxOutbox = 500
	// configTTL is how long a read configuration is used.
	configTTL = 5 * time.Second
	// flushEvery is how often the outbox is written when it changed.
	flushEvery = 200 * time.Millisecond
	// OutboxName is the outbox ConfigMap, in the configuration's namespace.
	OutboxName = "vireo-notification-outbox"
	outboxKey  = "events"
)

// Fence says whether this replica may write (the leader); nil: it may.
type Fence interface {
	MayWrite(ctx context.Context) error
}

// Notifier keeps the outbox and delivers its Events' notifications.
type Notifier struct {
	// Reader reads the configuration, the outbox and Rollouts (the API
	// server, not the cache); Writer writes the outbox.
	Reader    client.Reader
	Writer    client.Client
	Fence     Fence
	Namespace string
	// ConfigMap and Secret name the configuration (Argo's names when empty).
	ConfigMap, Secret string
	// Outbox names the outbox ConfigMap; OutboxName when empty (with
	// shards, each shard has its own, delivered by the replica holding it).
	Outbox string

	mu       sync.Mutex
	outbox   map[string]*entry // by ID
	dirty    bool
	work     chan *entry
	initOnce sync.Once
	cfg      *notifications.Config
	cfgAt    time.Time
	cfgErr   error
	// sent are oncePer keys already notified, by trigger and destination.
	sent sync.Map
	// wait is how long the first retry waits (tests shorten it).
	wait time.Duration
}

// boxName is the outbox ConfigMap's name.
func (n *Notifier) boxName() string { return or(n.Outbox, OutboxName) }

// entry is one Event waiting for its notifications, as the outbox stores
// it; rollout is the Rollout as the Event saw it (read again after a
// restart).
type entry struct {
	ID        string    `json:"id"`
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	Type      string    `json:"type"`
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
	persisted bool
	rollout   map[string]any
}

func (n *Notifier) init() {
	n.initOnce.Do(func() {
		n.outbox = map[string]*entry{}
		n.work = make(chan *entry, maxOutbox)
		if n.wait == 0 {
			n.wait = backoff
		}
	})
}

// Event queues the notifications an Event on a Rollout may trigger: those
// of a Rollout subscribed to the Event's trigger, or to a service's default
// triggers (subscribe.SERVICE); other Events cost nothing.
func (n *Notifier) Event(ro *v1alpha1.Rollout, eventType, reason string) {
	n.init()
	trigger := notifications.TriggerName(reason)
	subscribed := false
	for k := range ro.Annotations {
		rest, ok := strings.CutPrefix(k, notifications.SubscribePrefix)
		if ok && (strings.HasPrefix(rest, trigger+".") || !strings.HasPrefix(rest, "on-")) {
			subscribed = true
			break
		}
	}
	if !subscribed {
		return
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ro.DeepCopy())
	if err != nil {
		return
	}
	now := time.Now()
	e := &entry{ID: fmt.Sprintf("%s/%s/%s/%d", ro.Namespace, ro.Name, reason, now.UnixNano()), Namespace: ro.Namespace, Name: ro.Name,
		Type: eventType, Reason: reason, At: now.UTC(), rollout: obj}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.outbox) >= maxOutbox {
		metrics.NotificationFailed(e.Namespace, e.Name, e.Type, e.Reason)
		return
	}
	n.outbox[e.ID] = e
	n.dirty = true
}

// Start runs until ctx ends: it waits to lead, delivers what the outbox
// holds from before, then writes the outbox as Events come and delivers
// each once it is written.
func (n *Notifier) Start(ctx context.Context) error {
	n.init()
	logger := log.FromContext(ctx).WithName("notifier")
	for n.Fence != nil && n.Fence.MayWrite(ctx) != nil {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	if err := n.load(ctx); err != nil {
		logger.Error(err, "reading the notification outbox; its Events are not delivered", "configmap", n.Namespace+"/"+n.boxName())
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case e := <-n.work:
				go n.deliver(ctx, e)
			}
		}
	}()
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := n.flush(ctx); err != nil {
				logger.Info("writing the notification outbox; will retry", "error", err.Error())
			}
		}
	}
}

// load takes the outbox a previous controller left: its Events are
// delivered again (at least once), with the Rollouts as they are now.
func (n *Notifier) load(ctx context.Context) error {
	var cm corev1.ConfigMap
	if err := n.Reader.Get(ctx, client.ObjectKey{Namespace: n.Namespace, Name: n.boxName()}, &cm); err != nil {
		return client.IgnoreNotFound(err)
	}
	var list []*entry
	if data := cm.Data[outboxKey]; data != "" {
		if err := json.Unmarshal([]byte(data), &list); err != nil {
			return fmt.Errorf("%s: %w", n.boxName(), err)
		}
	}
	for _, e := range list {
		var ro v1alpha1.Rollout
		if err := n.Reader.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: e.Name}, &ro); err != nil {
			if apierrors.IsNotFound(err) {
				continue // gone: nothing to say about it
			}
			return err
		}
		obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&ro)
		if err != nil {
			continue
		}
		e.rollout, e.persisted = obj, true
		n.mu.Lock()
		n.outbox[e.ID] = e
		n.mu.Unlock()
		n.work <- e
	}
	n.mu.Lock()
	n.dirty = true // write it back without what was dropped
	n.mu.Unlock()
	return nil
}

// flush writes the outbox when it changed, then hands the Events just
// written to delivery: an Event is delivered only once it is stored.
func (n *Notifier) flush(ctx context.Context) error {
	n.mu.Lock()
	if !n.dirty {
		n.mu.Unlock()
		return nil
	}
	list := make([]*entry, 0, len(n.outbox))
	for _, e := range n.outbox {
		list = append(list, e)
	}
	n.dirty = false
	n.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	data, _ := json.Marshal(list)
	if err := n.store(ctx, string(data)); err != nil {
		n.mu.Lock()
		n.dirty = true
		n.mu.Unlock()
		return err
	}
	for _, e := range list {
		n.mu.Lock()
		fresh := !e.persisted
		e.persisted = true
		n.mu.Unlock()
		if fresh {
			n.work <- e
		}
	}
	return nil
}

func (n *Notifier) store(ctx context.Context, data string) error {
	var cm corev1.ConfigMap
	err := n.Reader.Get(ctx, client.ObjectKey{Namespace: n.Namespace, Name: n.boxName()}, &cm)
	switch {
	case apierrors.IsNotFound(err):
		cm = corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: n.Namespace, Name: n.boxName(),
			Labels: map[string]string{"app.kubernetes.io/managed-by": "vireo"}}, Data: map[string]string{outboxKey: data}}
		return n.Writer.Create(ctx, &cm)
	case err != nil:
		return err
	}
	if cm.Data[outboxKey] == data {
		return nil
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data[outboxKey] = data
	return n.Writer.Update(ctx, &cm)
}

// done takes an Event out of the outbox.
func (n *Notifier) done(e *entry) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.outbox, e.ID)
	n.dirty = true
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
	if err := n.Reader.Get(ctx, client.ObjectKey{Namespace: n.Namespace, Name: or(n.ConfigMap, notifications.ConfigMapName)}, &cm); err != nil {
		n.cfg, n.cfgErr = nil, client.IgnoreNotFound(err)
		return n.cfg, n.cfgErr
	}
	var secret corev1.Secret
	if err := n.Reader.Get(ctx, client.ObjectKey{Namespace: n.Namespace, Name: or(n.Secret, notifications.SecretName)}, &secret); err != nil && !apierrors.IsNotFound(err) {
		n.cfg, n.cfgErr = nil, err
		return nil, err
	}
	n.cfg, n.cfgErr = notifications.Parse(cm.Data, secret.Data)
	return n.cfg, n.cfgErr
}

// deliver sends an Event's notifications, each template to each
// destination retried on its own, and takes the Event out of the outbox
// when all are delivered or given up.
func (n *Notifier) deliver(ctx context.Context, e *entry) {
	logger := log.FromContext(ctx).WithValues("rollout", e.Namespace+"/"+e.Name, "reason", e.Reason)
	start := time.Now()
	defer func() { metrics.NotificationSendTime(e.Namespace, e.Name, time.Since(start)) }()
	cfg, err := n.config(ctx)
	if err != nil {
		logger.Error(err, "reading the notification configuration", "configmap", n.Namespace+"/"+or(n.ConfigMap, notifications.ConfigMapName))
		metrics.NotificationFailed(e.Namespace, e.Name, e.Type, e.Reason)
		n.done(e)
		return
	}
	if cfg == nil {
		n.done(e)
		return
	}
	meta, _ := e.rollout["metadata"].(map[string]any)
	annotations := map[string]string{}
	if a, ok := meta["annotations"].(map[string]any); ok {
		for k, v := range a {
			annotations[k] = fmt.Sprint(v)
		}
	}
	trigger := notifications.TriggerName(e.Reason)
	dests := cfg.Subscriptions(annotations)[trigger]
	vars := cfg.Vars(e.rollout, time.Now())
	fired, err := cfg.Run(trigger, vars)
	if err != nil {
		logger.Error(err, "running the trigger", "trigger", trigger)
		metrics.NotificationFailed(e.Namespace, e.Name, e.Type, e.Reason)
		dests = nil
	}
	var wg sync.WaitGroup
	for _, f := range fired {
		for _, d := range dests {
			if f.OncePer != "" {
				key := e.Namespace + "/" + e.Name + "|" + trigger + "|" + d.String() + "|" + f.OncePer
				if _, seen := n.sent.LoadOrStore(key, true); seen {
					continue
				}
			}
			for _, name := range f.Templates {
				msg, err := cfg.Render(name, vars)
				if err != nil {
					logger.Error(err, "rendering the template", "template", name)
					metrics.NotificationFailed(e.Namespace, e.Name, e.Type, e.Reason)
					continue
				}
				wg.Go(func() { n.send(ctx, cfg, msg, d, e, trigger) })
			}
		}
	}
	wg.Wait()
	if ctx.Err() == nil {
		n.done(e)
	}
}

// send delivers one notification, retrying with backoff.
func (n *Notifier) send(ctx context.Context, cfg *notifications.Config, msg notifications.Notification, d notifications.Destination, e *entry, trigger string) {
	logger := log.FromContext(ctx).WithValues("rollout", e.Namespace+"/"+e.Name, "trigger", trigger, "template", msg.Template, "destination", d.String())
	wait := n.wait
	var err error
	for attempt := 1; attempt <= attempts; attempt++ {
		if err = cfg.Send(ctx, msg, d); err == nil {
			metrics.NotificationSent(e.Namespace, e.Name, e.Type, e.Reason)
			logger.Info("notification sent", "attempt", attempt)
			return
		}
		logger.Info("notification not delivered; will retry", "attempt", attempt, "error", err.Error())
		select {
		case <-ctx.Done():
			return // the outbox keeps it for the next controller
		case <-time.After(wait):
		}
		wait = min(2*wait, maxBackoff)
	}
	metrics.NotificationFailed(e.Namespace, e.Name, e.Type, e.Reason)
	logger.Error(errors.New(err.Error()), "notification given up", "attempts", attempts)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
