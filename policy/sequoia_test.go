package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/testutil/peers"
)

// sqKey makes a key with `sq key generate` and returns the secret key and
// its certificate (`sq key extract-cert`).
func sqKey(t *testing.T, sq string, args ...string) (secret, cert []byte) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "key.pgp")
	peers.Run(t, nil, sq, append([]string{"key", "generate", "--userid", "Maintainer <m@sq.test>", "--export", out}, args...)...)
	secret, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	certFile := out + ".cert"
	peers.Run(t, nil, sq, "key", "extract-cert", "--output", certFile, out)
	cert, err = os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	return secret, cert
}

// TestSequoiaKeys runs the default policy over keys that Sequoia's sq makes.
func TestSequoiaKeys(t *testing.T) {
	sq := peers.SQ(t)
	p := Default()

	t.Run("default", func(t *testing.T) {
		// sq's default: an Ed25519 certify-only primary key, signing,
		// authentication and encryption subkeys, expiring in three years
		// (1095 days and some hours: within 3y of 365.25 days).
		secret, cert := sqKey(t, sq)
		e := readKey(t, cert)
		if len(e.Subkeys) != 3 {
			t.Fatalf("sq made %d subkeys, want 3", len(e.Subkeys))
		}
		wantRules(t, check(t, p, cert, time.Now(), nil))
		wantRules(t, check(t, p, secret, time.Now(), nil), RuleSecretKeyMaterial)
		// Its signing key is a subkey, found by go-crypto under the policy.
		k, ok := e.SigningKey(time.Now(), p.PacketConfig())
		if !ok || k.PublicKey == e.PrimaryKey {
			t.Errorf("want sq's signing subkey to sign")
		}
		// Three years from now it has expired (it was made a moment ago).
		vs := check(t, p, cert, time.Now().Add(3*Year+Day), nil)
		wantRules(t, vs, RuleExpired)
	})

	t.Run("rsa3k", func(t *testing.T) {
		_, cert := sqKey(t, sq, "--cipher-suite", "rsa3k", "--expires-in", "2y")
		wantRules(t, check(t, p, cert, time.Now(), nil))
	})

	t.Run("never", func(t *testing.T) {
		_, cert := sqKey(t, sq, "--expires-in", "never")
		vs := check(t, p, cert, time.Now(), nil)
		wantRules(t, vs, RuleNoExpiry)
	})

	t.Run("ten-years", func(t *testing.T) {
		_, cert := sqKey(t, sq, "--expires-in", "10y")
		vs := check(t, p, cert, time.Now(), nil)
		wantRules(t, vs, RuleValidityTooLong)
		if !strings.Contains(vs[0].Found, "in 10 years") {
			t.Errorf("found %q", vs[0].Found)
		}
	})

	t.Run("expired", func(t *testing.T) {
		_, cert := sqKey(t, sq, "--creation-time", "20200101", "--expires-in", "1y")
		vs := check(t, p, cert, time.Now(), nil)
		wantRules(t, vs, RuleExpired)
		if !strings.HasPrefix(vs[0].Found, "expired 2020-12-") && !strings.HasPrefix(vs[0].Found, "expired 2021-01-") {
			t.Errorf("found %q", vs[0].Found)
		}
	})

	t.Run("no-signing-subkey", func(t *testing.T) {
		_, cert := sqKey(t, sq, "--cannot-sign", "--expires-in", "1y")
		vs := check(t, p, cert, time.Now(), nil)
		wantRules(t, vs, RuleNoSigningKey)
	})
}
