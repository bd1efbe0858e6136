package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vireo-dev/vireo/internal/testenv"
)

// ociImage is what the test reads of an image layout.
type ociImage struct {
	digest string
	user   string
	entry  []string
	env    []string
	labels map[string]string
	layer  string // the layer blob's path
	size   int64  // the compressed layer's size
}

func readLayout(t *testing.T, dir string) ociImage {
	t.Helper()
	blob := func(digest string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:")))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var index struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil || json.Unmarshal(data, &index) != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json: %v %s", err, data)
	}
	var manifest struct {
		Config struct{ Digest string } `json:"config"`
		Layers []struct {
			Digest string
			Size   int64
		} `json:"layers"`
	}
	if err := json.Unmarshal(blob(index.Manifests[0].Digest), &manifest); err != nil || len(manifest.Layers) != 1 {
		t.Fatalf("the manifest: %v", err)
	}
	var config struct {
		Config struct {
			User       string
			Entrypoint []string
			Env        []string
			Labels     map[string]string
		} `json:"config"`
	}
	if err := json.Unmarshal(blob(manifest.Config.Digest), &config); err != nil {
		t.Fatalf("the image config: %v", err)
	}
	return ociImage{digest: index.Manifests[0].Digest, user: config.Config.User, entry: config.Config.Entrypoint, env: config.Config.Env, labels: config.Config.Labels,
		layer: filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(manifest.Layers[0].Digest, "sha256:")), size: manifest.Layers[0].Size}
}

// unpack extracts the image's one layer into rootfs.
func unpack(t *testing.T, layer, rootfs string) {
	t.Helper()
	f, err := os.Open(layer)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(rootfs, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			mode := os.FileMode(h.Mode) & os.ModePerm
			if h.Mode&0o1000 != 0 {
				mode |= os.ModeSticky
			}
			if err := os.Chmod(p, mode); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, os.FileMode(h.Mode)&os.ModePerm); err != nil {
				t.Fatal(err)
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, p); err != nil {
				t.Fatal(err)
			}
		}
		_ = os.Lchown(p, h.Uid, h.Gid)
	}
}

// The image, built without a container engine by hack/image, runs under
// Debian's runc as root against the local control plane: its own
// entrypoint and user (not root), the kubeconfig mounted read-only, the
// host's network. It takes a Rollout through an update to Healthy; and the
// same commit builds the same digest again.
func TestImageRunsUnderRunc(t *testing.T) {
	c := requireCluster(t)
	runc := runcPath(t)
	c.installDefault(t)
	img := buildImage(t, "vireo-controller", t.TempDir())
	if again := buildImage(t, "vireo-controller", t.TempDir()); again.digest != img.digest {
		t.Errorf("not reproducible: %s, then %s", img.digest, again.digest)
	}
	if img.user != "65532:65532" || len(img.entry) != 1 || img.labels["org.opencontainers.image.version"] != "v0.0.0-e2e" || img.labels["org.opencontainers.image.source"] == "" {
		t.Fatalf("the image config: user %q, entrypoint %v, labels %v", img.user, img.entry, img.labels)
	}

	var uid, gid int
	fmt.Sscanf(img.user, "%d:%d", &uid, &gid)
	probe := freeAddr(t)
	// The kubeconfig (a token) readable by the image's user only.
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	kc, err := os.ReadFile(c.serviceAccountKubeconfig(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kubeconfig, kc, 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(kubeconfig, uid, gid); err != nil {
		t.Fatal(err)
	}
	ca := c.must(t, "", "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.certificate-authority}")
	id := runImage(t, runc, img, []string{"--kubeconfig", "/etc/vireo/kubeconfig", "--metrics-bind-address", "0", "--health-probe-bind-address", probe},
		map[string]any{"destination": "/etc/vireo/kubeconfig", "type": "bind", "source": kubeconfig, "options": []string{"rbind", "ro"}},
		map[string]any{"destination": ca, "type": "bind", "source": ca, "options": []string{"rbind", "ro"}})
	waitHTTPOK(t, "http://"+probe+"/readyz", "the image's controller /readyz")

	// It runs as the image's user.
	state, err := exec.Command(runc, "state", id).Output()
	if err != nil {
		t.Fatalf("runc state: %v", err)
	}
	var st struct{ Pid int }
	_ = json.Unmarshal(state, &st)
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", st.Pid))
	if !strings.Contains(string(status), fmt.Sprintf("\nUid:\t%d\t%d\t%d\t%d\n", uid, uid, uid, uid)) {
		t.Errorf("the container's process is not uid %d:\n%s", uid, status)
	}

	ns := c.namespace(t, "image-app")
	c.must(t, manyRollouts(1, "1s"), "apply", "-n", ns, "-f", "-")
	eventually(t, 90*time.Second, "the Rollout Healthy under the image's controller", c.allHealthy(t, ns, 1, ":blue"))
	c.setImage(t, ns, "rollout/ro-000", "green")
	eventually(t, 90*time.Second, "the update promoted", c.allHealthy(t, ns, 1, ":green"))
	t.Logf("image %s (layer %.1f MiB compressed) ran under runc as uid %d and promoted a Rollout", img.digest, float64(img.size)/(1<<20), uid)
}

// buildImage builds one of Vireo's images with hack/image into out.
func buildImage(t *testing.T, name, out string) ociImage {
	t.Helper()
	cmd := exec.Command("go", "run", "./hack/image", "-name", name, "-version", "v0.0.0-e2e", "-revision", "e2e", "-out", out)
	cmd.Dir = testenv.RepoRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/image -name %s: %v\n%s", name, err, b)
	}
	return readLayout(t, filepath.Join(out, "oci"))
}

// runcPath is Debian's runc; the test needs it and root.
func runcPath(t *testing.T) string {
	t.Helper()
	runc, err := exec.LookPath("runc")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/runc"); serr == nil {
			runc, err = "/usr/sbin/runc", nil
		}
	}
	if err != nil || os.Getuid() != 0 {
		if os.Getenv("VIREO_REQUIRE_CLUSTER") != "" {
			t.Fatalf("the image tests need root and runc (hack/install-deps installs it): %v", err)
		}
		t.Skip("needs root and runc")
	}
	return runc
}

// runImage runs an image under runc, on the host's network, as the image's
// user, with its entrypoint and these arguments and extra mounts; it
// returns the container's id. The container is removed when the test ends,
// and its log shown if the test failed.
func runImage(t *testing.T, runc string, img ociImage, args []string, mounts ...any) string {
	t.Helper()
	// An OCI bundle: the rootfs, and runc's default spec with the image's
	// entrypoint, user and environment.
	bundle := t.TempDir()
	rootfs := filepath.Join(bundle, "rootfs")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	unpack(t, img.layer, rootfs)
	spec := exec.Command(runc, "spec")
	spec.Dir = bundle
	if b, err := spec.CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v\n%s", err, b)
	}
	var cfg map[string]any
	data, _ := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	var uid, gid int
	fmt.Sscanf(img.user, "%d:%d", &uid, &gid)
	process := cfg["process"].(map[string]any)
	process["terminal"] = false
	process["user"] = map[string]any{"uid": uid, "gid": gid}
	process["args"] = append(append([]string{}, img.entry...), args...)
	if len(img.env) > 0 {
		process["env"] = img.env
	}
	linux := cfg["linux"].(map[string]any)
	var namespaces []any
	for _, n := range linux["namespaces"].([]any) {
		if n.(map[string]any)["type"] != "network" { // the host's network: the API server is on its loopback
			namespaces = append(namespaces, n)
		}
	}
	linux["namespaces"] = namespaces
	cfg["mounts"] = append(cfg["mounts"].([]any), mounts...)
	data, _ = json.MarshalIndent(cfg, "", " ")
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("vireo-e2e-%d", time.Now().UnixNano())
	var logs bytes.Buffer
	run := exec.Command(runc, "run", "--bundle", bundle, id)
	run.Stdout, run.Stderr = &logs, &logs
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command(runc, "delete", "--force", id).Run()
		_ = run.Wait()
		if t.Failed() {
			t.Logf("the container's log:\n%s", logs.String())
		}
	})
	return id
}
