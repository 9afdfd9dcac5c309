package policy

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/keyctl/keyctl/internal/testutil/peers"
)

// gpgKey makes a key in g and returns its fingerprint; extra gpg options
// (--faked-system-time, --cert-digest-algo) go before the command.
func gpgKey(t *testing.T, g *peers.GnuPG, uid, algo, usage, expire string, opts ...string) string {
	t.Helper()
	args := append(append([]string{}, opts...), "--quick-gen-key", uid, algo, usage, expire)
	g.Run(t, args...)
	return g.Fingerprint(t, uid)
}

func keyIDOf(fpr string) string { return fpr[len(fpr)-16:] }

// TestGnuPGKeys runs the default policy over keys that a real GnuPG makes.
func TestGnuPGKeys(t *testing.T) {
	g := peers.NewGnuPG(t)
	p := Default()

	t.Run("accepted", func(t *testing.T) {
		cases := []struct{ name, algo, usage, expire string }{
			{"rsa3072", "rsa3072", "default", "2y"},
			{"rsa4096", "rsa4096", "sign", "1y"},
			{"ecdsa-p256", "nistp256", "default", "3y"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				fpr := gpgKey(t, g, c.name+"@accept.test", c.algo, c.usage, c.expire)
				vs := check(t, p, g.ExportArmored(t, fpr), time.Now(), nil)
				wantRules(t, vs)
			})
		}
		t.Run("ed25519-cert-primary-with-signing-subkey", func(t *testing.T) {
			fpr := gpgKey(t, g, "split@accept.test", "ed25519", "cert", "2y")
			g.AddSubkey(t, fpr, "ed25519", "sign", "1y")
			g.AddSubkey(t, fpr, "cv25519", "encr", "1y")
			data := g.ExportPublic(t, fpr)
			e := readKey(t, data)
			if len(e.Subkeys) != 2 {
				t.Fatalf("want 2 subkeys, got %d", len(e.Subkeys))
			}
			wantRules(t, check(t, p, data, time.Now(), nil))
			// The primary key may only certify: what signs is the subkey.
			k, ok := e.SigningKey(time.Now(), p.PacketConfig())
			if !ok || k.PublicKey == e.PrimaryKey {
				t.Errorf("want the signing subkey to sign, got ok=%v primary=%v", ok, ok && k.PublicKey == e.PrimaryKey)
			}
			// Dropping the signing subkey leaves a certify-only key.
			var cut bytes.Buffer
			e.Subkeys = e.Subkeys[1:]
			if err := e.Serialize(&cut); err != nil {
				t.Fatal(err)
			}
			vs := check(t, p, cut.Bytes(), time.Now(), nil)
			wantRules(t, vs, RuleNoSigningKey)
		})
	})

	t.Run("rsa2048", func(t *testing.T) {
		fpr := gpgKey(t, g, "rsa2048@refuse.test", "rsa2048", "sign", "1y")
		vs := check(t, p, g.ExportPublic(t, fpr), time.Now(), nil)
		wantRules(t, vs, RuleRSATooSmall)
		v := vs[0]
		if v.KeyID != keyIDOf(fpr) || !strings.Contains(v.Found, "RSA-2048") || v.Setting != "policy.min_rsa_bits = 3072" {
			t.Errorf("violation %+v: want key %s, RSA-2048 found, setting policy.min_rsa_bits = 3072", v, keyIDOf(fpr))
		}
		// The setting relaxes it, down to the floor.
		relaxed := p
		relaxed.MinRSABits = 2048
		wantRules(t, check(t, relaxed, g.ExportPublic(t, fpr), time.Now(), nil))
		// An unvalidated policy below the floor still refuses nothing below 2048,
		// but 2048 itself passes.
		floor := p
		floor.MinRSABits = 1024
		wantRules(t, check(t, floor, g.ExportPublic(t, fpr), time.Now(), nil))
	})

	t.Run("dsa", func(t *testing.T) {
		fpr := gpgKey(t, g, "dsa@refuse.test", "dsa2048", "sign", "1y")
		vs := check(t, p, g.ExportPublic(t, fpr), time.Now(), nil)
		wantRules(t, vs, RuleWeakAlgorithm)
		if !strings.Contains(vs[0].Found, "DSA-2048") || vs[0].KeyID != keyIDOf(fpr) {
			t.Errorf("violation %+v: want DSA-2048 on %s", vs[0], keyIDOf(fpr))
		}
	})

	t.Run("elgamal-subkey", func(t *testing.T) {
		fpr := gpgKey(t, g, "elg@refuse.test", "ed25519", "sign", "1y")
		g.AddSubkey(t, fpr, "elg2048", "encr", "1y")
		data := g.ExportPublic(t, fpr)
		e := readKey(t, data)
		if len(e.Subkeys) != 1 || e.Subkeys[0].PublicKey.PubKeyAlgo != packet.PubKeyAlgoElGamal {
			t.Fatalf("want one ElGamal subkey")
		}
		vs := check(t, p, data, time.Now(), nil)
		wantRules(t, vs, RuleWeakAlgorithm)
		if want := keyIDOf(fingerprint(e.Subkeys[0].PublicKey)); vs[0].KeyID != want || !strings.Contains(vs[0].Found, "ElGamal-2048 (subkey)") {
			t.Errorf("violation %+v: want ElGamal-2048 subkey %s", vs[0], want)
		}
	})

	t.Run("expired", func(t *testing.T) {
		// Made in 2020 by gpg's clock, valid one year.
		fpr := gpgKey(t, g, "old@refuse.test", "ed25519", "sign", "1y", "--faked-system-time", "20200101T000000")
		vs := check(t, p, g.ExportPublic(t, fpr), time.Now(), nil)
		wantRules(t, vs, RuleExpired)
		if !strings.HasPrefix(vs[0].Found, "expired 2020-12-") && !strings.HasPrefix(vs[0].Found, "expired 2021-01-") {
			t.Errorf("found %q, want the 2020-12-31 expiry", vs[0].Found)
		}
		// At a time inside its year it was fine.
		wantRules(t, check(t, p, g.ExportPublic(t, fpr), time.Date(2020, 6, 1, 0, 0, 0, 0, time.UTC), nil))
	})

	t.Run("expired-signing-subkey", func(t *testing.T) {
		fpr := gpgKey(t, g, "subexp@refuse.test", "ed25519", "cert", "2y")
		g.AddSubkey(t, fpr, "ed25519", "sign", "1d")
		data := g.ExportPublic(t, fpr)
		wantRules(t, check(t, p, data, time.Now(), nil))
		vs := check(t, p, data, time.Now().Add(3*Day), nil)
		wantRules(t, vs, RuleExpired)
		sub := readKey(t, data).Subkeys[0].PublicKey
		if vs[0].KeyID != keyID(sub) || !strings.Contains(vs[0].Fix, fingerprint(sub)) {
			t.Errorf("violation %+v: want it on subkey %s with a fix naming it", vs[0], keyID(sub))
		}
	})

	t.Run("revoked", func(t *testing.T) {
		fpr := gpgKey(t, g, "revoked@refuse.test", "ed25519", "sign", "1y")
		before := g.ExportPublic(t, fpr)
		wantRules(t, check(t, p, before, time.Now(), nil))
		// gpg wrote a revocation certificate at key creation; its armor line
		// starts with ":" so that it is not imported by accident.
		rev, err := os.ReadFile(filepath.Join(g.Home, "openpgp-revocs.d", fpr+".rev"))
		if err != nil {
			t.Fatal(err)
		}
		rev = bytes.Replace(rev, []byte(":-----BEGIN PGP PUBLIC KEY BLOCK-----"), []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----"), 1)
		if _, stderr, err := g.RunErr(rev, "--import"); err != nil {
			t.Fatalf("gpg --import revocation: %v\n%s", err, stderr)
		}
		vs := check(t, p, g.ExportPublic(t, fpr), time.Now(), nil)
		wantRules(t, vs, RuleRevoked)
		if vs[0].KeyID != keyIDOf(fpr) || !strings.HasPrefix(vs[0].Found, "is revoked since ") {
			t.Errorf("violation %+v", vs[0])
		}
	})

	t.Run("no-expiry", func(t *testing.T) {
		fpr := gpgKey(t, g, "never@refuse.test", "ed25519", "sign", "never")
		data := g.ExportPublic(t, fpr)
		vs := check(t, p, data, time.Now(), nil)
		wantRules(t, vs, RuleNoExpiry)
		if vs[0].Found != "never expires" || vs[0].Setting != "policy.require_expiry = true" {
			t.Errorf("violation %+v", vs[0])
		}
		relaxed := p
		relaxed.RequireExpiry = false
		wantRules(t, check(t, relaxed, data, time.Now(), nil))
	})

	t.Run("ten-years", func(t *testing.T) {
		fpr := gpgKey(t, g, "ten@refuse.test", "ed25519", "sign", "10y")
		data := g.ExportPublic(t, fpr)
		vs := check(t, p, data, time.Now(), nil)
		wantRules(t, vs, RuleValidityTooLong)
		if !strings.Contains(vs[0].Found, "in 9 years") && !strings.Contains(vs[0].Found, "in 10 years") {
			t.Errorf("found %q, want about ten years", vs[0].Found)
		}
		if vs[0].Setting != "policy.max_validity = 3y" {
			t.Errorf("setting %q", vs[0].Setting)
		}
		relaxed := p
		relaxed.MaxValidity = Duration(11 * Year)
		wantRules(t, check(t, relaxed, data, time.Now(), nil))
		// Three calendar years, as gpg counts them, fit in 3y.
		fpr3 := gpgKey(t, g, "three@accept.test", "ed25519", "sign", "3y")
		wantRules(t, check(t, p, g.ExportPublic(t, fpr3), time.Now(), nil))
	})

	t.Run("secret-key", func(t *testing.T) {
		fpr := gpgKey(t, g, "secret@refuse.test", "ed25519", "sign", "1y")
		g.AddSubkey(t, fpr, "cv25519", "encr", "1y")
		vs := check(t, p, g.ExportSecret(t, fpr), time.Now(), nil)
		wantRules(t, vs, RuleSecretKeyMaterial)
		if vs[0].Found != "holds secret key material (the primary key and 1 subkey)" {
			t.Errorf("found %q", vs[0].Found)
		}
		// The public export of the same key passes.
		wantRules(t, check(t, p, g.ExportPublic(t, fpr), time.Now(), nil))
	})

	t.Run("sha1-self-signature", func(t *testing.T) {
		fpr := gpgKey(t, g, "sha1@refuse.test", "ed25519", "sign", "1y", "--cert-digest-algo", "SHA1")
		data := g.ExportPublic(t, fpr)
		vs := check(t, p, data, time.Now(), nil)
		wantRules(t, vs, RuleWeakHash)
		if !strings.Contains(vs[0].Found, `SHA-1 self-signature on user ID "sha1@refuse.test"`) {
			t.Errorf("found %q", vs[0].Found)
		}
		// go-crypto's own default accepts the SHA-1 self-signature;
		// PacketConfig does not.
		if _, ok := readKey(t, data).SigningKey(time.Now(), nil); !ok {
			t.Errorf("go-crypto's default config refuses a SHA-1 self-signature; the doc comment is out of date")
		}
		if _, ok := readKey(t, data).SigningKey(time.Now(), p.PacketConfig()); ok {
			t.Errorf("PacketConfig accepts a SHA-1 self-signature")
		}
		// go-crypto caches each signature's verdict in the entity. Check
		// neither trusts a verdict reached under another configuration nor
		// leaves its own behind.
		e := readKey(t, data)
		if _, ok := e.SigningKey(time.Now(), p.PacketConfig()); ok {
			t.Fatal("strict config accepted the SHA-1 key")
		}
		wantRules(t, p.Check(e, time.Now(), nil), RuleWeakHash) // not no-signing-key
		if _, ok := e.SigningKey(time.Now(), p.PacketConfig()); ok {
			t.Error("after Check, the strict config accepts the SHA-1 key: Check left a lax verdict behind")
		}
		e = readKey(t, data)
		p.Check(e, time.Now(), nil)
		if _, ok := e.SigningKey(time.Now(), p.PacketConfig()); ok {
			t.Error("Check on a fresh parse left a lax verdict behind")
		}
		// The fix the violation gives works.
		args := strings.Fields(strings.TrimPrefix(vs[0].Fix, "renew the self-signatures with SHA-256: gpg "))
		if len(args) != 5 || args[0] != "--cert-digest-algo" {
			t.Fatalf("fix %q is not the gpg command this test runs", vs[0].Fix)
		}
		g.Run(t, args...)
		wantRules(t, check(t, p, g.ExportPublic(t, fpr), time.Now(), nil))
	})

	t.Run("sha1-subkey-binding", func(t *testing.T) {
		// gpg 2.2 refuses to make a SHA-1 back-signature, so a SHA-1 binding
		// from gpg is one of an encryption subkey; a live subkey is judged
		// whatever its use.
		fpr := gpgKey(t, g, "sha1sub@refuse.test", "ed25519", "sign", "1y")
		g.Run(t, "--cert-digest-algo", "SHA1", "--quick-add-key", fpr, "cv25519", "encr", "1y")
		data := g.ExportPublic(t, fpr)
		sub := readKey(t, data).Subkeys[0].PublicKey
		vs := check(t, p, data, time.Now(), nil)
		wantRules(t, vs, RuleWeakHash)
		if vs[0].KeyID != keyID(sub) || !strings.Contains(vs[0].Found, "SHA-1 binding signature") || !strings.HasSuffix(vs[0].Fix, " "+fingerprint(sub)) {
			t.Errorf("want weak-hash on subkey %s's binding, got:\n%s", keyID(sub), describe(vs))
		}
		// The fix renews that binding.
		args := strings.Fields(strings.TrimPrefix(vs[0].Fix, "renew the binding with SHA-256: gpg "))
		if len(args) != 6 || args[0] != "--cert-digest-algo" {
			t.Fatalf("fix %q is not the gpg command this test runs", vs[0].Fix)
		}
		g.Run(t, args...)
		wantRules(t, check(t, p, g.ExportPublic(t, fpr), time.Now(), nil))
	})

	t.Run("signing-subkey-without-backsig", func(t *testing.T) {
		fpr := gpgKey(t, g, "nobacksig@refuse.test", "ed25519", "cert", "1y")
		g.AddSubkey(t, fpr, "ed25519", "sign", "1y")
		data := g.ExportPublic(t, fpr)
		wantRules(t, check(t, p, data, time.Now(), nil))
		cut := dropBacksigs(t, data)
		if bytes.Equal(cut, data) {
			t.Fatal("no back-signature was dropped")
		}
		vs := check(t, p, cut, time.Now(), nil)
		wantRules(t, vs, RuleNoSigningKey)
		sub := readKey(t, cut).Subkeys[0].PublicKey
		if vs[0].KeyID != keyID(sub) || !strings.Contains(vs[0].Found, "back-signature") {
			t.Errorf("violation %+v: want it on subkey %s, naming the back-signature", vs[0], keyID(sub))
		}
	})

	t.Run("certify-only", func(t *testing.T) {
		fpr := gpgKey(t, g, "certonly@refuse.test", "ed25519", "cert", "1y")
		g.AddSubkey(t, fpr, "cv25519", "encr", "1y")
		vs := check(t, p, g.ExportPublic(t, fpr), time.Now(), nil)
		wantRules(t, vs, RuleNoSigningKey)
		if vs[0].KeyID != keyIDOf(fpr) {
			t.Errorf("violation %+v: want it on the primary key", vs[0])
		}
	})

	t.Run("several-at-once", func(t *testing.T) {
		// RSA-2048, SHA-1, never expires, secret: four rules, all reported.
		fpr := gpgKey(t, g, "many@refuse.test", "rsa2048", "sign", "never", "--cert-digest-algo", "SHA1")
		vs := check(t, p, g.ExportSecret(t, fpr), time.Now(), nil)
		wantRules(t, vs, RuleSecretKeyMaterial, RuleRSATooSmall, RuleWeakHash, RuleNoExpiry)
	})

	t.Run("keyid-collision", func(t *testing.T) {
		fpr := gpgKey(t, g, "collide@refuse.test", "ed25519", "cert", "1y")
		g.AddSubkey(t, fpr, "ed25519", "sign", "1y")
		data := g.ExportPublic(t, fpr)
		e := readKey(t, data)
		sub := e.Subkeys[0].PublicKey

		// The store already holds this very certificate (keyctl update): no clash.
		own := KeyIDMap{}
		own.Add(e)
		wantRules(t, check(t, p, data, time.Now(), own))

		// Another stored certificate has a key with the primary's key ID, and
		// another with the subkey's.
		other := "0123456789ABCDEF0123456789ABCDEF01234567"
		known := KeyIDMap{e.PrimaryKey.KeyId: other, sub.KeyId: strings.ToLower(other)}
		vs := check(t, p, data, time.Now(), known)
		wantRules(t, vs, RuleKeyIDCollision, RuleKeyIDCollision)
		if vs[0].KeyID != keyIDOf(fpr) || vs[1].KeyID != keyID(sub) || !strings.Contains(vs[0].Found, other) {
			t.Errorf("violations:\n%s", describe(vs))
		}

		// A real, unrelated key in the store does not clash.
		fpr2 := gpgKey(t, g, "unrelated@accept.test", "ed25519", "sign", "1y")
		stored := KeyIDMap{}
		stored.Add(readKey(t, g.ExportPublic(t, fpr2)))
		wantRules(t, check(t, p, data, time.Now(), stored))

		// Two different keys of one certificate with one key ID: the ID is
		// forced here, as a real clash needs 2^64 work to find.
		e2 := readKey(t, data)
		e2.Subkeys[0].PublicKey.KeyId = e2.PrimaryKey.KeyId
		vs = p.Check(e2, time.Now(), nil)
		wellFormed(t, vs)
		wantRules(t, vs, RuleKeyIDCollision)
	})
}

// dropBacksigs removes the embedded back-signature (subpacket 32) from the
// unhashed area of every subkey binding in a binary certificate, with
// go-crypto's opaque packet reader and writer. The binding itself stays
// valid: the unhashed area is not signed.
func dropBacksigs(t *testing.T, bin []byte) []byte {
	t.Helper()
	r := packet.NewOpaqueReader(bytes.NewReader(bin))
	var out bytes.Buffer
	for {
		op, err := r.Next()
		if err != nil {
			break
		}
		if op.Tag == 2 && len(op.Contents) > 6 && op.Contents[0] == 4 && op.Contents[1] == byte(packet.SigTypeSubkeyBinding) {
			op.Contents = stripUnhashed(t, op.Contents, 32)
		}
		if err := op.Serialize(&out); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

// stripUnhashed drops subpackets of one type from a v4 signature body's
// unhashed area.
func stripUnhashed(t *testing.T, body []byte, drop byte) []byte {
	t.Helper()
	hashedLen := int(body[4])<<8 | int(body[5])
	at := 6 + hashedLen
	unLen := int(body[at])<<8 | int(body[at+1])
	un := body[at+2 : at+2+unLen]
	var kept []byte
	for len(un) > 0 {
		var n, hdr int
		switch {
		case un[0] < 192:
			n, hdr = int(un[0]), 1
		case un[0] < 255:
			n, hdr = (int(un[0])-192)<<8+int(un[1])+192, 2
		default:
			n, hdr = int(un[1])<<24|int(un[2])<<16|int(un[3])<<8|int(un[4]), 5
		}
		sp := un[:hdr+n]
		if un[hdr]&0x7f != drop {
			kept = append(kept, sp...)
		}
		un = un[hdr+n:]
	}
	out := append([]byte{}, body[:at]...)
	out = append(out, byte(len(kept)>>8), byte(len(kept)))
	out = append(out, kept...)
	return append(out, body[at+2+unLen:]...)
}
