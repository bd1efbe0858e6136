package canary

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	planner "github.com/vireo-dev/vireo/internal/canary"
)

// Keptn's metrics API, as Flagger's keptn provider reads it.
var (
	keptnMetricGVK   = schema.GroupVersionKind{Group: "metrics.keptn.sh", Version: "v1beta1", Kind: "KeptnMetric"}
	keptnAnalysisGVK = schema.GroupVersionKind{Group: "metrics.keptn.sh", Version: "v1beta1", Kind: "Analysis"}
)

// KeptnAnalysisTimeout bounds the wait for a Keptn Analysis (Flagger's 10 s).
var KeptnAnalysisTimeout = 10 * time.Second

// keptnPoll is the wait between two reads of a Keptn Analysis.
var keptnPoll = time.Second

// keptnQuery is a keptn template's query, Flagger's form (lowercased):
// keptnmetric/NAMESPACE/NAME, or analysis/NAMESPACE/DEFINITION/TIMEFRAME/K=V;K=V.
type keptnQuery struct {
	analysis        bool
	namespace, name string
	timeframe       string
	args            map[string]any
}

func parseKeptnQuery(query string) (keptnQuery, error) {
	parts := strings.Split(strings.TrimSpace(strings.ToLower(query)), "/")
	if len(parts) < 3 {
		return keptnQuery{}, fmt.Errorf("the keptn query %q is not keptnmetric/NAMESPACE/NAME or analysis/NAMESPACE/NAME[/TIMEFRAME[/KEY=VALUE;...]]", query)
	}
	q := keptnQuery{namespace: parts[1], name: parts[2]}
	switch parts[0] {
	case "keptnmetric", "keptnmetrics":
	case "analysis", "analyses":
		q.analysis, q.timeframe, q.args = true, "1m", map[string]any{}
		if len(parts) >= 4 {
			q.timeframe = parts[3]
		}
		if len(parts) >= 5 {
			for _, kv := range strings.Split(parts[4], ";") {
				if k, v, ok := strings.Cut(kv, "="); ok && !strings.Contains(v, "=") {
					q.args[k] = v
				}
			}
		}
	default:
		return keptnQuery{}, fmt.Errorf("the keptn query %q names %q: it must start with keptnmetric or analysis", query, parts[0])
	}
	return q, nil
}

// keptn runs a keptn MetricTemplate as Flagger does: a KeptnMetric's
// status.value, or an Analysis of the named AnalysisDefinition created for
// the check, waited for (10 s at most), read (1 passed, 0 failed) and
// deleted. Beyond Flagger, the query may only name the Canary's own
// namespace: one tenant's template does not read or create another's
// objects through the controller.
func (k *Checker) keptn(ctx context.Context, q *planner.MetricQuery) (any, error) {
	kq, err := parseKeptnQuery(q.Query)
	if err != nil {
		return nil, err
	}
	if kq.namespace != q.CanaryNamespace {
		return nil, fmt.Errorf("the keptn query names namespace %q: Vireo reads Keptn objects in the Canary's namespace (%s) only", kq.namespace, q.CanaryNamespace)
	}
	if !kq.analysis {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(keptnMetricGVK)
		if err := k.Reader.Get(ctx, client.ObjectKey{Namespace: kq.namespace, Name: kq.name}, u); err != nil {
			return nil, fmt.Errorf("could not retrieve KeptnMetric %s/%s: %w", kq.namespace, kq.name, err)
		}
		value, ok, _ := unstructured.NestedString(u.Object, "status", "value")
		if !ok {
			return nil, fmt.Errorf("could not retrieve KeptnMetric - no value found in resource %s/%s", kq.namespace, kq.name)
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("could not parse value of KeptnMetric %s/%s to float: %w", kq.namespace, kq.name, err)
		}
		return v, nil
	}
	if k.Writer == nil {
		return nil, errors.New("keptn analyses need a writer")
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	a := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{
		"analysisDefinition": map[string]any{"name": kq.name},
		"timeframe":          map[string]any{"recent": kq.timeframe},
		"args":               kq.args,
	}}}
	a.SetGroupVersionKind(keptnAnalysisGVK)
	a.SetNamespace(kq.namespace)
	a.SetName(kq.name + "-" + hex.EncodeToString(suffix))
	wait, cancel := context.WithTimeout(ctx, KeptnAnalysisTimeout)
	defer cancel()
	if err := k.Writer.Create(wait, a); err != nil {
		return nil, fmt.Errorf("could not create Keptn Analysis %s/%s: %w", kq.namespace, kq.name, err)
	}
	defer func() {
		// The Analysis is the check's own: it goes whatever the answer.
		if err := k.Writer.Delete(context.WithoutCancel(ctx), a); err != nil && !apierrors.IsNotFound(err) {
			log.FromContext(ctx).Error(err, "deleting a Keptn Analysis", "analysis", client.ObjectKeyFromObject(a))
		}
	}()
	for {
		select {
		case <-wait.Done():
			return nil, fmt.Errorf("encountered timeout while waiting for Keptn Analysis %s/%s to be finished", kq.namespace, kq.name)
		case <-time.After(keptnPoll):
		}
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(keptnAnalysisGVK)
		if err := k.Reader.Get(wait, client.ObjectKeyFromObject(a), got); err != nil {
			return nil, fmt.Errorf("could not check status of created Keptn Analysis %s/%s: %w", kq.namespace, kq.name, err)
		}
		if state, _, _ := unstructured.NestedString(got.Object, "status", "state"); state != "Completed" {
			continue
		}
		if pass, ok, _ := unstructured.NestedBool(got.Object, "status", "pass"); ok {
			if pass {
				return 1.0, nil
			}
			return 0.0, nil
		}
	}
}
