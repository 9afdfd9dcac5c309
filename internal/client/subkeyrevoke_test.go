package client

import (
	"crypto"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/root"
)

// A subkey's own revocation is dated by the certificate, not by the
// signature: soft, it is a soft removal at its date (the ledger decides);
// hard, it outlives the key's later retirement.

func revokeSubkey(t *testing.T, m *openpgp.Entity, sk openpgp.Subkey, reason packet.ReasonForRevocation, at time.Time) {
	t.Helper()
	cfg := &packet.Config{Time: func() time.Time { return at }}
	for i := range m.Subkeys {
		if m.Subkeys[i].PublicKey.KeyId == sk.PublicKey.KeyId {
			if err := m.Subkeys[i].Revoke(reason, "test", cfg); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatal("no such subkey")
}

func TestSoftRevokedSubkeyJudgedByLedgerAtRevocation(t *testing.T) {
	rk := newRootKey(t, "root")
	f := newFixture(t, t.TempDir(), "charts.example.org", rk)
	m := newMaintainer(t, "maint")
	old := addSigningSubkey(t, m)
	f.add(m)
	a, p, _ := chart(t, m, "app", "1.0.0", t0.Add(-time.Hour))
	revokeSubkey(t, m, old, packet.KeySuperseded, t0)
	f.publish(t0.Add(time.Hour))
	tr, err := f.load(t, "", t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	before, after := t0.Add(-30*time.Minute), t0.Add(30*time.Minute)
	d := tr.Check(p, "app-1.0.0.tgz", a, &before)
	if !d.Trusted || d.Status != StatusRemovedSuperseded || d.TimeSource != TimeLedger {
		t.Errorf("first seen before the subkey's revocation: %s trusted=%v source=%q (%s)", d.Status, d.Trusted, d.TimeSource, d.Reason)
	}
	d = tr.Check(p, "app-1.0.0.tgz", a, &after)
	if d.Trusted || d.Status != StatusRemovedSuperseded {
		t.Errorf("first seen after the subkey's revocation: %s trusted=%v (%s)", d.Status, d.Trusted, d.Reason)
	}
}

func TestRetiredKeySubkeyRevokedEarlierCountsFromRevocation(t *testing.T) {
	rk := newRootKey(t, "root")
	f := newFixture(t, t.TempDir(), "charts.example.org", rk)
	m := newMaintainer(t, "maint")
	old := addSigningSubkey(t, m)
	mm := f.add(m)
	a, p, _ := chart(t, m, "app", "1.0.0", t0.Add(-time.Hour))
	revokeSubkey(t, m, old, packet.KeySuperseded, t0)
	mm.status, mm.reason, mm.effective = root.Removed, root.Retired, t0.Add(24*time.Hour)
	f.publish(t0.Add(25 * time.Hour))
	tr, err := f.load(t, "", t0.Add(26*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	between := t0.Add(time.Hour) // after the subkey's revocation, before the retirement
	if d := tr.Check(p, "app-1.0.0.tgz", a, &between); d.Trusted {
		t.Errorf("first seen after the subkey's revocation but before the key's retirement: trusted (%s; %s)", d.Reason, d.Detail)
	}
	early := t0.Add(-30 * time.Minute)
	if d := tr.Check(p, "app-1.0.0.tgz", a, &early); !d.Trusted {
		t.Errorf("first seen before both: %s (%s; %s)", d.Status, d.Reason, d.Detail)
	}
}

func TestRetiredKeySubkeyRevokedWithoutReasonStaysHard(t *testing.T) {
	rk := newRootKey(t, "root")
	f := newFixture(t, t.TempDir(), "charts.example.org", rk)
	m := newMaintainer(t, "maint")
	old := addSigningSubkey(t, m)
	mm := f.add(m)
	a, p, _ := chart(t, m, "app", "1.0.0", t0.Add(-time.Hour))
	revokeSubkey(t, m, old, packet.NoReason, t0)
	mm.status, mm.reason, mm.effective = root.Removed, root.Retired, t0.Add(24*time.Hour)
	f.publish(t0.Add(25 * time.Hour))
	tr, err := f.load(t, "", t0.Add(26*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	seen := t0.Add(-30 * time.Minute)
	if d := tr.Check(p, "app-1.0.0.tgz", a, &seen); d.Trusted || d.Status != StatusBadSignature {
		t.Errorf("subkey revoked with no reason (hard), key retired later: %s trusted=%v (%s; %s)", d.Status, d.Trusted, d.Reason, d.Detail)
	}
}

// The same for the primary key of a key still listed active: its own
// revocation as retired, dated after a backdated signature, is a soft
// removal at the revocation's date.
func TestActiveKeyOwnSoftRevocationNeedsLedger(t *testing.T) {
	rk := newRootKey(t, "root")
	f := newFixture(t, t.TempDir(), "charts.example.org", rk)
	m := newMaintainer(t, "maint")
	f.add(m)
	a, p, _ := chart(t, m, "app", "1.0.0", t0.Add(-time.Hour))
	if err := m.Revoke(packet.KeyRetired, "test", &packet.Config{Time: func() time.Time { return t0 }}); err != nil {
		t.Fatal(err)
	}
	f.publish(t0.Add(time.Hour))
	tr, err := f.load(t, "", t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if d := tr.Check(p, "app-1.0.0.tgz", a, nil); d.Trusted || d.Status != StatusRemovedRetired {
		t.Errorf("no ledger: %s trusted=%v (%s; %s)", d.Status, d.Trusted, d.Reason, d.Detail)
	}
	seen := t0.Add(-30 * time.Minute)
	if d := tr.Check(p, "app-1.0.0.tgz", a, &seen); !d.Trusted {
		t.Errorf("ledger before the revocation: %s (%s; %s)", d.Status, d.Reason, d.Detail)
	}
}

// The key-expired rule for the primary key: a new self-signature shortens
// its expiry; a signature backdated to before that change needs a ledger
// time from before the new expiry.
func TestShortenedPrimaryExpiryBackdatedNeedsLedger(t *testing.T) {
	rk := newRootKey(t, "root")
	f := newFixture(t, t.TempDir(), "charts.example.org", rk)
	m := newMaintainer(t, "maint")
	f.add(m)
	changed := t0
	a, p, _ := chart(t, m, "app", "1.0.0", changed.Add(-time.Hour))
	life := uint32(changed.Add(time.Minute).Sub(m.PrimaryKey.CreationTime) / time.Second)
	cfg := &packet.Config{Time: func() time.Time { return changed }}
	for name, id := range m.Identities {
		sig := &packet.Signature{Version: 4, SigType: packet.SigTypePositiveCert, PubKeyAlgo: m.PrimaryKey.PubKeyAlgo, Hash: crypto.SHA256,
			CreationTime: changed, IssuerKeyId: &m.PrimaryKey.KeyId, FlagsValid: true, FlagSign: true, FlagCertify: true, KeyLifetimeSecs: &life}
		isPrimary := true
		sig.IsPrimaryId = &isPrimary
		if err := sig.SignUserId(name, m.PrimaryKey, m.PrivateKey, cfg); err != nil {
			t.Fatal(err)
		}
		id.SelfCertifications = append(id.SelfCertifications, packet.NewVerifiableSig(sig))
	}
	f.publish(changed.Add(time.Hour))
	tr, err := f.load(t, "", changed.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if d := tr.Check(p, "app-1.0.0.tgz", a, nil); d.Trusted {
		t.Errorf("primary expiry shortened after a backdated signature, no ledger: trusted (%s; %s)", d.Reason, d.Detail)
	}
	after := changed.Add(30 * time.Minute)
	if d := tr.Check(p, "app-1.0.0.tgz", a, &after); d.Trusted || d.Status != StatusKeyExpired {
		t.Errorf("first seen after the new expiry: %s trusted=%v (%s)", d.Status, d.Trusted, d.Reason)
	}
}
