package root

import (
	"crypto"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/pgpkey"
)

// shadowBinding says what binding the copied subkey carries.
type shadowBinding int

const (
	noBinding    shadowBinding = iota // subkey packet alone
	bogusBinding                      // signing binding without the victim's cross-signature
	validBinding                      // a valid encryption-only binding by the attacker
)

// shadowCert returns mallory's public certificate (binary, as it would sit in
// a root set, re-read from its bytes) carrying a copy of victim's primary
// key as a subkey: same key ID as the victim's root key.
func shadowCert(tb testing.TB, mallory, victim *testRoot, kind shadowBinding) (*openpgp.Entity, []byte) {
	tb.Helper()
	m, err := LoadPublic(mallory.public)
	if err != nil {
		tb.Fatal(err)
	}
	pk := *victim.pub.PrimaryKey
	pk.IsSubkey = true
	sub := openpgp.Subkey{Primary: m, PublicKey: &pk}
	if kind != noBinding {
		sig := &packet.Signature{
			Version:      mallory.signer.PrimaryKey.Version,
			SigType:      packet.SigTypeSubkeyBinding,
			PubKeyAlgo:   mallory.signer.PrimaryKey.PubKeyAlgo,
			Hash:         crypto.SHA512,
			CreationTime: t0,
			IssuerKeyId:  &mallory.signer.PrimaryKey.KeyId,
			FlagsValid:   true,
		}
		if kind == bogusBinding {
			sig.FlagSign = true
		} else {
			sig.FlagEncryptCommunications = true
		}
		if err := sig.SignKey(&pk, mallory.signer.PrivateKey, &packet.Config{DefaultHash: crypto.SHA512}); err != nil {
			tb.Fatal(err)
		}
		sub.Bindings = []*packet.VerifiableSignature{packet.NewVerifiableSig(sig)}
	}
	m.Subkeys = append(m.Subkeys, sub)
	bin, err := pgpkey.SerializePublic(m, true)
	if err != nil {
		tb.Fatal(err)
	}
	e, err := pgpkey.ReadCert(bin)
	if err != nil {
		tb.Fatal(err)
	}
	if len(e.Subkeys) != 1 || e.Subkeys[0].PublicKey.KeyId != victim.pub.PrimaryKey.KeyId {
		tb.Fatal("shadow subkey did not survive serialization")
	}
	return e, bin
}

// A root certificate that carries a copy of another root's key ID and comes
// first in the set must not make that root's signatures fail.
func TestShadowSubkeyDoesNotBlockSigner(t *testing.T) {
	roots := edTestRoots(t)
	alice, mallory := roots[0], newTestRoot(t, "mallory root", Ed25519)
	data := []byte("pubkeys.pgp contents\n")
	sig := mustSign(t, alice, data, t0.Add(time.Minute))
	for _, kind := range []shadowBinding{noBinding, bogusBinding, validBinding} {
		m, _ := shadowCert(t, mallory, alice, kind)
		// mallory first: the order go-crypto's first-match lookup trips on.
		ks := keyset{list: openpgp.EntityList{m, alice.pub}, fprs: []string{mallory.fpr, alice.fpr}}
		for _, mode := range []verifyMode{atNow, atSigTime} {
			got, err := countSigners(data, sig, ks, time.Now(), mode)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != alice.fpr {
				t.Errorf("binding kind %d, mode %d: signers %v, want alice %s", kind, mode, got, alice.fpr)
			}
		}
	}
}

// Root sets refuse a root certificate with a subkey whose binding is missing
// or invalid, and root keys that share a key ID, on every way in.
func TestRootSetRefusesShadowSubkey(t *testing.T) {
	roots := edTestRoots(t)
	alice, bob, mallory := roots[0], roots[1], newTestRoot(t, "mallory root", Ed25519)
	now := time.Now()
	old := mustSet(t, 1, alice, bob)
	want := map[shadowBinding]string{noBinding: "no binding", bogusBinding: "does not verify", validBinding: "share key ID"}
	for _, kind := range []shadowBinding{noBinding, bogusBinding, validBinding} {
		m, bin := shadowCert(t, mallory, alice, kind)
		check := func(what string, err error) {
			t.Helper()
			if err == nil {
				t.Errorf("binding kind %d: %s accepted the shadow root key", kind, what)
			} else if !strings.Contains(err.Error(), want[kind]) && !strings.Contains(errChain(err), want[kind]) {
				t.Errorf("binding kind %d: %s: %v, want %q", kind, what, err, want[kind])
			}
		}
		_, err := NewRootSet("charts.example.org", []*openpgp.Entity{m, alice.pub}, 1, now)
		check("NewRootSet", err)
		_, err = Rotate(old, []*openpgp.Entity{m}, nil, 0, now)
		check("Rotate", err)

		keys := []rootKeyJSON{
			{Fingerprint: alice.fpr, Public: base64.StdEncoding.EncodeToString(mustPublic(t, alice))},
			{Fingerprint: mallory.fpr, Public: base64.StdEncoding.EncodeToString(bin)},
		}
		if keys[1].Fingerprint < keys[0].Fingerprint {
			keys[0], keys[1] = keys[1], keys[0]
		}
		raw, err := encodeCanonical(rootSetJSON{Format: RootSetFormat, Repository: "charts.example.org", Version: 1, Threshold: 1, Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParseRootSet(raw)
		check("ParseRootSet", err)
	}
	// A valid binding alone is fine: the set refuses only the shared ID.
	m, _ := shadowCert(t, mallory, alice, validBinding)
	if _, err := NewRootSet("charts.example.org", []*openpgp.Entity{m, bob.pub}, 1, now); err != nil {
		t.Errorf("root key with a valid encryption subkey refused: %v", err)
	}
}

func mustPublic(tb testing.TB, r *testRoot) []byte {
	tb.Helper()
	b, err := pgpkey.SerializePublic(r.pub, true)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func errChain(err error) string {
	var b strings.Builder
	for e := err; e != nil; {
		b.WriteString(e.Error())
		b.WriteString("; ")
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	return b.String()
}
