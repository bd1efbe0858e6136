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
	printTable(os.Stdout, results)
	for _, res := range results {
		if res.promotionFailed > 0 || res.afterAbort > 0 {
			t.Errorf("%s: %d failed during the promotion, %d reached the canary after the abort", res.router, res.promotionFailed, res.afterAbort)
		}
	}
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
