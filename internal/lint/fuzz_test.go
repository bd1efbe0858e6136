package lint

import "testing"

// Any file given to lint gets problems or none, never a panic.
func FuzzFile(f *testing.F) {
	f.Add([]byte("apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: x}\nspec: {replicas: 1}\n"))
	f.Add([]byte("kind: AnalysisTemplate\nspec: {metrics: [{name: m, successCondition: 'result > 1'}]}\n"))
	f.Add([]byte("---\n- [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = File(data)
	})
}
