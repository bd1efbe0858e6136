// Package testenv starts a real kube-apiserver and etcd for integration tests,
// from the binaries hack/cluster/build caches, with Vireo's CRDs installed.
package testenv

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/vireo-dev/vireo/internal/apischeme"
)

// RepoRoot is the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// BinDir holds etcd, kube-apiserver and kubectl: $KUBEBUILDER_ASSETS, or the
// cache hack/cluster/build fills.
func BinDir() string {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d
	}
	if d := os.Getenv("VIREO_CACHE_DIR"); d != "" {
		return filepath.Join(d, "bin")
	}
	return filepath.Join(RepoRoot(), ".cache", "bin")
}

// Require skips the test when the control-plane binaries are missing, or fails
// it when VIREO_REQUIRE_CLUSTER is set (as `make test` does), so a missing build
// can never pass silently in CI.
func Require(t testing.TB) {
	t.Helper()
	dir := BinDir()
	for _, b := range []string{"etcd", "kube-apiserver", "kubectl"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			if os.Getenv("VIREO_REQUIRE_CLUSTER") != "" {
				t.Fatalf("control-plane binary %s missing in %s: run hack/cluster/build", b, dir)
			}
			t.Skipf("control-plane binaries not built (%s missing in %s); run `make test` or hack/cluster/build", b, dir)
		}
	}
}

// Env is a running API server with Vireo's CRDs.
type Env struct {
	Config *rest.Config
	Client client.Client
	// AuditLog is the API server's audit log (JSON lines, one event per
	// request at the Metadata level), when started by StartAudited.
	AuditLog string
}

// Start runs etcd and kube-apiserver for the test and stops them at its end,
// with Vireo's CRDs and those in crdDirs (a router's, say) installed.
func Start(t testing.TB, crdDirs ...string) *Env {
	t.Helper()
	return start(t, false, crdDirs)
}

// StartAudited is Start with the API server writing an audit log of every
// request, to Env.AuditLog.
func StartAudited(t testing.TB, crdDirs ...string) *Env {
	t.Helper()
	return start(t, true, crdDirs)
}

// auditPolicy records every request once it is answered, without bodies.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
- level: Metadata
`

func start(t testing.TB, audited bool, crdDirs []string) *Env {
	t.Helper()
	Require(t)
	te := &envtest.Environment{
		BinaryAssetsDirectory: BinDir(),
		CRDDirectoryPaths:     append([]string{filepath.Join(RepoRoot(), "config", "crd", "bases")}, crdDirs...),
		ErrorIfCRDPathMissing: true,
	}
	var auditLog string
	if audited {
		dir := t.TempDir()
		policy := filepath.Join(dir, "audit-policy.yaml")
		if err := os.WriteFile(policy, []byte(auditPolicy), 0o644); err != nil {
			t.Fatal(err)
		}
		auditLog = filepath.Join(dir, "audit.log")
		args := te.ControlPlane.GetAPIServer().Configure()
		args.Set("audit-policy-file", policy)
		args.Set("audit-log-path", auditLog)
		args.Set("audit-log-mode", "blocking")
	}
	cfg, err := te.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() {
		if err := te.Stop(); err != nil {
			t.Errorf("stopping the test API server: %v", err)
		}
	})
	scheme, err := apischeme.New()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Config: cfg, Client: c, AuditLog: auditLog}
}

// Kubeconfig writes a kubeconfig file for the environment's API server, with
// namespace as its context's namespace, for tools that read one.
func (e *Env) Kubeconfig(t testing.TB, namespace string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["envtest"] = &clientcmdapi.Cluster{Server: e.Config.Host, CertificateAuthorityData: e.Config.CAData}
	cfg.AuthInfos["envtest"] = &clientcmdapi.AuthInfo{ClientCertificateData: e.Config.CertData, ClientKeyData: e.Config.KeyData, Token: e.Config.BearerToken}
	cfg.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest", Namespace: namespace}
	cfg.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}
