package page

import (
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/root"
)

// An index key is shown apart from the maintainer keys, with its role,
// never among the keys whose charts are trusted, and never as the key the
// verify instructions name.
func TestRenderIndexKeys(t *testing.T) {
	f := newFixture(t, "charts.example.org")
	ix := newKey(t, "CI Index <ci@example.org>")
	idx := keyring(t, ix)
	m := *f.in.Manifest
	m.Files = append([]root.FileRef{{Name: root.IndexKeysFile, SHA256: root.Hash(idx), Length: int64(len(idx))}}, m.Files...)
	fpr := pgpkey.Fingerprint(ix)
	m.Keys = append(append([]root.KeyEntry(nil), m.Keys...), root.KeyEntry{Fingerprint: fpr, Status: root.Active, Added: now.Add(-48 * time.Hour), Role: root.RoleIndex})
	mb, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := root.ParseManifest(mb)
	if err != nil {
		t.Fatal(err)
	}
	in := f.in
	in.Manifest, in.IndexKeys = pm, idx
	page := render(t, in)
	doc := parse(t, page)
	section := text(byID(t, doc, "index-keys"))
	if !strings.Contains(section, "CI Index") || !strings.Contains(section, "index") {
		t.Fatalf("index keys table: %q", section)
	}
	if active := text(byID(t, doc, "active-keys")); strings.Contains(active, "CI Index") {
		t.Fatalf("the index key is listed among the active maintainer keys: %q", active)
	}
	if ah := text(byID(t, doc, "artifacthub-annotation")); strings.Contains(ah, fpr) {
		t.Fatalf("the verify instructions name the index key: %q", ah)
	}
	// indexkeys.pgp is bound: other bytes are refused.
	in.IndexKeys = keyring(t, newKey(t, "Other <o@example.org>"))
	if _, err := Render(in); err == nil {
		t.Fatal("an indexkeys.pgp the manifest does not bind was accepted")
	}
}
