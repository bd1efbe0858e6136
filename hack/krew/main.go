// Command krew packages kubectl-vireo for krew, kubectl's plugin manager:
// a reproducible tar.gz per platform and the plugin manifest (vireo.yaml)
// that names each archive's release address and sha256.
//
//	go run ./hack/krew -version v0.1.0 -out dist/krew
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
)

// semver is a version krew accepts: v, then major.minor.patch.
var semver = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`)

func main() {
	version := flag.String("version", "", "the release, as vMAJOR.MINOR.PATCH (required)")
	out := flag.String("out", "dist/krew", "where the archives and vireo.yaml go")
	platforms := flag.String("platforms", "linux/amd64,linux/arm64,darwin/amd64,darwin/arm64", "os/arch pairs, comma-separated")
	base := flag.String("base-uri", "https://github.com/vireo-dev/vireo/releases/download", "where releases are downloaded from; the archive's address is BASE/VERSION/ARCHIVE")
	flag.Parse()
	if err := run(*version, *out, *platforms, *base); err != nil {
		fmt.Fprintln(os.Stderr, "krew:", err)
		os.Exit(1)
	}
}

// platform is one archive of the manifest.
type platform struct {
	OS, Arch, URI, SHA256 string
}

func run(version, out, platforms, base string) error {
	if !semver.MatchString(version) {
		return fmt.Errorf("-version %q: give a semantic version with its v, such as v0.1.0", version)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	var list []platform
	for _, p := range strings.Split(platforms, ",") {
		goos, goarch, ok := strings.Cut(strings.TrimSpace(p), "/")
		if !ok || goos == "" || goarch == "" {
			return fmt.Errorf("-platforms: %q is not os/arch", p)
		}
		bin, err := build(version, goos, goarch)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("kubectl-vireo_%s_%s_%s.tar.gz", version, goos, goarch)
		data, err := archive(bin)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, name), data, 0o644); err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		list = append(list, platform{OS: goos, Arch: goarch, URI: strings.TrimRight(base, "/") + "/" + version + "/" + name, SHA256: hex.EncodeToString(sum[:])})
	}
	var b bytes.Buffer
	if err := manifest.Execute(&b, map[string]any{"Version": version, "Platforms": list}); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "vireo.yaml"), b.Bytes(), 0o644)
}

// build compiles kubectl-vireo for one platform, reproducibly: no cgo, no
// paths, no build id, the version linked in.
func build(version, goos, goarch string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "vireo-krew-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "kubectl-vireo")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -buildid= -X github.com/vireo-dev/vireo/internal/version.Version="+version,
		"-o", bin, "./cmd/kubectl-vireo")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building for %s/%s: %v\n%s", goos, goarch, err, out)
	}
	return os.ReadFile(bin)
}

// archive is a tar.gz of the binary with fixed times and owners, so the
// same commit gives the same bytes.
func archive(bin []byte) ([]byte, error) {
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: "kubectl-vireo", Mode: 0o755, Size: int64(len(bin)), Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	if err := errors.Join(tw.Close(), gz.Close()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var manifest = template.Must(template.New("vireo.yaml").Parse(`apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: vireo
spec:
  version: {{ .Version }}
  homepage: https://github.com/vireo-dev/vireo
  shortDescription: Manage Argo Rollouts and Flagger Canaries with Vireo
  description: |
    kubectl vireo watches, promotes, aborts and retries progressive
    deliveries served by the Vireo controller: Argo Rollouts' Rollouts
    (canary and blue-green, with analysis and experiments) and Flagger's
    Canaries. It also lints manifests, simulates a release before it
    happens, plays the canary judge on synthetic traffic, and opens the
    dashboard.
  platforms:
{{- range .Platforms }}
  - selector:
      matchLabels:
        os: {{ .OS }}
        arch: {{ .Arch }}
    uri: {{ .URI }}
    sha256: {{ .SHA256 }}
    bin: kubectl-vireo
    files:
    - from: kubectl-vireo
      to: .
{{- end }}
`))
