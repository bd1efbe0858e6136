package analysis

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/vireo-dev/vireo/api/v1alpha1"
)

// decode gives a result the shape a provider's JSON gives it.
func decode(t testing.TB, s string) any {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestEvaluateTheDocumentedForms(t *testing.T) {
	for _, tc := range []struct {
		cond   string
		result string
		want   bool
	}{
		{"result[0] >= 0.95", `[0.97]`, true},
		{"result[0] >= 0.95", `[0.5]`, false},
		{"result.major == '1'", `{"major": "1", "minor": "2"}`, true},
		{"len(result) > 0", `[]`, false},
		{"len(result) > 0", `[1, 2]`, true},
		{"asInt(result) == 3", `"3"`, true},
		{"asFloat(result) > 0.5", `"0.75"`, true},
		{"default(result, 0) == 0", `null`, true},
		{"default(result, 0) > 1", `2`, true},
		{"result > 10 && result < 20", `15`, true},
		{"isNil(result)", `null`, true},
	} {
		got, err := Evaluate(tc.cond, decode(t, tc.result))
		if err != nil || got != tc.want {
			t.Errorf("%s on %s = %v, %v; want %v", tc.cond, tc.result, got, err, tc.want)
		}
	}
	if ok, err := Evaluate("isNaN(result)", math.NaN()); err != nil || !ok {
		t.Errorf("isNaN(NaN) = %v, %v", ok, err)
	}
	if ok, err := Evaluate("isInf(result)", math.Inf(1)); err != nil || !ok {
		t.Errorf("isInf(+Inf) = %v, %v", ok, err)
	}
}

func TestEvaluateRefusesWhatIsNotABoolOrNotAnExpression(t *testing.T) {
	for _, cond := range []string{"result[0]", "result >=", "1 +", strings.Repeat("(", 5000), "asInt('x') > 1", "result.a.b.c == 1", "unknownName > 1"} {
		if _, err := Evaluate(cond, decode(t, `[1]`)); err == nil {
			t.Errorf("%.40q evaluated without an error", cond)
		}
	}
}

func TestJudge(t *testing.T) {
	m := func(success, failure string) *v1alpha1.Metric {
		return &v1alpha1.Metric{Name: "m", SuccessCondition: success, FailureCondition: failure}
	}
	for _, tc := range []struct {
		name   string
		metric *v1alpha1.Metric
		result string
		want   v1alpha1.AnalysisPhase
	}{
		{"success holds", m("result[0] > 0.9", ""), `[0.95]`, v1alpha1.AnalysisPhaseSuccessful},
		{"success alone, not holding, fails", m("result[0] > 0.9", ""), `[0.5]`, v1alpha1.AnalysisPhaseFailed},
		{"failure alone, not holding, succeeds", m("", "result[0] < 0.5"), `[0.7]`, v1alpha1.AnalysisPhaseSuccessful},
		{"failure holds", m("", "result[0] < 0.5"), `[0.1]`, v1alpha1.AnalysisPhaseFailed},
		{"both, neither holds", m("result[0] > 0.9", "result[0] < 0.5"), `[0.7]`, v1alpha1.AnalysisPhaseInconclusive},
		{"both hold: failure wins", m("result[0] > 0.1", "result[0] < 0.5"), `[0.3]`, v1alpha1.AnalysisPhaseFailed},
		{"neither condition", m("", ""), `[1]`, v1alpha1.AnalysisPhaseInconclusive},
		{"broken expression", m("result[0] >", ""), `[1]`, v1alpha1.AnalysisPhaseError},
		{"out of range", m("result[3] > 1", ""), `[1]`, v1alpha1.AnalysisPhaseError},
	} {
		got, err := Judge(tc.metric, decode(t, tc.result))
		if got != tc.want {
			t.Errorf("%s: %s (%v), want %s", tc.name, got, err, tc.want)
		}
		if got == v1alpha1.AnalysisPhaseError && (err == nil || !strings.Contains(err.Error(), "successCondition")) {
			t.Errorf("%s: error %v does not name the condition", tc.name, err)
		}
	}
}

// Conditions are user input evaluated inside the controller: whatever the
// expression and the value, evaluation returns; it never panics or hangs.
func FuzzEvaluate(f *testing.F) {
	for _, seed := range []string{"result[0] >= 0.95", "result.major == '1'", "len(result) > 0", "isNaN(result)",
		"asInt(result) > 1", "default(result, 0) == 0", "result[0] / 0 > 1", "1..100 | all(# > 0)"} {
		f.Add(seed, `[0.5, "1", {"a": null}]`)
	}
	f.Fuzz(func(t *testing.T, cond, result string) {
		var v any
		_ = json.Unmarshal([]byte(result), &v)
		_, _ = Evaluate(cond, v)
	})
}
