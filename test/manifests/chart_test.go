package manifests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/vireo-dev/vireo/internal/testenv"
)

// helm is Helm, built from the module proxy by hack/cluster/build.
func helm(t *testing.T, args ...string) string {
	t.Helper()
	bin := filepath.Join(testenv.BinDir(), "helm")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("VIREO_REQUIRE_CLUSTER") != "" {
			t.Fatalf("helm is not built (hack/cluster/build builds it): %v", err)
		}
		t.Skip("helm is not built; run hack/cluster/build")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm %v: %v\n%s%s", args, err, out.String(), errOut.String())
	}
	return out.String()
}

// rendered splits helm template's output into objects by kind and name.
func rendered(t *testing.T, out string) map[string][]byte {
	t.Helper()
	objs := map[string][]byte{}
	for _, doc := range strings.Split(out, "\n---\n") {
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("rendered YAML: %v\n%s", err, doc)
		}
		if head.Kind != "" {
			objs[head.Kind+"/"+head.Metadata.Name] = []byte(doc)
		}
	}
	return objs
}

// The chart lints clean, renders the RBAC of config/ for either mode, runs
// the controller with the values' flags, and ships config/crd's CRDs.
func TestHelmChart(t *testing.T) {
	chart := filepath.Join(testenv.RepoRoot(), "charts", "vireo")
	helm(t, "lint", "--strict", chart)
	helm(t, "lint", "--strict", chart, "--set", "namespaced=true")

	t.Run("cluster-wide", func(t *testing.T) {
		objs := rendered(t, helm(t, "template", "vireo", chart, "--namespace", "vireo-system", "--include-crds"))
		var got rbacv1.ClusterRole
		if err := yaml.UnmarshalStrict(objs["ClusterRole/vireo-controller-vireo-system"], &got); err != nil {
			t.Fatal(err)
		}
		var want rbacv1.ClusterRole
		read(t, "config/rbac/cluster_role.yaml", &want)
		if !reflect.DeepEqual(got.Rules, want.Rules) {
			t.Errorf("the chart's ClusterRole differs from config/rbac/cluster_role.yaml:\n%+v\nwant\n%+v", got.Rules, want.Rules)
		}
		var d appsv1.Deployment
		if err := yaml.Unmarshal(objs["Deployment/vireo-controller"], &d); err != nil {
			t.Fatal(err)
		}
		args := d.Spec.Template.Spec.Containers[0].Args
		for _, a := range []string{"--leader-elect", "--metrics-bind-address=:8090", "--flagger=auto", "--flagger-provider=istio"} {
			if !slices.Contains(args, a) {
				t.Errorf("controller args %v lack %s", args, a)
			}
		}
		// shards in place of leader election.
		sharded := rendered(t, helm(t, "template", "vireo", chart, "--namespace", "vireo-system", "--set", "shards=4,replicas=3"))
		var sd appsv1.Deployment
		if err := yaml.Unmarshal(sharded["Deployment/vireo-controller"], &sd); err != nil {
			t.Fatal(err)
		}
		if a := sd.Spec.Template.Spec.Containers[0].Args; !slices.Contains(a, "--shards=4") || slices.Contains(a, "--leader-elect") {
			t.Errorf("with shards=4 the controller args are %v, want --shards=4 and no --leader-elect", a)
		}
		crds := 0
		for k := range objs {
			if strings.HasPrefix(k, "CustomResourceDefinition/") {
				crds++
			}
		}
		t.Logf("helm template: %d objects (%d CRDs)", len(objs), crds)
		if crds != 8 {
			t.Errorf("%d CRDs rendered, want Vireo's 8", crds)
		}
	})
	t.Run("namespaced", func(t *testing.T) {
		objs := rendered(t, helm(t, "template", "vireo", chart, "--namespace", "team-a", "--set", "namespaced=true,instanceID=team-a,replicas=2"))
		var got rbacv1.Role
		if err := yaml.UnmarshalStrict(objs["Role/vireo-controller"], &got); err != nil {
			t.Fatal(err)
		}
		var want rbacv1.Role
		read(t, "config/namespaced/role.yaml", &want)
		if !reflect.DeepEqual(got.Rules, want.Rules) {
			t.Errorf("the chart's Role differs from config/namespaced/role.yaml:\n%+v\nwant\n%+v", got.Rules, want.Rules)
		}
		if _, cluster := objs["ClusterRole/vireo-controller-team-a"]; cluster {
			t.Error("a namespaced install renders a ClusterRole")
		}
		var d appsv1.Deployment
		if err := yaml.Unmarshal(objs["Deployment/vireo-controller"], &d); err != nil {
			t.Fatal(err)
		}
		args := d.Spec.Template.Spec.Containers[0].Args
		if !slices.Contains(args, "--namespace=$(POD_NAMESPACE)") || !slices.Contains(args, "--instance-id=team-a") || *d.Spec.Replicas != 2 {
			t.Errorf("namespaced controller: replicas %d, args %v", *d.Spec.Replicas, args)
		}
	})
	t.Run("egress", func(t *testing.T) {
		objs := rendered(t, helm(t, "template", "vireo", chart, "--set", "egress.allowLoopback=true", "--set", "egress.allowlist={10.0.0.0/8,192.0.2.1/32}"))
		var d appsv1.Deployment
		if err := yaml.Unmarshal(objs["Deployment/vireo-controller"], &d); err != nil {
			t.Fatal(err)
		}
		args := d.Spec.Template.Spec.Containers[0].Args
		if !slices.Contains(args, "--notification-configmap=argo-rollouts-notification-configmap") || !slices.Contains(args, "--notification-secret=argo-rollouts-notification-secret") {
			t.Errorf("the notification configuration's names: args %v", args)
		}
		if !slices.Contains(args, "--allow-loopback") || !slices.Contains(args, "--egress-allowlist=10.0.0.0/8,192.0.2.1/32") {
			t.Errorf("egress values: args %v", args)
		}
		objs = rendered(t, helm(t, "template", "vireo", chart))
		if err := yaml.Unmarshal(objs["Deployment/vireo-controller"], &d); err != nil {
			t.Fatal(err)
		}
		for _, a := range d.Spec.Template.Spec.Containers[0].Args {
			if strings.HasPrefix(a, "--allow-loopback") || strings.HasPrefix(a, "--egress-allowlist") {
				t.Errorf("by default the chart sets %s", a)
			}
		}
	})
	t.Run("the chart's CRDs are config/crd's", func(t *testing.T) {
		want, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "crd", "bases", "*.yaml"))
		for _, f := range want {
			a, _ := os.ReadFile(f)
			b, err := os.ReadFile(filepath.Join(chart, "crds", filepath.Base(f)))
			if err != nil || !bytes.Equal(a, b) {
				t.Errorf("charts/vireo/crds/%s differs from config/crd/bases (make generate copies them): %v", filepath.Base(f), err)
			}
		}
	})
}

// The egress NetworkPolicy sample selects the controller's pods as
// config/manager's Deployment labels them, and lets DNS and the API server
// through.
func TestEgressNetworkPolicySample(t *testing.T) {
	var np networkingv1.NetworkPolicy
	read(t, "config/samples/egress-networkpolicy.yaml", &np)
	var d appsv1.Deployment
	read(t, "config/manager/deployment.yaml", &d)
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("the policy's podSelector %v does not select the controller's pods %v", np.Spec.PodSelector, d.Spec.Template.Labels)
	}
	ports := map[int32]bool{}
	for _, rule := range np.Spec.Egress {
		for _, p := range rule.Ports {
			ports[p.Port.IntVal] = true
		}
	}
	for _, p := range []int32{53, 443, 6443, 9090} {
		if !ports[p] {
			t.Errorf("the egress policy does not open port %d", p)
		}
	}
	if len(np.Spec.PolicyTypes) != 1 || np.Spec.PolicyTypes[0] != networkingv1.PolicyTypeEgress {
		t.Errorf("policy types %v", np.Spec.PolicyTypes)
	}
}
