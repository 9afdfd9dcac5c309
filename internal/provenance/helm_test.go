package provenance_test

import (
	"bytes"
	"crypto"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/provenance"
	"github.com/keyctl/keyctl/internal/testutil/charts"
	"github.com/keyctl/keyctl/internal/testutil/peers"
)

// gpgKey is a GnuPG-made key exported for Helm and keyctl.
type gpgKey struct {
	g       *peers.GnuPG
	uid     string
	fpr     string
	secring string // legacy secret keyring file (gpg --export-secret-keys)
	pubring string // binary public keyring (gpg --export)
	secret  *openpgp.Entity
	public  openpgp.EntityList
}

func newGPGKey(t *testing.T, uid, algo string, subkey bool) *gpgKey {
	t.Helper()
	g := peers.NewGnuPG(t)
	usage := "sign"
	if subkey {
		usage = "cert"
	}
	fpr := g.QuickGenKey(t, uid, algo, usage, "1y")
	if subkey {
		g.AddSubkey(t, fpr, algo, "sign", "1y")
	}
	dir := t.TempDir()
	k := &gpgKey{g: g, uid: uid, fpr: fpr}
	sec := g.ExportSecret(t, fpr)
	pub := g.ExportPublic(t, fpr)
	k.secring = peers.WriteFile(t, dir, "secring.gpg", sec)
	k.pubring = peers.WriteFile(t, dir, "pubring.gpg", pub)
	var err error
	if k.secret, err = pgpkey.ReadCert(sec); err != nil {
		t.Fatal(err)
	}
	if k.public, err = pgpkey.ReadKeyring(pub, pgpkey.MaxKeyringSize); err != nil {
		t.Fatal(err)
	}
	return k
}

func readArchiveFile(t *testing.T, path string) *provenance.Archive {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, err := provenance.ReadArchive(f, provenance.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func parseFile(t *testing.T, path string) *provenance.Prov {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := provenance.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkAll runs the whole chart check and returns the verified signature.
func checkAll(t *testing.T, tgz string, ring openpgp.EntityList) *provenance.Signature {
	t.Helper()
	a := readArchiveFile(t, tgz)
	p := parseFile(t, tgz+".prov")
	sig, err := p.Verify(ring, nil)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if err := p.CheckArchive(filepath.Base(tgz), a.SHA256[:]); err != nil {
		t.Fatalf("CheckArchive: %v", err)
	}
	if err := p.CheckChart(a); err != nil {
		t.Fatalf("CheckChart: %v", err)
	}
	// keyctl writes the same text Helm does.
	want, err := provenance.Message(a, filepath.Base(tgz))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, p.Plaintext) {
		t.Errorf("Message differs from the signed text:\nkeyctl:\n%s\nprov:\n%s", want, p.Plaintext)
	}
	return sig
}

var helms = []struct {
	name string
	bin  func(testing.TB) string
}{{"helm3", peers.Helm3}, {"helm4", peers.Helm4}}

// `helm package --sign` output verifies, and its content matches the source.
func TestHelmPackageSign(t *testing.T) {
	rsa := newGPGKey(t, "RSA Maintainer <rsa@example.org>", "rsa3072", false)
	ed := newGPGKey(t, "Ed Maintainer <ed@example.org>", "ed25519", false)
	for _, h := range helms {
		for _, k := range []*gpgKey{rsa, ed} {
			t.Run(h.name+"/"+strings.Fields(k.uid)[0], func(t *testing.T) {
				helm := h.bin(t)
				dir := t.TempDir()
				src := charts.WriteSource(t, dir, charts.Spec{Name: "web", Version: "1.2.3", Files: map[string]string{"README.md": "# web\n"}})
				tgz := charts.HelmPackage(t, helm, nil, src, dir, "--sign", "--keyring", k.secring, "--key", k.uid)
				sig := checkAll(t, tgz, k.public)
				if sig.PrimaryFingerprint != k.fpr || sig.KeyFingerprint != k.fpr {
					t.Errorf("signed by %s/%s, want primary %s", sig.PrimaryFingerprint, sig.KeyFingerprint, k.fpr)
				}
				if !sig.ValidNow {
					t.Error("ValidNow is false for a fresh key")
				}
				a := readArchiveFile(t, tgz)
				diffs, err := provenance.CompareSource(a, src, provenance.CompareOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if len(diffs) != 0 {
					t.Errorf("CompareSource on helm's own package: %v", diffs)
				}
			})
		}
	}
}

// Helm signs with a certify-only primary key when told to; keyctl refuses
// the result as Helm's own verify does, naming the cause.
func TestHelmSignsWithCertifyOnlyPrimary(t *testing.T) {
	k := newGPGKey(t, "Cert Only <cert@example.org>", "ed25519", true)
	for _, h := range helms {
		t.Run(h.name, func(t *testing.T) {
			helm := h.bin(t)
			dir := t.TempDir()
			src := charts.WriteSource(t, dir, charts.Spec{Name: "web", Version: "1.0.0"})
			_, stderr, err := charts.Helm(t, helm, nil, "package", src, "--destination", dir, "--sign", "--keyring", k.secring, "--key", k.uid)
			if err != nil {
				t.Logf("%s refused to sign with a certify-only primary: %s", h.name, stderr)
				return
			}
			tgz := filepath.Join(dir, "web-1.0.0.tgz")
			p := parseFile(t, tgz+".prov")
			if iss := p.Issuers(); len(iss) != 1 || !strings.HasSuffix(k.fpr, iss[0].KeyID) {
				t.Errorf("issuers %v, want the primary %s", iss, k.fpr)
			}
			_, err = p.Verify(k.public, nil)
			if !errors.Is(err, provenance.ErrNotSigningKey) {
				t.Fatalf("Verify = %v, want ErrNotSigningKey", err)
			}
			_, _, herr := charts.Helm(t, helm, nil, "verify", "--keyring", k.pubring, tgz)
			t.Logf("%s signed with the certify-only primary; helm verify error: %v", h.name, herr)
		})
	}
}

// keyctl's .prov verifies with helm verify (Helm 3 and 4) and gpg --verify.
func TestSignInterop(t *testing.T) {
	keys := map[string]*gpgKey{
		"rsa3072":            newGPGKey(t, "RSA Signer <rsa@example.org>", "rsa3072", false),
		"ed25519+signsubkey": newGPGKey(t, "Ed Signer <ed@example.org>", "ed25519", true),
	}
	for kname, k := range keys {
		dir := t.TempDir()
		src := charts.WriteSource(t, dir, charts.Spec{Name: "api", Version: "0.3.0"})
		tgz := charts.Package(t, src, dir)
		charts.SignFile(t, k.secret, tgz, time.Now())
		sig := checkAll(t, tgz, k.public)
		if kname == "ed25519+signsubkey" && sig.KeyFingerprint == k.fpr {
			t.Errorf("%s: signed with the certify-only primary", kname)
		}
		if _, stderr, err := k.g.RunErr(nil, "--verify", tgz+".prov"); err != nil {
			t.Errorf("%s: gpg --verify: %v\n%s", kname, err, stderr)
		}
		for _, h := range helms {
			t.Run(kname+"/"+h.name, func(t *testing.T) {
				helm := h.bin(t)
				out, stderr, err := charts.Helm(t, helm, nil, "verify", "--keyring", k.pubring, tgz)
				if err != nil {
					t.Fatalf("helm verify: %v\n%s%s", err, out, stderr)
				}
				t.Logf("%s accepts: %s", h.name, strings.TrimSpace(string(out)))
			})
		}
	}
}

// gpg --digest-algo SHA1 signatures are refused whatever the config allows.
func TestRefuseSHA1(t *testing.T) {
	k := newGPGKey(t, "SHA1 Signer <sha1@example.org>", "rsa3072", false)
	dir := t.TempDir()
	src := charts.WriteSource(t, dir, charts.Spec{Name: "old", Version: "0.1.0"})
	tgz := charts.Package(t, src, dir)
	a := readArchiveFile(t, tgz)
	msg, err := provenance.Message(a, filepath.Base(tgz))
	if err != nil {
		t.Fatal(err)
	}
	msgFile := peers.WriteFile(t, dir, "msg.txt", msg)
	out, stderr, err := k.g.RunErr(nil, "--digest-algo", "SHA1", "--clearsign", "--output", "-", msgFile)
	if err != nil {
		if peers.Required() {
			t.Fatalf("gpg cannot make a SHA-1 signature here (GnuPG 2.2 can): %s", stderr)
		}
		t.Skipf("gpg cannot make a SHA-1 signature here: %s", stderr)
	}
	p, err := provenance.Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	permissive := &packet.Config{RejectHashAlgorithms: map[crypto.Hash]bool{}, RejectMessageHashAlgorithms: map[crypto.Hash]bool{}}
	for _, cfg := range []*packet.Config{nil, permissive} {
		if _, err := p.Verify(k.public, cfg); !errors.Is(err, provenance.ErrWeakHash) {
			t.Errorf("Verify = %v, want ErrWeakHash", err)
		}
	}
	// The same text signed with SHA-256 passes: the refusal is the hash.
	out, _, err = k.g.RunErr(nil, "--digest-algo", "SHA256", "--clearsign", "--output", "-", msgFile)
	if err != nil {
		t.Fatal(err)
	}
	if p, err = provenance.Parse(out); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Verify(k.public, nil); err != nil {
		t.Errorf("SHA-256 clearsign by gpg: %v", err)
	}
}

// CompareSource agrees with what real `helm package` writes for a chart with
// .helmignore rules, default-ignored files, subchart directories and
// archives, a symbolic link, a UTF-8 BOM, a lock file and overrides.
func TestCompareSourceWithHelm(t *testing.T) {
	for _, h := range helms {
		t.Run(h.name, func(t *testing.T) {
			helm := h.bin(t)
			dir := t.TempDir()
			lib := charts.WriteSource(t, t.TempDir(), charts.Spec{Name: "lib", Version: "0.1.0"})
			libTgz := charts.HelmPackage(t, helm, nil, lib, dir)
			libData, err := os.ReadFile(libTgz)
			if err != nil {
				t.Fatal(err)
			}
			src := charts.WriteSource(t, dir, charts.Spec{Name: "app", Version: "1.0.0", Files: map[string]string{
				".helmignore":                "*.md\n/secret.txt\ntmp/\nci/*.yaml\n",
				"README.md":                  "ignored\n",
				"docs/guide.md":              "ignored by base-name rule\n",
				"secret.txt":                 "ignored, anchored\n",
				"docs/secret.txt":            "kept: the rule is anchored\n",
				"tmp/x":                      "ignored dir\n",
				"ci/test.yaml":               "ignored\n",
				"ci/keep.txt":                "kept\n",
				"templates/.dotfile":         "ignored by default\n",
				"templates/sub/.kept":        "kept: default rule is only one level\n",
				"values.schema.json":         "{\"type\": \"object\"}\n",
				"files/bom.txt":              "\ufeffstarts with a BOM\n",
				"Chart.lock":                 "dependencies: []\ndigest: sha256:abc\ngenerated: \"2024-05-01T10:00:00.123456789+02:00\"\n",
				"charts/sub/Chart.yaml":      "apiVersion: v2\nname: subchart\nversion: 0.2.0\n",
				"charts/sub/values.yaml":     "a: 1\n",
				"charts/sub/templates/x.yml": "kind: x\n",
				"charts/_skipped/Chart.yaml": "apiVersion: v2\nname: skipped\nversion: 0.1.0\n",
				"charts/lib-0.1.0.tgz":       string(libData),
				"charts/lib-0.1.0.tgz.prov":  "not really a prov, but helm keeps .prov files under charts/\n",
			}})
			if err := os.Symlink(filepath.Join(src, "ci", "keep.txt"), filepath.Join(src, "linked.txt")); err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			tgz := charts.HelmPackage(t, helm, nil, src, out)
			a := readArchiveFile(t, tgz)
			diffs, err := provenance.CompareSource(a, src, provenance.CompareOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(diffs) != 0 {
				t.Errorf("CompareSource: %v\narchive files: %v", diffs, keys(a.Files))
			}
			for _, p := range []string{"charts/subchart/Chart.yaml", "charts/lib/templates/configmap.yaml", "linked.txt", "docs/secret.txt", "Chart.lock"} {
				if _, ok := a.Files[p]; !ok {
					t.Errorf("helm's archive lacks %s; the test chart does not test what it should", p)
				}
			}

			// Overrides.
			out2 := t.TempDir()
			tgz = charts.HelmPackage(t, helm, nil, src, out2, "--version", "1.0.1-rc.1", "--app-version", "2.0")
			a = readArchiveFile(t, tgz)
			diffs, err = provenance.CompareSource(a, src, provenance.CompareOptions{Version: "1.0.1-rc.1", AppVersion: "2.0"})
			if err != nil || len(diffs) != 0 {
				t.Errorf("with overrides: %v %v", diffs, err)
			}
			diffs, err = provenance.CompareSource(a, src, provenance.CompareOptions{})
			if err != nil || len(diffs) != 1 || diffs[0].Path != "Chart.yaml" || !strings.Contains(diffs[0].Detail, "version") {
				t.Errorf("overrides not given: %v %v", diffs, err)
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// keyctl sign refuses a key whose primary may only certify and that has no
// signing subkey, instead of making a signature Helm's verify refuses.
func TestSignRefusesCertifyOnlyKey(t *testing.T) {
	g := peers.NewGnuPG(t)
	fpr := g.QuickGenKey(t, "No Signer <nosign@example.org>", "ed25519", "cert", "1y")
	e, err := pgpkey.ReadCert(g.ExportSecret(t, fpr))
	if err != nil {
		t.Fatal(err)
	}
	tgz, err := charts.Archive(charts.Spec{Name: "web", Version: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = charts.SignBytes(e, "web-1.0.0.tgz", tgz, time.Now())
	if err == nil || !strings.Contains(err.Error(), "no valid signing-capable") {
		t.Fatalf("Sign = %v", err)
	}
}
