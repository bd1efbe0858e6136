package live

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
)

var benchLive = flag.Bool("bench-live", false, "run the full-length live scenario for each router and print the table (make bench-live)")

// full keeps the manifests' durations: 15s pauses, an analysis every 3s over
// 15s windows, failing after 2, the old pods kept 30s after the switch (the
// default scaleDownDelaySeconds).
var full = timing{settle: 10 * time.Second}

// TestBenchLive runs seed 000's story at full length through each router and
// prints a table of what the requests saw; its last lines are one summary
// per router.
func TestBenchLive(t *testing.T) {
	if !*benchLive {
		t.Skip("run with -bench-live (make bench-live)")
	}
	s := need(t)
	var results []result
	for _, r := range routers {
		results = append(results, runScenario(t, s, r, full))
	}
	var canaries []canaryResult
	for _, p := range []string{"traefik", "gatewayapi:v1"} {
		canaries = append(canaries, runCanaryScenario(t, s, p))
	}
	printCanaryTable(os.Stdout, canaries)
	printTable(os.Stdout, results)
	for _, res := range results {
		if res.promotionFailed > 0 || res.afterAbort > 0 {
			t.Errorf("%s: %d failed during the promotion, %d reached the canary after the abort", res.router, res.promotionFailed, res.afterAbort)
		}
	}
	for _, res := range canaries {
		if res.failed > 0 || res.yellowAfter > 0 {
			t.Errorf("Canary %s: %d failed during the release, %d reached the bad canary after weight 0", res.provider, res.failed, res.yellowAfter)
		}
	}
}

// printCanaryTable prints the Flagger Canary rows: the live Canary of
// test/live (interval 10s, +20% to 80%, 2 failed checks roll back), per
// provider.
func printCanaryTable(out *os.File, results []canaryResult) {
	fmt.Fprintln(out, "\nlive: a Flagger Canary (canary-demo, interval 10s, +20% up to 80%, built-in success rate over Traefik's metrics, rolled back at 2 failed checks)")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	head := []string{"measure"}
	for _, r := range results {
		head = append(head, "Canary "+r.provider)
	}
	fmt.Fprintln(tw, strings.Join(append(head, "target"), "\t"))
	row := func(name, target string, cell func(canaryResult) string) {
		cells := []string{name}
		for _, r := range results {
			cells = append(cells, cell(r))
		}
		fmt.Fprintln(tw, strings.Join(append(cells, target), "\t"))
	}
	for _, w := range []int32{20, 40, 60} {
		row(fmt.Sprintf("healthy release: green's share at proxy weight %d", w), fmt.Sprintf("%d%%", w), func(r canaryResult) string {
			for _, st := range r.shares {
				if st.weight == w {
					return fmt.Sprintf("%.1f%% of %d", st.percent(), st.requests)
				}
			}
			return "-"
		})
	}
	row("healthy release: requests, promotion included", "", func(r canaryResult) string {
		return fmt.Sprintf("%d in %.0fs", r.requests, r.releaseTook.Seconds())
	})
	row("healthy release: failed requests", "0", func(r canaryResult) string { return fmt.Sprint(r.failed) })
	row("bad canary: failed requests before the rollback", "", func(r canaryResult) string { return fmt.Sprint(r.badFailed) })
	row("bad canary: first served to weight 0 in the proxy", "", func(r canaryResult) string {
		return fmt.Sprintf("%.1fs", r.badServed.Seconds())
	})
	row("bad canary: requests it answered after weight 0", "0", func(r canaryResult) string {
		return fmt.Sprintf("%d of %d", r.yellowAfter, r.afterRequest)
	})
	tw.Flush()
}

func printTable(out *os.File, results []result) {
	fmt.Fprintln(out, "\nlive: seed 000's canary-demo, 100 requests/s through Traefik v3.6.0 to demo app processes; Prometheus scraping every 1s")
	fmt.Fprintln(out, "      (15s pauses; success-rate analysis from step 2, every 3s over 15s windows, aborting after 2 failures; bad canary: 50% errors)")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	head := []string{"measure"}
	for _, r := range results {
		head = append(head, r.router)
	}
	fmt.Fprintln(tw, strings.Join(append(head, "target"), "\t"))
	row := func(name, target string, cell func(result) string) {
		cells := []string{name}
		for _, r := range results {
			cells = append(cells, cell(r))
		}
		fmt.Fprintln(tw, strings.Join(append(cells, target), "\t"))
	}
	for _, w := range []int32{20, 40, 60, 80} {
		row(fmt.Sprintf("healthy promotion: canary's share of requests at weight %d", w), fmt.Sprintf("%d%%", w), func(r result) string {
			for _, st := range r.steps {
				if st.weight == w {
					return fmt.Sprintf("%.1f%% of %d", st.percent(), st.requests)
				}
			}
			return "-"
		})
	}
	row("healthy promotion: requests, switch and scale-down included", "", func(r result) string {
		return fmt.Sprintf("%d in %.0fs", len(r.promotion), r.promotionTook.Seconds())
	})
	row("healthy promotion: failed requests", "0", func(r result) string { return fmt.Sprint(r.promotionFailed) })
	row("bad canary: requests failed before the rollback", "", func(r result) string { return fmt.Sprint(r.badFailed) })
	row("bad canary: first failed request to weight 0 in the proxy", "", func(r result) string {
		return fmt.Sprintf("%.1fs", r.rollbackAfter.Seconds())
	})
	row("bad canary: Vireo's abort written to weight 0 in the proxy", "", func(r result) string {
		return fmt.Sprintf("%.0fms", ms(r.proxyLag))
	})
	row("bad canary: requests the canary answered after the abort", "0", func(r result) string {
		return fmt.Sprintf("%d of %d", r.afterAbort, r.afterRequests)
	})
	row("  (counting from the status write instead)", "", func(r result) string { return fmt.Sprint(r.afterWrite) })
	tw.Flush()
	fmt.Fprintln(out)
	for _, r := range results {
		fmt.Fprintf(out, "live %s: promotion %d requests, %d failed; bad canary: %d failed before rollback, rollback %.1f s after first error, %d reached canary after abort\n",
			r.router, len(r.promotion), r.promotionFailed, r.badFailed, r.rollbackAfter.Seconds(), r.afterAbort)
	}
}
