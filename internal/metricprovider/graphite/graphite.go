// Package graphite is the graphite metric provider: a render query sent to
// Graphite's /render API in JSON format.
package graphite

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/httpquery"
)

// DefaultTimeout bounds one request.
const DefaultTimeout = 10 * time.Second

const name = "provider.graphite"

var space = regexp.MustCompile(`\s+`)

// Provider queries Graphite.
type Provider struct{}

// Query sends the metric's query, the parameters of a render request
// ("target=...&from=-5min"), and returns the values of the first target's
// datapoints that are not null, oldest first.
func (Provider) Query(ctx context.Context, metric *v1alpha1.Metric) (any, error) {
	g := metric.Provider.Graphite
	if g == nil {
		return nil, errors.New(name + " is not set")
	}
	base, err := url.Parse(g.Address)
	if g.Address == "" || err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("%s.address %q: not a URL such as http://graphite:8080", name, g.Address)
	}
	// A query is often written across lines; Graphite wants it on one.
	params, err := url.ParseQuery(strings.TrimSpace(space.ReplaceAllString(g.Query, " ")))
	if err != nil {
		return nil, fmt.Errorf("%s.query: not render parameters such as target=...&from=-5min: %w", name, err)
	}
	if len(params["target"]) == 0 {
		return nil, fmt.Errorf("%s.query: no target= parameter", name)
	}
	params.Set("format", "json")
	var answer []struct {
		Target     string       `json:"target"`
		Datapoints [][]*float64 `json:"datapoints"`
	}
	req := httpquery.Request{Provider: name, Method: http.MethodGet, Timeout: DefaultTimeout,
		URL: strings.TrimRight(g.Address, "/") + "/render?" + params.Encode()}
	if err := httpquery.JSON(ctx, req, &answer); err != nil {
		return nil, err
	}
	if len(answer) == 0 {
		return nil, fmt.Errorf("%s: the query matched no series", name)
	}
	values := []float64{}
	for _, dp := range answer[0].Datapoints {
		if len(dp) != 2 {
			return nil, fmt.Errorf("%s: a datapoint that is not [value, time]", name)
		}
		if dp[0] != nil {
			values = append(values, *dp[0])
		}
	}
	return values, nil
}
