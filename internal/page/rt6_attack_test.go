package page

import (
	"crypto"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/root"
)

// rt6: red-team tests. Each fails on the code it was written against and
// passes once the rule it names holds.

// rt6Fixture is a repository with the given active keys and no removed
// one, rendered for url.
func rt6Fixture(tb testing.TB, url string, active ...*openpgp.Entity) Input {
	tb.Helper()
	_, rp := sharedKeys(tb)
	rs, err := root.NewRootSet("charts.example.org", []*openpgp.Entity{rp}, 1, now.Add(-60*24*time.Hour))
	if err != nil {
		tb.Fatal(err)
	}
	rsb, err := rs.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	pub, rev := keyring(tb, active...), []byte{}
	m := &root.Manifest{
		Repository: "charts.example.org",
		Version:    3,
		Issued:     now.Add(-24 * time.Hour),
		Expires:    now.Add(60 * 24 * time.Hour),
		Previous:   strings.Repeat("ab", 32),
		Root:       root.RootRef{Version: 1, SHA256: root.Hash(rsb)},
		Files: []root.FileRef{
			{Name: root.PubkeysFile, SHA256: root.Hash(pub), Length: int64(len(pub))},
			{Name: root.RevokedFile, SHA256: root.Hash(rev), Length: int64(len(rev))},
		},
	}
	for _, e := range active {
		m.Keys = append(m.Keys, root.KeyEntry{Fingerprint: pgpkey.Fingerprint(e), Status: root.Active, Added: now.Add(-20 * 24 * time.Hour)})
	}
	mb, err := m.Marshal() // sorts the keys
	if err != nil {
		tb.Fatal(err)
	}
	if m, err = root.ParseManifest(mb); err != nil {
		tb.Fatal(err)
	}
	return Input{Manifest: m, RootSet: rsb, Pubkeys: pub, Revoked: rev, URL: url, Now: now}
}

func rt6UserIDs(tb testing.TB, page, fpr string) []string {
	tb.Helper()
	doc := parse(tb, page)
	rows := find(doc, func(n *html.Node) bool { v, ok := attr(n, "data-fingerprint"); return ok && v == fpr && n.Data == "tr" })
	if len(rows) != 1 {
		tb.Fatalf("%d rows for %s", len(rows), fpr)
	}
	var out []string
	for _, b := range find(rows[0], func(n *html.Node) bool { return n.Data == "bdi" }) {
		out = append(out, text(b))
	}
	return out
}

// TestAttackPageShowsForgedUserID: anyone who handles a maintainer's key
// file on its way to `keyctl add`/`keyctl update` (a keyserver, a PR
// that adds the .asc, a mail relay) can append a user ID whose
// "self-signature" names the key as issuer but does not verify — no
// secret needed. go-crypto keeps such an identity (it checks signatures
// lazily), keyctl publishes it, and the trust page lists it among the
// key's user IDs as if the key's holder claimed it: "Security Team
// <security@example.org>" on Mallory's key. The page shows what the
// signed objects say; an unverifiable user ID is not something the key
// says.
func TestAttackPageShowsForgedUserID(t *testing.T) {
	e := newKey(t, "Mallory <mallory@example.org>")
	const forged = "Security Team <security@example.org>"
	var real *openpgp.Identity
	for _, id := range e.Identities {
		real = id
	}
	// Mallory's real self-signature, reused under another user ID: it
	// names the key as issuer and does not verify over the new name.
	e.Identities[forged] = &openpgp.Identity{
		Primary: e, Name: forged, UserId: &packet.UserId{Id: forged},
		SelfCertifications: []*packet.VerifiableSignature{packet.NewVerifiableSig(real.SelfCertifications[0].Packet)},
	}
	// Precondition: the forged identity has no valid self-signature.
	fresh, err := pgpkey.ReadKeyring(keyring(t, e), pgpkey.MaxKeyringSize)
	if err != nil || len(fresh) != 1 {
		t.Fatalf("reparse: %v", err)
	}
	if _, err := fresh[0].Identities[forged].Verify(now, nil); err == nil {
		t.Fatal("precondition: the forged user ID verifies")
	}
	page := render(t, rt6Fixture(t, "https://charts.example.org", e))
	for _, uid := range rt6UserIDs(t, page, pgpkey.Fingerprint(e)) {
		if uid == forged {
			t.Errorf("the trust page shows user ID %q, whose self-signature does not verify, as the key's", forged)
		}
	}
}

// TestAttackPageShowsRevokedUserID: a maintainer revokes a user ID
// (left the company; or it claimed an address that was not theirs). The
// certificate in pubkeys.pgp carries the revocation, yet the page lists
// the revoked user ID next to the valid one, without a mark, as the
// key's identity.
func TestAttackPageShowsRevokedUserID(t *testing.T) {
	const old = "Alice <alice@old-employer.example>"
	e := newKey(t, "Alice <alice@example.org>", old)
	pk := e.PrivateKey
	reason := packet.UserIDNotValid
	rev := &packet.Signature{Version: 4, SigType: packet.SigTypeCertificationRevocation, PubKeyAlgo: pk.PubKeyAlgo, Hash: crypto.SHA512,
		CreationTime: now.Add(-2 * 24 * time.Hour), IssuerKeyId: &pk.KeyId, IssuerFingerprint: pk.Fingerprint, RevocationReason: &reason}
	if err := rev.SignUserId(old, &pk.PublicKey, pk, &packet.Config{}); err != nil {
		t.Fatal(err)
	}
	e.Identities[old].Revocations = append(e.Identities[old].Revocations, packet.NewVerifiableSig(rev))
	// Precondition: go-crypto sees the user ID as revoked now.
	fresh, err := pgpkey.ReadKeyring(keyring(t, e), pgpkey.MaxKeyringSize)
	if err != nil || len(fresh) != 1 {
		t.Fatalf("reparse: %v", err)
	}
	id := fresh[0].Identities[old]
	self, err := id.Verify(now, nil)
	if err == nil && !id.Revoked(self, now, nil) {
		t.Fatal("precondition: the user ID is not revoked")
	}
	page := render(t, rt6Fixture(t, "https://charts.example.org", e))
	for _, uid := range rt6UserIDs(t, page, pgpkey.Fingerprint(e)) {
		if uid == old {
			t.Errorf("the trust page shows the revoked user ID %q as the key's, unmarked", old)
		}
	}
}

// TestAttackPageShowsSelfRevokedKeyAsTrusted: a maintainer whose key was
// stolen publishes a key revocation ("key compromised") and the team lead
// takes the new copy in (keyctl update) before removing it from the
// manifest. keyctl verify refuses every signature of a key revoked as
// compromised; the trust page puts it under "Active keys" — "Charts
// signed by these keys are trusted" — with no word of the revocation.
func TestAttackPageShowsSelfRevokedKeyAsTrusted(t *testing.T) {
	e := newKey(t, "Carol <carol@example.org>")
	cfg := &packet.Config{Time: func() time.Time { return now.Add(-2 * 24 * time.Hour) }}
	if err := e.Revoke(packet.KeyCompromised, "laptop stolen", cfg); err != nil {
		t.Fatal(err)
	}
	fresh, err := pgpkey.ReadKeyring(keyring(t, e), pgpkey.MaxKeyringSize)
	if err != nil || len(fresh) != 1 {
		t.Fatalf("reparse: %v", err)
	}
	if !fresh[0].Revoked(now) {
		t.Fatal("precondition: the key is not revoked")
	}
	page := render(t, rt6Fixture(t, "https://charts.example.org", e))
	doc := parse(t, page)
	fpr := pgpkey.Fingerprint(e)
	rows := find(doc, func(n *html.Node) bool { v, ok := attr(n, "data-fingerprint"); return ok && v == fpr && n.Data == "tr" })
	if len(rows) != 1 {
		t.Fatalf("%d rows for the key", len(rows))
	}
	if !strings.Contains(strings.ToLower(text(rows[0])), "revoked") {
		t.Errorf("a key revoked as compromised in its own certificate is listed as active and trusted, with no mark: %q", strings.Join(strings.Fields(text(rows[0])), " "))
	}
}

// TestAttackPageCommandsCarryShellSyntax: the commands on the page are
// meant to be copied into a shell. --public-url (and keyctl page --repo)
// are checked for scheme, host, credentials, query and fragment only; a
// path holding shell syntax goes into the commands unquoted, so pasting
// `keyctl verify ... --repo https://charts.example.org/$(id>/tmp/pwn)`
// runs it.
func TestAttackPageCommandsCarryShellSyntax(t *testing.T) {
	const u = "https://charts.example.org/x;$(id>/tmp/pwn)`id`"
	if err := CheckPublicURL(u); err != nil {
		return // refused up front: holds
	}
	e := newKey(t, "Dan <dan@example.org>")
	doc := parse(t, render(t, rt6Fixture(t, u, e)))
	for _, id := range []string{"verify-keyctl", "verify-helm"} {
		cmd := text(byID(t, doc, id))
		if strings.Contains(cmd, "$(id>/tmp/pwn)") || strings.Contains(cmd, ";$(") {
			t.Errorf("#%s puts shell syntax from the URL into a command unquoted: %q", id, cmd)
		}
	}
}
