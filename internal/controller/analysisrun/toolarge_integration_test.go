package analysisrun

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/testenv"
)

// A status the API server refuses for its size ends the run in Error,
// saying so, with the tallies kept: never a write that fails forever.
func TestStatusTooLargeEndsTheRun(t *testing.T) {
	env := testenv.Start(t)
	ctx := context.Background()
	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "huge"},
		Spec: v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{{Name: "m", Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://127.0.0.1:1/"}}}}}}
	if err := env.Client.Create(ctx, run); err != nil {
		t.Fatal(err)
	}
	r := &Reconciler{Client: env.Client, Recorder: record.NewFakeRecorder(10), Clock: clocktesting.NewFakeClock(time.Now())}
	huge := strings.Repeat("x", 4<<20)
	next := v1alpha1.AnalysisRunStatus{Phase: v1alpha1.AnalysisPhaseRunning,
		MetricResults: []v1alpha1.MetricResult{{Name: "m", Count: 3, Successful: 3, Measurements: []v1alpha1.Measurement{{Phase: v1alpha1.AnalysisPhaseSuccessful, Value: huge}}}}}
	if _, err := r.writeStatus(ctx, run, next); err != nil {
		t.Fatalf("writing a status too large to store: %v", err)
	}
	var got v1alpha1.AnalysisRun
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(run), &got); err != nil {
		t.Fatal(err)
	}
	st := got.Status
	if st.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(st.Message, "too large to store") || st.CompletedAt == nil {
		t.Errorf("stored phase %s, message %.120q, completedAt %v", st.Phase, st.Message, st.CompletedAt)
	}
	if len(st.MetricResults) != 1 || st.MetricResults[0].Count != 3 || len(st.MetricResults[0].Measurements) != 0 {
		t.Errorf("stored results %+v", st.MetricResults)
	}
}
