// Package influxdb is the influxdb metric provider: a Flux query sent to
// InfluxDB 2's /api/v2/query, answered in annotated CSV, with the address,
// organisation and token from a profile Secret.
package influxdb

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	// DefaultProfile is the Secret used when a metric names no profile.
	DefaultProfile = "influxdb"
	// DefaultTimeout bounds one query.
	DefaultTimeout = 30 * time.Second
)

const name = "provider.influxdb"

// Provider runs Flux queries.
type Provider struct {
	Credentials metricprovider.Credentials
}

// Query runs the metric's Flux query; the result is the list of every
// record's _value, table after table, typed as the CSV's datatype annotation
// says (double, long, boolean, string...).
func (p Provider) Query(ctx context.Context, metric *v1alpha1.Metric) (any, error) {
	in := metric.Provider.Influxdb
	if in == nil {
		return nil, errors.New(name + " is not set")
	}
	if strings.TrimSpace(in.Query) == "" {
		return nil, errors.New(name + ".query is required")
	}
	profile := in.Profile
	if profile == "" {
		profile = DefaultProfile
	}
	creds, err := p.Credentials.Read(ctx, name, "", profile)
	if err != nil {
		return nil, err
	}
	if err := metricprovider.Require(name, profile, creds, "address", "authToken", "org"); err != nil {
		return nil, err
	}
	body, err := json.Marshal(map[string]any{"query": in.Query, "type": "flux",
		"dialect": map[string]any{"header": true, "delimiter": ",", "annotations": []string{"datatype", "group", "default"}}})
	if err != nil {
		return nil, err
	}
	header := http.Header{"Authorization": {"Token " + creds["authToken"]}, "Content-Type": {"application/json"}, "Accept": {"application/csv"}}
	req := httpquery.Request{Provider: name, Method: http.MethodPost, Header: header, Body: body, Timeout: DefaultTimeout,
		URL: strings.TrimRight(creds["address"], "/") + "/api/v2/query?" + url.Values{"org": {creds["org"]}}.Encode()}
	data, err := httpquery.Do(ctx, req)
	if err != nil {
		var se *httpquery.StatusError
		var answer struct{ Code, Message string }
		if errors.As(err, &se) && json.Unmarshal(data, &answer) == nil && answer.Message != "" {
			return nil, fmt.Errorf("%s: %s: %s", name, answer.Code, answer.Message)
		}
		return nil, err
	}
	values, err := Values(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(values) == 0 {
		return nil, fmt.Errorf("%s: the query returned no records", name)
	}
	return values, nil
}

// Values reads the _value column of every record of annotated CSV.
func Values(data []byte) ([]any, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.ReuseRecord = false
	var (
		types, defaults []string
		columns         map[string]int
		values          = []any{}
	)
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return values, nil
		}
		if err != nil {
			return nil, fmt.Errorf("the answer is not annotated CSV: %w", err)
		}
		switch {
		case rec[0] == "#datatype":
			types, defaults, columns = rec, nil, nil
			continue
		case rec[0] == "#default":
			defaults = rec
			continue
		case strings.HasPrefix(rec[0], "#"):
			continue
		case columns == nil:
			columns = map[string]int{}
			for i, c := range rec {
				columns[c] = i
			}
			continue
		}
		if i, ok := columns["error"]; ok && i < len(rec) {
			msg := rec[i]
			if j, ok := columns["reference"]; ok && j < len(rec) && rec[j] != "" {
				msg += " (reference " + rec[j] + ")"
			}
			return nil, fmt.Errorf("the query failed: %s", msg)
		}
		i, ok := columns["_value"]
		if !ok {
			return nil, errors.New("a table has no _value column")
		}
		cell := ""
		if i < len(rec) {
			cell = rec[i]
		}
		if cell == "" && i < len(defaults) {
			cell = defaults[i]
		}
		typ := "string"
		if i < len(types) {
			typ = types[i]
		}
		v, err := typed(cell, typ)
		if err != nil {
			return nil, fmt.Errorf("_value %q: %w", cell, err)
		}
		values = append(values, v)
	}
}

// typed converts a cell to the Go value of its Flux datatype; an empty cell
// is null.
func typed(cell, typ string) (any, error) {
	if cell == "" {
		return nil, nil
	}
	switch {
	case typ == "double":
		return strconv.ParseFloat(cell, 64)
	case typ == "long":
		return strconv.ParseInt(cell, 10, 64)
	case typ == "unsignedLong":
		return strconv.ParseUint(cell, 10, 64)
	case typ == "boolean":
		return strconv.ParseBool(cell)
	case strings.HasPrefix(typ, "dateTime"):
		return time.Parse(time.RFC3339Nano, cell)
	}
	return cell, nil
}
