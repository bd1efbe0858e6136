// Package manifests checks the install manifests in config/ without a cluster:
// least-privilege RBAC, the two installs kept in step, the controller's probes.
package manifests

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/vireo-dev/vireo/api/v1alpha1"
	"github.com/vireo-dev/vireo/internal/rollout"
	"github.com/vireo-dev/vireo/internal/testenv"
)

func read(t *testing.T, rel string, into any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), rel))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, into); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

func TestRBACIsLeastPrivilege(t *testing.T) {
	var cr rbacv1.ClusterRole
	read(t, "config/rbac/cluster_role.yaml", &cr)
	var role rbacv1.Role
	read(t, "config/namespaced/role.yaml", &role)

	for name, rules := range map[string][]rbacv1.PolicyRule{"ClusterRole": cr.Rules, "Role": role.Rules} {
		for _, r := range rules {
			for _, field := range [][]string{r.APIGroups, r.Resources, r.Verbs} {
				if slices.Contains(field, "*") {
					t.Errorf("%s: wildcard in rule %+v", name, r)
				}
			}
			// Secrets are read one by one (never listed or watched,
			// so the controller holds no copy of every Secret), and
			// written only as a Canary's -primary copies (create, and
			// update of the copies it controls).
			if slices.Contains(r.Resources, "secrets") {
				for _, v := range r.Verbs {
					if v != "get" && v != "create" && v != "update" {
						t.Errorf("%s: secrets may only be read with get and written as copies (create, update), found %v", name, r.Verbs)
					}
				}
			}
			if slices.Contains(r.Resources, "pods") && slices.Contains(r.Verbs, "delete") {
				t.Errorf("%s: pods are evicted, never deleted outright", name)
			}
		}
	}

	// The Role is the ClusterRole less the cluster-scoped kinds.
	var namespaced []rbacv1.PolicyRule
	for _, r := range cr.Rules {
		if slices.Contains(r.Resources, "clusteranalysistemplates") {
			continue
		}
		namespaced = append(namespaced, r)
	}
	if !reflect.DeepEqual(namespaced, role.Rules) {
		t.Errorf("config/namespaced/role.yaml and config/rbac/cluster_role.yaml have drifted apart:\nClusterRole (namespaced rules): %+v\nRole: %+v", namespaced, role.Rules)
	}
}

func TestControllerDeployment(t *testing.T) {
	var d appsv1.Deployment
	read(t, "config/manager/deployment.yaml", &d)
	c := d.Spec.Template.Spec.Containers[0]
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Error("controller has no /healthz liveness probe")
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Error("controller has no /readyz readiness probe")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Error("controller has no resource requests")
	}
	if !slices.Contains(c.Args, "--leader-elect") {
		t.Error("controller does not elect a leader")
	}
	if d.Spec.Template.Spec.ServiceAccountName != "vireo-controller" {
		t.Errorf("serviceAccountName %q", d.Spec.Template.Spec.ServiceAccountName)
	}
}

// The samples are what users copy: the valid ones must validate, and the
// invalid one must fail on the fields it says it gets wrong.
func TestSamples(t *testing.T) {
	for file, wantFields := range map[string][]string{
		"config/samples/canary-rollout.yaml":    nil,
		"config/samples/bluegreen-rollout.yaml": nil,
		"config/samples/invalid-rollout.yaml":   {"spec.strategy.canary.steps[0].setWeight", "spec.strategy.canary.steps[1].pause.duration"},
	} {
		ro := firstRollout(t, file)
		var got []string
		for _, e := range rollout.Validate(ro) {
			got = append(got, e.Field)
		}
		if !reflect.DeepEqual(got, wantFields) {
			t.Errorf("%s: invalid fields %v, want %v", file, got, wantFields)
		}
	}
}

func firstRollout(t *testing.T, rel string) *v1alpha1.Rollout {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), rel))
	if err != nil {
		t.Fatal(err)
	}
	doc, _, _ := bytes.Cut(data, []byte("\n---\n"))
	var ro v1alpha1.Rollout
	if err := yaml.UnmarshalStrict(doc, &ro); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	if ro.Kind != "Rollout" {
		t.Fatalf("%s: first document is a %s", rel, ro.Kind)
	}
	return &ro
}
