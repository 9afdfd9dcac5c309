package client

import (
	"crypto"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/root"
)

// Attack (holder of an old signing subkey of an active maintainer): the
// maintainer retired a signing subkey with a soft OpenPGP revocation
// ("superseded", as when a laptop or a CI signer is decommissioned) and
// keyctl publishes the certificate with that revocation, the primary key
// still listed active. Whoever still holds the old subkey signs a new,
// malicious chart and backdates the signature to before the revocation.
// go-crypto honours a soft revocation only from its own date on, so the
// signature verifies "at its creation time", and Decide trusts it with the
// note "revoked since it signed; the signature was made while it was
// valid" — on nothing but the signer's self-asserted date.
//
// docs/verify.md (soft removals, key-expired) says a soft removal keeps a
// signature trusted only when the ledger's first-seen time backs it; keyctl
// verify has no ledger and must refuse, as it does for a key removed as
// superseded in the manifest or one that expired since it signed.
func TestAttackSoftRevokedSubkeyBackdatedSignatureTrusted(t *testing.T) {
	rk := newRootKey(t, "root")
	f := newFixture(t, t.TempDir(), "charts.example.org", rk)
	m := newMaintainer(t, "maint")
	old := addSigningSubkey(t, m)
	f.add(m)

	// The attacker's chart, signed with the old subkey and dated an hour
	// before the revocation (the attacker picks the date).
	revokedAt := t0
	a, p, _ := chart(t, m, "app", "6.6.6", revokedAt.Add(-time.Hour))
	if p.Signatures == nil {
		t.Fatal("no signature")
	}

	// The maintainer retires the old subkey (soft revocation) at revokedAt.
	cfg := &packet.Config{Time: func() time.Time { return revokedAt }}
	for i := range m.Subkeys {
		if m.Subkeys[i].PublicKey.KeyId == old.PublicKey.KeyId {
			if err := m.Subkeys[i].Revoke(packet.KeySuperseded, "replaced by a new signing subkey", cfg); err != nil {
				t.Fatal(err)
			}
		}
	}
	f.publish(revokedAt.Add(time.Hour))
	tr, err := f.load(t, "", revokedAt.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	d := tr.Check(p, "app-6.6.6.tgz", a, nil)
	if d.SigningKey != pgpkey.FormatFingerprint(old.PublicKey.Fingerprint) {
		t.Fatalf("fixture: signed by %s, want the old subkey %s (%s)", d.SigningKey, pgpkey.FormatFingerprint(old.PublicKey.Fingerprint), d.Reason)
	}
	if d.Trusted {
		t.Errorf("a signature by a soft-revoked subkey, dated before the revocation by the signer alone, is trusted without any ledger time: %s %s (%s; %s)",
			d.Status, d.SignedAt, d.Reason, d.Detail)
	}
}

// Variant (the key-expired rule): the maintainer retires the old signing
// subkey by shortening its expiry (a new binding signature, as
// `gpg --quick-set-expire FPR 1d SUBFPR` writes) instead of revoking it.
// The attacker backdates the signature to before the new binding: Decide
// computes "expired since it signed" from the binding valid at the
// self-asserted signature time (the old, long one), so the key-expired
// rule (docs/verify.md: judged like a soft removal at the expiry time,
// refused by keyctl verify) never applies and the signature is trusted.
func TestAttackShortenedSubkeyExpiryBackdatedSignatureTrusted(t *testing.T) {
	rk := newRootKey(t, "root")
	f := newFixture(t, t.TempDir(), "charts.example.org", rk)
	m := newMaintainer(t, "maint")
	old := addSigningSubkey(t, m)
	f.add(m)
	changed := t0
	a, p, _ := chart(t, m, "app", "6.6.6", changed.Add(-time.Hour))

	// New binding at changed: the subkey expires one minute later.
	var sk *openpgp.Subkey
	for i := range m.Subkeys {
		if m.Subkeys[i].PublicKey.KeyId == old.PublicKey.KeyId {
			sk = &m.Subkeys[i]
		}
	}
	life := uint32(changed.Add(time.Minute).Sub(sk.PublicKey.CreationTime) / time.Second)
	bind := &packet.Signature{Version: 4, SigType: packet.SigTypeSubkeyBinding, PubKeyAlgo: m.PrimaryKey.PubKeyAlgo, Hash: crypto.SHA256,
		CreationTime: changed, IssuerKeyId: &m.PrimaryKey.KeyId, FlagsValid: true, FlagSign: true, KeyLifetimeSecs: &life}
	back := &packet.Signature{Version: 4, SigType: packet.SigTypePrimaryKeyBinding, PubKeyAlgo: sk.PublicKey.PubKeyAlgo, Hash: crypto.SHA256,
		CreationTime: changed, IssuerKeyId: &sk.PublicKey.KeyId}
	cfg := &packet.Config{Time: func() time.Time { return changed }}
	if err := back.CrossSignKey(sk.PublicKey, m.PrimaryKey, sk.PrivateKey, cfg); err != nil {
		t.Fatal(err)
	}
	bind.EmbeddedSignature = back
	if err := bind.SignKey(sk.PublicKey, m.PrivateKey, cfg); err != nil {
		t.Fatal(err)
	}
	sk.Bindings = append(sk.Bindings, packet.NewVerifiableSig(bind))

	f.publish(changed.Add(time.Hour))
	tr, err := f.load(t, "", changed.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	d := tr.Check(p, "app-6.6.6.tgz", a, nil)
	if d.SigningKey != pgpkey.FormatFingerprint(old.PublicKey.Fingerprint) {
		t.Fatalf("fixture: signed by %s, want the old subkey (%s)", d.SigningKey, d.Reason)
	}
	if d.Trusted {
		t.Errorf("a signature by a subkey expired since (its expiry shortened), backdated by the signer to before the change, is trusted without a ledger time: %s (%s; %s)",
			d.Status, d.Reason, d.Detail)
	}
}

// Attack (thief of a maintainer's signing subkey): the thief signs a chart
// with the stolen subkey and gets it into the repository, where the
// ledger records it. The maintainer revokes that subkey as compromised
// (a hard revocation, in the certificate keyctl publishes) and keeps the
// key: the chart is bad-signature, untrusted. Months later the maintainer
// leaves and the team lead removes the key as retired. Decide then checks
// the signature with the certificate stripped of every revocation
// (softRevoked: WithoutRevocations drops the subkeys' revocations too),
// the compromised subkey verifies again, and the ledger's first-seen time
// (before the retirement) makes the thief's chart trusted: audit drops it
// from the re-sign worklist. Retiring a key must not revive signatures a
// hard subkey revocation had already made untrusted.
func TestAttackRetiringKeyRevivesCompromisedSubkey(t *testing.T) {
	rk := newRootKey(t, "root")
	f := newFixture(t, t.TempDir(), "charts.example.org", rk)
	m := newMaintainer(t, "maint")
	stolen := addSigningSubkey(t, m)
	mm := f.add(m)
	a, p, _ := chart(t, m, "app", "6.6.6", t0.Add(-time.Hour))
	seen := t0.Add(-30 * time.Minute) // the ledger records the thief's release

	cfg := &packet.Config{Time: func() time.Time { return t0 }}
	for i := range m.Subkeys {
		if m.Subkeys[i].PublicKey.KeyId == stolen.PublicKey.KeyId {
			if err := m.Subkeys[i].Revoke(packet.KeyCompromised, "laptop stolen", cfg); err != nil {
				t.Fatal(err)
			}
		}
	}
	f.publish(t0.Add(time.Hour))
	tr, err := f.load(t, "", t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if d := tr.Check(p, "app-6.6.6.tgz", a, &seen); d.Trusted {
		t.Fatalf("fixture: the revoked subkey's signature is trusted while the key is active: %s (%s)", d.Status, d.Reason)
	}

	mm.status, mm.reason, mm.effective = root.Removed, root.Retired, t0.Add(24*time.Hour)
	f.publish(t0.Add(25 * time.Hour))
	tr, err = f.load(t, "", t0.Add(26*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if d := tr.Check(p, "app-6.6.6.tgz", a, &seen); d.Trusted {
		t.Errorf("after the key is retired, a signature by its subkey revoked as compromised is trusted again: %s (%s; %s)", d.Status, d.Reason, d.Detail)
	}
}
