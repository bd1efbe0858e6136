package canary

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
	planner "github.com/vireo-dev/vireo/internal/canary"
	"github.com/vireo-dev/vireo/internal/testenv"
)

// keptnCRDs declares Keptn's KeptnMetric and Analysis (metrics.keptn.sh
// v1beta1) with open schemas: Keptn's module is not on the module proxy,
// and the checker reads only status.value, status.state and status.pass.
func keptnCRDs(t *testing.T) string {
	dir := t.TempDir()
	crd := func(kind, plural string) string {
		return `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: ` + plural + `.metrics.keptn.sh}
spec:
  group: metrics.keptn.sh
  names: {kind: ` + kind + `, plural: ` + plural + `, listKind: ` + kind + `List, singular: ` + strings.ToLower(kind) + `}
  scope: Namespaced
  versions:
  - name: v1beta1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`
	}
	if err := os.WriteFile(filepath.Join(dir, "keptn.yaml"), []byte(crd("KeptnMetric", "keptnmetrics")+"---\n"+crd("Analysis", "analyses")), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A keptn MetricTemplate against a real API server: a KeptnMetric's
// status.value is the measurement; an analysis query creates an Analysis of
// the definition with the timeframe and arguments, reads its verdict once
// Keptn (played here) completes it, and deletes it; a query naming another
// namespace is refused.
func TestKeptnTemplateAgainstRealAPIServer(t *testing.T) {
	env := testenv.Start(t, keptnCRDs(t))
	ctx := context.Background()
	c := env.Client
	for _, ns := range []string{"shop", "other"} {
		must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}
	metric := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"provider": map[string]any{"name": "prom"}, "query": "up"}}}
	metric.SetGroupVersionKind(keptnMetricGVK)
	metric.SetNamespace("shop")
	metric.SetName("error-rate")
	must(t, c.Create(ctx, metric))
	metric.Object["status"] = map[string]any{"value": "0.25"}
	must(t, c.Status().Update(ctx, metric))

	// Keptn's part: complete every Analysis, passing those of "slo".
	stop := make(chan struct{})
	seen := make(chan *unstructured.Unstructured, 4)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			var list unstructured.UnstructuredList
			list.SetGroupVersionKind(keptnAnalysisGVK.GroupVersion().WithKind("AnalysisList"))
			if err := c.List(ctx, &list, client.InNamespace("shop")); err != nil {
				continue
			}
			for i := range list.Items {
				a := &list.Items[i]
				if _, done, _ := unstructured.NestedString(a.Object, "status", "state"); done {
					continue
				}
				def, _, _ := unstructured.NestedString(a.Object, "spec", "analysisDefinition", "name")
				a.Object["status"] = map[string]any{"state": "Completed", "pass": def == "slo"}
				if c.Status().Update(ctx, a) == nil {
					seen <- a.DeepCopy()
				}
			}
		}
	}()
	defer close(stop)

	keptnPoll = 50 * time.Millisecond
	k := &Checker{Reader: c, Writer: c}
	query := func(q string) planner.Result {
		return k.metric(ctx, &planner.MetricQuery{Name: "keptn", Query: q, Namespace: "shop", CanaryNamespace: "shop",
			Provider: v1beta1.MetricTemplateProvider{Type: "keptn"}})
	}
	if got := query("keptnmetric/shop/error-rate"); got != (planner.Result{OK: true, Value: 0.25}) {
		t.Errorf("KeptnMetric: %+v", got)
	}
	if got := query("analysis/shop/slo/5m/service=cart;env=prod"); got != (planner.Result{OK: true, Value: 1}) {
		t.Errorf("a passing Analysis: %+v", got)
	}
	a := <-seen
	if tf, _, _ := unstructured.NestedString(a.Object, "spec", "timeframe", "recent"); tf != "5m" || !strings.HasPrefix(a.GetName(), "slo-") {
		t.Errorf("the Analysis created: %s, timeframe %q", a.GetName(), tf)
	}
	if args, _, _ := unstructured.NestedStringMap(a.Object, "spec", "args"); args["service"] != "cart" || args["env"] != "prod" {
		t.Errorf("the Analysis's args: %v", args)
	}
	gone := &unstructured.Unstructured{}
	gone.SetGroupVersionKind(keptnAnalysisGVK)
	if err := c.Get(ctx, client.ObjectKeyFromObject(a), gone); !apierrors.IsNotFound(err) && gone.GetDeletionTimestamp() == nil {
		t.Errorf("the Analysis %s was left behind: %v", a.GetName(), err)
	}
	if got := query("analysis/shop/latency"); got != (planner.Result{OK: true, Value: 0}) {
		t.Errorf("a failing Analysis: %+v", got)
	}
	for q, want := range map[string]string{
		"keptnmetric/other/error-rate": `names namespace "other"`,
		"keptnmetric/shop/missing":     "could not retrieve KeptnMetric shop/missing",
		"metric/shop/error-rate":       "must start with keptnmetric or analysis",
		"keptnmetric/shop":             "is not keptnmetric/NAMESPACE/NAME",
	} {
		if got := query(q); got.OK || !strings.Contains(got.Err, want) {
			t.Errorf("%s: %+v, want an error with %q", q, got, want)
		}
	}
}
