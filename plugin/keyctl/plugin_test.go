// Package keyctlplugin holds the Helm plugin's files (plugin.yaml,
// keyctl.sh) and this test, which installs them into Helm 3.22 and Helm 4.3.
package keyctlplugin

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyctl/keyctl/internal/testutil/peers"
)

// env is an isolated Helm and keyctl environment under dir.
func env(dir string, extra ...string) []string {
	out := []string{
		"HOME=" + dir, "XDG_CONFIG_HOME=" + dir + "/config", "XDG_DATA_HOME=" + dir + "/data",
		"XDG_CACHE_HOME=" + dir + "/cache", "XDG_STATE_HOME=" + dir + "/state", "PATH=" + os.Getenv("PATH"),
	}
	return append(out, extra...)
}

func run(t *testing.T, e []string, dir, name string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env, cmd.Dir = e, dir
	var o, er strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &er
	err := cmd.Run()
	return o.String(), er.String(), err
}

func must(t *testing.T, e []string, dir, name string, args ...string) string {
	t.Helper()
	o, er, err := run(t, e, dir, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, o, er)
	}
	return o
}

func TestPluginInstallAndVerify(t *testing.T) {
	helms := map[string]string{"helm3": peers.Helm3(t), "helm4": peers.Helm4(t)}
	g := peers.NewGnuPG(t)
	work := t.TempDir()
	keyctl := filepath.Join(work, "bin", "keyctl")
	if out, err := exec.Command("go", "build", "-o", keyctl, "github.com/keyctl/keyctl/cmd/keyctl").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	plugin, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	base := env(work, "GNUPGHOME="+g.Home)

	// A published repository with one maintainer and one signed chart.
	out := must(t, base, work, keyctl, "root", "create", "--name", "root", "--secret-out", "root.key", "--public-out", "root.pub", "--no-passphrase")
	rootFpr := strings.Fields(out)[2]
	must(t, base, work, keyctl, "init", "--repository", "charts.example.org", "--root-key", "root.pub")
	fpr := g.QuickGenKey(t, "Maint One <one@example.org>", "rsa3072", "sign", "1y")
	peers.WriteFile(t, work, "one.pub", g.ExportPublic(t, fpr))
	peers.WriteFile(t, work, "one.key", g.ExportSecret(t, fpr))
	peers.WriteFile(t, work, "secring.gpg", g.ExportSecret(t, fpr))
	must(t, base, work, keyctl, "add", "one.pub", "--reason", "maintainer")
	os.MkdirAll(filepath.Join(work, "mychart"), 0o755)
	os.WriteFile(filepath.Join(work, "mychart", "Chart.yaml"), []byte("apiVersion: v2\nname: mychart\nversion: 0.1.0\n"), 0o644)
	must(t, base, work, helms["helm4"], "package", "mychart", "--destination", "site")
	must(t, base, work, keyctl, "sign", "site/mychart-0.1.0.tgz", "--key", "one.key")
	must(t, base, work, keyctl, "publish", "--to", "site", "--root-key", "root.key")

	for name, helm := range helms {
		t.Run(name, func(t *testing.T) {
			home := t.TempDir()
			e := env(home, "KEYCTL_BIN="+keyctl)
			if name == "helm3" {
				e = append(e, "HELM_PLUGINS="+filepath.Join(home, "plugins"))
			}
			must(t, e, work, helm, "plugin", "install", plugin)
			if o := must(t, e, work, helm, "plugin", "list"); !strings.Contains(o, "keyctl") {
				t.Fatalf("plugin list: %s", o)
			}
			o := must(t, e, work, helm, "keyctl", "verify", "site/mychart-0.1.0.tgz", "--repo", "site", "--root", rootFpr)
			if !strings.Contains(o, "trusted: mychart 0.1.0") || !strings.Contains(o, fpr) {
				t.Errorf("helm keyctl verify: %s", o)
			}
			// keyctl's exit status and messages come through Helm.
			o, er, err := run(t, e, work, helm, "keyctl", "verify", "site/mychart-0.1.0.tgz", "--repo", "site", "--root", fpr)
			var ee *exec.ExitError
			if err == nil || !strings.Contains(er, "keyctl: not trusted:") {
				t.Errorf("wrong pin accepted through helm: %v\n%s%s", err, o, er)
			} else if errorsAs(err, &ee) && ee.ExitCode() != 1 {
				t.Errorf("exit status %d, want 1", ee.ExitCode())
			}
			// Without a keyctl program: a clear message, exit 2.
			e2 := env(home, "PATH=/nonexistent")
			if name == "helm3" {
				e2 = append(e2, "HELM_PLUGINS="+filepath.Join(home, "plugins"))
			}
			_, er, err = run(t, e2, work, helm, "keyctl", "verify", "x")
			if err == nil || !strings.Contains(er, "the keyctl program is not installed") {
				t.Errorf("missing keyctl: %v %s", err, er)
			}
		})
	}

	// Helm 4: a plugin tarball signed by a maintainer installs after its
	// .prov verifies against the governed keyring, and not against another.
	t.Run("helm4-signed", func(t *testing.T) {
		home := t.TempDir()
		e := env(home, "GNUPGHOME="+g.Home)
		h := helms["helm4"]
		must(t, e, work, h, "plugin", "package", plugin, "--sign", "--key", "Maint One", "--keyring", "secring.gpg", "--destination", "pkg")
		other := peers.NewGnuPG(t)
		ofpr := other.QuickGenKey(t, "Other <other@example.org>", "rsa3072", "sign", "1y")
		peers.WriteFile(t, work, "other.pub", other.ExportPublic(t, ofpr))
		if _, er, err := run(t, e, work, h, "plugin", "install", "pkg/keyctl-0.1.0.tgz", "--keyring", "other.pub"); err == nil {
			t.Fatalf("installed with a keyring that does not hold the signer: %s", er)
		}
		o := must(t, e, work, h, "plugin", "install", "pkg/keyctl-0.1.0.tgz", "--keyring", "site/pubkeys.pgp")
		if !strings.Contains(o, "Signed by: Maint One") {
			t.Errorf("install output: %s", o)
		}
	})

	// Helm 4: the same plugin packaged unsigned and signed with keyctl sign
	// installs with --verify against the governed keyring; a changed byte
	// in the archive does not.
	t.Run("helm4-keyctl-signed", func(t *testing.T) {
		home := t.TempDir()
		e := env(home, "GNUPGHOME="+g.Home)
		h := helms["helm4"]
		must(t, e, work, h, "plugin", "package", plugin, "--sign=false", "--destination", "pkg-keyctl")
		o := must(t, base, work, keyctl, "sign", "pkg-keyctl/keyctl-0.1.0.tgz", "--key", "one.key")
		if !strings.Contains(o, "signed Helm plugin keyctl 0.1.0") {
			t.Fatalf("keyctl sign of a plugin: %s", o)
		}
		o = must(t, e, work, h, "plugin", "install", "pkg-keyctl/keyctl-0.1.0.tgz", "--keyring", "site/pubkeys.pgp")
		if !strings.Contains(o, "Signed by: Maint One") {
			t.Errorf("install output: %s", o)
		}
		data, err := os.ReadFile(filepath.Join(work, "pkg-keyctl", "keyctl-0.1.0.tgz"))
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 1
		os.MkdirAll(filepath.Join(work, "pkg-bad"), 0o755)
		os.WriteFile(filepath.Join(work, "pkg-bad", "keyctl-0.1.0.tgz"), data, 0o644)
		prov, _ := os.ReadFile(filepath.Join(work, "pkg-keyctl", "keyctl-0.1.0.tgz.prov"))
		os.WriteFile(filepath.Join(work, "pkg-bad", "keyctl-0.1.0.tgz.prov"), prov, 0o644)
		home2 := t.TempDir()
		if _, er, err := run(t, env(home2), work, h, "plugin", "install", "pkg-bad/keyctl-0.1.0.tgz", "--keyring", "site/pubkeys.pgp"); err == nil {
			t.Fatalf("a changed plugin archive installed: %s", er)
		}
	})
}

func errorsAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}
