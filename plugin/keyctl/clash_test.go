package keyctlplugin

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyutilsClash: the wrapper refuses a keyctl on PATH that is
// keyutils' kernel key tool, with a hint, and runs this keyctl.
func TestKeyutilsClash(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("sh is not on PATH: the plugin script needs a POSIX shell")
	}
	wrapper, _ := filepath.Abs("keyctl.sh")
	fake := func(version string) string {
		dir := t.TempDir()
		body := "#!/bin/sh\nif [ \"$1\" = --version ]; then printf '" + version + "'; exit 0; fi\necho \"ran $*\"\n"
		if err := os.WriteFile(filepath.Join(dir, "keyctl"), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	runIn := func(dir string) (string, string, int) {
		cmd := exec.Command(sh, wrapper, "verify", "x.tgz")
		cmd.Env = []string{"PATH=" + dir + ":/usr/bin:/bin", "HELM_PLUGIN_DIR=" + t.TempDir()}
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return o.String(), e.String(), code
	}

	out, errOut, code := runIn(fake(`keyctl from keyutils-1.6.3 (Built 2023-01-10)\n`))
	if code != 2 || out != "" || !strings.Contains(errOut, "keyutils") || !strings.Contains(errOut, "hint: set KEYCTL_BIN=") {
		t.Errorf("keyutils' keyctl: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = runIn(fake(`keyctl (devel)\nmodule: github.com/keyctl/keyctl\n`))
	if code != 0 || out != "ran verify x.tgz\n" {
		t.Errorf("this keyctl: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
