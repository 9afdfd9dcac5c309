package peers

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// GnuPG is a throw-away GnuPG home for one test. Keys made in it have no
// passphrase.
type GnuPG struct {
	Bin  string
	Home string
}

// NewGnuPG makes an empty GnuPG home with a short path (agent sockets must fit
// in 108 bytes) and removes it, agent included, when the test ends.
func NewGnuPG(t testing.TB) *GnuPG {
	t.Helper()
	bin := GPG(t)
	home, err := os.MkdirTemp("", "kgpg")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := "allow-loopback-pinentry\n"
	if err := os.WriteFile(home+"/gpg-agent.conf", []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if gc, err := exec.LookPath("gpgconf"); err == nil {
			_ = exec.Command(gc, "--homedir", home, "--kill", "all").Run()
		}
		os.RemoveAll(home)
	})
	return &GnuPG{Bin: bin, Home: home}
}

// Run runs gpg in batch mode in this home and returns standard output.
func (g *GnuPG) Run(t testing.TB, args ...string) []byte {
	t.Helper()
	full := append([]string{"--batch", "--yes", "--no-tty", "--homedir", g.Home, "--pinentry-mode", "loopback", "--passphrase", ""}, args...)
	return Run(t, nil, g.Bin, full...)
}

// RunErr is Run without failing the test.
func (g *GnuPG) RunErr(stdin []byte, args ...string) (stdout, stderr []byte, err error) {
	full := append([]string{"--batch", "--yes", "--no-tty", "--homedir", g.Home, "--pinentry-mode", "loopback", "--passphrase", ""}, args...)
	return RunErr(nil, stdin, g.Bin, full...)
}

// QuickGenKey makes a key with `gpg --quick-gen-key UID ALGO USAGE EXPIRE`
// (ALGO e.g. rsa3072, ed25519, nistp256, dsa2048; USAGE e.g. sign, cert,
// default; EXPIRE e.g. 1y, never, seconds=1) and returns its fingerprint.
func (g *GnuPG) QuickGenKey(t testing.TB, uid, algo, usage, expire string) string {
	t.Helper()
	g.Run(t, "--quick-gen-key", uid, algo, usage, expire)
	return g.Fingerprint(t, uid)
}

// AddSubkey adds a subkey (`gpg --quick-add-key FPR ALGO USAGE EXPIRE`).
func (g *GnuPG) AddSubkey(t testing.TB, fpr, algo, usage, expire string) {
	t.Helper()
	g.Run(t, "--quick-add-key", fpr, algo, usage, expire)
}

// Fingerprint returns the primary fingerprint of the only key matching query.
func (g *GnuPG) Fingerprint(t testing.TB, query string) string {
	t.Helper()
	out := g.Run(t, "--with-colons", "--list-keys", query)
	var fprs []string
	inPrimary := false
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, ":")
		switch f[0] {
		case "pub":
			inPrimary = true
		case "sub":
			inPrimary = false
		case "fpr":
			if inPrimary && len(f) > 9 {
				fprs = append(fprs, f[9])
				inPrimary = false
			}
		}
	}
	if len(fprs) != 1 {
		t.Fatalf("gpg: %d keys match %q", len(fprs), query)
	}
	return fprs[0]
}

// ExportPublic returns the binary public key of fpr.
func (g *GnuPG) ExportPublic(t testing.TB, fpr string) []byte {
	t.Helper()
	return g.Run(t, "--export", fpr)
}

// ExportArmored returns the armored public key of fpr.
func (g *GnuPG) ExportArmored(t testing.TB, fpr string) []byte {
	t.Helper()
	return g.Run(t, "--armor", "--export", fpr)
}

// ExportSecret returns the binary secret key of fpr (no passphrase).
func (g *GnuPG) ExportSecret(t testing.TB, fpr string) []byte {
	t.Helper()
	return g.Run(t, "--export-secret-keys", fpr)
}

// WriteFile writes data to a file under dir and returns its path.
func WriteFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := dir + "/" + name
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
