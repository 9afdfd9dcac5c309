package root

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/eddsa"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
)

func secretScalar(t *testing.T, r *testRoot) []byte {
	t.Helper()
	switch k := r.signer.PrivateKey.PrivateKey.(type) {
	case *eddsa.PrivateKey:
		return k.D
	case *rsa.PrivateKey:
		return k.D.Bytes()
	}
	t.Fatalf("unexpected private key type %T", r.signer.PrivateKey.PrivateKey)
	return nil
}

func TestCreateKeyShape(t *testing.T) {
	roots := []*testRoot{edTestRoots(t)[0], rsaTestRoot(t)}
	wantAlgo := []string{"Ed25519", "RSA-4096"}
	wantCode := []packet.PublicKeyAlgorithm{packet.PubKeyAlgoEdDSA, packet.PubKeyAlgoRSA}
	for i, r := range roots {
		pubBin, err := pgpkey.Dearmor(r.public)
		if err != nil {
			t.Fatal(err)
		}
		// Nothing secret in the public output: no secret-key packet, and
		// not the secret scalar's bytes anywhere.
		for _, p := range packetTags(t, pubBin) {
			if _, ok := p.(*packet.PrivateKey); ok {
				t.Errorf("%s: public output holds a secret-key packet", wantAlgo[i])
			}
		}
		d := secretScalar(t, r)
		if len(d) < 16 || bytes.Contains(pubBin, d) {
			t.Errorf("%s: public output contains the secret scalar", wantAlgo[i])
		}
		if strings.Contains(string(r.public), "PRIVATE") {
			t.Errorf("%s: public output is armored as a private key", wantAlgo[i])
		}
		if pgpkey.HasSecret(r.pub) {
			t.Errorf("%s: public key reported secret", wantAlgo[i])
		}
		secBin, _ := pgpkey.Dearmor(r.secret)
		if !bytes.Contains(secBin, d) {
			t.Errorf("%s: the unprotected secret output does not hold the secret (test cannot see a leak)", wantAlgo[i])
		}

		// Ed25519 roots use the v4 EdDSA encoding (algorithm 22) that
		// GnuPG 2.2 and Sequoia 1.x verify.
		if got := r.pub.PrimaryKey.PubKeyAlgo; got != wantCode[i] {
			t.Errorf("%s: algorithm %d, want %d", wantAlgo[i], got, wantCode[i])
		}
		if bits, _ := r.pub.PrimaryKey.BitLength(); wantCode[i] == packet.PubKeyAlgoRSA && bits != 4096 {
			t.Errorf("RSA bits %d", bits)
		}
		if len(r.pub.Subkeys) != 0 {
			t.Errorf("%s: %d subkeys, want none", wantAlgo[i], len(r.pub.Subkeys))
		}
		sig, err := r.pub.PrimarySelfSignature(t0.Add(time.Minute), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !sig.FlagsValid || !sig.FlagCertify || !sig.FlagSign || sig.FlagEncryptCommunications || sig.FlagEncryptStorage {
			t.Errorf("%s: key flags certify=%v sign=%v encrypt=%v", wantAlgo[i], sig.FlagCertify, sig.FlagSign, sig.FlagEncryptCommunications)
		}
		if sig.Hash != crypto.SHA512 {
			t.Errorf("%s: self-signature hash %v", wantAlgo[i], sig.Hash)
		}
		exp, ok := pgpkey.Expiry(r.pub, t0.Add(time.Minute), nil)
		if !ok || !exp.Equal(t0.Add(DefaultRootValidity)) {
			t.Errorf("%s: expiry %v, want %v", wantAlgo[i], exp, t0.Add(DefaultRootValidity))
		}
		if pgpkey.Fingerprint(r.pub) != r.fpr || pgpkey.Fingerprint(r.signer) != r.fpr {
			t.Errorf("fingerprint mismatch")
		}
	}
}

func TestCreateRefuses(t *testing.T) {
	for _, o := range []CreateOptions{
		{Name: ""},
		{Name: "a <b@c>"},
		{Name: "x", Validity: time.Hour},
		{Name: "x", Validity: 11 * 365 * 24 * time.Hour},
		{Name: "x", Algo: Algo(9)},
	} {
		if _, err := Create(o, t0); err == nil {
			t.Errorf("Create(%+v) accepted", o)
		} else if fail.KindOf(err) != fail.Input {
			t.Errorf("Create(%+v): kind %v", o, fail.KindOf(err))
		}
	}
}

func TestPassphrase(t *testing.T) {
	pass := []byte("correct horse battery staple")
	c, err := Create(CreateOptions{Name: "protected root", Passphrase: pass}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(c.Secret, pass) || bytes.Contains(c.Public, pass) {
		t.Fatal("passphrase appears in the output")
	}
	// The S2K is iterated+salted with the maximum count and AES-256.
	e, err := pgpkey.ReadCert(c.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if !e.PrivateKey.Encrypted {
		t.Fatal("secret key is not encrypted")
	}

	if _, err := LoadSecret(c.Secret, nil); err == nil {
		t.Error("encrypted key loaded without a passphrase function")
	}
	calls := 0
	wrong := func() ([]byte, error) { calls++; return []byte("wrong"), nil }
	_, err = LoadSecret(c.Secret, wrong)
	if err == nil || calls != 1 {
		t.Fatalf("wrong passphrase: err=%v calls=%d", err, calls)
	}
	if strings.Contains(err.Error(), "wrong\"") || fail.KindOf(err) != fail.Input {
		t.Errorf("wrong passphrase error: %v", err)
	}
	calls = 0
	signer, err := LoadSecret(c.Secret, func() ([]byte, error) { calls++; return pass, nil })
	if err != nil || calls != 1 {
		t.Fatalf("right passphrase: %v (calls %d)", err, calls)
	}
	if _, err := Sign(signer, []byte("x"), t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	failing := func() ([]byte, error) { return nil, errors.New("no tty") }
	if _, err := LoadSecret(c.Secret, failing); err == nil {
		t.Error("passphrase function error ignored")
	}

	// An unprotected key never asks.
	r := edTestRoots(t)[0]
	calls = 0
	if _, err := LoadSecret(r.secret, func() ([]byte, error) { calls++; return nil, nil }); err != nil || calls != 0 {
		t.Errorf("unprotected key: err=%v, asked %d times", err, calls)
	}
}

func TestLoadRefusesWrongHalf(t *testing.T) {
	r := edTestRoots(t)[0]
	_, err := LoadSecret(r.public, nil)
	if err == nil || !strings.Contains(err.Error(), "only the public key") || len(fail.HintsOf(err)) == 0 {
		t.Errorf("LoadSecret(public) = %v, hints %v", err, fail.HintsOf(err))
	}
	_, err = LoadPublic(r.secret)
	if err == nil || !strings.Contains(err.Error(), "secret key material") || len(fail.HintsOf(err)) == 0 {
		t.Errorf("LoadPublic(secret) = %v", err)
	}
	if _, err := LoadPublic([]byte("not a key")); err == nil {
		t.Error("LoadPublic accepted garbage")
	}
}
