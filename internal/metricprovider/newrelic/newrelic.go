// Package newrelic is the newRelic metric provider: an NRQL query sent to New
// Relic's NerdGraph (GraphQL) API with a user key from a profile Secret.
package newrelic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/httpquery"
	"github.com/vireo-dev/vireo/internal/metricprovider"
)

const (
	// DefaultProfile is the Secret used when a metric names no profile.
	DefaultProfile = "newrelic"
	// DefaultTimeout is the NRQL timeout, in seconds, when none is set.
	DefaultTimeout = 5
)

const name = "provider.newRelic"

// nerdGraph are the GraphQL endpoints of New Relic's regions.
var nerdGraph = map[string]string{
	"us": "https://api.newrelic.com/graphql",
	"eu": "https://api.eu.newrelic.com/graphql",
}

// Provider runs NRQL queries.
type Provider struct {
	Credentials metricprovider.Credentials
}

const graphQL = `query($accountId: Int!, $nrql: Nrql!, $timeout: Seconds) {
  actor { account(id: $accountId) { nrql(query: $nrql, timeout: $timeout) { results } } }
}`

// Query runs the metric's NRQL. One result row is the result (an object whose
// fields are the query's columns: result.successRate, result['average.duration']);
// several rows are a list of them.
func (p Provider) Query(ctx context.Context, metric *v1alpha1.Metric) (any, error) {
	nr := metric.Provider.NewRelic
	if nr == nil {
		return nil, errors.New(name + " is not set")
	}
	if strings.TrimSpace(nr.Query) == "" {
		return nil, errors.New(name + ".query is required")
	}
	timeout := int64(DefaultTimeout)
	if nr.Timeout != nil {
		if *nr.Timeout <= 0 {
			return nil, fmt.Errorf("%s.timeout %d: must be a positive number of seconds", name, *nr.Timeout)
		}
		timeout = *nr.Timeout
	}
	profile := nr.Profile
	if profile == "" {
		profile = DefaultProfile
	}
	creds, err := p.Credentials.Read(ctx, name, "", profile)
	if err != nil {
		return nil, err
	}
	if err := metricprovider.Require(name, profile, creds, "personal-api-key", "account-id"); err != nil {
		return nil, err
	}
	account, err := strconv.Atoi(strings.TrimSpace(creds["account-id"]))
	if err != nil {
		return nil, fmt.Errorf("%s: credentials Secret %s: account-id is not a number", name, profile)
	}
	endpoint := creds["base-url-nerdgraph"]
	if endpoint == "" {
		region := strings.ToLower(creds["region"])
		if region == "" {
			region = "us"
		}
		if endpoint = nerdGraph[region]; endpoint == "" {
			return nil, fmt.Errorf("%s: credentials Secret %s: region %q is not us or eu", name, profile, creds["region"])
		}
	}
	body, err := json.Marshal(map[string]any{"query": graphQL,
		"variables": map[string]any{"accountId": account, "nrql": nr.Query, "timeout": timeout}})
	if err != nil {
		return nil, err
	}
	header := http.Header{"Api-Key": {creds["personal-api-key"]}, "Content-Type": {"application/json"}}
	var answer struct {
		Data struct {
			Actor struct {
				Account struct {
					NRQL *struct {
						Results []map[string]any `json:"results"`
					} `json:"nrql"`
				} `json:"account"`
			} `json:"actor"`
		} `json:"data"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	req := httpquery.Request{Provider: name, Method: http.MethodPost, URL: endpoint, Header: header, Body: body,
		Timeout: time.Duration(timeout)*time.Second + 5*time.Second}
	if err := httpquery.JSON(ctx, req, &answer); err != nil {
		return nil, err
	}
	if len(answer.Errors) > 0 {
		msgs := make([]string, len(answer.Errors))
		for i, e := range answer.Errors {
			msgs[i] = e.Message
		}
		return nil, fmt.Errorf("%s: %s", name, strings.Join(msgs, "; "))
	}
	if answer.Data.Actor.Account.NRQL == nil {
		return nil, fmt.Errorf("%s: the answer holds no nrql results", name)
	}
	switch results := answer.Data.Actor.Account.NRQL.Results; len(results) {
	case 0:
		return nil, fmt.Errorf("%s: the query returned no results", name)
	case 1:
		return results[0], nil
	default:
		return results, nil
	}
}
