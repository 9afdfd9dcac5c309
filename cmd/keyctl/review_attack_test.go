package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/root"
)

// Attack (someone who can edit the signing directory before the holders
// sign it): the team lead prepares a re-publish (no key change). The
// attacker adds mallory's key, active, to keyctl-manifest.json and
// pubkeys.pgp, and replaces previous-manifest.json with a copy of the live
// manifest that already lists mallory (and the new keyrings), then sets the
// new manifest's previous to that copy's hash. ReviewDir only checks that
// previous-manifest.json hashes to the manifest's own previous field, which
// the attacker also wrote, so root review and root sign announce "changes
// against the published manifest version 1: no key changes (a re-publish
// with a new expiry)". Holders who sign it give the attacker a root-signed
// manifest listing mallory as active: stateless clients (fresh CI runners)
// that the host serves it to trust mallory's charts. Nothing in the
// directory lets the review check that previous-manifest.json is the
// published manifest (its root signatures are not carried, though the root
// set the manifest names is bound by hash).
func TestAttackReviewDiffAgainstForgedPreviousManifest(t *testing.T) {
	e, _ := newSignEnv(t)
	mustKC(t, "--store", e.store, "publish", "--to", e.site, "--root-key", e.rk)
	sd := filepath.Join(e.dir, "sign")
	mustKC(t, "--store", e.store, "publish", "--prepare", sd)

	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(sd, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	m, err := root.ParseManifest(read(root.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	prev, err := root.ParseManifest(read(root.PreviousManifest))
	if err != nil {
		t.Fatal(err)
	}

	mal, err := openpgp.NewEntity("mallory", "", "mallory@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEd25519, KeyLifetimeSecs: 365 * 24 * 3600})
	if err != nil {
		t.Fatal(err)
	}
	mcert, err := pgpkey.SerializePublic(mal, true)
	if err != nil {
		t.Fatal(err)
	}
	mfpr := pgpkey.Fingerprint(mal)
	pub := append(read(root.PubkeysFile), mcert...)
	m.Keys = append(m.Keys, root.KeyEntry{Fingerprint: mfpr, Status: root.Active, Added: prev.Issued})
	sort.Slice(m.Keys, func(i, j int) bool { return m.Keys[i].Fingerprint < m.Keys[j].Fingerprint })
	for i := range m.Files {
		if m.Files[i].Name == root.PubkeysFile {
			m.Files[i].SHA256, m.Files[i].Length = root.Hash(pub), int64(len(pub))
		}
	}
	// The forged "published" manifest: the live one with mallory already in.
	prev.Keys, prev.Files = m.Keys, m.Files
	fakePrev, err := prev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m.Previous = root.Hash(fakePrev)
	mb, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sd, root.PreviousManifest), fakePrev, 0o644); err != nil {
		t.Fatal(err)
	}
	putListed(t, sd, root.PubkeysFile, pub)
	putListed(t, sd, root.ManifestName, mb)

	out, errOut, code := kc(t, nil, "root", "review", sd)
	if code == 0 && !strings.Contains(out, "+ added    "+mfpr) {
		t.Errorf("root review accepts a previous-manifest.json that is not the published manifest and hides that mallory (%s) is added:\n%s%s", mfpr, out, errOut)
	}
}
