package canary

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
	planner "github.com/vireo-dev/vireo/internal/canary"
	"github.com/vireo-dev/vireo/internal/notify"
	"github.com/vireo-dev/vireo/internal/statuspatch"
)

// writer is the controller's apply.Target: one pass's writes for one
// Canary, through the fenced client.
type writer struct {
	client   client.Client
	reader   client.Reader
	recorder record.EventRecorder
	checker  *Checker
	router   Router
	canary   *v1beta1.Canary
	target   *appsv1.Deployment
	primary  *appsv1.Deployment
	now      time.Time
}

func (w *writer) CopyConfigs(ctx context.Context, names []string) error {
	for _, ref := range names {
		kind, name, _ := strings.Cut(ref, "/")
		switch kind {
		case planner.ConfigMapKind:
			var src corev1.ConfigMap
			if err := w.reader.Get(ctx, client.ObjectKey{Namespace: w.canary.Namespace, Name: name}, &src); err != nil {
				return fmt.Errorf("configmap %s.%s get query error: %w", name, w.canary.Namespace, err)
			}
			dst := &corev1.ConfigMap{ObjectMeta: planner.PrimaryConfig(w.canary, &src), Data: src.Data, BinaryData: src.BinaryData}
			if err := w.upsert(ctx, w.reader, dst, func(cur client.Object) bool {
				c := cur.(*corev1.ConfigMap)
				same := equality.Semantic.DeepEqual(c.Data, dst.Data) && equality.Semantic.DeepEqual(c.BinaryData, dst.BinaryData)
				c.Data, c.BinaryData = dst.Data, dst.BinaryData
				return !same
			}, &corev1.ConfigMap{}); err != nil {
				return err
			}
		case planner.SecretKind:
			var src corev1.Secret
			if err := w.reader.Get(ctx, client.ObjectKey{Namespace: w.canary.Namespace, Name: name}, &src); err != nil {
				return fmt.Errorf("secret %s.%s get query error: %w", name, w.canary.Namespace, err)
			}
			dst := &corev1.Secret{ObjectMeta: planner.PrimaryConfig(w.canary, &src), Data: src.Data, Type: src.Type}
			if err := w.upsert(ctx, w.reader, dst, func(cur client.Object) bool {
				c := cur.(*corev1.Secret)
				same := equality.Semantic.DeepEqual(c.Data, dst.Data)
				c.Data = dst.Data
				return !same
			}, &corev1.Secret{}); err != nil {
				return err
			}
		}
	}
	return nil
}

// upsert reads obj's current version from the reader (the cache for
// Services, the API server for kinds the controller does not watch):
// missing, it is created; present, mutate brings it in line and it is
// updated if mutate reports a change. A pass with nothing to change makes
// no write and no failed create.
func (w *writer) upsert(ctx context.Context, from client.Reader, obj client.Object, mutate func(cur client.Object) bool, cur client.Object) error {
	err := from.Get(ctx, client.ObjectKeyFromObject(obj), cur)
	if apierrors.IsNotFound(err) {
		// Already there when the cache had not seen it yet: the next pass
		// reads it and brings it in line.
		if err := w.client.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %T %s: %w", obj, klog.KObj(obj), err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %T %s: %w", obj, klog.KObj(obj), err)
	}
	// A Service may be the user's (the apex, taken over); any other object
	// of that name that this Canary does not control is left alone.
	if _, svc := cur.(*corev1.Service); !svc && !metav1.IsControlledBy(cur, w.canary) {
		return fmt.Errorf("%s exists and is not controlled by canary %s; Vireo leaves it alone", klog.KObj(cur), klog.KObj(w.canary))
	}
	if !mutate(cur) {
		return nil
	}
	if err := w.client.Update(ctx, cur); err != nil {
		return fmt.Errorf("updating %T %s: %w", obj, klog.KObj(obj), err)
	}
	return nil
}

func (w *writer) WritePrimary(ctx context.Context, d *appsv1.Deployment) error {
	if w.primary == nil {
		if err := w.client.Create(ctx, d); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating deployment %s: %w", klog.KObj(d), err)
		}
		return nil
	}
	next := w.primary.DeepCopy()
	next.Labels, next.Annotations = d.Labels, d.Annotations
	next.Spec.Replicas = d.Spec.Replicas
	next.Spec.ProgressDeadlineSeconds = d.Spec.ProgressDeadlineSeconds
	next.Spec.MinReadySeconds = d.Spec.MinReadySeconds
	next.Spec.RevisionHistoryLimit = d.Spec.RevisionHistoryLimit
	next.Spec.Strategy = d.Spec.Strategy
	next.Spec.Template = d.Spec.Template
	if err := w.client.Update(ctx, next); err != nil {
		return fmt.Errorf("updating deployment %s template spec failed: %w", klog.KObj(d), err)
	}
	return nil
}

func (w *writer) WritePrimaryHPA(ctx context.Context, h *autoscalingv2.HorizontalPodAutoscaler) error {
	return w.upsert(ctx, w.reader, h, func(cur client.Object) bool {
		c := cur.(*autoscalingv2.HorizontalPodAutoscaler)
		if equality.Semantic.DeepEqual(c.Spec, h.Spec) {
			return false
		}
		c.Spec = h.Spec
		return true
	}, &autoscalingv2.HorizontalPodAutoscaler{})
}

func (w *writer) WritePrimaryScaledObject(ctx context.Context, so *unstructured.Unstructured) error {
	cur := &unstructured.Unstructured{}
	cur.SetGroupVersionKind(so.GroupVersionKind())
	return w.upsert(ctx, w.reader, so, func(obj client.Object) bool {
		c := obj.(*unstructured.Unstructured)
		if equality.Semantic.DeepEqual(c.Object["spec"], so.Object["spec"]) {
			return false
		}
		c.Object["spec"] = so.Object["spec"]
		return true
	}, cur)
}

// PauseTargetScaler sets or removes KEDA's paused-replicas annotation on
// the target's ScaledObject (the user's object: only that annotation).
func (w *writer) PauseTargetScaler(ctx context.Context, paused bool) error {
	ref := w.canary.Spec.AutoscalerRef
	if ref == nil || ref.Kind != planner.ScaledObjectKind {
		return nil
	}
	so := &unstructured.Unstructured{}
	so.SetAPIVersion(planner.ScaledObjectVersion)
	so.SetKind(planner.ScaledObjectKind)
	if err := w.reader.Get(ctx, client.ObjectKey{Namespace: w.canary.Namespace, Name: ref.Name}, so); err != nil {
		return fmt.Errorf("reading ScaledObject %s.%s: %w", ref.Name, w.canary.Namespace, err)
	}
	a := so.GetAnnotations()
	if _, has := a[planner.PausedReplicasAnnotation]; has == paused {
		return nil
	}
	value := any(nil) // a merge patch removes a key set to null
	if paused {
		value = "0"
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{planner.PausedReplicasAnnotation: value}}})
	if err := w.client.Patch(ctx, so, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("pausing (%v) ScaledObject %s.%s: %w", paused, ref.Name, w.canary.Namespace, err)
	}
	return nil
}

func (w *writer) WriteServices(ctx context.Context, svcs []*corev1.Service) error {
	for _, s := range svcs {
		err := w.upsert(ctx, w.client, s, func(cur client.Object) bool {
			c := cur.(*corev1.Service)
			ports := s.Spec.Ports
			// Keep the node ports the API server assigned.
			for i := range ports {
				for _, p := range c.Spec.Ports {
					if p.Name == ports[i].Name && p.NodePort > 0 {
						ports[i].NodePort = p.NodePort
					}
				}
			}
			changed := !equality.Semantic.DeepEqual(c.Spec.Ports, ports) || !equality.Semantic.DeepEqual(c.Spec.Selector, s.Spec.Selector)
			c.Spec.Ports, c.Spec.Selector = ports, s.Spec.Selector
			if metav1.IsControlledBy(c, w.canary) {
				if !equality.Semantic.DeepEqual(c.Labels, s.Labels) {
					c.Labels, changed = maps.Clone(s.Labels), true
				}
				if len(s.Annotations) > 0 && !equality.Semantic.DeepEqual(c.Annotations, s.Annotations) {
					c.Annotations, changed = maps.Clone(s.Annotations), true
				}
			}
			return changed
		}, &corev1.Service{})
		if err != nil {
			return err
		}
	}
	return nil
}

func (w *writer) ReconcileRouter(ctx context.Context, sticky *planner.Sticky) error {
	return w.router.Reconcile(ctx, w.canary, sticky)
}

func (w *writer) SetRoutes(ctx context.Context, r planner.Routes) error {
	return w.router.SetRoutes(ctx, w.canary, r)
}

func (w *writer) ScaleTarget(ctx context.Context, n int32) error {
	patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, n))
	if err := w.client.Patch(ctx, w.target.DeepCopy(), patch); err != nil {
		return fmt.Errorf("scaling deployment %s to %d failed: %w", klog.KObj(w.target), n, err)
	}
	return nil
}

func (w *writer) SetFinalizer(ctx context.Context, present bool) error {
	next := w.canary.DeepCopy()
	if present {
		controllerutil.AddFinalizer(next, planner.FinalizerName)
	} else {
		controllerutil.RemoveFinalizer(next, planner.FinalizerName)
	}
	if err := w.client.Patch(ctx, next, client.MergeFromWithOptions(w.canary, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("setting the finalizer of canary %s: %w", klog.KObj(w.canary), err)
	}
	// The status patch that follows is made against this version.
	w.canary.ResourceVersion, w.canary.Finalizers = next.ResourceVersion, next.Finalizers
	return nil
}

func (w *writer) WriteStatus(ctx context.Context, s *v1beta1.CanaryStatus) (bool, error) {
	next := w.canary.DeepCopy()
	next.Status = *s
	// A merge patch of the difference, plus the three counters Flagger
	// always writes: a field that stays 0 would otherwise never be written,
	// and `kubectl get canaries` would show it blank where Flagger shows 0.
	data, err := client.MergeFromWithOptions(w.canary, client.MergeFromWithOptimisticLock{}).Data(next)
	if err != nil {
		return false, err
	}
	var patch map[string]any
	if err := json.Unmarshal(data, &patch); err != nil {
		return false, err
	}
	st, _ := patch["status"].(map[string]any)
	if st == nil {
		st = map[string]any{}
		patch["status"] = st
	}
	st["failedChecks"], st["canaryWeight"], st["iterations"] = s.FailedChecks, s.CanaryWeight, s.Iterations
	if data, err = json.Marshal(patch); err != nil {
		return false, err
	}
	err = statuspatch.Patch(ctx, w.client, next, client.RawPatch(types.MergePatchType, data))
	conflict := apierrors.IsConflict(err)
	if conflict {
		err = nil
	} else if err != nil {
		err = fmt.Errorf("patching status of canary %s: %w", klog.KObj(w.canary), err)
	}
	if err == nil && !conflict {
		// A finalizer removed after the status is made against this version.
		w.canary.ResourceVersion, w.canary.Status = next.ResourceVersion, next.Status
	}
	return conflict, err
}

func (w *writer) Event(ctx context.Context, e planner.Event) {
	w.recorder.Event(w.canary, e.Type, planner.EventReason, e.Message)
	log.FromContext(ctx).V(1).Info(e.Message, "canary", klog.KObj(w.canary))
	if a := w.canary.Spec.Analysis; a != nil {
		for i := range a.Webhooks {
			h := &a.Webhooks[i]
			if h.Type != v1beta1.HookEvent {
				continue
			}
			if err := w.checker.EventHook(ctx, w.canary, h, e.Message, e.Type, w.now); err != nil {
				log.FromContext(ctx).Info("event webhook failed", "canary", klog.KObj(w.canary), "webhook", h.Name, "error", err.Error())
			}
		}
	}
}

// Alert sends each alert to the providers of spec.analysis.alerts whose
// severity admits it, with the address (and token) from the provider's
// Secret when it names one. A failed send is logged, as Flagger does; it
// never holds the Canary.
func (w *writer) Alert(ctx context.Context, alerts []planner.Alert) {
	a := w.canary.Spec.Analysis
	if a == nil {
		return
	}
	logger := log.FromContext(ctx).WithValues("canary", klog.KObj(w.canary))
	for _, al := range alerts {
		msg := notify.Alert{Workload: w.canary.Name, Namespace: w.canary.Namespace, Message: al.Message, Severity: string(al.Severity)}
		for _, f := range al.Fields {
			msg.Fields = append(msg.Fields, notify.Field{Name: f.Name, Value: f.Value})
		}
		for _, sub := range a.Alerts {
			if !planner.AlertWanted(sub.Severity, al.Severity) {
				continue
			}
			ns := sub.ProviderRef.Namespace
			if ns == "" {
				ns = w.canary.Namespace
			}
			e, err := w.endpoint(ctx, ns, sub.ProviderRef.Name)
			if err == nil {
				err = notify.PostAlert(ctx, e, msg)
			}
			if err != nil {
				logger.Info("alert not sent", "alert", sub.Name, "provider", ns+"/"+sub.ProviderRef.Name, "error", err.Error())
				continue
			}
			logger.V(1).Info("alert sent", "alert", sub.Name, "message", al.Message)
		}
	}
}

// endpoint reads an AlertProvider and its Secret.
func (w *writer) endpoint(ctx context.Context, ns, name string) (notify.Endpoint, error) {
	var p v1beta1.AlertProvider
	if err := w.reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &p); err != nil {
		return notify.Endpoint{}, fmt.Errorf("alert provider %s.%s: %w", name, ns, err)
	}
	e := notify.Endpoint{Type: p.Spec.Type, Address: p.Spec.Address, Proxy: p.Spec.Proxy, Username: p.Spec.Username, Channel: p.Spec.Channel}
	if e.Username == "" {
		e.Username = "flagger"
	}
	if e.Channel == "" {
		e.Channel = "general"
	}
	if ref := p.Spec.SecretRef; ref != nil {
		var s corev1.Secret
		if err := w.reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, &s); err != nil {
			return notify.Endpoint{}, fmt.Errorf("alert provider %s.%s secretRef: %w", name, ns, err)
		}
		addr, ok := s.Data["address"]
		if !ok {
			return notify.Endpoint{}, fmt.Errorf("alert provider %s.%s: its Secret has no address", name, ns)
		}
		e.Address, e.Token = string(addr), string(s.Data["token"])
		if p, ok := s.Data["proxy"]; ok {
			e.Proxy = string(p)
		}
	}
	return e, nil
}

// After calls the post-rollout hooks and reports each answer as an event.
func (w *writer) After(ctx context.Context, checks []planner.Check) {
	for _, ch := range checks {
		r := w.checker.Run(ctx, w.canary, ch)
		if r.OK {
			w.Event(ctx, planner.Event{Type: corev1.EventTypeNormal, Message: fmt.Sprintf("Post-rollout check %s passed", ch.Hook.Name)})
		} else {
			w.Event(ctx, planner.Event{Type: corev1.EventTypeWarning, Message: fmt.Sprintf("Post-rollout hook %s failed %s", ch.Hook.Name, r.Err)})
		}
	}
}
