// Package cloudwatch is the cloudWatch metric provider: GetMetricData over
// the last interval, through the AWS SDK and its usual credential chain
// (environment, shared config, web identity, instance role).
package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	cw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/analysis"
)

const (
	// DefaultInterval is how far back the queries look.
	DefaultInterval = 5 * time.Minute
	// Timeout bounds one measurement.
	Timeout = 30 * time.Second
	// maxPages bounds how many pages of results one measurement reads.
	maxPages = 10
)

const name = "provider.cloudWatch"

// Provider queries CloudWatch.
type Provider struct {
	Now func() time.Time
	// Config loads the AWS configuration; config.LoadDefaultConfig on every
	// measurement when nil (CachedConfig loads it once).
	Config func(ctx context.Context) (aws.Config, error)
	// ClientOptions adjust the client, e.g. its endpoint.
	ClientOptions []func(*cw.Options)
}

// CachedConfig loads the AWS configuration once and keeps it, so that its
// credentials cache (web identity, instance role) serves every measurement
// instead of fetching credentials again each time. A failed load is tried
// again on the next call. opts adjust the loading (a region).
func CachedConfig(opts ...func(*awsconfig.LoadOptions) error) func(ctx context.Context) (aws.Config, error) {
	var (
		mu     sync.Mutex
		cfg    aws.Config
		loaded bool
	)
	return func(ctx context.Context) (aws.Config, error) {
		mu.Lock()
		defer mu.Unlock()
		if loaded {
			return cfg, nil
		}
		c, err := awsconfig.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return c, err
		}
		cfg, loaded = c, true
		return cfg, nil
	}
}

// Query runs the metric's metricDataQueries over the last interval. The
// result is the list of MetricDataResults, with the SDK's field names:
// result[0].Values, result[0].Timestamps, result[0].Label, result[0].StatusCode.
func (p Provider) Query(ctx context.Context, metric *v1alpha1.Metric) (any, error) {
	c := metric.Provider.CloudWatch
	if c == nil {
		return nil, errors.New(name + " is not set")
	}
	if len(c.MetricDataQueries) == 0 {
		return nil, errors.New(name + ".metricDataQueries: at least one query is required")
	}
	interval, err := analysis.DurationOr(c.Interval, name+".interval", DefaultInterval)
	if err != nil {
		return nil, err
	}
	queries := make([]types.MetricDataQuery, len(c.MetricDataQueries))
	for i, q := range c.MetricDataQueries {
		if queries[i], err = convert(q, fmt.Sprintf("%s.metricDataQueries[%d]", name, i)); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	load := p.Config
	if load == nil {
		load = func(ctx context.Context) (aws.Config, error) { return awsconfig.LoadDefaultConfig(ctx) }
	}
	cfg, err := load(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: loading the AWS configuration: %w", name, err)
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	end := now()
	input := &cw.GetMetricDataInput{StartTime: aws.Time(end.Add(-interval)), EndTime: aws.Time(end), MetricDataQueries: queries}
	pages := cw.NewGetMetricDataPaginator(cw.NewFromConfig(cfg, p.ClientOptions...), input)
	byID := map[string]int{}
	results := []map[string]any{}
	for n := 0; pages.HasMorePages() && n < maxPages; n++ {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: GetMetricData: %w", name, err)
		}
		for _, r := range out.MetricDataResults {
			id := aws.ToString(r.Id)
			i, seen := byID[id]
			if !seen {
				i = len(results)
				byID[id] = i
				results = append(results, map[string]any{"Id": id, "Label": aws.ToString(r.Label),
					"StatusCode": string(r.StatusCode), "Timestamps": []time.Time{}, "Values": []float64{}})
			}
			// Later pages continue the series of the same id.
			res := results[i]
			res["StatusCode"] = string(r.StatusCode)
			res["Timestamps"] = append(res["Timestamps"].([]time.Time), r.Timestamps...)
			res["Values"] = append(res["Values"].([]float64), r.Values...)
		}
	}
	if len(results) == 0 {
		return nil, fmt.Errorf("%s: GetMetricData returned no results", name)
	}
	return results, nil
}

// convert turns one of the metric's queries into the SDK's.
func convert(q v1alpha1.CloudWatchMetricDataQuery, path string) (types.MetricDataQuery, error) {
	out := types.MetricDataQuery{Expression: q.Expression, Label: q.Label, ReturnData: q.ReturnData}
	if q.Id != "" {
		out.Id = aws.String(q.Id)
	} else {
		return out, fmt.Errorf("%s.id is required", path)
	}
	if q.Period != nil {
		p, err := seconds(*q.Period, path+".period")
		if err != nil {
			return out, err
		}
		out.Period = &p
	}
	if (q.Expression == nil) == (q.MetricStat == nil) {
		return out, fmt.Errorf("%s: set exactly one of expression and metricStat", path)
	}
	if s := q.MetricStat; s != nil {
		period, err := seconds(s.Period, path+".metricStat.period")
		if err != nil {
			return out, err
		}
		stat := &types.MetricStat{Period: &period, Stat: aws.String(s.Stat), Metric: &types.Metric{
			MetricName: aws.String(s.Metric.MetricName), Namespace: s.Metric.Namespace}}
		if s.Unit != "" {
			stat.Unit = types.StandardUnit(s.Unit)
		}
		for _, d := range s.Metric.Dimensions {
			stat.Metric.Dimensions = append(stat.Metric.Dimensions, types.Dimension{Name: aws.String(d.Name), Value: aws.String(d.Value)})
		}
		out.MetricStat = stat
	}
	return out, nil
}

func seconds(v intstr.IntOrString, path string) (int32, error) {
	if v.Type == intstr.Int {
		if v.IntVal <= 0 {
			return 0, fmt.Errorf("%s %d: must be a positive number of seconds", path, v.IntVal)
		}
		return v.IntVal, nil
	}
	n, err := strconv.ParseInt(v.StrVal, 10, 32)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s %q: must be a positive number of seconds", path, v.StrVal)
	}
	return int32(n), nil
}
