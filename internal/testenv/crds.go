package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextv1beta1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// The traffic routers' CRDs, each as the Go module of its project ships it.

// GatewayCRDs is the directory of the Gateway API's standard channel CRDs,
// in the gateway-api module this repository builds with.
func GatewayCRDs(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api").Output()
	if err != nil {
		t.Fatalf("finding the gateway-api module: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "standard")
}

// TraefikCRDs is a directory with the TraefikService CRD as Traefik's module ships it; with
// legacy, the same kind renamed into the older traefik.containo.us group.
func TraefikCRDs(t testing.TB, legacy bool) string {
	t.Helper()
	file := ModuleFile(t, TraefikModule, "integration/fixtures/k8s/01-traefik-crd.yml")
	if !legacy {
		return CRDDir(t, file, []string{"traefikservices.traefik.io"}, nil)
	}
	return CRDDir(t, file, []string{"traefikservices.traefik.io"}, func(doc string) string {
		doc = strings.Replace(doc, "name: traefikservices.traefik.io", "name: traefikservices.traefik.containo.us", 1)
		return strings.Replace(doc, "group: traefik.io", "group: traefik.containo.us", 1)
	})
}

// SMICRDs is a directory with the TrafficSplit CRD of the SMI SDK module. The module ships it
// as apiextensions.k8s.io/v1beta1, which API servers no longer accept; it is
// converted to v1 the way the API server converted it, with every version
// served.
func SMICRDs(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile(ModuleFile(t, SMIModule, "crds/split.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var old apiextv1beta1.CustomResourceDefinition
	if err := yaml.Unmarshal([]byte(strings.TrimPrefix(string(data), "---\n")), &old); err != nil {
		t.Fatal(err)
	}
	apiextv1beta1.SetObjectDefaults_CustomResourceDefinition(&old)
	var internal apiextensions.CustomResourceDefinition
	if err := apiextv1beta1.Convert_v1beta1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(&old, &internal, nil); err != nil {
		t.Fatal(err)
	}
	var crd apiextv1.CustomResourceDefinition
	if err := apiextv1.Convert_apiextensions_CustomResourceDefinition_To_v1_CustomResourceDefinition(&internal, &crd, nil); err != nil {
		t.Fatal(err)
	}
	crd.TypeMeta = metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"}
	crd.Spec.PreserveUnknownFields = false
	for i := range crd.Spec.Versions {
		v := &crd.Spec.Versions[i]
		v.Served = true
		if v.Schema.OpenAPIV3Schema.Type == "" {
			v.Schema.OpenAPIV3Schema.Type = "object"
		}
	}
	out, err := yaml.Marshal(&crd)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "split.yaml"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// IstioCRDs is a directory with the VirtualService and DestinationRule CRDs
// of Istio's API module.
func IstioCRDs(t testing.TB) string {
	t.Helper()
	file := ModuleFile(t, IstioModule, "kubernetes/customresourcedefinitions.gen.yaml")
	return CRDDir(t, file, []string{"virtualservices.networking.istio.io", "destinationrules.networking.istio.io"}, nil)
}

// KEDACRDs is the directory of KEDA's ScaledObject CRD (keda.sh/v1alpha1).
func KEDACRDs(t testing.TB) string {
	t.Helper()
	file := ModuleFile(t, KEDAModule, "config/crd/bases/keda.sh_scaledobjects.yaml")
	return CRDDir(t, file, []string{"scaledobjects.keda.sh"}, nil)
}

// AmbassadorCRDs is the directory of Emissary's Mapping CRD at
// getambassador.io/v3alpha1. Emissary converts between its versions with a
// webhook that does not run here, and its v1 and v2 schemas are not
// structural (its webhook server fixes them up when it starts), so only
// v3alpha1, the version Emissary 3 documents, is installed.
func AmbassadorCRDs(t testing.TB) string {
	t.Helper()
	file := ModuleFile(t, EmissaryModule, "pkg/api/getambassador.io/crds.yaml")
	return CRDDir(t, file, []string{"mappings.getambassador.io"}, func(doc string) string {
		var crd apiextv1.CustomResourceDefinition
		if err := yaml.Unmarshal([]byte(doc), &crd); err != nil {
			t.Fatalf("Emissary's Mapping CRD: %v", err)
		}
		crd.Spec.Conversion = &apiextv1.CustomResourceConversion{Strategy: apiextv1.NoneConverter}
		var keep []apiextv1.CustomResourceDefinitionVersion
		for _, v := range crd.Spec.Versions {
			if v.Name == "v3alpha1" {
				v.Served, v.Storage = true, true
				keep = append(keep, v)
			}
		}
		if len(keep) != 1 {
			t.Fatal("Emissary's Mapping CRD has no v3alpha1")
		}
		crd.Spec.Versions = keep
		out, err := yaml.Marshal(&crd)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	})
}

// APISIXCRDs is the directory of the APISIX ingress controller's ApisixRoute CRD.
func APISIXCRDs(t testing.TB) string {
	t.Helper()
	file := ModuleFile(t, APISIXModule, "samples/deploy/crd/v1/ApisixRoute.yaml")
	return CRDDir(t, file, []string{"apisixroutes.apisix.apache.org"}, nil)
}
