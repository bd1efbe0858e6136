package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

func TestWriteExperiment(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ex := &v1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: "ab", Namespace: "shop", CreationTimestamp: metav1.NewTime(now.Add(-2 * time.Minute))},
		Spec: v1alpha1.ExperimentSpec{Duration: "10m",
			Templates: []v1alpha1.TemplateSpec{{Name: "baseline", Replicas: ptr.To[int32](2)}, {Name: "canary"}},
			Analyses:  []v1alpha1.ExperimentAnalysisTemplateRef{{Name: "compare", TemplateName: "mann-whitney", RequiredForCompletion: true}}},
		Status: v1alpha1.ExperimentStatus{Phase: v1alpha1.AnalysisPhaseFailed, Message: "analysis compare Failed",
			AvailableAt: ptr.To(metav1.NewTime(now.Add(-90 * time.Second))),
			TemplateStatuses: []v1alpha1.TemplateStatus{
				{Name: "baseline", Status: "Successful", Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, PodTemplateHash: "6d4f8"},
				{Name: "canary", Status: "Failed", Message: "ReplicaSet ab-canary did not become available", PodTemplateHash: "7c9b2", ServiceName: "ab-canary"}},
			AnalysisRuns: []v1alpha1.ExperimentAnalysisRunStatus{{Name: "compare", AnalysisRun: "ab-compare", Phase: v1alpha1.AnalysisPhaseFailed, Message: "metric p failed"}}},
	}
	var b bytes.Buffer
	if err := WriteExperiment(&b, ex, now, false); err != nil {
		t.Fatal(err)
	}
	want := `Name:          ab
Namespace:     shop
Status:        ✖ Failed
Message:       analysis compare Failed
Duration:      10m
Available:     90s ago

TEMPLATE  STATUS        REPLICAS  READY  AVAILABLE  POD-TEMPLATE-HASH  SERVICE
baseline  ✔ Successful  2/2       2      2          6d4f8              -
canary    ✖ Failed      0/1       0      0          7c9b2              ab-canary
  ReplicaSet ab-canary did not become available

ANALYSIS  TEMPLATE      ANALYSISRUN  STATUS    REQUIRED
compare   mann-whitney  ab-compare   ✖ Failed  yes
  metric p failed
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	b.Reset()
	WriteExperimentList(&b, []v1alpha1.Experiment{*ex}, false, now, false)
	if got := b.String(); !strings.Contains(got, "ab    ✖ Failed  2          1         10m       2m") {
		t.Errorf("list:\n%s", got)
	}
}
