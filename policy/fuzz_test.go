package policy

import (
	"bytes"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// maxFuzzInput matches a certificate file's cap in keyctl (1 MiB) from
// below; bigger inputs only slow the fuzzer down.
const maxFuzzInput = 64 << 10

// FuzzCheck parses arbitrary bytes as a keyring (binary or armored) with
// go-crypto and runs Check on every certificate: Check must not panic, its
// violations must be well formed and the same on a second run (after
// go-crypto cached verdicts in the entity), and an accepted certificate must
// have a signing key under PacketConfig.
//
// Seeds: testdata/fuzz/FuzzCheck holds keys gpg 2.2.40 made (Ed25519 with
// signing and encryption subkeys, a SHA-1 self-signature, DSA-1024 with an
// ElGamal subkey, ECDSA P-256 armored, a revoked key); testdata/*.asc; and
// keys go-crypto makes here, public and secret.
func FuzzCheck(f *testing.F) {
	asc, err := filepath.Glob("testdata/*.asc")
	if err != nil || len(asc) == 0 {
		f.Fatalf("no testdata/*.asc seeds (%v)", err)
	}
	for _, name := range asc {
		f.Add(readFile(f, name))
	}
	for _, seed := range goCryptoSeeds(f) {
		f.Add(seed)
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		el, err := parseForFuzz(data)
		if err != nil {
			return
		}
		p := Default()
		known := KeyIDMap{}
		for _, e := range el {
			vs := p.Check(e, now, known)
			wellFormed(t, vs)
			if len(vs) == 0 {
				if _, ok := e.SigningKey(now, p.PacketConfig()); !ok {
					t.Errorf("accepted, but go-crypto finds no signing key with PacketConfig")
				}
			}
			if again := p.Check(e, now, known); !reflect.DeepEqual(vs, again) {
				t.Errorf("second run differs:\n%s\nthen\n%s", describe(vs), describe(again))
			}
			known.Add(e)
		}
	})
}

// parseForFuzz parses like keyctl's reader. go-crypto has panicked on
// malformed input before (internal/pgpkey recovers too); such a panic is
// go-crypto's, not Check's, so it counts as a parse error here.
func parseForFuzz(data []byte) (el openpgp.EntityList, err error) {
	defer func() {
		if r := recover(); r != nil {
			el, err = nil, fmt.Errorf("go-crypto panicked: %v", r)
		}
	}()
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN PGP")) {
		return openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	}
	return openpgp.ReadKeyRing(bytes.NewReader(data))
}

// goCryptoSeeds makes small keys with go-crypto: Ed25519 (v4 and v6), an
// expired one, and a secret key, so that the fuzzer starts from every
// packet type without committing secret material.
func goCryptoSeeds(t testing.TB) [][]byte {
	t.Helper()
	made := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var out [][]byte
	for _, c := range []struct {
		v6       bool
		lifetime uint32
		secret   bool
	}{
		{false, 365 * 24 * 3600, false},
		{true, 365 * 24 * 3600, false},
		{false, 3600, false},
		{false, 0, true},
	} {
		cfg := &packet.Config{
			Algorithm:       packet.PubKeyAlgoEd25519,
			V6Keys:          c.v6,
			KeyLifetimeSecs: c.lifetime,
			Time:            func() time.Time { return made },
		}
		if !c.v6 {
			cfg.Algorithm = packet.PubKeyAlgoEdDSA
			cfg.Curve = packet.Curve25519
		}
		e, err := openpgp.NewEntity("Seed", "", "seed@fuzz.test", cfg)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if c.secret {
			err = e.SerializePrivate(&b, cfg)
		} else {
			err = e.Serialize(&b)
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b.Bytes())
	}
	return out
}

// TestGoCryptoKeys runs the policy over the go-crypto seeds, so the v6 and
// secret paths are checked in every plain test run, not only when fuzzing.
func TestGoCryptoKeys(t *testing.T) {
	seeds := goCryptoSeeds(t)
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	want := [][]string{
		nil,                                   // v4 Ed25519, one year
		nil,                                   // v6 Ed25519, one year
		{RuleExpired},                         // one hour, long gone
		{RuleSecretKeyMaterial, RuleNoExpiry}, // secret, never expires
	}
	for i, seed := range seeds {
		vs := check(t, Default(), seed, now, nil)
		wantRules(t, vs, want[i]...)
	}
	if e := readKey(t, seeds[1]); e.PrimaryKey.Version != 6 {
		t.Errorf("seed 1 is a v%d key, want v6", e.PrimaryKey.Version)
	}
}

func TestCheckNil(t *testing.T) {
	vs := Default().Check(nil, time.Now(), nil)
	if len(vs) != 1 || vs[0].Rule != RuleNoSigningKey || vs[0].Error() != "no certificate was given (rule no-signing-key)" {
		t.Errorf("Check(nil) = %+v", vs)
	}
	vs = Default().Check(&openpgp.Entity{}, time.Now(), nil)
	if len(vs) != 1 || vs[0].Rule != RuleNoSigningKey {
		t.Errorf("Check(empty entity) = %+v", vs)
	}
}
