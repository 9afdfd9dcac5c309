// Package peers finds and drives the real programs that keyctl's tests talk
// to: GnuPG (gpg, gpgv), Sequoia (sq), Chromium and the Helm 3 and Helm 4
// binaries built into a cache folder by .ci/run, and the OCI registry of
// github.com/distribution/distribution (see Registry).
//
// A missing peer skips the test, unless KEYCTL_REQUIRE_PEERS=1 is set (as
// .ci/run does), in which case it fails it: CI can never pass by skipping.
//
// Helm binaries are looked up as $KEYCTL_PEERS_DIR/helm3/helm and
// $KEYCTL_PEERS_DIR/helm4/helm; KEYCTL_PEERS_DIR defaults to
// $HOME/.cache/keyctl-peers.
package peers

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Required reports whether a missing peer must fail the test instead of
// skipping it.
func Required() bool { return os.Getenv("KEYCTL_REQUIRE_PEERS") == "1" }

func missing(t testing.TB, what string) {
	t.Helper()
	if Required() {
		t.Fatalf("peer %s is missing and KEYCTL_REQUIRE_PEERS=1; run .ci/run's install step", what)
	}
	t.Skipf("peer %s is missing; set KEYCTL_REQUIRE_PEERS=1 to make this a failure", what)
}

func lookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, name)
	}
	return p
}

// GPG returns the path of gpg.
func GPG(t testing.TB) string { return lookPath(t, "gpg") }

// GPGV returns the path of gpgv.
func GPGV(t testing.TB) string { return lookPath(t, "gpgv") }

// SQ returns the path of Sequoia's sq.
func SQ(t testing.TB) string { return lookPath(t, "sq") }

// Chromium returns the path of Debian's chromium, the headless browser the
// trust page tests drive.
func Chromium(t testing.TB) string { return lookPath(t, "chromium") }

// Dir is the folder that holds the Helm peer binaries.
func Dir() string {
	if d := os.Getenv("KEYCTL_PEERS_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "keyctl-peers")
}

func helm(t testing.TB, major string) string {
	t.Helper()
	p := filepath.Join(Dir(), "helm"+major, "helm")
	if st, err := os.Stat(p); err != nil || st.IsDir() {
		missing(t, "helm "+major+" ("+p+")")
	}
	return p
}

// Helm3 returns the path of the Helm 3.22 binary.
func Helm3(t testing.TB) string { return helm(t, "3") }

// Helm4 returns the path of the Helm 4.3 binary.
func Helm4(t testing.TB) string { return helm(t, "4") }

// Run runs a program and fails the test when it exits non-zero. It returns
// standard output.
func Run(t testing.TB, env []string, name string, args ...string) []byte {
	t.Helper()
	out, errOut, err := RunErr(env, nil, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(name), strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// RunErr runs a program with optional standard input and returns its output
// and exit error without failing.
func RunErr(env []string, stdin []byte, name string, args ...string) (stdout, stderr []byte, err error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.Bytes(), e.Bytes(), err
}

// Registry returns the path of the distribution registry (cmd/registry
// v3.1.2), built by scripts/peers.sh into $KEYCTL_PEERS_DIR/registry.
func Registry(t testing.TB) string {
	t.Helper()
	p := filepath.Join(Dir(), "registry", "registry")
	if st, err := os.Stat(p); err != nil || st.IsDir() {
		missing(t, "registry ("+p+"; scripts/peers.sh builds it)")
	}
	return p
}
