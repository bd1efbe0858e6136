package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/pkg/actions"
)

// seed004 is one of seed 004's examples in a namespace of its own, with its
// own exporter and Prometheus, so the examples run side by side.
type seed004 struct {
	c    *cluster
	ns   string
	exp  *exporter
	prom string
}

func (c *cluster) seed004(t *testing.T, name string) *seed004 {
	t.Helper()
	exp := startExporter(t)
	s := &seed004{c: c, ns: c.namespace(t, "seed004-"+name), exp: exp, prom: startPrometheus(t, exp.addr)}
	// irate needs two scrapes: until then every query is empty.
	s.waitSuccessRate(t, 1)
	return s
}

// waitSuccessRate waits until Prometheus sees a success rate of at most
// max: irate needs two scrapes at a new error rate to show it.
func (s *seed004) waitSuccessRate(t *testing.T, max float64) {
	t.Helper()
	q := `sum(irate(istio_requests_total{response_code!~"5.*"}[5m])) / sum(irate(istio_requests_total[5m]))`
	eventually(t, 30*time.Second, fmt.Sprintf("a success rate of at most %v in Prometheus", max), func() error {
		resp, err := http.Get(s.prom + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var answer struct {
			Data struct {
				Result []struct {
					Value []any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil || len(answer.Data.Result) == 0 || len(answer.Data.Result[0].Value) != 2 {
			return fmt.Errorf("no rate yet (%v)", err)
		}
		v, err := strconv.ParseFloat(fmt.Sprint(answer.Data.Result[0].Value[1]), 64)
		if err != nil || v > max {
			return fmt.Errorf("success rate %v", answer.Data.Result[0].Value[1])
		}
		return nil
	})
}

// durations matches the duration fields the test shortens.
var durations = regexp.MustCompile(`((?:duration|interval|initialDelay):\s*)(\d+)([ms])\b`)

// scaleTime divides every duration, interval and initialDelay by 60.
func scaleTime(manifest string) string {
	return durations.ReplaceAllStringFunc(manifest, func(m string) string {
		parts := durations.FindStringSubmatch(m)
		n, _ := strconv.Atoi(parts[2])
		if parts[3] == "s" {
			n = max(1, n/60)
		}
		return parts[1] + strconv.Itoa(n) + "s"
	})
}

// apply applies one of testdata/seed004's files with the test's addresses
// and shortened times.
func (s *seed004) apply(t *testing.T, file string, addrs ...string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "seed004", file))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(s.prom)
	repl := append([]string{"PROMETHEUS_ADDRESS", s.prom, "PROMETHEUS_HOST", u.Hostname(), "PROMETHEUS_PORT", strconv.Quote(u.Port())}, addrs...)
	manifest := scaleTime(strings.NewReplacer(repl...).Replace(string(data)))
	s.c.must(t, manifest, "apply", "-n", s.ns, "-f", "-")
}

// start applies a file and waits for its rollout's first revision.
func (s *seed004) start(t *testing.T, file string, addrs ...string) {
	t.Helper()
	s.apply(t, file, addrs...)
	s.c.waitRolloutNamed(t, s.ns, "guestbook", "Healthy", "", 60*time.Second)
}

// update sets the rollout's image and waits until it is promoted.
func (s *seed004) update(t *testing.T, color string) {
	t.Helper()
	s.c.setImage(t, s.ns, "rollout/guestbook", color)
	s.c.waitRolloutNamed(t, s.ns, "guestbook", "Healthy", "", 120*time.Second)
}

// expectAborted waits until the metric's failure has aborted the rollout
// and its 5 pods are all the stable colour again.
func (s *seed004) expectAborted(t *testing.T, metric, stable string) {
	t.Helper()
	s.waitPhase(t, "Degraded", 120*time.Second)
	if msg := s.c.jsonpath(t, s.ns, "rollout/guestbook", ".status.message"); !strings.Contains(msg, fmt.Sprintf("metric %q assessed Failed", metric)) {
		t.Errorf("abort message %q", msg)
	}
	s.c.expectPods(t, s.ns, map[string]int{stable: 5})
}

// waitPhase waits for the rollout's phase, whatever its message.
func (s *seed004) waitPhase(t *testing.T, phase string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "rollout guestbook "+phase, func() error {
		return expectField(s.c, s.ns, "rollout/guestbook", ".status.phase", phase)
	})
}

func (s *seed004) runs(t *testing.T, wc client.Client) []v1alpha1.AnalysisRun {
	t.Helper()
	var runs v1alpha1.AnalysisRunList
	if err := wc.List(context.Background(), &runs, client.InNamespace(s.ns)); err != nil {
		t.Fatal(err)
	}
	return runs.Items
}

// TestSeed004Analysis runs seed 004's examples on the local control plane
// against real Prometheus servers (and, for the web and Job examples, a real
// HTTP server and real Jobs): background, inline and merged analysis, args
// of every kind, blue-green pre- and post-promotion analysis, failure
// conditions and inconclusive runs.
func TestSeed004Analysis(t *testing.T) {
	c := requireCluster(t)
	c.installDefault(t)
	c.startController(t)
	wc := c.watchClient(t)
	ro := "rollout/guestbook"

	t.Run("background", func(t *testing.T) {
		t.Parallel()
		s := c.seed004(t, "background")
		s.start(t, "background.yaml")
		s.update(t, "yellow")
		runs := s.runs(t, wc)
		if len(runs) != 1 || runs[0].Status.Phase != v1alpha1.AnalysisPhaseSuccessful || runs[0].Labels["rollout-type"] != "Background" {
			t.Fatalf("after a healthy canary: %d runs, first %+v", len(runs), runs[0].Status)
		}
		// Half the requests fail: three failures are tolerated, the fourth aborts.
		s.exp.setErrorRate(0.5)
		c.setImage(t, s.ns, ro, "red")
		s.expectAborted(t, "success-rate", "yellow")
	})

	t.Run("inline", func(t *testing.T) {
		t.Parallel()
		s := c.seed004(t, "inline")
		s.start(t, "inline.yaml")
		s.update(t, "yellow")
		runs := s.runs(t, wc)
		if len(runs) != 1 {
			t.Fatalf("%d runs, want the step's one", len(runs))
		}
		r := runs[0]
		if r.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || r.Labels["rollout-type"] != "Step" || r.Labels["step-index"] != "2" ||
			r.Status.MetricResults[0].Count != 1 {
			t.Errorf("step run: labels %v status %+v", r.Labels, r.Status)
		}
	})

	t.Run("multiple-templates", func(t *testing.T) {
		t.Parallel()
		s := c.seed004(t, "multi")
		s.start(t, "multiple-templates.yaml")
		s.update(t, "yellow")
		runs := s.runs(t, wc)
		if len(runs) != 1 || len(runs[0].Status.MetricResults) != 2 {
			t.Fatalf("%d runs, want one with both templates' metrics", len(runs))
		}
		for _, res := range runs[0].Status.MetricResults {
			if (res.Name != "success-rate" && res.Name != "error-rate") || res.Phase != v1alpha1.AnalysisPhaseSuccessful {
				t.Errorf("metric %s: %s", res.Name, res.Phase)
			}
		}
	})

	t.Run("args", func(t *testing.T) {
		t.Parallel()
		s := c.seed004(t, "args")
		const token = "tok-seed004-5e6f7a8b"
		var mu sync.Mutex
		var services []string
		web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+token {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			mu.Lock()
			services = append(services, r.URL.Query().Get("service"))
			mu.Unlock()
			fmt.Fprint(w, `{"results":{"ok":"true"}}`)
		}))
		t.Cleanup(web.Close)
		c.must(t, "", "create", "secret", "generic", "token-secret", "-n", s.ns, "--from-literal=apiToken="+token)
		s.start(t, "args.yaml", "WEB_ADDRESS", web.URL)
		stable := c.jsonpath(t, s.ns, ro, ".status.stableRS")
		s.update(t, "yellow")
		latest := c.jsonpath(t, s.ns, ro, ".status.currentPodHash")
		runs := s.runs(t, wc)
		if len(runs) != 1 || runs[0].Status.Phase != v1alpha1.AnalysisPhaseSuccessful {
			t.Fatalf("%d runs: %+v", len(runs), runs)
		}
		args := map[string]string{}
		for _, a := range runs[0].Spec.Args {
			if a.Value != nil {
				args[a.Name] = *a.Value
			}
		}
		if args["stable-hash"] != stable || args["latest-hash"] != latest || stable == latest || args["api-url"] != web.URL {
			t.Errorf("args %v; stable %s latest %s", args, stable, latest)
		}
		mu.Lock()
		if len(services) == 0 || services[0] != "guestbook-svc.default.svc.cluster.local" {
			t.Errorf("the web service saw services %v", services)
		}
		mu.Unlock()
		if out := c.must(t, "", "get", "analysisruns,events", "-n", s.ns, "-o", "yaml"); strings.Contains(out, token) {
			t.Error("the Secret's token is in an AnalysisRun or an Event")
		}
	})

	for _, bg := range []struct{ name, file, runType string }{
		{"bluegreen-pre", "bluegreen-pre.yaml", "PrePromotion"},
		{"bluegreen-post", "bluegreen-post.yaml", "PostPromotion"},
	} {
		t.Run(bg.name, func(t *testing.T) {
			t.Parallel()
			s := &seed004{c: c, ns: c.namespace(t, "seed004-"+bg.name)}
			s.apply(t, "smoke-tests.yaml")
			s.start(t, bg.file)
			s.update(t, "yellow")
			latest := c.jsonpath(t, s.ns, ro, ".status.currentPodHash")
			if sel := c.jsonpath(t, s.ns, "service/active-svc", `.spec.selector.rollouts-pod-template-hash`); sel != latest {
				t.Errorf("active-svc selects %s, want the new %s", sel, latest)
			}
			if st := c.jsonpath(t, s.ns, ro, ".status.stableRS"); st != latest {
				t.Errorf("stable %s, want %s", st, latest)
			}
			runs := s.runs(t, wc)
			if len(runs) != 1 || runs[0].Labels["rollout-type"] != bg.runType || runs[0].Status.Phase != v1alpha1.AnalysisPhaseSuccessful {
				t.Fatalf("%d runs: %+v", len(runs), runs)
			}
			if jobs := c.must(t, "", "get", "jobs", "-n", s.ns, "-o", "name"); !strings.Contains(jobs, runs[0].Name) {
				t.Errorf("the smoke test ran no Job of its own: %q", jobs)
			}
		})
	}

	t.Run("failure-condition", func(t *testing.T) {
		t.Parallel()
		s := c.seed004(t, "failure")
		s.start(t, "failure-condition.yaml")
		s.exp.setErrorRate(0.5) // 25 errors a second
		c.setImage(t, s.ns, ro, "red")
		s.expectAborted(t, "total-errors", "blue")
	})

	t.Run("inconclusive", func(t *testing.T) {
		t.Parallel()
		s := c.seed004(t, "inconclusive")
		s.exp.setErrorRate(0.3) // a success rate of 0.7: neither >= 0.90 nor < 0.50
		s.waitSuccessRate(t, 0.75)
		s.start(t, "inconclusive.yaml")
		c.setImage(t, s.ns, ro, "yellow")
		eventually(t, 90*time.Second, "paused on the inconclusive run", func() error {
			return expectField(c, s.ns, ro, ".status.phase|.status.pauseConditions[*].reason", "Paused|InconclusiveAnalysisRun")
		})
		runs := s.runs(t, wc)
		if len(runs) != 1 || runs[0].Status.Phase != v1alpha1.AnalysisPhaseInconclusive {
			t.Fatalf("%d runs: %+v", len(runs), runs)
		}
		for _, res := range runs[0].Status.MetricResults {
			if res.Phase != v1alpha1.AnalysisPhaseInconclusive {
				t.Errorf("metric %s: %s, want Inconclusive: %+v", res.Name, res.Phase, res.Measurements)
			}
		}
		// A human looks, and promotes: the rollout goes on.
		if _, err := actions.Promote(context.Background(), wc, types.NamespacedName{Namespace: s.ns, Name: "guestbook"}, actions.PromoteOptions{}); err != nil {
			t.Fatal(err)
		}
		c.waitRolloutNamed(t, s.ns, "guestbook", "Healthy", "", 90*time.Second)
		c.expectPods(t, s.ns, map[string]int{"yellow": 5})
	})
}
