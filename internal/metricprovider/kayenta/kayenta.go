// Package kayenta is the kayenta metric provider: Kayenta's canary judge.
// A measurement starts a canary analysis execution, then polls it until
// Kayenta gives a score, which the metric's thresholds turn into a phase.
package kayenta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/httpquery"
	"github.com/vireo-dev/vireo/internal/metricprovider"
)

const (
	// ExecutionIDKey is the measurement metadata key of the execution.
	ExecutionIDKey = "canaryExecutionId"
	// DefaultPollEvery is how often a running execution is looked at.
	DefaultPollEvery = 15 * time.Second
	// Timeout bounds one request.
	Timeout = 15 * time.Second
)

const name = "provider.kayenta"

// Provider asks Kayenta for canary judgements.
type Provider struct {
	Now func() time.Time
	// PollEvery is the wait between looks at a running execution;
	// DefaultPollEvery when 0.
	PollEvery time.Duration
}

func (p Provider) poll() time.Duration {
	if p.PollEvery > 0 {
		return p.PollEvery
	}
	return DefaultPollEvery
}

func spec(metric *v1alpha1.Metric) (*v1alpha1.KayentaMetric, error) {
	k := metric.Provider.Kayenta
	if k == nil {
		return nil, errors.New(name + " is not set")
	}
	for _, f := range []struct{ field, value string }{{"address", k.Address}, {"application", k.Application}, {"canaryConfigName", k.CanaryConfigName}} {
		if f.value == "" {
			return nil, fmt.Errorf("%s.%s is required", name, f.field)
		}
	}
	if len(k.Scopes) == 0 {
		return nil, fmt.Errorf("%s.scopes: at least one scope is required", name)
	}
	return k, nil
}

type scope struct {
	ControlScope    v1alpha1.ScopeDetail `json:"controlScope"`
	ExperimentScope v1alpha1.ScopeDetail `json:"experimentScope"`
}

// Run looks up the canary config by name and starts an execution.
func (p Provider) Run(ctx context.Context, _ *v1alpha1.AnalysisRun, metric *v1alpha1.Metric) v1alpha1.Measurement {
	m := started(p.Now())
	k, err := spec(metric)
	if err != nil {
		return metricprovider.Finish(m, v1alpha1.AnalysisPhaseError, err.Error(), p.Now())
	}
	base := strings.TrimRight(k.Address, "/")
	configID, err := p.configID(ctx, k, base)
	if err != nil {
		return metricprovider.Finish(m, v1alpha1.AnalysisPhaseError, err.Error(), p.Now())
	}
	scopes := map[string]scope{}
	for _, s := range k.Scopes {
		scopes[s.Name] = scope{ControlScope: s.ControlScope, ExperimentScope: s.ExperimentScope}
	}
	body, err := json.Marshal(map[string]any{"scopes": scopes,
		"thresholds": map[string]int64{"pass": k.Threshold.Pass, "marginal": k.Threshold.Marginal}})
	if err != nil {
		return metricprovider.Finish(m, v1alpha1.AnalysisPhaseError, err.Error(), p.Now())
	}
	q := url.Values{"application": {k.Application}, "metricsAccountName": {k.MetricsAccountName},
		"configurationAccountName": {k.ConfigurationAccountName}, "storageAccountName": {k.StorageAccountName}}
	var started struct {
		ID string `json:"canaryExecutionId"`
	}
	req := httpquery.Request{Provider: name, Method: http.MethodPost, URL: base + "/canary/" + url.PathEscape(configID) + "?" + q.Encode(),
		Header: http.Header{"Content-Type": {"application/json"}}, Body: body, Timeout: Timeout}
	if err := httpquery.JSON(ctx, req, &started); err != nil {
		return metricprovider.Finish(m, v1alpha1.AnalysisPhaseError, err.Error(), p.Now())
	}
	if started.ID == "" {
		return metricprovider.Finish(m, v1alpha1.AnalysisPhaseError, name+": Kayenta started no execution (no canaryExecutionId)", p.Now())
	}
	m.Metadata = map[string]string{ExecutionIDKey: started.ID}
	return metricprovider.Later(m, p.Now().Add(p.poll()))
}

func started(at time.Time) v1alpha1.Measurement {
	t := metav1.NewTime(at)
	return v1alpha1.Measurement{StartedAt: &t}
}

// configID finds the id of the canary config the metric names.
func (p Provider) configID(ctx context.Context, k *v1alpha1.KayentaMetric, base string) (string, error) {
	q := url.Values{"application": {k.Application}}
	if k.ConfigurationAccountName != "" {
		q.Set("configurationAccountName", k.ConfigurationAccountName)
	}
	var configs []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	req := httpquery.Request{Provider: name, Method: http.MethodGet, URL: base + "/canaryConfig?" + q.Encode(), Timeout: Timeout}
	if err := httpquery.JSON(ctx, req, &configs); err != nil {
		return "", err
	}
	for _, c := range configs {
		if c.Name == k.CanaryConfigName {
			return c.ID, nil
		}
	}
	return "", fmt.Errorf("%s: Kayenta has no canary config %q for application %q", name, k.CanaryConfigName, k.Application)
}

// Resume looks at the execution: still running, or judged. A score at or
// above threshold.pass is Successful, at or above threshold.marginal
// Inconclusive, below it Failed.
func (p Provider) Resume(ctx context.Context, _ *v1alpha1.AnalysisRun, metric *v1alpha1.Metric, m v1alpha1.Measurement) v1alpha1.Measurement {
	k, err := spec(metric)
	if err != nil {
		return metricprovider.Finish(m, v1alpha1.AnalysisPhaseError, err.Error(), p.Now())
	}
	id := m.Metadata[ExecutionIDKey]
	if id == "" {
		return metricprovider.Finish(m, v1alpha1.AnalysisPhaseError, name+": the measurement lost its canaryExecutionId", p.Now())
	}
	var exec struct {
		Complete  bool            `json:"complete"`
		Status    string          `json:"status"`
		Exception json.RawMessage `json:"exception"`
		Result    struct {
			JudgeResult struct {
				Score struct {
					Score *float64 `json:"score"`
				} `json:"score"`
			} `json:"judgeResult"`
		} `json:"result"`
	}
	req := httpquery.Request{Provider: name, Method: http.MethodGet, URL: strings.TrimRight(k.Address, "/") + "/canary/" + url.PathEscape(id), Timeout: Timeout}
	if err := httpquery.JSON(ctx, req, &exec); err != nil {
		return metricprovider.Finish(m, v1alpha1.AnalysisPhaseError, err.Error(), p.Now())
	}
	if !exec.Complete {
		return metricprovider.Later(m, p.Now().Add(p.poll()))
	}
	score := exec.Result.JudgeResult.Score.Score
	if score == nil {
		msg := fmt.Sprintf("%s: execution %s ended (%s) without a score", name, id, exec.Status)
		if len(exec.Exception) > 0 && string(exec.Exception) != "null" {
			msg += ": " + string(exec.Exception)
		}
		return metricprovider.Finish(m, v1alpha1.AnalysisPhaseError, msg, p.Now())
	}
	m.Value = strconv.FormatFloat(*score, 'f', -1, 64)
	phase := v1alpha1.AnalysisPhaseFailed
	switch {
	case *score >= float64(k.Threshold.Pass):
		phase = v1alpha1.AnalysisPhaseSuccessful
	case *score >= float64(k.Threshold.Marginal):
		phase = v1alpha1.AnalysisPhaseInconclusive
	}
	return metricprovider.Finish(m, phase, "", p.Now())
}

// Terminate stops waiting for the execution; Kayenta finishes it on its own.
func (p Provider) Terminate(_ context.Context, _ *v1alpha1.AnalysisRun, _ *v1alpha1.Metric, m v1alpha1.Measurement) v1alpha1.Measurement {
	return metricprovider.Finish(m, v1alpha1.AnalysisPhaseSuccessful, "terminated: the run ended before Kayenta's judgement", p.Now())
}
