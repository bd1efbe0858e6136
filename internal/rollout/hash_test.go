package rollout

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// argoFixture is the pod template of Argo Rollouts' own hash test, whose hash
// Argo pins at 7bb4fbc896 for every released controller.
func argoFixture(image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"name": image}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: image, Image: image,
				ImagePullPolicy:        corev1.PullAlways,
				TerminationMessagePath: corev1.TerminationMessagePathDefault,
			}},
			DNSPolicy:       corev1.DNSClusterFirst,
			RestartPolicy:   corev1.RestartPolicyAlways,
			SecurityContext: &corev1.PodSecurityContext{},
		},
	}
}

// TestPodTemplateHashVectors pins the hash to Argo Rollouts' algorithm: FNV-32a
// of the template's JSON (creationTimestamp kept as null), the collision
// count as 4 little-endian bytes and 4 zero bytes, SafeEncodeString of the
// decimal sum. 7bb4fbc896 is Argo's own published value; the others were
// computed by a separate implementation of those steps (not Vireo's code)
// over the literal JSON below.
func TestPodTemplateHashVectors(t *testing.T) {
	red := argoFixture("red")
	wantJSON := `{"metadata":{"creationTimestamp":null,"labels":{"name":"red"}},"spec":{"containers":[{"name":"red","image":"red","resources":{},"terminationMessagePath":"/dev/termination-log","imagePullPolicy":"Always"}],"restartPolicy":"Always","dnsPolicy":"ClusterFirst","securityContext":{}}}`
	if got := string(TemplateJSON(&red)); got != wantJSON {
		t.Fatalf("template JSON:\n got %s\nwant %s", got, wantJSON)
	}
	demo := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "rollouts-demo"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "rollouts-demo", Image: "argoproj/rollouts-demo:blue",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
		}}},
	}
	wantDemo := `{"metadata":{"creationTimestamp":null,"labels":{"app":"rollouts-demo"}},"spec":{"containers":[{"name":"rollouts-demo","image":"argoproj/rollouts-demo:blue","ports":[{"name":"http","containerPort":8080,"protocol":"TCP"}],"resources":{}}]}}`
	if got := string(TemplateJSON(&demo)); got != wantDemo {
		t.Fatalf("template JSON:\n got %s\nwant %s", got, wantDemo)
	}
	for _, tc := range []struct {
		name      string
		template  corev1.PodTemplateSpec
		collision *int32
		want      string
	}{
		// Argo Rollouts' published value for its own fixture.
		{"argo fixture", red, nil, "7bb4fbc896"},
		{"argo fixture, collision 1", red, ptr.To[int32](1), "7db7d79d7c"},
		{"argo fixture, collision 0", red, ptr.To[int32](0), "66fc5c7848"},
		{"rollouts-demo blue", demo, nil, "79fcfb5fd9"},
	} {
		if got := PodTemplateHash(&tc.template, tc.collision); got != tc.want {
			t.Errorf("%s: hash %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestPodTemplateHash(t *testing.T) {
	a := validCanary().Spec.Template
	b := *a.DeepCopy()
	if PodTemplateHash(&a, nil) != PodTemplateHash(&b, nil) {
		t.Fatal("equal templates hash differently")
	}
	b.Spec.Containers[0].Image = "demo:green"
	if PodTemplateHash(&a, nil) == PodTemplateHash(&b, nil) {
		t.Error("a new image does not change the hash")
	}
	if PodTemplateHash(&a, nil) == PodTemplateHash(&a, ptr.To[int32](1)) {
		t.Error("the collision count does not change the hash")
	}
	h := PodTemplateHash(&a, nil)
	if len(h) == 0 || len(h) > 10 {
		t.Errorf("hash %q: want a short label value", h)
	}
}
