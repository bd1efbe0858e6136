// Package wavefront is the wavefront metric provider: a WQL query sent to
// Wavefront's chart API, with the API token the controller's Secret holds for
// the metric's address.
package wavefront

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/httpquery"
	"github.com/vireo-dev/vireo/internal/metricprovider"
)

const (
	// SecretName holds one token per Wavefront address: key address, value token.
	SecretName = "wavefront-api-tokens"
	// DefaultTimeout bounds one request.
	DefaultTimeout = 10 * time.Second
)

const name = "provider.wavefront"

// Provider queries Wavefront.
type Provider struct {
	Credentials metricprovider.Credentials
	Now         func() time.Time
}

// Query asks for the latest point of each series the query gives: one series
// is a number, several a list of numbers.
func (p Provider) Query(ctx context.Context, metric *v1alpha1.Metric) (any, error) {
	wf := metric.Provider.Wavefront
	if wf == nil {
		return nil, errors.New(name + " is not set")
	}
	if wf.Address == "" {
		return nil, errors.New(name + ".address is required")
	}
	if strings.TrimSpace(wf.Query) == "" {
		return nil, errors.New(name + ".query is required")
	}
	tokens, err := p.Credentials.Read(ctx, name, "", SecretName)
	if err != nil {
		return nil, err
	}
	token := tokens[wf.Address]
	if token == "" {
		return nil, fmt.Errorf("%s: Secret %s holds no token for address %s", name, SecretName, wf.Address)
	}
	base := wf.Address
	if !strings.Contains(base, "://") {
		base = "https://" + base
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	q := url.Values{
		"q": {wf.Query}, "s": {strconv.FormatInt(now().UnixMilli(), 10)},
		"g": {"s"}, "p": {"1"}, "sorted": {"false"},
	}
	req := httpquery.Request{Provider: name, Method: http.MethodGet, URL: strings.TrimRight(base, "/") + "/api/v2/chart/api?" + q.Encode(),
		Header: http.Header{"Authorization": {"Bearer " + token}, "Accept": {"application/json"}}, Timeout: DefaultTimeout}
	var answer struct {
		Warnings   string `json:"warnings"`
		TimeSeries []struct {
			Label string      `json:"label"`
			Data  [][]float64 `json:"data"`
		} `json:"timeseries"`
	}
	if err := httpquery.JSON(ctx, req, &answer); err != nil {
		return nil, err
	}
	if len(answer.TimeSeries) == 0 {
		msg := fmt.Sprintf("%s: query %q gave no time series", name, wf.Query)
		if answer.Warnings != "" {
			msg += " (" + answer.Warnings + ")"
		}
		return nil, errors.New(msg)
	}
	values := make([]float64, 0, len(answer.TimeSeries))
	for _, s := range answer.TimeSeries {
		if len(s.Data) == 0 || len(s.Data[0]) != 2 {
			return nil, fmt.Errorf("%s: series %q has no [time, value] point", name, s.Label)
		}
		values = append(values, s.Data[0][1])
	}
	if len(values) == 1 {
		return values[0], nil
	}
	return values, nil
}
