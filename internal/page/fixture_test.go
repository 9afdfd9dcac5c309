package page

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/root"
)

// now is the render time of the fixtures.
var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// Hostile user IDs: markup, an attribute breakout, a bidi override that
// would draw "Alice" the wrong way round and reorder what follows, Hebrew
// (right-to-left) text, and a very long one.
var (
	uidScript = `<script>alert("uid")</script> Mallory <mallory@example.org>`
	uidAttr   = `Eve "><img src=x onerror=alert(1)> <eve@example.org>`
	uidRLO    = "\u202ecilA\u202c <alice@example.org>"
	uidRTL    = "שלום עליכם <shalom@example.org>"
	uidLong   = strings.Repeat("W", 4000) + " <long@example.org>"
	// uidLongShown is how the page shows uidLong: cut, with the rest counted.
	uidLongShown = strings.Repeat("W", MaxUserIDShown) + "… (3819 more characters)"
)

// hostileRepo is a valid repository identity (printable ASCII, no spaces)
// that is markup.
const hostileRepo = `<script>alert("repo")</script>`

// newKey makes an Ed25519 key at now-30d that expires after a year, with
// the given user IDs (any bytes: they are signed directly, not through
// the name/comment/email fields that go-crypto restricts).
func newKey(tb testing.TB, uids ...string) *openpgp.Entity {
	tb.Helper()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Time: func() time.Time { return now.Add(-30 * 24 * time.Hour) }, KeyLifetimeSecs: 365 * 24 * 3600}
	e, err := openpgp.NewEntity("seed", "", "seed@example.org", cfg)
	if err != nil {
		tb.Fatal(err)
	}
	var seed *openpgp.Identity
	for _, id := range e.Identities {
		seed = id
	}
	delete(e.Identities, seed.Name)
	for _, uid := range uids {
		sig := *seed.SelfCertifications[0].Packet
		if err := sig.SignUserId(uid, e.PrimaryKey, e.PrivateKey, cfg); err != nil {
			tb.Fatal(err)
		}
		e.Identities[uid] = &openpgp.Identity{
			Primary:            e,
			Name:               uid,
			UserId:             &packet.UserId{Id: uid},
			SelfCertifications: []*packet.VerifiableSignature{packet.NewVerifiableSig(&sig)},
		}
	}
	return e
}

func keyring(tb testing.TB, keys ...*openpgp.Entity) []byte {
	tb.Helper()
	var out []byte
	for _, e := range keys {
		b, err := pgpkey.SerializePublic(e, true)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

type fixture struct {
	in      Input
	rootFpr string
	active  []*openpgp.Entity
	removed []*openpgp.Entity
}

var (
	keysOnce sync.Once
	keys     []*openpgp.Entity
	rootPub  *openpgp.Entity
)

// sharedKeys makes the keys once per test binary.
func sharedKeys(tb testing.TB) ([]*openpgp.Entity, *openpgp.Entity) {
	keysOnce.Do(func() {
		keys = []*openpgp.Entity{
			newKey(tb, "Alice Maintainer <alice@example.org>", uidRLO),
			newKey(tb, uidScript),
			newKey(tb, uidAttr, uidRTL),
			newKey(tb, uidLong),
			newKey(tb, "Bob Retired <bob@example.org>"),
		}
		c, err := root.Create(root.CreateOptions{Name: "page test root"}, now.Add(-60*24*time.Hour))
		if err != nil {
			tb.Fatal(err)
		}
		if rootPub, err = root.LoadPublic(c.Public); err != nil {
			tb.Fatal(err)
		}
	})
	if len(keys) != 5 || rootPub == nil {
		tb.Fatal("key generation failed earlier")
	}
	return keys, rootPub
}

// newFixture is a repository whose identity is repo with three active keys
// (one scoped, one with two scopes) and two removed ones (compromised, retired).
func newFixture(tb testing.TB, repo string) *fixture {
	tb.Helper()
	ks, rp := sharedKeys(tb)
	rs, err := root.NewRootSet(repo, []*openpgp.Entity{rp}, 1, now.Add(-60*24*time.Hour))
	if err != nil {
		tb.Fatal(err)
	}
	rsb, err := rs.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	f := &fixture{rootFpr: pgpkey.Fingerprint(rp), active: ks[:3], removed: ks[3:]}
	pub, rev := keyring(tb, f.active...), keyring(tb, f.removed...)
	m := &root.Manifest{
		Repository: repo,
		Version:    7,
		Issued:     now.Add(-24 * time.Hour),
		Expires:    now.Add(60 * 24 * time.Hour),
		Previous:   strings.Repeat("ab", 32),
		Root:       root.RootRef{Version: 1, SHA256: root.Hash(rsb)},
		Files: []root.FileRef{
			{Name: root.PubkeysFile, SHA256: root.Hash(pub), Length: int64(len(pub))},
			{Name: root.RevokedFile, SHA256: root.Hash(rev), Length: int64(len(rev))},
		},
	}
	added := now.Add(-20 * 24 * time.Hour)
	scopes := [][]string{{"demo-*"}, nil, {"a<b>\"c", "web-*"}}
	for i, e := range f.active {
		m.Keys = append(m.Keys, root.KeyEntry{Fingerprint: pgpkey.Fingerprint(e), Status: root.Active, Added: added.Add(time.Duration(i) * time.Hour), Scopes: scopes[i]})
	}
	for i, e := range f.removed {
		reason := []root.Reason{root.Compromised, root.Retired}[i]
		m.Keys = append(m.Keys, root.KeyEntry{Fingerprint: pgpkey.Fingerprint(e), Status: root.Removed, Reason: reason, Added: added, Effective: now.Add(-26 * time.Hour)})
	}
	// Through the real encoding, so the fixture is a manifest clients accept.
	mb, err := m.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	if m, err = root.ParseManifest(mb); err != nil {
		tb.Fatal(err)
	}
	f.in = Input{Manifest: m, RootSet: rsb, Pubkeys: pub, Revoked: rev, URL: "https://charts.example.org/", Now: now}
	return f
}

func render(tb testing.TB, in Input) string {
	tb.Helper()
	out, err := Render(in)
	if err != nil {
		tb.Fatal(err)
	}
	if !bytes.HasPrefix(out, []byte("<!DOCTYPE html>")) {
		tb.Fatalf("page does not start with a doctype: %.80q", out)
	}
	return string(out)
}
