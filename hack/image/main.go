// Command image builds Vireo's OCI images without a container engine, run
// as a non-root user, with labels for their version and source. It writes
// an OCI image layout (-out/oci) and the same layout as a tarball
// (-out/NAME.tar, which podman load and docker load take). Every timestamp
// is fixed and every file's owner and mode set, so one commit (and, for the
// loadtester, one set of host packages) gives one digest.
//
//	go run ./hack/image -version v0.1.0 -out dist/image
//	go run ./hack/image -name vireo-loadtester -out dist/image-loadtester
//
// vireo-controller is the static controller on an empty base.
// vireo-loadtester is the static loadtester with the tools Flagger users'
// webhooks call: hey (built from the module proxy), kubectl and helm (from
// hack/cluster/build's cache), curl and bash (the host's, with the
// libraries they load), busybox's sh, grep, sed, awk and friends, and the
// host's CA certificates.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// UID is the user the image runs as: not root, and no name needed.
const UID = 65532

// epoch is every file's and the image's time: the build is reproducible.
var epoch = time.Unix(0, 0).UTC()

func main() {
	version := flag.String("version", "dev", "the version the binary reports and the image is labelled with")
	revision := flag.String("revision", "", "the source revision for the label (default: git's HEAD, if any)")
	arch := flag.String("arch", runtime.GOARCH, "the image's architecture")
	out := flag.String("out", "dist/image", "where the layout and tarball go")
	name := flag.String("name", "vireo-controller", "the image: vireo-controller or vireo-loadtester")
	flag.Parse()
	if err := build(*name, *version, *revision, *arch, *out); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int               `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    map[string]string `json:"platform,omitempty"`
}

// images are what each image holds beyond the base: its files, and the
// environment and description of its config.
var images = map[string]struct {
	description string
	env         []string
	files       func(version, arch string) ([]entry, error)
}{
	"vireo-controller": {
		description: "Vireo: progressive delivery for Kubernetes (Argo Rollouts' and Flagger's APIs)",
		env:         []string{"PATH=/"},
		files: func(version, arch string) ([]entry, error) {
			bin, err := compile(version, arch, "vireo-controller")
			return []entry{{name: "vireo-controller", mode: 0o755, data: bin}}, err
		},
	},
	"vireo-loadtester": {
		description: "Vireo's load tester: Flagger's loadtester webhooks, with hey, curl, kubectl, helm and a shell",
		env:         []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/nonroot"},
		files:       loadtesterFiles,
	},
}

func build(name, version, revision, arch, out string) error {
	img, ok := images[name]
	if !ok {
		return fmt.Errorf("-name %q: not an image (vireo-controller, vireo-loadtester)", name)
	}
	if revision == "" {
		if b, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
			revision = strings.TrimSpace(string(b))
		}
	}
	files, err := img.files(version, arch)
	if err != nil {
		return err
	}
	layer, diffID, err := rootfs(files)
	if err != nil {
		return err
	}
	labels := map[string]string{
		"org.opencontainers.image.title":       name,
		"org.opencontainers.image.description": img.description,
		"org.opencontainers.image.version":     version,
		"org.opencontainers.image.revision":    revision,
		"org.opencontainers.image.source":      "https://github.com/vireo-dev/vireo",
		"org.opencontainers.image.created":     epoch.Format(time.RFC3339),
	}
	config, _ := json.Marshal(map[string]any{
		"created":      epoch.Format(time.RFC3339),
		"architecture": arch,
		"os":           "linux",
		"config": map[string]any{
			"User":       fmt.Sprintf("%d:%d", UID, UID),
			"Entrypoint": []string{"/" + name},
			"WorkingDir": "/",
			"Env":        img.env,
			"Labels":     labels,
		},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{diffID}},
		"history": []map[string]any{{"created": epoch.Format(time.RFC3339), "created_by": "hack/image: " + name + " " + version}},
	})
	blobs := map[string][]byte{}
	put := func(mediaType string, data []byte) descriptor {
		sum := sha256.Sum256(data)
		d := "sha256:" + hex.EncodeToString(sum[:])
		blobs[d] = data
		return descriptor{MediaType: mediaType, Digest: d, Size: len(data)}
	}
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        put("application/vnd.oci.image.config.v1+json", config),
		"layers":        []descriptor{put("application/vnd.oci.image.layer.v1.tar+gzip", layer)},
		"annotations":   labels,
	})
	md := put("application/vnd.oci.image.manifest.v1+json", manifest)
	md.Platform = map[string]string{"architecture": arch, "os": "linux"}
	md.Annotations = map[string]string{"org.opencontainers.image.ref.name": version, "io.containerd.image.name": name + ":" + version}
	index, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []descriptor{md}})
	layoutFiles := map[string][]byte{"oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`), "index.json": index}
	for d, data := range blobs {
		layoutFiles["blobs/sha256/"+strings.TrimPrefix(d, "sha256:")] = data
	}
	layout := filepath.Join(out, "oci")
	if err := os.RemoveAll(layout); err != nil {
		return err
	}
	for file, data := range layoutFiles {
		p := filepath.Join(layout, file)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	tarball, err := tarFiles(layoutFiles)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, name+".tar"), tarball, 0o644); err != nil {
		return err
	}
	fmt.Printf("%s:%s %s, layer %d bytes, in %s\n", name, version, md.Digest, len(layer), out)
	return nil
}

// compile builds one of Vireo's commands: static, no paths, no build id.
func compile(version, arch, command string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "vireo-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, command)
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -buildid= -X github.com/vireo-dev/vireo/internal/version.Version="+version, "-o", bin, "./cmd/"+command)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building %s: %v\n%s", command, err, b)
	}
	return os.ReadFile(bin)
}

// entry is one file, directory or symbolic link of the layer.
type entry struct {
	name string
	mode int64
	dir  bool
	data []byte
	link string // a symbolic link to this
	uid  int
}

// rootfs is the one layer: the image's files, /tmp, and the files a
// non-root process expects (/etc/passwd and /etc/group naming its user),
// owned by root except /tmp and the user's home, with a directory entry for
// every parent. It returns the gzipped layer and its diff id.
func rootfs(files []entry) ([]byte, string, error) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	entries := []entry{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, data: []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", UID))},
		{name: "etc/passwd", mode: 0o644, data: []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", UID, UID))},
		{name: "home/", mode: 0o755, dir: true},
		{name: "home/nonroot/", mode: 0o700, dir: true, uid: UID},
		{name: "tmp/", mode: 0o1777, dir: true},
	}
	entries = append(entries, files...)
	have := map[string]bool{}
	for _, e := range entries {
		have[strings.TrimSuffix(e.name, "/")] = true
	}
	for _, e := range entries {
		for d := filepath.Dir(strings.TrimSuffix(e.name, "/")); d != "."; d = filepath.Dir(d) {
			if !have[d] {
				have[d] = true
				entries = append(entries, entry{name: d + "/", mode: 0o755, dir: true})
			}
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, ModTime: epoch, Uid: e.uid, Gid: e.uid, Format: tar.FormatPAX, Typeflag: tar.TypeReg, Size: int64(len(e.data))}
		switch {
		case e.dir:
			h.Typeflag, h.Size = tar.TypeDir, 0
		case e.link != "":
			h.Typeflag, h.Size, h.Linkname, h.Mode = tar.TypeSymlink, 0, e.link, 0o777
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, "", err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(raw.Bytes())
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, "", err
	}
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return gz.Bytes(), "sha256:" + hex.EncodeToString(sum[:]), nil
}

// tarFiles is the layout as a tarball, in name order, with fixed headers.
func tarFiles(files map[string][]byte) ([]byte, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	dirs := map[string]bool{}
	for _, n := range names {
		for d := filepath.Dir(n); d != "."; d = filepath.Dir(d) {
			if !dirs[d] {
				dirs[d] = true
			}
		}
	}
	var dirList []string
	for d := range dirs {
		dirList = append(dirList, d)
	}
	sort.Strings(dirList)
	for _, d := range dirList {
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Mode: 0o755, ModTime: epoch, Typeflag: tar.TypeDir, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, ModTime: epoch, Size: int64(len(files[n])), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(files[n]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
