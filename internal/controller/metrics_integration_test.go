package controller_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/controller"
	"github.com/vireo-dev/vireo/internal/testenv"
)

// The controller's /metrics, scraped over HTTP while it reconciles Rollouts
// on a real API server, has Argo Rollouts' series with Argo's labels.
func TestArgoNamedMetrics(t *testing.T) {
	env := testenv.Start(t)
	c := env.Client
	ns := namespace(t, c, "metrics")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	startManagerServing(t, env, controller.Options{MetricsBindAddress: addr})

	paused := rollout(ns, "paused", nil)
	paused.Spec.Replicas = ptr.To[int32](2)
	create(t, c, paused)
	waitFor(t, c, paused, func(ro *v1alpha1.Rollout) error {
		if ro.Status.ObservedGeneration == "" {
			return fmt.Errorf("not reconciled yet")
		}
		return nil
	})

	scrape := func() string {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	at := fmt.Sprintf(`name="paused",namespace=%q`, ns)
	want := []string{
		`rollout_info{` + at + `,phase="Progressing",strategy="canary",traffic_router=""} 1`,
		`rollout_info_replicas_desired{` + at + `} 2`,
		`rollout_info_replicas_available{` + at + `} 0`,
		`rollout_phase{` + at + `,phase="Progressing",strategy="canary"} 1`,
		`rollout_phase{` + at + `,phase="Completed",strategy="canary"} 0`,
		`rollout_reconcile_count{` + at + `}`,
		`rollout_reconcile_bucket{` + at + `,le="0.15"}`,
		`rollout_events_total{` + at + `,reason="RolloutUpdated",type="Normal"} 1`,
		fmt.Sprintf(`controller_clientset_k8s_request_total{kind="rollouts",name="paused",namespace=%q,status_code="200",verb="Patch"}`, ns),
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		body := scrape()
		var missing []string
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			var ours []string
			for _, line := range strings.Split(body, "\n") {
				if strings.Contains(line, `namespace="`+ns+`"`) {
					ours = append(ours, line)
				}
			}
			t.Fatalf("missing from /metrics:\n%s\nthe rollout's series:\n%s", strings.Join(missing, "\n"), strings.Join(ours, "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startManagerServing is startManager with the metrics server on.
func startManagerServing(t *testing.T, env *testenv.Env, opts controller.Options) {
	t.Helper()
	opts.HealthProbeBindAddress = "0"
	opts.SeveralPerProcess = true
	mgr, err := controller.NewManager(env.Config, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
}
