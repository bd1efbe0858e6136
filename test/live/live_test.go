package live

import (
	"strings"
	"testing"
	"time"
)

// short is the shortened scenario of `make test`: 2s pauses, an analysis
// measuring every second over a 10s window, old pods gone 5s after the switch.
var short = timing{pause: "2s", interval: "1s", window: "10s", failureLimit: 2, scaleDownDelay: ptrInt(5), settle: 3 * time.Second}

func ptrInt(n int) *int { return &n }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func TestLiveTraefikService(t *testing.T) { testLive(t, routers[0]) }

func TestLiveGatewayAPI(t *testing.T) { testLive(t, routers[1]) }

// testLive fails on any failed request during the healthy promotion and on
// any request the bad canary answered after the abort.
func testLive(t *testing.T, r router) {
	s := need(t)
	res := runScenario(t, s, r, short)
	t.Logf("promotion: %d requests in %.1fs, %d failed", len(res.promotion), res.promotionTook.Seconds(), res.promotionFailed)
	for _, st := range res.steps {
		t.Logf("  weight %3d: canary answered %5.1f%% of %d requests", st.weight, st.percent(), st.requests)
	}
	t.Logf("bad canary: %d failed before the rollback, weight 0 in the proxy %.2fs after the first error (%.0fms after Vireo recorded the abort); %d of %d requests after it reached the canary (%d after the status write)",
		res.badFailed, res.rollbackAfter.Seconds(), ms(res.proxyLag), res.afterAbort, res.afterRequests, res.afterWrite)
	if len(res.promotion) == 0 || res.afterRequests == 0 {
		t.Fatalf("no load measured: %d requests in the promotion, %d after the abort", len(res.promotion), res.afterRequests)
	}
	if res.promotionFailed > 0 {
		for _, a := range res.promotion {
			if a.failed() {
				t.Logf("failed: sent %s status %d colour %s after %s", a.sent.Format("15:04:05.000"), a.status, a.color, a.took)
			}
		}
		t.Errorf("%d requests failed during the healthy promotion", res.promotionFailed)
	}
	if res.afterAbort > 0 {
		t.Errorf("%d requests reached the canary after the abort", res.afterAbort)
	}
	t.Logf("notifications received:\n%s", strings.Join(checkNotifications(t, s, res), "\n"))
	if res.badFailed == 0 {
		t.Errorf("no request failed with the bad canary: the scenario measured nothing")
	}
	var seen []int32
	for _, st := range res.steps {
		seen = append(seen, st.weight)
	}
	for _, w := range []int32{20, 40, 60, 80} {
		found := false
		for _, st := range res.steps {
			found = found || (st.weight == w && st.canary > 0)
		}
		if !found {
			t.Errorf("no request answered by the canary at weight %d (steps seen: %v)", w, seen)
		}
	}
}
