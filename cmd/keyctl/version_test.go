package main

import (
	"bytes"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormatVersion(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/keyctl/keyctl", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "e728ca1893715e89f0374dc7a93de5fdf64a2d37"},
			{Key: "vcs.time", Value: "2026-12-03T10:14:43Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	want := "keyctl v1.2.3\nmodule: github.com/keyctl/keyctl\n" +
		"revision: e728ca1893715e89f0374dc7a93de5fdf64a2d37+dirty (2026-12-03T10:14:43Z)\n" +
		"go: go1.26.8 linux/amd64\n"
	if got := formatVersion(bi, "linux/amd64"); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}

	bi.Settings[3].Value = "false"
	if got := formatVersion(bi, "linux/amd64"); strings.Contains(got, "dirty") {
		t.Errorf("clean build printed dirty:\n%s", got)
	}

	// go install module@version: no VCS stamp, the module version says it.
	bi = &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/keyctl/keyctl"}}
	got := formatVersion(bi, "linux/arm64")
	for _, w := range []string{"keyctl (devel)\n", "revision: unknown", "go: go1.26.8 linux/arm64\n"} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in\n%s", w, got)
		}
	}
}

func TestVersionFlag(t *testing.T) {
	for _, arg := range []string{"--version", "-v"} {
		var out, errb bytes.Buffer
		if code := run([]string{arg}, strings.NewReader(""), &out, &errb); code != 0 {
			t.Fatalf("keyctl %s: exit %d, stderr %s", arg, code, errb.String())
		}
		s := out.String()
		for _, w := range []string{"keyctl ", "module: github.com/keyctl/keyctl\n", "revision: ", "go: " + runtime.Version() + " "} {
			if !strings.Contains(s, w) {
				t.Errorf("keyctl %s: missing %q in\n%s", arg, w, s)
			}
		}
	}
}
