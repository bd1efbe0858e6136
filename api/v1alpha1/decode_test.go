package v1alpha1

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
)

const malformed = `{"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout","metadata":{"name":"bad"},
"spec":{"replicas":2,"selector":{"matchLabels":{"app":"bad"}},
"template":{"metadata":{"labels":{"app":"bad"}},"spec":{
  "containers":[{"name":"app","image":"demo:blue","resources":{"requests":{"memory":"invalid","cpu":"100m"},"limits":{"cpu":2}}}],
  "initContainers":[{"name":"init","image":"busybox","resources":{"limits":{"memory":"lots"}}}],
  "volumes":[{"name":"scratch","emptyDir":{"sizeLimit":"huge"}}]}},
"strategy":{"canary":{"steps":[{"setWeight":50}]}}}}`

// A Rollout whose pod template holds quantities the Go types refuse decodes
// all the same, through the API machinery's own decoder, with the bad values
// left out and named; the good ones are kept.
func TestMalformedQuantitiesDecodeTolerantly(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	codecs := serializer.NewCodecFactory(scheme)
	obj, _, err := codecs.UniversalDeserializer().Decode([]byte(malformed), nil, nil)
	if err != nil {
		t.Fatalf("decoding a Rollout with an invalid quantity: %v", err)
	}
	ro := obj.(*Rollout)
	c := ro.Spec.Template.Spec.Containers[0]
	if _, ok := c.Resources.Requests["memory"]; ok {
		t.Errorf("the invalid memory request was kept: %v", c.Resources.Requests)
	}
	if q := c.Resources.Requests["cpu"]; q.String() != "100m" {
		t.Errorf("cpu request %s, want 100m kept", q.String())
	}
	if q := c.Resources.Limits["cpu"]; q.String() != "2" {
		t.Errorf("cpu limit %s, want 2 kept", q.String())
	}
	got := strings.Join(ro.Spec.DecodeProblems, "\n")
	for _, want := range []string{
		`spec.template.spec.containers[0].resources.requests.memory: invalid quantity "invalid", left out`,
		`spec.template.spec.initContainers[0].resources.limits.memory: invalid quantity "lots", left out`,
		`spec.template.spec.volumes[0].emptyDir.sizeLimit: invalid quantity "huge", left out`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("decode problems lack %q:\n%s", want, got)
		}
	}
	if ro.Spec.Strategy.Canary == nil || *ro.Spec.Replicas != 2 {
		t.Errorf("the rest of the spec was lost: %+v", ro.Spec)
	}
}

// A well-formed spec decodes as before, with no problem named; a spec that
// is wrong in another way still fails.
func TestWellFormedAndOtherwiseBrokenSpecs(t *testing.T) {
	var ro Rollout
	if err := json.Unmarshal([]byte(strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(malformed, `"invalid"`, `"64Mi"`), `"lots"`, `"1Gi"`), `"huge"`, `"1Gi"`)), &ro); err != nil {
		t.Fatal(err)
	}
	if len(ro.Spec.DecodeProblems) != 0 {
		t.Errorf("problems named for a well-formed spec: %v", ro.Spec.DecodeProblems)
	}
	if err := json.Unmarshal([]byte(`{"spec":{"replicas":"two"}}`), &ro); err == nil {
		t.Error("replicas: \"two\" decoded without an error")
	}
}
