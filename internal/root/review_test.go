package root

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/pgpkey"
)

func testCert(t *testing.T, name string) ([]byte, string) {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", "x@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEd25519})
	if err != nil {
		t.Fatal(err)
	}
	b, err := pgpkey.SerializePublic(e, true)
	if err != nil {
		t.Fatal(err)
	}
	return b, pgpkey.Fingerprint(e)
}

// publishFiles builds the files of a publish of version v (previous: the
// hash of the manifest before) with one active key.
func publishFiles(t *testing.T, set *RootSet, v uint64, previous string, cert []byte, fpr string) (map[string][]byte, *Manifest) {
	t.Helper()
	rs, err := set.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	m := &Manifest{Repository: set.Repository, Version: v, Issued: now, Expires: now.Add(24 * time.Hour), Previous: previous,
		Root:  RootRef{Version: set.Version, SHA256: Hash(rs)},
		Files: []FileRef{{Name: PubkeysFile, SHA256: Hash(cert), Length: int64(len(cert))}, {Name: RevokedFile, SHA256: Hash(nil), Length: 0}},
		Keys:  []KeyEntry{{Fingerprint: fpr, Status: Active, Added: now}}}
	mb, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{ManifestName: mb, PubkeysFile: cert, RevokedFile: {}, "rootset-1.json": rs}, m
}

func TestReviewDir(t *testing.T) {
	r := edTestRoots(t)
	set := mustSet(t, 1, r[0])
	cert, fpr := testCert(t, "alice")
	files, _ := publishFiles(t, set, 1, "", cert, fpr)
	prevBytes := files[ManifestName]

	dir := filepath.Join(t.TempDir(), "v1")
	if err := WriteDir(dir, files, nil); err != nil {
		t.Fatal(err)
	}
	rev, err := ReviewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rev.Sign, " ") != "keyctl-manifest.json pubkeys.pgp revoked.pgp rootset-1.json" {
		t.Errorf("Sign: %v", rev.Sign)
	}
	var out bytes.Buffer
	rev.Write(&out)
	if !strings.Contains(out.String(), "every key is added") || !strings.Contains(out.String(), "+ added    "+fpr) {
		t.Errorf("summary:\n%s", out.String())
	}

	// Version 2 follows version 1: previous-manifest.json must be there
	// and be the one the manifest names.
	files2, _ := publishFiles(t, set, 2, Hash(prevBytes), cert, fpr)
	delete(files2, "rootset-1.json")
	forged1, err := mustSet(t, 1, r[1]).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	next, err := Rotate(set, []*openpgp.Entity{r[1].pub}, nil, 2, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	older, _ := publishFiles(t, next, 2, Hash(prevBytes), cert, fpr)
	delete(older, "rootset-1.json")
	extra, _ := publishFiles(t, set, 2, Hash(prevBytes), append(append([]byte(nil), cert...), mustCert(t)...), fpr)
	delete(extra, "rootset-1.json")
	for name, tc := range map[string]struct {
		files    map[string][]byte
		previous []byte
		want     string
	}{
		"ok":              {files2, prevBytes, ""},
		"no previous":     {files2, nil, PreviousManifest},
		"wrong previous":  {files2, files2[ManifestName], "is not the manifest this one follows"},
		"keyring changed": {with(files2, PubkeysFile, mustCert(t)), prevBytes, "does not match the manifest"},
		"key not listed":  {extra, prevBytes, "which the manifest does not list as active"},
		"newer root set":  {with(files2, "rootset-2.json", files["rootset-1.json"]), prevBytes, "rootset-2.json"},
		"forged set 1":    {with(files2, "rootset-1.json", forged1), prevBytes, "is not the root set the manifest names"},
		"older root set":  {with(older, "rootset-1.json", files["rootset-1.json"]), prevBytes, "which alone it binds"},
		"other file":      {with(files2, "evil.json", prevBytes), prevBytes, "evil.json: unexpected file"},
		"no keyring":      {without(files2, RevokedFile), prevBytes, "revoked.pgp: missing"},
	} {
		d := filepath.Join(t.TempDir(), "d")
		if err := WriteDir(d, tc.files, tc.previous); err != nil {
			t.Fatal(err)
		}
		_, err := ReviewDir(d)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v", name, err)
		}
	}

	// A rotation directory: one root set, shown in full.
	rot := filepath.Join(t.TempDir(), "rot")
	nb, _ := next.Marshal()
	if err := WriteDir(rot, map[string][]byte{"rootset-2.json": nb}, nil); err != nil {
		t.Fatal(err)
	}
	rev, err = ReviewDir(rot)
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	rev.Write(&out)
	if !strings.Contains(out.String(), "root set 2 for repository \"charts.example.org\": 2 of 2") ||
		!strings.Contains(out.String(), pgpkey.Fingerprint(r[1].pub)) {
		t.Errorf("rotation summary:\n%s", out.String())
	}
	// A stray .sig of an unlisted file, or a hidden file, is refused by name.
	os.WriteFile(filepath.Join(rot, "other.json.sig"), nil, 0o644)
	if _, err := ReviewDir(rot); err == nil || !strings.Contains(err.Error(), "other.json.sig") {
		t.Errorf("stray sig: %v", err)
	}
	os.Remove(filepath.Join(rot, "other.json.sig"))
	// A file name meant to rewrite the terminal is escaped in the error.
	os.WriteFile(filepath.Join(rot, "x\x1b[2J\rok"), nil, 0o644)
	if _, err := ReviewDir(rot); err == nil || !strings.Contains(err.Error(), `x\x1b[2J\rok`) || strings.ContainsAny(err.Error(), "\x1b\r") {
		t.Errorf("control characters in a file name: %q", err)
	}
}

func mustCert(t *testing.T) []byte {
	b, _ := testCert(t, "mallory")
	return b
}

func with(m map[string][]byte, k string, v []byte) map[string][]byte {
	out := map[string][]byte{k: v}
	for n, b := range m {
		if n != k {
			out[n] = b
		}
	}
	return out
}

func without(m map[string][]byte, k string) map[string][]byte {
	out := map[string][]byte{}
	for n, b := range m {
		if n != k {
			out[n] = b
		}
	}
	return out
}
