package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium is Debian's browser, which hack/install-deps installs.
const chromium = "/usr/bin/chromium"

// screenshotDir is where the dashboard test leaves its screenshots
// (git-ignored).
func screenshotDir(t *testing.T) string {
	dir, err := filepath.Abs(filepath.Join("..", "..", ".cache", "screenshots"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startDashboard runs kubectl vireo dashboard on a free loopback port and
// returns the URL it prints, with the token.
func (c *cluster) startDashboard(t *testing.T, ns string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, "kubectl-vireo"), "dashboard", "--port", "0", "--kubeconfig", c.kubeconfig, "-n", ns)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u := regexp.MustCompile(`http://\S+`).FindString(sc.Text()); u != "" {
				found <- u
			}
		}
	}()
	select {
	case u := <-found:
		return u
	case <-time.After(30 * time.Second):
		t.Fatal("kubectl vireo dashboard printed no URL in 30s")
		return ""
	}
}

// The dashboard in a real headless Chromium, against the controller: it
// refuses a browser without the token; with it, it shows a paused rollout
// with its steps and a chart of its running analysis; pressing Promote
// moves the rollout on, and the page follows by itself.
func TestDashboardInABrowser(t *testing.T) {
	c := requireCluster(t)
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("VIREO_REQUIRE_CLUSTER") != "" {
			t.Fatalf("%s: %v (hack/install-deps installs Debian's chromium)", chromium, err)
		}
		t.Skipf("%s: %v", chromium, err)
	}
	c.installDefault(t)
	c.startController(t)
	ns := c.namespace(t, "dashboard")

	// A metric with values that move, measured every 2 seconds.
	var n atomic.Int64
	url, _ := webServerFunc(t, func() string { return fmt.Sprintf(`{"rate": %d}`, 90+n.Add(1)%7) })
	c.must(t, fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  metrics:
  - name: success-rate
    interval: 2s
    successCondition: result >= 80
    provider:
      web: {url: %q, jsonPath: "{$.rate}"}
  - name: judge
    interval: 2s
    provider:
      plugin:
        vireo.dev/judge:
          prometheus: {address: %q}
          canary: {requests: 'sum(app_requests_total{version="canary"})', errors: 'sum(app_requests_total{version="canary",code="500"})'}
          stable: {requests: 'sum(app_requests_total{version="stable"})', errors: 'sum(app_requests_total{version="stable",code="500"})'}
`, url, startPrometheus(t, startVersions(t, 0.01, 0.01).addr)), "apply", "-n", ns, "-f", "-")
	c.applySeed002(t, ns)
	c.must(t, `{"spec":{"strategy":{"canary":{"analysis":{"templates":[{"templateName":"success-rate"}]}}}}}`,
		"patch", "rollout/rollouts-demo", "-n", ns, "--type=merge", "--patch-file=/dev/stdin")
	c.waitRollout(t, ns, "Healthy", "", 90*time.Second)
	c.setImage(t, ns, "rollout/rollouts-demo", "yellow")
	c.waitRollout(t, ns, "Paused", "CanaryPauseStep", 90*time.Second)

	link := c.startDashboard(t, ns)
	base := link[:strings.Index(link, "/?token=")]
	shots := screenshotDir(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // the tests run as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	// The browser lives as long as the context of its first run; each step
	// then gets its own time limit.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// fail keeps a screenshot and the page's text of what went wrong.
	fail := func(format string, args ...any) {
		t.Helper()
		shot("dashboard-failure.png")
		body, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf(format+"\npage (screenshot dashboard-failure.png):\n%s", append(args, body)...)
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, steps...); err != nil {
			fail("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		// Read in the page: the UI redraws live, so a node found a moment
		// before may be gone.
		// A page that is still loading has no context to run in yet: try
		// again until the time is up.
		q, _ := json.Marshal(sel)
		for {
			v, err := chromedp.Run(ctx, chromedp.Poll[string](fmt.Sprintf(`document.querySelector(%s)?.innerText`, q)))
			if err == nil {
				return strings.TrimSpace(v)
			}
			if ctx.Err() != nil {
				fail("text of %s: %v", sel, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// Without the token: refused.
	do("open without the token", chromedp.Navigate(base+"/#/"+ns))
	if body := text("body"); !strings.Contains(body, "Access token needed") {
		t.Fatalf("without the token the page shows:\n%s", body)
	}
	shot("dashboard-1-refused.png")

	// With it: the list, then the paused rollout.
	do("open with the token", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`tr[data-rollout="rollouts-demo"]`)))
	if row := text(`tr[data-rollout="rollouts-demo"]`); !strings.Contains(row, "Paused") || !strings.Contains(row, "1/8") {
		t.Errorf("list row: %q", row)
	}
	shot("dashboard-2-list.png")
	do("open the rollout", chromedp.Click(chromedp.CSS(`tr[data-rollout="rollouts-demo"] a`)), chromedp.WaitVisible(chromedp.CSS(`ol.steps li.current`)))
	if status, current, step := text(`h1 .badge`), text(`ol.steps li.current`), text(`.step`); !strings.Contains(status, "Paused") || current != "pause (until promoted)" || step != "1/8" {
		t.Errorf("detail: status %q, current step %q, step %q", status, current, step)
	}

	// The background analysis's chart fills in, live.
	const circles = `document.querySelectorAll('figure.chart[data-metric="success-rate"] circle').length`
	do("the analysis chart", chromedp.Poll[chromedp.Void](circles+" >= 3", chromedp.WithPollingTimeout(90*time.Second)))
	points, err := chromedp.Run(bctx, chromedp.Evaluate[int](circles))
	if err != nil {
		fail("counting the chart's points: %v", err)
	}
	// The judge's chart: the e-value against where it fails, and the
	// interval on the ratio, look after look.
	const judgeLooks = `document.querySelectorAll('figure.chart.judge[data-metric="judge"] circle').length`
	do("the judge's chart", chromedp.Poll[chromedp.Void](judgeLooks+" >= 2", chromedp.WithPollingTimeout(90*time.Second)))
	if caption := text(`figure.chart.judge figcaption`); !strings.Contains(caption, "e-value") || !strings.Contains(caption, "fails at 100") || !strings.Contains(caption, "tolerated up to 1.1") {
		t.Errorf("the judge's chart says %q", caption)
	}
	shot("dashboard-3-paused-with-analysis.png")

	// Promote: the rollout leaves the pause, and the page shows it without
	// a reload.
	do("promote", chromedp.Click(chromedp.CSS(`button[data-action="promote"]`)), chromedp.WaitVisible(chromedp.CSS(`.result.ok`)),
		chromedp.Poll[chromedp.Void](`(() => { const s = document.querySelector('.step'); return s && parseInt(s.textContent) >= 2 })()`, chromedp.WithPollingTimeout(60*time.Second)))
	if result, current := text(`.result`), text(`ol.steps li.current`); !strings.Contains(result, "promote done") || current == "pause (until promoted)" {
		t.Errorf("after promote: result %q, current step %q", result, current)
	}
	shot("dashboard-4-promoted.png")
	if got, _ := strconv.Atoi(c.jsonpath(t, ns, "rollout/rollouts-demo", ".status.currentStepIndex")); got < 2 {
		t.Errorf("the rollout's currentStepIndex after promote: %d", got)
	}
	t.Logf("chart had %d points; screenshots in %s", points, shots)
}
