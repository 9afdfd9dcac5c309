package root

import (
	"errors"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/testutil/peers"
)

// TestOfflineDir: prepare, one holder signs with keyctl, another with gpg
// into NAME.sigs/ (armored), publish --from loads and verifies 2-of-3.
func TestOfflineDir(t *testing.T) {
	g := peers.NewGnuPG(t)
	gfpr := g.QuickGenKey(t, "Gpg Holder <holder@example.org>", "ed25519", "sign,cert", "2y")
	gpub, err := LoadPublic(g.ExportPublic(t, gfpr))
	if err != nil {
		t.Fatal(err)
	}
	r := edTestRoots(t)
	set := mustSet(t, 2, r[0], r[1], &testRoot{pub: gpub})

	dir := filepath.Join(t.TempDir(), "sign")
	files := map[string][]byte{PubkeysFile: []byte("pub\x00keys"), RevokedFile: {}, ManifestName: []byte("{}\n")}
	if err := WriteDir(dir, files, nil); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("%s: %v mode %v", name, err, st.Mode())
		}
	}
	if err := WriteDir(dir, files, nil); err == nil {
		t.Error("WriteDir into a non-empty directory")
	}
	p, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Files) != 3 || p.Files[0].Name != ManifestName || p.Files[0].Sigs != nil {
		t.Fatalf("prepared: %+v", p.Files)
	}
	var te *ThresholdError
	if _, err := p.Verify(set, time.Now()); !errors.As(err, &te) || te.Have != 0 {
		t.Errorf("unsigned dir: %v", err)
	}

	signed, err := signDirAll(dir, r[0].signer)
	if err != nil || len(signed) != 3 {
		t.Fatalf("SignDir: %v %v", signed, err)
	}
	// Signing twice by the same holder adds nothing that counts.
	if _, err := signDirAll(dir, r[0].signer); err != nil {
		t.Fatal(err)
	}
	p, _ = LoadDir(dir)
	if _, err := p.Verify(set, time.Now()); !errors.As(err, &te) || te.Have != 1 || te.What != ManifestName {
		t.Errorf("one holder twice: %v", err)
	}

	// The gpg holder follows docs/manifest.md: one armored file per
	// prepared file under NAME.sigs/.
	for name := range files {
		sd := filepath.Join(dir, name+SigsDirSuffix)
		if err := os.MkdirAll(sd, 0o755); err != nil {
			t.Fatal(err)
		}
		g.Run(t, "--local-user", gfpr, "--armor", "--detach-sign", "--digest-algo", "SHA512", "-o", filepath.Join(sd, "holder.asc"), filepath.Join(dir, name))
	}
	p, err = LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Verify(set, time.Now())
	if err != nil {
		t.Fatalf("2-of-3 with a gpg holder: %v", err)
	}
	for name := range files {
		if len(got[name]) != 2 {
			t.Errorf("%s: signers %v", name, got[name])
		}
	}
	f, ok := p.File(PubkeysFile)
	if !ok || string(f.Data) != "pub\x00keys" {
		t.Fatalf("File: %+v", f)
	}
	if _, err := Verify(f.Data, f.Sigs, set, time.Now()); err != nil {
		t.Errorf("merged sigs do not verify on their own: %v", err)
	}

	// A file changed after prepare is refused.
	if err := os.WriteFile(filepath.Join(dir, RevokedFile), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "changed after it was prepared") {
		t.Errorf("changed file: %v", err)
	}
	if _, err := SignDir(dir, r[1].signer, time.Now()); err == nil {
		t.Error("SignDir signed a changed file")
	}
	os.WriteFile(filepath.Join(dir, RevokedFile), nil, 0o644)
	// Garbage in a .sigs directory is reported with its file name.
	junk := filepath.Join(dir, RevokedFile+SigsDirSuffix, "junk.sig")
	os.WriteFile(junk, []byte("not a signature"), 0o644)
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "junk.sig") {
		t.Errorf("junk signature file: %v", err)
	}
}

func TestWriteDirRefuses(t *testing.T) {
	for name, files := range map[string]map[string][]byte{
		"none":      {},
		"slash":     {"a/b": nil},
		"dotdot":    {"..": nil},
		"index":     {PrepareIndex: nil},
		"sig":       {"x.sig": nil},
		"hidden":    {".x": nil},
		"too large": {"x": make([]byte, MaxPreparedLen+1)},
	} {
		if err := WriteDir(filepath.Join(t.TempDir(), "d"), files, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := LoadDir(t.TempDir()); err == nil {
		t.Error("LoadDir of a directory without an index")
	}
	// The secret key never goes into the directory: SignDir writes only .sig.
	r := edTestRoots(t)[0]
	dir := filepath.Join(t.TempDir(), "d")
	if err := WriteDir(dir, map[string][]byte{"a": []byte("a")}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := signDirAll(dir, r.signer); err != nil {
		t.Fatal(err)
	}
	secBin, _ := pgpkey.Dearmor(r.secret)
	d := secretScalar(t, r)
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if info != nil && info.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			if strings.Contains(string(b), string(d)) || strings.Contains(string(b), string(secBin[:64])) {
				t.Errorf("%s holds secret material", p)
			}
			if info.Mode().Perm() != 0o644 {
				t.Errorf("%s mode %v", p, info.Mode().Perm())
			}
		}
		return nil
	})
}

// signDirAll signs every file of a directory without the review (the files
// of these tests are not a real publish).
func signDirAll(dir string, signer *openpgp.Entity) ([]string, error) {
	p, err := LoadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, f := range p.Files {
		names = append(names, f.Name)
	}
	return signFiles(p, names, signer, time.Now())
}
