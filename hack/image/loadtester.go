package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// HeyModule is the load generator Flagger's loadtester ships, built from
// the module proxy.
const HeyModule = "github.com/rakyll/hey@v0.1.5"

// busyboxApplets are the shell and tools a webhook's command line may use,
// as links to busybox.
var busyboxApplets = []string{"sh", "ash", "awk", "base64", "basename", "cat", "cut", "date", "dirname", "echo", "env", "expr",
	"false", "grep", "head", "ls", "mkdir", "mktemp", "printf", "rm", "sed", "seq", "sleep", "sort", "tail", "tee",
	"test", "timeout", "tr", "true", "uniq", "wc", "wget", "xargs"}

// loadtesterFiles are the loadtester image's files: the static loadtester,
// hey, kubectl and helm in /usr/local/bin; busybox in /bin with its
// applets; curl and bash as Debian ships them, with every library they
// load at its own path; and the CA certificates.
func loadtesterFiles(version, arch string) ([]entry, error) {
	if arch != runtime.GOARCH {
		return nil, fmt.Errorf("-arch %s: the loadtester image takes curl, bash and busybox from this %s host", arch, runtime.GOARCH)
	}
	lt, err := compile(version, arch, "vireo-loadtester")
	if err != nil {
		return nil, err
	}
	files := []entry{{name: "vireo-loadtester", mode: 0o755, data: lt}}
	hey, err := buildHey(arch)
	if err != nil {
		return nil, err
	}
	files = append(files, entry{name: "usr/local/bin/hey", mode: 0o755, data: hey})
	cache := os.Getenv("VIREO_CACHE_DIR")
	if cache == "" {
		cache = ".cache"
	}
	for _, tool := range []string{"kubectl", "helm"} {
		data, err := os.ReadFile(filepath.Join(cache, "bin", tool))
		if err != nil {
			return nil, fmt.Errorf("%s: %v (build it with hack/cluster/build, and hack/cluster/build helm)", tool, err)
		}
		files = append(files, entry{name: "usr/local/bin/" + tool, mode: 0o755, data: data})
	}
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return nil, fmt.Errorf("busybox: %v (hack/install-deps installs busybox-static)", err)
	}
	if !isStatic(busybox) {
		return nil, fmt.Errorf("/bin/busybox is not statically linked: install busybox-static")
	}
	files = append(files, entry{name: "bin/busybox", mode: 0o755, data: busybox})
	for _, a := range busyboxApplets {
		files = append(files, entry{name: "bin/" + a, link: "busybox"})
	}
	seen := map[string]bool{}
	for _, prog := range []struct{ path, name string }{{"/usr/bin/curl", "usr/bin/curl"}, {"/bin/bash", "bin/bash"}} {
		data, err := os.ReadFile(prog.path)
		if err != nil {
			return nil, fmt.Errorf("%s: %v (hack/install-deps installs curl)", prog.path, err)
		}
		files = append(files, entry{name: prog.name, mode: 0o755, data: data})
		libs, err := libraries(prog.path)
		if err != nil {
			return nil, err
		}
		for _, lib := range libs {
			if seen[lib] {
				continue
			}
			seen[lib] = true
			data, err := os.ReadFile(lib) // through the links: the file itself
			if err != nil {
				return nil, fmt.Errorf("%s needs %s: %v", prog.path, lib, err)
			}
			files = append(files, entry{name: strings.TrimPrefix(lib, "/"), mode: 0o755, data: data})
		}
	}
	certs, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		return nil, fmt.Errorf("CA certificates: %v (install ca-certificates)", err)
	}
	files = append(files, entry{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: certs})
	return files, nil
}

// buildHey builds hey from the module proxy, static and without paths,
// outside Vireo's module.
func buildHey(arch string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "vireo-hey-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command("go", "install", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w -buildid=", HeyModule)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOBIN="+dir, "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building %s: %v\n%s", HeyModule, err, b)
	}
	return os.ReadFile(filepath.Join(dir, "hey"))
}

// libraries are the shared objects a program loads, the dynamic loader
// included, as ldd lists them (absolute paths).
func libraries(prog string) ([]string, error) {
	out, err := exec.Command("ldd", prog).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %v", prog, err)
	}
	var libs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			libs = append(libs, f[2])
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			libs = append(libs, f[0])
		}
	}
	if len(libs) == 0 {
		return nil, fmt.Errorf("ldd %s listed no libraries", prog)
	}
	return libs, nil
}

// isStatic: an ELF file without a program interpreter (no dynamic loader).
func isStatic(data []byte) bool {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return false
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}
