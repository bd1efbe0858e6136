package canary

import (
	"testing"

	"github.com/vireo-dev/vireo/api/flagger/v1beta1"
	planner "github.com/vireo-dev/vireo/internal/canary"
)

// The VirtualService carries a mirror to the canary (with the mirror
// weight) while the routes say so, and reading it back gives the same
// routes.
func TestVirtualServiceMirror(t *testing.T) {
	c := &v1beta1.Canary{Spec: v1beta1.CanarySpec{TargetRef: v1beta1.TargetReference{Name: "podinfo"},
		Service:  v1beta1.CanaryService{Port: 9898},
		Analysis: &v1beta1.CanaryAnalysis{Mirror: true, MirrorWeight: 50}}}
	for _, w := range []planner.Routes{{Primary: 100, Mirror: true}, {Primary: 90, Canary: 10}} {
		vs := map[string]any{"spec": virtualServiceSpec(c, w)}
		http := vs["spec"].(map[string]any)["http"].([]any)[0].(map[string]any)
		_, mirrored := http["mirror"]
		if mirrored != w.Mirror {
			t.Errorf("routes %+v: mirror in the VirtualService %v", w, http["mirror"])
		}
		if w.Mirror {
			if host := http["mirror"].(map[string]any)["host"]; host != "podinfo-canary" {
				t.Errorf("mirrored to %v", host)
			}
			if pct := http["mirrorPercentage"].(map[string]any)["value"]; pct != int64(50) {
				t.Errorf("mirror percentage %v", pct)
			}
		}
		if got := weightsOf(c, normalize(toAny(vs)).(map[string]any)); got != w {
			t.Errorf("read back %+v, wrote %+v", got, w)
		}
	}
}
