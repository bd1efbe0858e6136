// Package version reports the build's version, set at link time:
//
//	go build -ldflags "-X github.com/vireo-dev/vireo/internal/version.Version=v0.1.0"
package version

import "runtime/debug"

// Version is the release, or "dev" for an untagged build.
var Version = "dev"

// String is the version followed by the VCS revision when the build recorded one.
func String() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return Version
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return Version + "+" + s.Value[:12]
		}
	}
	return Version
}
