package revoke

import (
	"crypto"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/client"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/provenance"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/internal/testutil/charts"
)

// Red team, round 4: the warm-up settles every signature with no date, but
// keyctl verify does not answer "with no date".
//
// warmEntity now makes audit's cached validity (VerifiableSignature.Valid)
// the dateless one: a user ID revocation made after a release was signed is
// "valid" in the shared certificate. keyctl verify parses the certificate
// afresh and go-crypto first checks it at the signature's date, where that
// revocation is "not yet made" (checkSignatureDetails: SigExpired), and
// caches "invalid". provenance.invalidSince then asks the same certificate
// (not a fresh copy) which self-signature holds *now* to find when the key
// stopped being valid: in verify the revoked user ID still counts, with the
// shortened expiry its newest self-signature states; in audit it is revoked,
// so its expiry is ignored and the later expiry of the other user ID decides.
//
// The certificate: user IDs A (primary) and B, both certified on day 0 with
// a key expiry on day 100; A re-certified on day 20 with the expiry
// shortened to day 30, and A revoked on day 25. A release signed on day 10
// is first seen (ledger or signed index) on day 60, today is day 120.
// keyctl verify: key expired since day 30, first seen after it: untrusted.
// audit (same bytes, same time, same first-seen): expired since day 100,
// first seen before: trusted. The audit reports as trusted a release that
// every client refuses, e.g. a backdated release made with the key after
// the maintainer cut its life short, and the team lead is not told to act.
func TestAttackAuditIgnoresShortenedExpiryThatVerifyApplies(t *testing.T) {
	day := 24 * time.Hour
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0.Add(120 * day)
	signedAt := t0.Add(10*day + time.Hour)
	firstSeen := t0.Add(60 * day)

	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEd25519, Time: func() time.Time { return t0 }}
	secret, err := openpgp.NewEntity("Alice", "", "alice@example.org", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := secret.AddUserId("Alice", "", "alice@work.example", cfg); err != nil {
		t.Fatal(err)
	}
	bin, err := pgpkey.SerializePublic(secret, true)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := pgpkey.ReadCert(bin)
	if err != nil {
		t.Fatal(err)
	}
	priv := secret.PrivateKey
	sign := func(uid string, sig *packet.Signature, at time.Time) *packet.VerifiableSignature {
		sig.Version, sig.PubKeyAlgo, sig.Hash = 4, priv.PubKeyAlgo, crypto.SHA512
		sig.CreationTime, sig.IssuerKeyId, sig.IssuerFingerprint = at, &priv.KeyId, priv.Fingerprint
		if err := sig.SignUserId(uid, &priv.PublicKey, priv, &packet.Config{Time: func() time.Time { return at }}); err != nil {
			t.Fatal(err)
		}
		return packet.NewVerifiableSig(sig)
	}
	cert := func(uid string, at time.Time, expiresAt time.Time, primary bool) *packet.VerifiableSignature {
		life := uint32(expiresAt.Sub(t0) / time.Second)
		return sign(uid, &packet.Signature{SigType: packet.SigTypePositiveCert, FlagsValid: true, FlagSign: true, FlagCertify: true,
			KeyLifetimeSecs: &life, IsPrimaryId: &primary}, at)
	}
	var a, b string
	for uid := range pub.Identities {
		if strings.Contains(uid, "@example.org") {
			a = uid
		} else {
			b = uid
		}
	}
	if a == "" || b == "" {
		t.Fatalf("user IDs: %v", pgpkey.UserIDs(pub))
	}
	reason := packet.UserIDNotValid
	pub.Identities[a].SelfCertifications = []*packet.VerifiableSignature{cert(a, t0, t0.Add(100*day), true), cert(a, t0.Add(20*day), t0.Add(30*day), true)}
	pub.Identities[a].Revocations = []*packet.VerifiableSignature{sign(a, &packet.Signature{SigType: packet.SigTypeCertificationRevocation, RevocationReason: &reason}, t0.Add(25*day))}
	pub.Identities[b].SelfCertifications = []*packet.VerifiableSignature{cert(b, t0, t0.Add(100*day), false)}
	published, err := pgpkey.SerializePublic(pub, true)
	if err != nil {
		t.Fatal(err)
	}
	parse := func() *openpgp.Entity {
		e, err := pgpkey.ReadCert(published)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}

	name := "app-1.0.0.tgz"
	data, err := charts.Archive(charts.Spec{Name: "app", Version: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	provBytes, err := charts.SignBytes(secret, name, data, signedAt)
	if err != nil {
		t.Fatal(err)
	}
	prov, err := provenance.Parse(provBytes)
	if err != nil {
		t.Fatal(err)
	}
	ar, err := provenance.ReadArchive(strings.NewReader(string(data)), provenance.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	cand := func() client.Candidate {
		return client.Candidate{Prov: prov, ArchiveName: name, Archive: ar, FirstSeen: func(time.Time) *time.Time { fs := firstSeen; return &fs }}
	}

	// keyctl verify: a process of its own parses the published
	// certificate and decides (client.Decide through *client.Trusted,
	// which hands out the parsed certificate as it is).
	verify := client.Decide(plainKeys{parse()}, now, cand())
	// keyctl audit: the same decision over the store's certificate, which
	// Key.cert warms first.
	ks, err := NewKeySet([]*Key{{Entity: parse(), Active: true}})
	if err != nil {
		t.Fatal(err)
	}
	audit := client.Decide(ks, now, cand())

	// Before the fix verify refused the release (expired since day 30):
	// its "now" answer came from go-crypto's cache at the signature's date,
	// where user ID A's revocation was "not yet made". Asked of a fresh
	// certificate, A is revoked and B's expiry (day 100) holds, and both
	// commands say so.
	if !verify.Trusted || verify.Status != client.StatusKeyExpired || !strings.Contains(verify.Reason, "expired since "+t0.AddDate(0, 0, 100).Format(time.RFC3339)) {
		t.Fatalf("the test expects keyctl verify, on a fresh certificate, to date the expiry by user ID B (day 100) and trust the release first seen on day 60; it says %s trusted=%v (%s)", verify.Status, verify.Trusted, verify.Reason)
	}
	if audit.Trusted != verify.Trusted || audit.Status != verify.Status {
		t.Errorf("same release, same certificate bytes, same time and first-seen:\n  keyctl verify: %s trusted=%v (%s)\n  keyctl audit:  %s trusted=%v (%s)\n"+
			"audit's warmed certificate holds the dateless answer for user ID A's revocation, verify's the answer at the signature's date, "+
			"and provenance.invalidSince reads that cache to find when the key expired",
			verify.Status, verify.Trusted, verify.Reason, audit.Status, audit.Trusted, audit.Reason)
	}
}

// plainKeys is client.KeySet as *client.Trusted implements it for keyctl
// verify: one active key, its parsed certificate handed out unwarmed.
type plainKeys struct{ e *openpgp.Entity }

func (p plainKeys) Certificates(status root.Status, ids []string) (openpgp.EntityList, error) {
	if status != root.Active {
		return nil, nil
	}
	return openpgp.EntityList{p.e}, nil
}

func (p plainKeys) KeyEntry(fpr string) (root.KeyEntry, bool) {
	if fpr != pgpkey.Fingerprint(p.e) {
		return root.KeyEntry{}, false
	}
	return root.KeyEntry{Fingerprint: fpr, Status: root.Active}, true
}

func (p plainKeys) Entity(fpr string) *openpgp.Entity {
	if fpr != pgpkey.Fingerprint(p.e) {
		return nil
	}
	return p.e
}

// The other way round, with no revocation: a self-signature whose own
// signature expiry passed before the release was signed. verify checks it
// first at the signature's date (expired: cached invalid), audit with no
// date (valid). When the key is no longer valid today, invalidSince falls
// back to the newest self-signature "with no date": in audit that is the
// expired one, whose end (day 3) lies before the signature (day 5), so the
// audit reports a genuine release, first seen the day it was signed, as
// signed after its key expired; keyctl verify takes the older
// self-signature that was valid when it signed (end: day 30) and trusts it.
//
// The user ID: certified on day 0 (the certification valid for 30 days),
// certified again on day 1 (valid for 2 days). Signed on day 5, first
// seen on day 5, today is day 60.
func TestAttackAuditDatesExpiryFromSelfSignatureExpiredBeforeTheRelease(t *testing.T) {
	day := 24 * time.Hour
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0.Add(60 * day)
	signedAt := t0.Add(5*day + time.Hour)
	firstSeen := signedAt.Add(time.Hour)

	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEd25519, Time: func() time.Time { return t0 }}
	secret, err := openpgp.NewEntity("Bob", "", "bob@example.org", cfg)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := pgpkey.SerializePublic(secret, true)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := pgpkey.ReadCert(bin)
	if err != nil {
		t.Fatal(err)
	}
	priv := secret.PrivateKey
	cert := func(uid string, at time.Time, valid time.Duration) *packet.VerifiableSignature {
		life := uint32(valid / time.Second)
		primary := true
		sig := &packet.Signature{Version: 4, SigType: packet.SigTypePositiveCert, PubKeyAlgo: priv.PubKeyAlgo, Hash: crypto.SHA512,
			CreationTime: at, IssuerKeyId: &priv.KeyId, IssuerFingerprint: priv.Fingerprint,
			FlagsValid: true, FlagSign: true, FlagCertify: true, SigLifetimeSecs: &life, IsPrimaryId: &primary}
		if err := sig.SignUserId(uid, &priv.PublicKey, priv, &packet.Config{Time: func() time.Time { return at }}); err != nil {
			t.Fatal(err)
		}
		return packet.NewVerifiableSig(sig)
	}
	for uid, id := range pub.Identities {
		id.SelfCertifications = []*packet.VerifiableSignature{cert(uid, t0, 30*day), cert(uid, t0.Add(day), 2*day)}
	}
	published, err := pgpkey.SerializePublic(pub, true)
	if err != nil {
		t.Fatal(err)
	}
	parse := func() *openpgp.Entity {
		e, err := pgpkey.ReadCert(published)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	name := "app-1.0.0.tgz"
	data, err := charts.Archive(charts.Spec{Name: "app", Version: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	provBytes, err := charts.SignBytes(secret, name, data, signedAt)
	if err != nil {
		t.Fatal(err)
	}
	prov, err := provenance.Parse(provBytes)
	if err != nil {
		t.Fatal(err)
	}
	ar, err := provenance.ReadArchive(strings.NewReader(string(data)), provenance.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	cand := func() client.Candidate {
		return client.Candidate{Prov: prov, ArchiveName: name, Archive: ar, FirstSeen: func(time.Time) *time.Time { fs := firstSeen; return &fs }}
	}
	verify := client.Decide(plainKeys{parse()}, now, cand())
	ks, err := NewKeySet([]*Key{{Entity: parse(), Active: true}})
	if err != nil {
		t.Fatal(err)
	}
	audit := client.Decide(ks, now, cand())
	if !verify.Trusted {
		t.Fatalf("the test expects keyctl verify to trust the release; it says %s (%s)", verify.Status, verify.Reason)
	}
	if audit.Trusted != verify.Trusted || audit.Status != verify.Status {
		t.Errorf("same release, same certificate bytes, same time and first-seen:\n  keyctl verify: %s trusted=%v (%s)\n  keyctl audit:  %s trusted=%v (%s)\n"+
			"audit dates the key's expiry from a self-signature that had expired before the release was signed",
			verify.Status, verify.Trusted, verify.Reason, audit.Status, audit.Trusted, audit.Reason)
	}
}
