package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vireo-dev/vireo/internal/testenv"
)

// Every query of docs/grafana/vireo.json returns series from a real
// Prometheus scraping the controller's /metrics while it runs a rollout
// through an update, an analysis run and an experiment.
func TestGrafanaDashboard(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	metricsAddr := freeAddr(t)
	c.startController(t, "--metrics-bind-address", metricsAddr)
	prom := startPrometheus(t, metricsAddr)
	ns := c.namespace(t, "grafana")

	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"ok": 1}`) }))
	defer web.Close()
	// The routed rollout gives the routers' verify time observations.
	c.must(t, manyRollouts(1, "2s")+"---\n"+routedRollout("routed", 2, "", "[{setWeight: 50}, {pause: {duration: 2s}}]")+fmt.Sprintf(`---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {name: web-check}
spec:
  metrics:
  - name: ok
    interval: 1s
    count: 3
    successCondition: result == 1
    provider:
      web: {url: %q, jsonPath: "{$.ok}"}
---
apiVersion: argoproj.io/v1alpha1
kind: Experiment
metadata: {name: short}
spec:
  duration: 5s
`, web.URL)+experimentTemplates, "apply", "-n", ns, "-f", "-")
	eventually(t, 90*time.Second, "the Rollouts Healthy", c.allHealthy(t, ns, 2, ":blue"))
	c.setImage(t, ns, "rollout/ro-000", "green")
	c.setImage(t, ns, "rollout/routed", "green")
	eventually(t, 90*time.Second, "the updates promoted", c.allHealthy(t, ns, 2, ":green"))

	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "grafana", "vireo.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("docs/grafana/vireo.json: %v", err)
	}
	// Grafana's variables, as the dashboard's defaults resolve them.
	vars := strings.NewReplacer("$namespace", ".+", "$__rate_interval", "1m")
	queries := 0
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			expr := vars.Replace(target.Expr)
			queries++
			eventually(t, 60*time.Second, fmt.Sprintf("panel %q: %s returns series", p.Title, expr), func() error {
				resp, err := http.Get(prom + "/api/v1/query?query=" + url.QueryEscape(expr))
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				var answer struct {
					Status string `json:"status"`
					Error  string `json:"error"`
					Data   struct {
						Result []json.RawMessage `json:"result"`
					} `json:"data"`
				}
				if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
					return err
				}
				if answer.Status != "success" {
					return fmt.Errorf("%s", answer.Error)
				}
				if len(answer.Data.Result) == 0 {
					return fmt.Errorf("no series")
				}
				return nil
			})
		}
	}
	// Vireo's own histograms observed something in this story: a series of
	// NaN (a quantile of nothing) would pass the check above.
	for _, count := range []string{"vireo_step_transition_delay_seconds_count", "vireo_measurement_lateness_seconds_count",
		"vireo_router_verify_seconds_count", "vireo_writes_per_reconcile_count"} {
		expr := "sum(" + count + ") > 0"
		eventually(t, 30*time.Second, expr, func() error {
			resp, err := http.Get(prom + "/api/v1/query?query=" + url.QueryEscape(expr))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var answer struct {
				Data struct {
					Result []json.RawMessage `json:"result"`
				} `json:"data"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
				return err
			}
			if len(answer.Data.Result) == 0 {
				return fmt.Errorf("no observation")
			}
			return nil
		})
	}
	t.Logf("%d panels, %d queries, each with series", len(dash.Panels), queries)
}
