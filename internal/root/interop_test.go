package root

import (
	"bytes"
	"crypto"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/testutil/peers"
)

// TestPeersVerifySign: gpgv and sq verify every signature Sign makes with
// the root public key, for Ed25519 and RSA-4096 roots, and both refuse the
// signature once one byte of the data changes.
func TestPeersVerifySign(t *testing.T) {
	gpgv := peers.GPGV(t)
	sq := peers.SQ(t)
	dir := t.TempDir()
	data := []byte("pubkeys.pgp stand-in\x00\x01binary\n")
	bad := append([]byte(nil), data...)
	bad[3] ^= 1
	dataPath := peers.WriteFile(t, dir, "data", data)
	badPath := peers.WriteFile(t, dir, "bad", bad)

	for _, r := range []*testRoot{edTestRoots(t)[0], rsaTestRoot(t)} {
		name := pgpkey.Algorithm(r.pub.PrimaryKey)
		pubBin, err := pgpkey.Dearmor(r.public)
		if err != nil {
			t.Fatal(err)
		}
		keyPath := peers.WriteFile(t, dir, r.fpr+".pgp", pubBin)
		sig := mustSign(t, r, data, time.Now())
		if p, _ := parseSignature(sig); p == nil || p.Hash != crypto.SHA512 {
			t.Fatalf("%s: signature is not SHA-512", name)
		}
		sigPath := peers.WriteFile(t, dir, r.fpr+".sig", sig)

		if out, errOut, err := peers.RunErr(nil, nil, gpgv, "--keyring", keyPath, sigPath, dataPath); err != nil {
			t.Errorf("%s: gpgv refused a good signature: %v\n%s%s", name, err, out, errOut)
		}
		if _, _, err := peers.RunErr(nil, nil, gpgv, "--keyring", keyPath, sigPath, badPath); err == nil {
			t.Errorf("%s: gpgv accepted a signature over changed data", name)
		}
		if out, errOut, err := peers.RunErr(nil, nil, sq, "verify", "--signer-cert", keyPath, "--detached", sigPath, dataPath); err != nil {
			t.Errorf("%s: sq verify refused a good signature: %v\n%s%s", name, err, out, errOut)
		}
		if _, _, err := peers.RunErr(nil, nil, sq, "verify", "--signer-cert", keyPath, "--detached", sigPath, badPath); err == nil {
			t.Errorf("%s: sq verify accepted a signature over changed data", name)
		}
	}

	// A merged .sig of two roots: sq counts both (-n 2), gpgv accepts it.
	a, b := edTestRoots(t)[0], rsaTestRoot(t)
	merged := mustMerge(t, mustSign(t, a, data, time.Now()), mustSign(t, b, data, time.Now()))
	mergedPath := peers.WriteFile(t, dir, "merged.sig", merged)
	ka := filepath.Join(dir, a.fpr+".pgp")
	kb := filepath.Join(dir, b.fpr+".pgp")
	if out, errOut, err := peers.RunErr(nil, nil, sq, "verify", "-n", "2", "--signer-cert", ka, "--signer-cert", kb, "--detached", mergedPath, dataPath); err != nil {
		t.Errorf("sq verify -n 2 refused the merged signatures: %v\n%s%s", err, out, errOut)
	}
	if out, errOut, err := peers.RunErr(nil, nil, gpgv, "--keyring", ka, "--keyring", kb, mergedPath, dataPath); err != nil {
		t.Errorf("gpgv refused the merged signatures: %v\n%s%s", err, out, errOut)
	}
}

// TestGnuPGSignaturesCount: root keys made by GnuPG, signing with gpg
// --detach-sign (binary and armored, primary key and signing subkey), count
// toward the threshold; a SHA-1 signature by the same key does not.
func TestGnuPGSignaturesCount(t *testing.T) {
	g := peers.NewGnuPG(t)
	ed := g.QuickGenKey(t, "Gpg Root <root1@example.org>", "ed25519", "sign,cert", "2y")
	cert := g.QuickGenKey(t, "Gpg Sub Root <root2@example.org>", "ed25519", "cert", "2y")
	g.AddSubkey(t, cert, "ed25519", "sign", "2y")
	rsa := g.QuickGenKey(t, "Gpg Rsa Root <root3@example.org>", "rsa3072", "sign,cert", "2y")

	var roots []*testRoot
	for _, f := range []string{ed, cert, rsa} {
		pub, err := LoadPublic(g.ExportPublic(t, f))
		if err != nil {
			t.Fatal(err)
		}
		roots = append(roots, &testRoot{fpr: f, pub: pub})
	}
	set := mustSet(t, 3, roots...)

	dir := t.TempDir()
	data := []byte(`{"format":"not really a manifest"}` + "\n")
	dataPath := peers.WriteFile(t, dir, "m.json", data)
	sign := func(fpr string, extra ...string) []byte {
		out := filepath.Join(dir, fpr+strings.Join(extra, "")+".sig")
		args := append([]string{"--local-user", fpr, "--detach-sign", "-o", out}, extra...)
		args = append(args, dataPath)
		g.Run(t, args...)
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	now := time.Now()
	s1 := sign(ed, "--digest-algo", "SHA512")
	s2 := sign(cert, "--digest-algo", "SHA512", "--armor") // made by the signing subkey
	s3 := sign(rsa, "--digest-algo", "SHA512")
	if !pgpkey.IsArmored(s2) {
		t.Fatal("gpg --armor did not armor")
	}
	signers, err := Verify(data, mustMerge(t, s1, s2, s3), set, now)
	if err != nil {
		t.Fatalf("GnuPG signatures refused: %v", err)
	}
	if strings.Join(signers, " ") != strings.Join(set.Fingerprints(), " ") {
		t.Errorf("signers %v, want %v (subkey signature must map to its primary)", signers, set.Fingerprints())
	}
	// Armored input straight from the file, concatenated armored blocks too.
	both := append(append([]byte{}, s2...), s2...)
	if got, err := countSigners(data, both, mustKeyset(t, set), now, atNow); err != nil || len(got) != 1 || got[0] != cert {
		t.Errorf("armored blocks: %v %v", got, err)
	}

	// SHA-1 does not count: the same key, the same data.
	s1sha1 := sign(ed, "--digest-algo", "SHA1")
	if p, _ := parseSignature(s1sha1); p == nil || p.Hash != crypto.SHA1 {
		t.Fatal("gpg did not make a SHA-1 signature")
	}
	_, err = Verify(data, mustMerge(t, s1sha1, s2, s3), set, now)
	var te *ThresholdError
	if !errors.As(err, &te) || te.Have != 2 || te.Need != 3 || len(te.Missing) != 1 || te.Missing[0] != ed {
		t.Errorf("SHA-1 signature counted: %v %+v", err, te)
	}
}

// TestGnuPGImportsCreatedKey: a holder can move a passphrase-protected root
// key made by Create into gpg-agent and sign there; the S2K is the strong
// one Create documents.
func TestGnuPGImportsCreatedKey(t *testing.T) {
	g := peers.NewGnuPG(t)
	pass := "hunter2 but longer"
	c, err := Create(CreateOptions{Name: "holder root", Passphrase: []byte(pass)}, t0)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	secPath := peers.WriteFile(t, dir, "root.sec.asc", c.Secret)
	pk := g.Run(t, "--list-packets", secPath)
	if !bytes.Contains(pk, []byte("iter+salt S2K")) || !bytes.Contains(pk, []byte("protect count: 65011712")) || !bytes.Contains(pk, []byte("algo: 9")) {
		t.Errorf("secret key protection is not iterated+salted S2K, count 65011712, AES-256:\n%s", pk)
	}
	base := []string{"--batch", "--yes", "--no-tty", "--homedir", g.Home, "--pinentry-mode", "loopback", "--passphrase", pass}
	if out, errOut, err := peers.RunErr(nil, nil, g.Bin, append(base, "--import", secPath)...); err != nil {
		t.Fatalf("gpg --import: %v\n%s%s", err, out, errOut)
	}
	data := []byte("sign me")
	dataPath := peers.WriteFile(t, dir, "data", data)
	sigPath := filepath.Join(dir, "data.sig")
	if out, errOut, err := peers.RunErr(nil, nil, g.Bin, append(base, "--local-user", c.Fingerprint, "--digest-algo", "SHA512", "--detach-sign", "-o", sigPath, dataPath)...); err != nil {
		t.Fatalf("gpg --detach-sign: %v\n%s%s", err, out, errOut)
	}
	sig, _ := os.ReadFile(sigPath)
	pub, err := LoadPublic(c.Public)
	if err != nil {
		t.Fatal(err)
	}
	set, err := NewRootSet("charts.example.org", []*openpgp.Entity{pub}, 1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(data, sig, set, time.Now()); err != nil {
		t.Errorf("signature by the imported key refused: %v", err)
	}
}

func mustKeyset(tb testing.TB, s *RootSet) keyset {
	ks, err := s.keyset()
	if err != nil {
		tb.Fatal(err)
	}
	return ks
}
