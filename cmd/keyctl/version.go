package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// versionText is what keyctl --version prints: the module version, the VCS
// revision the binary was built from (+dirty for uncommitted changes) and
// the Go toolchain, so that a bug report identifies the build.
func versionText() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return fmt.Sprintf("keyctl (no build information)\ngo: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	return formatVersion(bi, runtime.GOOS+"/"+runtime.GOARCH)
}

func formatVersion(bi *debug.BuildInfo, platform string) string {
	var b strings.Builder
	version := bi.Main.Version
	if version == "" {
		version = "(devel)"
	}
	fmt.Fprintf(&b, "keyctl %s\n", version)
	if bi.Main.Path != "" {
		fmt.Fprintf(&b, "module: %s\n", bi.Main.Path)
	}
	set := map[string]string{}
	for _, s := range bi.Settings {
		set[s.Key] = s.Value
	}
	if rev := set["vcs.revision"]; rev != "" {
		if set["vcs.modified"] == "true" {
			rev += "+dirty"
		}
		if t := set["vcs.time"]; t != "" {
			rev += " (" + t + ")"
		}
		fmt.Fprintf(&b, "revision: %s\n", rev)
	} else {
		fmt.Fprintf(&b, "revision: unknown (built without VCS information)\n")
	}
	gov := bi.GoVersion
	if gov == "" {
		gov = runtime.Version()
	}
	fmt.Fprintf(&b, "go: %s %s\n", gov, platform)
	return b.String()
}
