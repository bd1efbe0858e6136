package rollout

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// Whatever spec a user writes (decoded as the controller decodes it), the
// planner decides without a panic, deterministically, and again on the
// status it decided.
func FuzzDecide(f *testing.F) {
	f.Add([]byte(`{"spec":{"replicas":3,"selector":{"matchLabels":{"app":"a"}},"template":{"metadata":{"labels":{"app":"a"}},"spec":{"containers":[{"name":"c","image":"i"}]}},"strategy":{"canary":{"steps":[{"setWeight":20},{"pause":{}}]}}}}`))
	f.Add([]byte(`{"spec":{"replicas":2,"selector":{"matchLabels":{"app":"a"}},"template":{"metadata":{"labels":{"app":"a"}},"spec":{"containers":[{"name":"c","image":"i"}]}},"strategy":{"blueGreen":{"activeService":"a","previewService":"p"}}}}`))
	f.Add([]byte(`{"spec":{"replicas":-1,"strategy":{"canary":{"maxSurge":"200%","maxUnavailable":"x","trafficRouting":{"nginx":{"stableIngress":"s"}},"steps":[{"setWeight":150},{"experiment":{}}]}}},"status":{"currentStepIndex":9,"abort":true}}`))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		var ro v1alpha1.Rollout
		if json.Unmarshal(data, &ro) != nil {
			return
		}
		ro.Name, ro.Namespace, ro.UID, ro.Generation = "fuzz", "default", "uid", 1
		first := Decide(Observed{Rollout: ro.DeepCopy(), Now: now})
		again := Decide(Observed{Rollout: ro.DeepCopy(), Now: now})
		if !reflect.DeepEqual(first.Status, again.Status) || !reflect.DeepEqual(first.Events, again.Events) {
			t.Fatalf("two decisions on the same input differ")
		}
		ro.Status = first.Status
		Decide(Observed{Rollout: &ro, Now: now.Add(time.Second)})
	})
}
