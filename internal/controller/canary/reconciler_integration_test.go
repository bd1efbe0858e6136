package canary

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/record"
	testclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
	planner "github.com/vireo-dev/vireo/internal/canary"
	"github.com/vireo-dev/vireo/internal/loadtester"
	"github.com/vireo-dev/vireo/internal/testenv"
	"github.com/vireo-dev/vireo/pkg/actions"
)

// hooks is a webhook receiver: it records each call's payload and answers
// 200, or 403 for the hooks named in deny.
type hooks struct {
	mu    sync.Mutex
	calls []Payload
	names []string
	deny  map[string]bool
}

func (h *hooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p Payload
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/")
	h.mu.Lock()
	h.calls = append(h.calls, p)
	h.names = append(h.names, name)
	deny := h.deny[name]
	h.mu.Unlock()
	if deny {
		http.Error(w, "gate closed", http.StatusForbidden)
		return
	}
	_, _ = w.Write([]byte("ok"))
}

// prom answers Prometheus' query API: the success rate it is set to, 120 ms
// for durations, and 0 for anything else.
type prom struct {
	mu      sync.Mutex
	success float64
	queries []string
}

func (p *prom) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	q := r.Form.Get("query")
	p.mu.Lock()
	p.queries = append(p.queries, q)
	v := 0.0
	switch {
	case q == "vector(1)":
		v = 1
	case strings.Contains(q, "histogram_quantile"):
		v = 120
	case strings.Contains(q, `response_code!~"5.*"`):
		v = p.success
	}
	p.mu.Unlock()
	fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[%d,"%g"]}]}}`, time.Now().Unix(), v)
}

func TestSeed003AgainstRealAPIServer(t *testing.T) {
	env := testenv.Start(t, testenv.IstioCRDs(t), testenv.KEDACRDs(t))
	c := env.Client
	ctx := context.Background()
	hk := &hooks{deny: map[string]bool{}}
	hookSrv := httptest.NewServer(hk)
	defer hookSrv.Close()
	pr := &prom{success: 100}
	promSrv := httptest.NewServer(pr)
	defer promSrv.Close()

	n := 0
	setup := func(t *testing.T) (*Reconciler, *testclock.FakePassiveClock, *record.FakeRecorder, *v1beta1.Canary) {
		n++
		ns := fmt.Sprintf("test-%d", n)
		must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
		must(t, c.Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo", Labels: map[string]string{"app": "podinfo"}},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](2),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "podinfo"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "podinfo"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "podinfod", Image: "stefanprodan/podinfo:3.1.0",
						Ports:   []corev1.ContainerPort{{Name: "http", ContainerPort: 9898}},
						EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "podinfo-env"}}}},
					}}},
				},
			},
		}))
		must(t, c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo-env"}, Data: map[string]string{"PODINFO_UI_COLOR": "blue"}}))
		must(t, c.Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo"},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
				MinReplicas:    ptr.To[int32](2), MaxReplicas: 4,
			},
		}))
		must(t, c.Create(ctx, &v1beta1.MetricTemplate{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "not-found-percentage"},
			Spec: v1beta1.MetricTemplateSpec{Provider: v1beta1.MetricTemplateProvider{Type: "prometheus", Address: promSrv.URL},
				Query: `100 - sum(rate(istio_requests_total{destination_workload_namespace="{{ namespace }}",destination_workload="{{ target }}",response_code!="404"}[{{ interval }}]))`},
		}))
		cn := &v1beta1.Canary{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo"},
			Spec: v1beta1.CanarySpec{
				TargetRef:     v1beta1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
				AutoscalerRef: &v1beta1.AutoscalerReference{APIVersion: "autoscaling/v2beta2", Kind: "HorizontalPodAutoscaler", Name: "podinfo"},
				Service: v1beta1.CanaryService{Port: 9898, Gateways: []string{"public-gateway.istio-system.svc.cluster.local"},
					Hosts: []string{"app.example.com"}, Retries: &v1beta1.HTTPRetry{Attempts: 3, PerTryTimeout: "1s", RetryOn: "gateway-error,connect-failure,refused-stream"},
					TrafficPolicy: &v1beta1.TrafficPolicy{TLS: &v1beta1.ClientTLSSettings{Mode: "DISABLE"}}},
				Analysis: &v1beta1.CanaryAnalysis{
					Interval: "1m", Threshold: 5, MaxWeight: 50, StepWeight: 10,
					Metrics: []v1beta1.CanaryMetric{
						{Name: "request-success-rate", ThresholdRange: &v1beta1.ThresholdRange{Min: ptr.To(99.0)}, Interval: "1m"},
						{Name: "request-duration", ThresholdRange: &v1beta1.ThresholdRange{Max: ptr.To(500.0)}, Interval: "30s"},
						{Name: "404s percentage", TemplateRef: &v1beta1.CrossNamespaceReference{Name: "not-found-percentage"},
							ThresholdRange: &v1beta1.ThresholdRange{Max: ptr.To(5.0)}, Interval: "1m"},
					},
					Webhooks: []v1beta1.CanaryWebhook{
						{Name: "acceptance-test", Type: v1beta1.HookPreRollout, URL: hookSrv.URL + "/acceptance-test", Timeout: "30s",
							Metadata: map[string]string{"type": "bash", "cmd": "curl -sd 'test' http://podinfo-canary:9898/token | grep token"}},
						{Name: "load-test", URL: hookSrv.URL + "/load-test", Timeout: "5s",
							Metadata: map[string]string{"cmd": "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/"}},
					},
				},
			},
		}
		must(t, c.Create(ctx, cn))
		clk := testclock.NewFakePassiveClock(time.Now().Truncate(time.Second))
		events := record.NewFakeRecorder(500)
		r := &Reconciler{Client: c, APIReader: c, Recorder: events, Clock: clk, Provider: "istio", MetricsServer: promSrv.URL,
			Checker: &Checker{Reader: c, Backoff: time.Millisecond}}
		return r, clk, events, cn
	}
	pass := func(t *testing.T, r *Reconciler, cn *v1beta1.Canary) reconcile.Result {
		t.Helper()
		res, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(cn)})
		if err != nil {
			t.Fatalf("reconcile: %v", err)
		}
		must(t, c.Get(ctx, client.ObjectKeyFromObject(cn), cn))
		return res
	}
	// settle reports a Deployment rolled out, as its controller would.
	settle := func(t *testing.T, ns, name string) {
		t.Helper()
		var d appsv1.Deployment
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d))
		n := ptr.Deref(d.Spec.Replicas, 1)
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
		must(t, c.Status().Update(ctx, &d))
	}
	weights := func(t *testing.T, ns string) planner.Routes {
		t.Helper()
		vs := &unstructured.Unstructured{}
		vs.SetGroupVersionKind(virtualServiceGVK)
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, vs))
		return weightsOf(&v1beta1.Canary{Spec: v1beta1.CanarySpec{TargetRef: v1beta1.TargetReference{Name: "podinfo"}}}, vs.Object)
	}
	setImage := func(t *testing.T, ns, image string) {
		t.Helper()
		var d appsv1.Deployment
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, &d))
		d.Spec.Template.Spec.Containers[0].Image = image
		must(t, c.Update(ctx, &d))
	}
	// initialize takes a new Canary to Initialized.
	initialize := func(t *testing.T, r *Reconciler, cn *v1beta1.Canary) {
		t.Helper()
		pass(t, r, cn)
		if cn.Status.Phase != v1beta1.PhaseInitializing {
			t.Fatalf("phase %q after the first pass, want Initializing", cn.Status.Phase)
		}
		settle(t, cn.Namespace, "podinfo-primary")
		pass(t, r, cn)
		if cn.Status.Phase != v1beta1.PhaseInitialized {
			t.Fatalf("phase %q once the primary is ready, want Initialized", cn.Status.Phase)
		}
		// Flagger's counters are written even at 0 (kubectl get canaries
		// shows WEIGHT 0, not a blank).
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(v1beta1.GroupVersion.WithKind("Canary"))
		must(t, c.Get(ctx, client.ObjectKeyFromObject(cn), u))
		for _, f := range []string{"canaryWeight", "failedChecks", "iterations"} {
			if _, found, _ := unstructured.NestedFieldNoCopy(u.Object, "status", f); !found {
				t.Errorf("status.%s is not written: %v", f, u.Object["status"])
			}
		}
		settle(t, cn.Namespace, "podinfo")
	}

	t.Run("a KEDA ScaledObject: a primary copy, and the target's paused at zero", func(t *testing.T) {
		r, _, _, cn := setup(t)
		ns := cn.Namespace
		so := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
			"metadata": map[string]any{"name": "podinfo-so", "namespace": ns},
			"spec": map[string]any{"scaleTargetRef": map[string]any{"name": "podinfo"}, "minReplicaCount": int64(2), "maxReplicaCount": int64(6),
				"triggers": []any{map[string]any{"type": "prometheus", "metadata": map[string]any{"serverAddress": "http://prometheus:9090",
					"threshold": "100", "query": `sum(rate(istio_requests_total{destination_workload="podinfo"}[1m]))`}}}},
		}}
		must(t, c.Create(ctx, so))
		cn.Spec.AutoscalerRef = &v1beta1.AutoscalerReference{APIVersion: "keda.sh/v1alpha1", Kind: "ScaledObject", Name: "podinfo-so"}
		must(t, c.Update(ctx, cn))
		initialize(t, r, cn)
		get := func(name string) *unstructured.Unstructured {
			t.Helper()
			u := &unstructured.Unstructured{}
			u.SetAPIVersion("keda.sh/v1alpha1")
			u.SetKind("ScaledObject")
			must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u))
			return u
		}
		primary := get("podinfo-so-primary")
		target, _, _ := unstructured.NestedString(primary.Object, "spec", "scaleTargetRef", "name")
		triggers, _, _ := unstructured.NestedSlice(primary.Object, "spec", "triggers")
		query := triggers[0].(map[string]any)["metadata"].(map[string]any)["query"]
		if target != "podinfo-primary" || !metav1.IsControlledBy(primary, cn) || !strings.Contains(fmt.Sprint(query), `"podinfo-primary"`) {
			t.Errorf("primary ScaledObject scales %q, query %v, owners %v", target, query, primary.GetOwnerReferences())
		}
		if a := get("podinfo-so").GetAnnotations()[planner.PausedReplicasAnnotation]; a != "0" {
			t.Errorf("the target's ScaledObject is not paused at zero after initialization: %q", a)
		}
		setImage(t, ns, "stefanprodan/podinfo:3.1.1")
		pass(t, r, cn)
		if _, paused := get("podinfo-so").GetAnnotations()[planner.PausedReplicasAnnotation]; paused || cn.Status.Phase != v1beta1.PhaseProgressing {
			t.Errorf("a new revision: phase %s, the target's ScaledObject still paused %v", cn.Status.Phase, paused)
		}
		var d appsv1.Deployment
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, &d))
		if n := ptr.Deref(d.Spec.Replicas, 0); n != 2 {
			t.Errorf("the target scaled to %d for the analysis, want the ScaledObject's minimum 2", n)
		}
	})

	t.Run("initialization makes Flagger's objects", func(t *testing.T) {
		r, _, events, cn := setup(t)
		initialize(t, r, cn)
		ns := cn.Namespace
		var primary appsv1.Deployment
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo-primary"}, &primary))
		if !metav1.IsControlledBy(&primary, cn) || primary.Spec.Selector.MatchLabels["app"] != "podinfo-primary" ||
			primary.Spec.Template.Spec.Containers[0].EnvFrom[0].ConfigMapRef.Name != "podinfo-env-primary" {
			t.Errorf("primary %+v: want controlled by the Canary, selecting app=podinfo-primary, reading podinfo-env-primary", primary.Spec)
		}
		var cm corev1.ConfigMap
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo-env-primary"}, &cm))
		if cm.Data["PODINFO_UI_COLOR"] != "blue" {
			t.Errorf("config copy %v", cm.Data)
		}
		for name, sel := range map[string]string{"podinfo": "podinfo-primary", "podinfo-primary": "podinfo-primary", "podinfo-canary": "podinfo"} {
			var svc corev1.Service
			must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &svc))
			if svc.Spec.Selector["app"] != sel || svc.Spec.Ports[0].Port != 9898 || svc.Spec.Ports[0].Name != "http" {
				t.Errorf("Service %s: selector %v ports %+v, want app=%s on http 9898", name, svc.Spec.Selector, svc.Spec.Ports, sel)
			}
		}
		var hpa autoscalingv2.HorizontalPodAutoscaler
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo-primary"}, &hpa))
		if hpa.Spec.ScaleTargetRef.Name != "podinfo-primary" {
			t.Errorf("primary HPA scales %s", hpa.Spec.ScaleTargetRef.Name)
		}
		var target appsv1.Deployment
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, &target))
		if ptr.Deref(target.Spec.Replicas, 1) != 0 {
			t.Errorf("target at %d replicas after initialization, want 0", ptr.Deref(target.Spec.Replicas, 1))
		}
		vs := &unstructured.Unstructured{}
		vs.SetGroupVersionKind(virtualServiceGVK)
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, vs))
		hosts, _, _ := unstructured.NestedStringSlice(vs.Object, "spec", "hosts")
		gws, _, _ := unstructured.NestedStringSlice(vs.Object, "spec", "gateways")
		http, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
		if strings.Join(hosts, ",") != "app.example.com,podinfo" || strings.Join(gws, ",") != "public-gateway.istio-system.svc.cluster.local" || len(http) != 1 {
			t.Errorf("VirtualService hosts %v gateways %v http %v", hosts, gws, http)
		}
		if attempts, _, _ := unstructured.NestedInt64(http[0].(map[string]any), "retries", "attempts"); attempts != 3 {
			t.Errorf("retries not carried: %v", http[0])
		}
		if w := weights(t, ns); w != (planner.Routes{Primary: 100}) {
			t.Errorf("weights %+v, want 100/0", w)
		}
		for _, dr := range []string{"podinfo-primary", "podinfo-canary"} {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(destinationRuleGVK)
			must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: dr}, u))
			if mode, _, _ := unstructured.NestedString(u.Object, "spec", "trafficPolicy", "tls", "mode"); mode != "DISABLE" {
				t.Errorf("DestinationRule %s: trafficPolicy %v", dr, u.Object["spec"])
			}
		}
		if cond := cn.Status.Conditions; len(cond) != 1 || cond[0].Type != "Promoted" || cond[0].Status != "True" || cond[0].Reason != "Initialized" {
			t.Errorf("conditions %+v, want Promoted True (Initialized)", cond)
		}
		if cn.Status.LastAppliedSpec == "" || cn.Status.LastAppliedSpec != cn.Status.LastPromotedSpec || cn.Status.TrackedConfigs == nil ||
			(*cn.Status.TrackedConfigs)["configmap/podinfo-env"] == "" {
			t.Errorf("status %+v: want lastAppliedSpec = lastPromotedSpec, configmap/podinfo-env tracked", cn.Status)
		}
		wantEvent(t, events, "Normal Synced all the metrics providers are available!")
		wantEvent(t, events, "Normal Synced Initialization done! podinfo."+ns)
		// Another pass with nothing changed writes nothing and asks for
		// nothing but the next look at the tracked config.
		rv := cn.ResourceVersion
		vsRV := vs.GetResourceVersion()
		res := pass(t, r, cn)
		if cn.ResourceVersion != rv {
			t.Error("an idle pass wrote the Canary")
		}
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, vs))
		if vs.GetResourceVersion() != vsRV {
			t.Error("an idle pass rewrote the VirtualService")
		}
		if res.RequeueAfter != time.Minute {
			t.Errorf("idle requeue %v, want 1m (the tracked config is read each interval)", res.RequeueAfter)
		}
	})

	t.Run("a new image is analysed step by step and promoted", func(t *testing.T) {
		r, clk, events, cn := setup(t)
		cn.Spec.Analysis.Webhooks = append(cn.Spec.Analysis.Webhooks, v1beta1.CanaryWebhook{Name: "events", Type: v1beta1.HookEvent, URL: hookSrv.URL + "/events"})
		must(t, c.Update(ctx, cn))
		initialize(t, r, cn)
		ns := cn.Namespace
		setImage(t, ns, "stefanprodan/podinfo:3.1.1")
		pass(t, r, cn)
		if cn.Status.Phase != v1beta1.PhaseProgressing {
			t.Fatalf("phase %q after the image changed, want Progressing", cn.Status.Phase)
		}
		settle(t, ns, "podinfo")
		var seen []int
		for i := 0; i < 20 && cn.Status.Phase != v1beta1.PhaseSucceeded; i++ {
			clk.SetTime(clk.Now().Add(time.Minute))
			pass(t, r, cn)
			settle(t, ns, "podinfo-primary")
			if w := weights(t, ns); len(seen) == 0 || seen[len(seen)-1] != w.Canary {
				seen = append(seen, w.Canary)
			}
		}
		if cn.Status.Phase != v1beta1.PhaseSucceeded {
			t.Fatalf("phase %q after 20 minutes, want Succeeded", cn.Status.Phase)
		}
		if fmt.Sprint(seen) != "[10 20 30 40 50 0]" {
			t.Errorf("canary weights %v, want 10 20 30 40 50 then 0", seen)
		}
		var primary appsv1.Deployment
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo-primary"}, &primary))
		if img := primary.Spec.Template.Spec.Containers[0].Image; img != "stefanprodan/podinfo:3.1.1" {
			t.Errorf("primary runs %s after promotion", img)
		}
		for _, e := range []string{
			"Normal Synced New revision detected! Scaling up podinfo." + ns,
			"Normal Synced Starting canary analysis for podinfo." + ns,
			"Normal Synced Pre-rollout check acceptance-test passed",
			"Normal Synced Advance podinfo." + ns + " canary weight 50",
			"Normal Synced Copying podinfo." + ns + " template spec to podinfo-primary." + ns,
			"Normal Synced Routing all traffic to primary",
			"Normal Synced Promotion completed! Scaling down podinfo." + ns,
		} {
			wantEvent(t, events, e)
		}
		hk.mu.Lock()
		defer hk.mu.Unlock()
		var pre *Payload
		for i, name := range hk.names {
			if name == "acceptance-test" {
				pre = &hk.calls[i]
			}
		}
		if pre == nil || pre.Name != "podinfo" || pre.Namespace != ns || pre.Phase != v1beta1.PhaseProgressing || pre.Checksum == "" ||
			pre.Metadata["type"] != "bash" {
			t.Errorf("pre-rollout payload %+v", pre)
		}
		var sent []string
		for i, name := range hk.names {
			if name == "events" && hk.calls[i].Namespace == ns {
				sent = append(sent, hk.calls[i].Metadata["eventType"]+" "+hk.calls[i].Metadata["eventMessage"])
				if hk.calls[i].Metadata["timestamp"] == "" {
					t.Errorf("event payload without a timestamp: %+v", hk.calls[i])
				}
			}
		}
		if got := strings.Join(sent, "\n"); !strings.Contains(got, "Normal Promotion completed! Scaling down podinfo."+ns) ||
			!strings.Contains(got, "Normal Advance podinfo."+ns+" canary weight 10") {
			t.Errorf("the event webhook got:\n%s", got)
		}
	})

	t.Run("failing metrics roll back after the threshold", func(t *testing.T) {
		r, clk, events, cn := setup(t)
		initialize(t, r, cn)
		ns := cn.Namespace
		pr.mu.Lock()
		pr.success = 90
		pr.mu.Unlock()
		defer func() { pr.mu.Lock(); pr.success = 100; pr.mu.Unlock() }()
		setImage(t, ns, "stefanprodan/podinfo:3.1.1")
		pass(t, r, cn)
		settle(t, ns, "podinfo")
		for i := 0; i < 10 && cn.Status.Phase != v1beta1.PhaseFailed; i++ {
			clk.SetTime(clk.Now().Add(time.Minute))
			pass(t, r, cn)
		}
		if cn.Status.Phase != v1beta1.PhaseFailed {
			t.Fatalf("phase %q, want Failed", cn.Status.Phase)
		}
		if w := weights(t, ns); w != (planner.Routes{Primary: 100}) {
			t.Errorf("weights %+v after the rollback, want 100/0", w)
		}
		var target appsv1.Deployment
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, &target))
		if ptr.Deref(target.Spec.Replicas, 1) != 0 {
			t.Errorf("target at %d replicas after the rollback", ptr.Deref(target.Spec.Replicas, 1))
		}
		wantEvent(t, events, "Warning Synced Halt podinfo."+ns+" advancement success rate 90.00% < 99%")
		wantEvent(t, events, "Warning Synced Rolling back podinfo."+ns+" failed checks threshold reached 5")
		wantEvent(t, events, "Warning Synced Canary failed! Scaling down podinfo."+ns)
		if cond := cn.Status.Conditions[0]; cond.Status != "False" || cond.Reason != "Failed" {
			t.Errorf("Promoted %+v, want False (Failed)", cond)
		}
	})

	t.Run("the loadtester's gate holds the promotion until it is opened", func(t *testing.T) {
		lt := httptest.NewServer((&loadtester.Server{Log: logr.Discard()}).Handler())
		defer lt.Close()
		r, clk, events, cn := setup(t)
		cn.Spec.Analysis.MaxWeight = 20
		cn.Spec.Analysis.Webhooks = append(cn.Spec.Analysis.Webhooks, v1beta1.CanaryWebhook{
			Name: "approval", Type: v1beta1.HookConfirmPromotion, URL: lt.URL + "/gate/check"})
		must(t, c.Update(ctx, cn))
		initialize(t, r, cn)
		ns := cn.Namespace
		setImage(t, ns, "stefanprodan/podinfo:3.1.1")
		pass(t, r, cn)
		settle(t, ns, "podinfo")
		for i := 0; i < 6; i++ {
			clk.SetTime(clk.Now().Add(time.Minute))
			pass(t, r, cn)
		}
		if cn.Status.Phase != v1beta1.PhaseWaitingPromotion {
			t.Fatalf("phase %s with the gate closed, want WaitingPromotion", cn.Status.Phase)
		}
		wantEvent(t, events, "Warning Synced Halt podinfo."+ns+" advancement waiting for promotion approval approval")
		body, _ := json.Marshal(Payload{Name: "podinfo", Namespace: ns})
		resp, err := http.Post(lt.URL+"/gate/open", "application/json", strings.NewReader(string(body)))
		must(t, err)
		resp.Body.Close()
		for i := 0; i < 5 && cn.Status.Phase != v1beta1.PhaseSucceeded; i++ {
			clk.SetTime(clk.Now().Add(time.Minute))
			pass(t, r, cn)
			settle(t, ns, "podinfo-primary")
		}
		if cn.Status.Phase != v1beta1.PhaseSucceeded {
			t.Fatalf("phase %s after the gate opened, want Succeeded", cn.Status.Phase)
		}
		wantEvent(t, events, "Normal Synced Confirm-promotion check approval passed")
	})

	t.Run("a person aborts or promotes through status, as kubectl vireo does", func(t *testing.T) {
		r, clk, events, cn := setup(t)
		initialize(t, r, cn)
		ns := cn.Namespace
		key := client.ObjectKeyFromObject(cn)
		if _, err := actions.AbortCanary(ctx, c, key); err == nil || !strings.Contains(err.Error(), "is Initialized: there is no analysis to abort") {
			t.Errorf("aborting an idle canary: %v", err)
		}
		setImage(t, ns, "stefanprodan/podinfo:3.1.1")
		pass(t, r, cn)
		settle(t, ns, "podinfo")
		clk.SetTime(clk.Now().Add(time.Minute))
		pass(t, r, cn)
		if w := weights(t, ns); w.Canary != 10 {
			t.Fatalf("weight %d, want 10", w.Canary)
		}
		if _, err := actions.AbortCanary(ctx, c, key); err != nil {
			t.Fatal(err)
		}
		pass(t, r, cn) // at once, not at the next tick
		if cn.Status.Phase != v1beta1.PhaseFailed || cn.Status.Abort {
			t.Fatalf("phase %s abort %v after the abort, want Failed and the request cleared", cn.Status.Phase, cn.Status.Abort)
		}
		if w := weights(t, ns); w != (planner.Routes{Primary: 100}) {
			t.Errorf("weights %+v after the abort", w)
		}
		wantEvent(t, events, "Warning Synced Rolling back podinfo."+ns+" aborted by a person")
		// A new revision, promoted by hand at its first step.
		setImage(t, ns, "stefanprodan/podinfo:3.1.2")
		pass(t, r, cn)
		settle(t, ns, "podinfo")
		if _, err := actions.PromoteCanary(ctx, c, key); err != nil {
			t.Fatal(err)
		}
		pass(t, r, cn)
		if cn.Status.Phase != v1beta1.PhasePromoting || cn.Status.PromoteFull {
			t.Fatalf("phase %s promoteFull %v, want Promoting and the request cleared", cn.Status.Phase, cn.Status.PromoteFull)
		}
		if len(cn.Status.Checks) == 0 {
			t.Error("status.checks is empty after an analysis")
		}
	})

	t.Run("revertOnDeletion gives the target its traffic back", func(t *testing.T) {
		r, _, events, cn := setup(t)
		cn.Spec.RevertOnDeletion = true
		must(t, c.Update(ctx, cn))
		initialize(t, r, cn)
		ns := cn.Namespace
		if !slices.Contains(cn.Finalizers, planner.FinalizerName) {
			t.Fatalf("finalizers %v, want %s", cn.Finalizers, planner.FinalizerName)
		}
		must(t, c.Delete(ctx, cn))
		for i := 0; i < 5; i++ {
			if _, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(cn)}); err != nil {
				t.Fatal(err)
			}
			settle(t, ns, "podinfo")
		}
		if err := c.Get(ctx, client.ObjectKeyFromObject(cn), cn); !apierrors.IsNotFound(err) {
			t.Fatalf("the Canary is still there (%v): phase %s, finalizers %v", err, cn.Status.Phase, cn.Finalizers)
		}
		var target appsv1.Deployment
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, &target))
		if n := ptr.Deref(target.Spec.Replicas, 1); n != 2 {
			t.Errorf("target at %d replicas after the revert, want the primary's 2", n)
		}
		var apex corev1.Service
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, &apex))
		if apex.Spec.Selector["app"] != "podinfo" {
			t.Errorf("apex Service selects %v after the revert, want app=podinfo", apex.Spec.Selector)
		}
		wantEvent(t, events, "Normal Synced Terminating canary podinfo."+ns)
	})

	t.Run("alerts reach the alert providers by severity", func(t *testing.T) {
		var mu sync.Mutex
		got := map[string][]string{} // path -> messages
		chat := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var body struct {
				Attachments []struct {
					Text string `json:"text"`
				} `json:"attachments"`
				Sections []struct {
					ActivityTitle string `json:"activityTitle"`
				} `json:"sections"`
			}
			_ = json.NewDecoder(r.Body).Decode(&body)
			mu.Lock()
			defer mu.Unlock()
			for _, a := range body.Attachments {
				got[r.URL.Path] = append(got[r.URL.Path], a.Text)
			}
			for _, s := range body.Sections {
				got[r.URL.Path] = append(got[r.URL.Path], s.ActivityTitle)
			}
		}))
		defer chat.Close()
		r, clk, _, cn := setup(t)
		ns := cn.Namespace
		must(t, c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "slack-url"},
			Data: map[string][]byte{"address": []byte(chat.URL + "/slack")}}))
		must(t, c.Create(ctx, &v1beta1.AlertProvider{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "on-call"},
			Spec: v1beta1.AlertProviderSpec{Type: "slack", Channel: "on-call", SecretRef: &v1beta1.SecretReference{Name: "slack-url"}}}))
		must(t, c.Create(ctx, &v1beta1.AlertProvider{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "team"},
			Spec: v1beta1.AlertProviderSpec{Type: "msteams", Address: chat.URL + "/teams"}}))
		cn.Spec.Analysis.Alerts = []v1beta1.CanaryAlert{
			{Name: "on call", Severity: v1beta1.SeverityError, ProviderRef: v1beta1.CrossNamespaceReference{Name: "on-call"}},
			{Name: "team", ProviderRef: v1beta1.CrossNamespaceReference{Name: "team"}},
		}
		must(t, c.Update(ctx, cn))
		pr.mu.Lock()
		pr.success = 90
		pr.mu.Unlock()
		defer func() { pr.mu.Lock(); pr.success = 100; pr.mu.Unlock() }()
		initialize(t, r, cn)
		setImage(t, ns, "stefanprodan/podinfo:3.1.1")
		pass(t, r, cn)
		settle(t, ns, "podinfo")
		for i := 0; i < 10 && cn.Status.Phase != v1beta1.PhaseFailed; i++ {
			clk.SetTime(clk.Now().Add(time.Minute))
			pass(t, r, cn)
		}
		mu.Lock()
		defer mu.Unlock()
		if want := "Failed checks threshold reached 5"; fmt.Sprint(got["/slack"]) != "["+want+"]" {
			t.Errorf("the error-only provider got %q, want only %q", got["/slack"], want)
		}
		team := strings.Join(got["/teams"], "|")
		for _, want := range []string{"New Deployment detected, initialization completed.", "New revision detected, progressing canary analysis.",
			"Failed checks threshold reached 5"} {
			if !strings.Contains(team, want) {
				t.Errorf("the info provider lacks %q: %q", want, got["/teams"])
			}
		}
	})

	t.Run("an invalid Canary gets a condition and one event, and no requeue", func(t *testing.T) {
		r, _, events, cn := setup(t)
		cn.Spec.Analysis.MaxWeight = 150
		cn.Spec.Analysis.Webhooks[0].URL = ""
		must(t, c.Update(ctx, cn))
		res := pass(t, r, cn)
		if res.RequeueAfter != 0 {
			t.Errorf("requeue %v for an invalid Canary", res.RequeueAfter)
		}
		var cond *v1beta1.CanaryCondition
		for i := range cn.Status.Conditions {
			if cn.Status.Conditions[i].Type == planner.InvalidSpecCondition {
				cond = &cn.Status.Conditions[i]
			}
		}
		if cond == nil || !strings.Contains(cond.Message, "spec.analysis.maxWeight") || !strings.Contains(cond.Message, "spec.analysis.webhooks[0].url") {
			t.Fatalf("conditions %+v, want InvalidSpec naming maxWeight and webhooks[0].url", cn.Status.Conditions)
		}
		rv := cn.ResourceVersion
		pass(t, r, cn)
		if cn.ResourceVersion != rv {
			t.Error("a second pass over the same invalid spec wrote the Canary again")
		}
		got := drain(events)
		if strings.Count(strings.Join(got, "\n"), "invalid Canary") != 1 {
			t.Errorf("events %v, want one about the invalid spec", got)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func drain(events *record.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-events.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// wantEvent reads events until it finds want.
func wantEvent(t *testing.T, events *record.FakeRecorder, want string) {
	t.Helper()
	var seen []string
	for {
		select {
		case e := <-events.Events:
			if e == want {
				return
			}
			seen = append(seen, e)
		default:
			t.Errorf("no event %q; seen %q", want, seen)
			return
		}
	}
}

func intOrString(n int32) intstr.IntOrString { return intstr.FromInt32(n) }
