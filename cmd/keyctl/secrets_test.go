package main

// No secret ever lands in the store, a log line, an error message or the
// published objects (SPEC §7): a full flow with passphrase-protected root
// keys, then every byte keyctl wrote or printed is searched for the
// passphrases, the armored secret keys and the raw secret key material.

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/eddsa"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/keyctl/keyctl/internal/pgpkey"
)

// secretNeedles returns what must never appear for one protected root key:
// its armored file, a line of its armored body, and its decrypted secret
// scalar (raw, hex and base64), taken from go-crypto's decrypted key.
func secretNeedles(t *testing.T, keyFile string, pass []byte) map[string][]byte {
	t.Helper()
	armored, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	needles := map[string][]byte{"armored secret key " + keyFile: armored}
	lines := strings.Split(string(armored), "\n")
	for i := 3; i < len(lines)-3; i += 4 {
		if len(lines[i]) >= 40 {
			needles["armor line of "+keyFile] = []byte(lines[i])
		}
	}
	e, err := pgpkey.ReadCert(armored)
	if err != nil {
		t.Fatal(err)
	}
	pk := e.PrivateKey
	if pk == nil || !pk.Encrypted {
		t.Fatalf("%s is not a passphrase-protected secret key", keyFile)
	}
	if err := pk.Decrypt(pass); err != nil {
		t.Fatalf("decrypting %s with its passphrase: %v", keyFile, err)
	}
	var raw []byte
	switch k := pk.PrivateKey.(type) {
	case *eddsa.PrivateKey:
		raw = k.D
	default:
		t.Fatalf("unexpected root key type %T", k)
	}
	if len(raw) < 16 {
		t.Fatalf("secret scalar of %d bytes", len(raw))
	}
	// The decrypted secret key packet, serialized unencrypted, holds the
	// scalar: check that this is the material that would leak.
	var ser bytes.Buffer
	if err := pk.Serialize(&ser); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(ser.Bytes(), raw) {
		t.Fatal("the decrypted secret key packet does not hold the scalar it was decrypted to")
	}
	needles["secret scalar of "+keyFile] = raw
	needles["secret scalar (hex) of "+keyFile] = []byte(hex.EncodeToString(raw))
	needles["secret scalar (HEX) of "+keyFile] = []byte(strings.ToUpper(hex.EncodeToString(raw)))
	needles["secret scalar (base64) of "+keyFile] = []byte(base64.StdEncoding.EncodeToString(raw)[:40])
	return needles
}

func TestNoSecretLeaks(t *testing.T) {
	newRelEnv(t) // a private HOME and no stray config
	dir := t.TempDir()
	store := filepath.Join(dir, "secrets.db")
	site := filepath.Join(dir, "site")
	passA, passB := "correct horse battery staple A1", "s3cret-passphrase-from-env-B2"
	passFile := writeFile(t, dir, "pass-a", []byte(passA+"\n"))
	wrongFile := writeFile(t, dir, "wrong", []byte("not the passphrase\n"))
	rootA, rootAPub := filepath.Join(dir, "rootA.key"), filepath.Join(dir, "rootA.pub")
	rootB, rootBPub := filepath.Join(dir, "rootB.key"), filepath.Join(dir, "rootB.pub")

	var outputs bytes.Buffer
	step := func(wantCode int, args ...string) {
		t.Helper()
		out, errs, code := runIn(args...)
		outputs.WriteString(out)
		outputs.WriteString(errs)
		if code != wantCode && !(wantCode < 0 && (code == 0 || code == 1)) {
			t.Fatalf("keyctl %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, wantCode, out, errs)
		}
		if code != 0 {
			assertVoice(t, errs)
		}
	}
	// Root keys: one passphrase from a file, one from KEYCTL_PASSPHRASE.
	step(0, "root", "create", "--name", "secrets root A", "--secret-out", rootA, "--public-out", rootAPub, "--passphrase-file", passFile)
	t.Setenv("KEYCTL_PASSPHRASE", passB)
	step(0, "root", "create", "--name", "secrets root B", "--secret-out", rootB, "--public-out", rootBPub)
	os.Unsetenv("KEYCTL_PASSPHRASE")
	for _, f := range []string{rootA, rootB} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("secret key file %s has mode %o, want 600", f, st.Mode().Perm())
		}
	}

	step(0, "--store", store, "init", "--repository", "secrets.example.org", "--root-key", rootAPub, "--root-key", rootBPub)
	m1 := newMaintainer(t, dir, "SecretMaint1")
	step(0, "--store", store, "add", m1.file, "--reason", "first")
	// A maintainer who hands in a secret key by mistake: refused, and its
	// secret must not travel into the message either.
	var msec bytes.Buffer
	if err := m1.entity.SerializePrivate(&msec, nil); err != nil {
		t.Fatal(err)
	}
	msecFile := writeFile(t, dir, "maint-secret.asc", armorOf(t, "PGP PRIVATE KEY BLOCK", msec.Bytes()))
	step(1, "--store", store, "add", msecFile, "--reason", "oops")

	step(0, "--store", store, "publish", "--to", site, "--root-key", rootA, "--passphrase-file", passFile)
	m2 := newMaintainer(t, dir, "SecretMaint2")
	step(0, "--store", store, "add", m2.file, "--reason", "second")
	t.Setenv("KEYCTL_PASSPHRASE", passB)
	step(0, "--store", store, "publish", "--to", site, "--root-key", rootB)
	os.Unsetenv("KEYCTL_PASSPHRASE")
	// A wrong passphrase fails, and publishes nothing.
	m3 := newMaintainer(t, dir, "SecretMaint3")
	step(0, "--store", store, "add", m3.file, "--reason", "third")
	manifestBefore, err := os.ReadFile(filepath.Join(site, "keyctl-manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	step(2, "--store", store, "publish", "--to", site, "--root-key", rootA, "--passphrase-file", wrongFile)
	t.Setenv("KEYCTL_PASSPHRASE", "wrong-env-passphrase")
	step(2, "--store", store, "publish", "--to", site, "--root-key", rootB)
	os.Unsetenv("KEYCTL_PASSPHRASE")
	if after, _ := os.ReadFile(filepath.Join(site, "keyctl-manifest.json")); !bytes.Equal(after, manifestBefore) {
		t.Error("a publish with a wrong passphrase changed the published manifest")
	}
	step(0, "--store", store, "log")
	step(0, "--store", store, "log", "-o", "json")
	step(0, "--store", store, "list", "--all", "-o", "json")
	step(-1, "--store", store, "status") // 1 when something expires soon
	step(0, "--store", store, "show", m1.fpr, "-o", "json")

	// The haystacks: the store file, every published object, every output.
	hay := map[string][]byte{"stdout and stderr of every command": outputs.Bytes()}
	data, err := os.ReadFile(store)
	if err != nil {
		t.Fatal(err)
	}
	hay["the store "+store] = data
	n := 0
	err = filepath.WalkDir(site, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		hay["published "+p] = b
		n++
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 6 {
		t.Fatalf("only %d published objects found under %s", n, site)
	}

	needles := map[string][]byte{
		"passphrase A":             []byte(passA),
		"passphrase B":             []byte(passB),
		"wrong passphrase (file)":  []byte("not the passphrase"),
		"wrong passphrase (env)":   []byte("wrong-env-passphrase"),
		"maintainer secret armor":  armorOf(t, "PGP PRIVATE KEY BLOCK", msec.Bytes())[60:120],
		"maintainer secret packet": secretKeyPacketBody(t, msec.Bytes()),
	}
	for _, nf := range []struct {
		file string
		pass string
	}{{rootA, passA}, {rootB, passB}} {
		for k, v := range secretNeedles(t, nf.file, []byte(nf.pass)) {
			needles[k] = v
		}
	}
	for hn, h := range hay {
		for nn, needle := range needles {
			if bytes.Contains(h, needle) {
				t.Errorf("%s contains the %s", hn, nn)
			}
		}
	}
	// The haystack search can find what it looks for.
	if !bytes.Contains(outputs.Bytes(), []byte(m1.fpr)) {
		t.Fatal("the outputs do not even hold the maintainer's fingerprint: nothing was captured")
	}
}

// secretKeyPacketBody returns the secret part of the first secret key
// packet in bin: what follows the public key fields.
func secretKeyPacketBody(t *testing.T, bin []byte) []byte {
	t.Helper()
	p, err := packet.Read(bytes.NewReader(bin))
	if err != nil {
		t.Fatal(err)
	}
	sk, ok := p.(*packet.PrivateKey)
	if !ok {
		t.Fatalf("first packet is %T", p)
	}
	var pub, full bytes.Buffer
	sk.PublicKey.Serialize(&pub)
	sk.Serialize(&full)
	// Both start with a packet header; the public fields are shared, the
	// tail of the secret packet is the secret material.
	tail := full.Bytes()[len(full.Bytes())-24:]
	if bytes.Contains(pub.Bytes(), tail) {
		t.Fatal("could not isolate the secret key material")
	}
	return tail
}
