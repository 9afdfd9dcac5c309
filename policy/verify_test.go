package policy

import (
	"bytes"
	"crypto"
	"io"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/testutil/peers"
)

// gpgSign makes a detached binary signature of data with gpg and returns it
// with its creation time.
func gpgSign(t *testing.T, g *peers.GnuPG, fpr string, data []byte, opts ...string) ([]byte, time.Time) {
	t.Helper()
	dir := t.TempDir()
	in := peers.WriteFile(t, dir, "data", data)
	out := filepath.Join(dir, "data.sig")
	g.Run(t, append(append([]string{"--local-user", fpr + "!"}, opts...), "--output", out, "--detach-sign", in)...)
	sig := readFile(t, out)
	p, err := packet.Read(bytes.NewReader(sig))
	if err != nil {
		t.Fatal(err)
	}
	s, ok := p.(*packet.Signature)
	if !ok {
		t.Fatalf("gpg wrote a %T, not a signature", p)
	}
	return sig, s.CreationTime
}

func verifyWith(el openpgp.EntityList, data, sig []byte, c *packet.Config) error {
	_, _, err := openpgp.VerifyDetachedSignature(el, bytes.NewReader(data), bytes.NewReader(sig), c)
	return err
}

// TestVerifyPolicyGnuPG verifies signatures made by a real gpg under the
// verification policy.
func TestVerifyPolicyGnuPG(t *testing.T) {
	g := peers.NewGnuPG(t)
	data := []byte("name: demo\nversion: 1.0.0\n")
	fpr := gpgKey(t, g, "signer@verify.test", "ed25519", "sign", "1y")
	el := readKeys(t, g.ExportPublic(t, fpr))
	v := DefaultVerify()

	t.Run("hashes", func(t *testing.T) {
		for _, c := range []struct {
			digest string
			ok     bool
		}{{"SHA512", true}, {"SHA256", true}, {"SHA384", true}, {"SHA1", false}} {
			sig, at := gpgSign(t, g, fpr, data, "--digest-algo", c.digest)
			err := verifyWith(el, data, sig, v.PacketConfig(at))
			if (err == nil) != c.ok {
				t.Errorf("%s signature: err = %v, want ok = %v", c.digest, err, c.ok)
			}
			// Key policy's config refuses the same weak hashes.
			err = verifyWith(el, data, sig, Default().PacketConfig())
			if (err == nil) != c.ok {
				t.Errorf("%s signature under KeyPolicy.PacketConfig: err = %v, want ok = %v", c.digest, err, c.ok)
			}
		}
		// A narrower list is honoured.
		only256 := VerifyPolicy{Hashes: []string{"SHA256"}, MinRSABits: 2048}
		sig512, at := gpgSign(t, g, fpr, data, "--digest-algo", "SHA512")
		if err := verifyWith(el, data, sig512, only256.PacketConfig(at)); err == nil {
			t.Error("a SHA-512 signature verified with hashes = [SHA256]")
		}
		sig256, at := gpgSign(t, g, fpr, data, "--digest-algo", "SHA256")
		if err := verifyWith(el, data, sig256, only256.PacketConfig(at)); err != nil {
			t.Errorf("a SHA-256 signature with hashes = [SHA256]: %v", err)
		}
		// Tampered data never verifies.
		if err := verifyWith(el, append([]byte("x"), data...), sig256, v.PacketConfig(at)); err == nil {
			t.Error("tampered data verified")
		}
	})

	t.Run("clock-skew", func(t *testing.T) {
		sig, at := gpgSign(t, g, fpr, data)
		if err := verifyWith(el, data, sig, v.PacketConfig(at.Add(-time.Minute))); err != nil {
			t.Errorf("a signature one minute ahead of the verifier's clock: %v", err)
		}
		if err := verifyWith(el, data, sig, v.PacketConfig(at.Add(-time.Hour))); err == nil {
			t.Error("a signature one hour ahead of the verifier's clock verified")
		}
		noSkew := v
		noSkew.MaxClockSkew = 0
		if err := verifyWith(el, data, sig, noSkew.PacketConfig(at.Add(-time.Minute))); err == nil {
			t.Error("with no skew, a signature one minute ahead verified")
		}
		if err := verifyWith(el, data, sig, v.PacketConfig(time.Time{})); err != nil {
			t.Errorf("at the current time: %v", err)
		}
	})

	t.Run("sha1-self-signed-key", func(t *testing.T) {
		// The data signature is SHA-512; the key's self-signature is SHA-1.
		weak := gpgKey(t, g, "weak@verify.test", "ed25519", "sign", "1y", "--cert-digest-algo", "SHA1")
		wel := readKeys(t, g.ExportPublic(t, weak))
		sig, at := gpgSign(t, g, weak, data, "--digest-algo", "SHA512")
		if err := verifyWith(wel, data, sig, nil); err != nil {
			t.Fatalf("go-crypto's default refuses it already (%v): the doc comment is out of date", err)
		}
		wel = readKeys(t, g.ExportPublic(t, weak)) // a fresh parse: no cached verdicts
		if err := verifyWith(wel, data, sig, v.PacketConfig(at)); err == nil {
			t.Error("VerifyPolicy accepted a signature by a key with a SHA-1 self-signature")
		}
		wel = readKeys(t, g.ExportPublic(t, weak))
		if err := verifyWith(wel, data, sig, Default().PacketConfig()); err == nil {
			t.Error("KeyPolicy.PacketConfig accepted a signature by a key with a SHA-1 self-signature")
		}
	})

	t.Run("rsa-size", func(t *testing.T) {
		small := gpgKey(t, g, "rsa2048@verify.test", "rsa2048", "sign", "1y")
		sel := readKeys(t, g.ExportPublic(t, small))
		sig, at := gpgSign(t, g, small, data)
		if err := verifyWith(sel, data, sig, v.PacketConfig(at)); err != nil {
			t.Errorf("RSA-2048 under the default verify policy: %v", err)
		}
		strict := v
		strict.MinRSABits = 3072
		if err := verifyWith(readKeys(t, g.ExportPublic(t, small)), data, sig, strict.PacketConfig(at)); err == nil {
			t.Error("RSA-2048 verified with min_rsa_bits = 3072")
		}
		if err := verifyWith(readKeys(t, g.ExportPublic(t, small)), data, sig, Default().PacketConfig()); err == nil {
			t.Error("RSA-2048 verified under the default key policy's config")
		}
	})

	t.Run("clearsigned-like-helm", func(t *testing.T) {
		// Helm's .prov is a clearsigned document. Verify its signature with
		// openpgp/v2 over the block's bytes: go-crypto's clearsign package
		// verifies through the v1 API, which ignores the configuration's hash
		// rules (checked below, so that a change in go-crypto is noticed).
		dir := t.TempDir()
		in := peers.WriteFile(t, dir, "chart.prov.txt", data)
		out := filepath.Join(dir, "chart.prov")
		kr, err := v1.ReadKeyRing(bytes.NewReader(g.ExportPublic(t, fpr)))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			digest string
			ok     bool
		}{{"SHA512", true}, {"SHA1", false}} {
			g.Run(t, "--local-user", fpr+"!", "--digest-algo", c.digest, "--output", out, "--clearsign", in)
			b, _ := clearsign.Decode(readFile(t, out))
			if b == nil {
				t.Fatal("no clearsigned block")
			}
			sig := readAll(t, b.ArmoredSignature.Body)
			err := verifyWith(el, b.Bytes, sig, v.PacketConfig(time.Time{}))
			if (err == nil) != c.ok {
				t.Errorf("clearsigned with %s, openpgp/v2: err = %v, want ok = %v", c.digest, err, c.ok)
			}
			b, _ = clearsign.Decode(readFile(t, out))
			if _, err := b.VerifySignature(kr, v.PacketConfig(time.Time{})); err != nil {
				t.Errorf("clearsigned with %s, clearsign.Block.VerifySignature: %v; if go-crypto now applies the hash rules there, update the package doc", c.digest, err)
			}
		}
	})
}

func readAll(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseHash(t *testing.T) {
	for name, want := range map[string]crypto.Hash{
		"SHA256": crypto.SHA256, "sha-256": crypto.SHA256, "SHA_512": crypto.SHA512,
		"sha3-256": crypto.SHA3_256, "SHA3-512": crypto.SHA3_512, "sha224": crypto.SHA224, " SHA384 ": crypto.SHA384,
	} {
		h, err := ParseHash(name)
		if err != nil || h != want {
			t.Errorf("ParseHash(%q) = %v, %v; want %v", name, h, err, want)
		}
		if !h.Available() {
			t.Errorf("%v is not linked in", h)
		}
	}
	for _, name := range []string{"SHA1", "sha-1", "MD5", "RIPEMD160", "", "BLAKE2b"} {
		if h, err := ParseHash(name); err == nil {
			t.Errorf("ParseHash(%q) = %v, want an error", name, h)
		}
	}
}

// TestPacketConfigs checks the configurations field by field: what they
// refuse is exactly what the package doc promises.
func TestPacketConfigs(t *testing.T) {
	kc := Default().PacketConfig()
	vc := DefaultVerify().PacketConfig(time.Unix(1_700_000_000, 0))
	for _, c := range []*packet.Config{kc, vc} {
		for _, h := range []crypto.Hash{crypto.MD5, crypto.SHA1, crypto.RIPEMD160} {
			if !c.RejectHashAlgorithm(h) || !c.RejectMessageHashAlgorithm(h) {
				t.Errorf("%v is not refused", h)
			}
		}
		for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512, crypto.SHA3_256, crypto.SHA3_512} {
			if c.RejectHashAlgorithm(h) || c.RejectMessageHashAlgorithm(h) {
				t.Errorf("%v is refused", h)
			}
		}
		for _, a := range []packet.PublicKeyAlgorithm{packet.PubKeyAlgoDSA, packet.PubKeyAlgoElGamal} {
			if !c.RejectPublicKeyAlgorithm(a) {
				t.Errorf("algorithm %d is not refused", a)
			}
		}
		for _, a := range []packet.PublicKeyAlgorithm{packet.PubKeyAlgoRSA, packet.PubKeyAlgoEdDSA, packet.PubKeyAlgoECDSA, packet.PubKeyAlgoEd25519} {
			if c.RejectPublicKeyAlgorithm(a) {
				t.Errorf("algorithm %d is refused", a)
			}
		}
		if !c.RejectCurve(packet.CurveSecP256k1) || c.RejectCurve(packet.Curve25519) || c.RejectCurve(packet.CurveNistP256) {
			t.Error("curves: want secp256k1 refused, Curve25519 and P-256 accepted")
		}
	}
	if kc.MinimumRSABits() != 3072 || vc.MinimumRSABits() != 2048 {
		t.Errorf("MinimumRSABits: key %d, verify %d", kc.MinimumRSABits(), vc.MinimumRSABits())
	}
	if got := vc.Now(); !got.Equal(time.Unix(1_700_000_000, 0).Add(5 * time.Minute)) {
		t.Errorf("verify config now = %v, want the given time plus the skew", got)
	}
	// A policy below the floor still gets the floor; a fresh value each time.
	weak := KeyPolicy{MinRSABits: 512}
	if weak.PacketConfig().MinimumRSABits() != FloorRSABits {
		t.Errorf("MinRSABits 512 gave %d", weak.PacketConfig().MinimumRSABits())
	}
	kc.RejectHashAlgorithms[crypto.SHA1] = false
	if !Default().PacketConfig().RejectHashAlgorithm(crypto.SHA1) {
		t.Error("PacketConfig shares its maps between calls")
	}
	// A bad hash name narrows, never widens.
	bad := VerifyPolicy{Hashes: []string{"SHA1", "nonsense"}, MinRSABits: 2048}
	bc := bad.PacketConfig(time.Time{})
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA512} {
		if !bc.RejectMessageHashAlgorithm(h) {
			t.Errorf("hashes [SHA1 nonsense] accepts %v", h)
		}
	}
}
