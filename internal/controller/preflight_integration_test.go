package controller

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/vireo-dev/vireo/internal/testenv"
)

// A controller started before its CRDs are served (applied together, as a
// GitOps sync does) waits, saying why, and goes on once they are.
func TestWaitForCRDsAppliedLater(t *testing.T) {
	env := testenv.Start(t)
	ctx := context.Background()
	scheme := runtime.NewScheme()
	_ = apiextv1.AddToScheme(scheme)
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "crd", "bases", "argoproj.io_rollouts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextv1.CustomResourceDefinition
	if err := yaml.Unmarshal(data, &crd); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, crd.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for CheckCRDs(env.Config) == nil {
		if time.Now().After(deadline) {
			t.Fatal("the Rollout CRD is still served after its deletion")
		}
		time.Sleep(100 * time.Millisecond)
	}

	var mu sync.Mutex
	var lines []string
	logger := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, args)
	}, funcr.Options{})
	done := make(chan error, 1)
	go func() { done <- WaitForCRDs(ctx, env.Config, logger, 100*time.Millisecond) }()

	time.Sleep(time.Second)
	select {
	case err := <-done:
		t.Fatalf("returned without the CRDs: %v", err)
	default:
	}
	mu.Lock()
	said := strings.Join(lines, "\n")
	mu.Unlock()
	if !strings.Contains(said, "waiting for the API server to serve Vireo's CRDs") || !strings.Contains(said, "rollouts.argoproj.io") {
		t.Errorf("the wait does not say why:\n%s", said)
	}

	if err := c.Create(ctx, &crd); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("still waiting 30 s after the CRDs came")
	}
}
