package client

import (
	"crypto"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/root"
)

// TestAttackCompromisedSubkeyReturnsUnderNewPrimary: key X (with signing
// subkey S) was listed compromised in manifest v2 and the client state
// records it. Whoever holds X's secret (the compromise) and can change
// what the team lead publishes (a tampered store, as the compromise rule
// is meant to catch) publishes v3 that keeps X listed as compromised, but
// with X's certificate in revoked.pgp stripped of S, and lists a new
// active certificate Y whose signing subkey is S (bound by Y, back-signed
// by S: both secrets are the attacker's).
//
// docs/verify.md (State): "A compromised key is removed for good";
// "every signature by a compromised key is untrusted". CheckCompromised
// (state.go) only compares primary fingerprints, and Trusted.Primary maps
// S to Y, so the client records v3 and trusts charts signed by S.
//
// Secure behaviour: a manifest that lists, under another certificate, a
// (sub)key of a key recorded compromised is refused (or at least S's
// signatures are never trusted).
func TestAttackCompromisedSubkeyReturnsUnderNewPrimary(t *testing.T) {
	f := newFixture(t, t.TempDir(), "charts.example.org", newRootKey(t, "root"))
	state := t.TempDir()
	f.add(newMaintainer(t, "alice"))
	x := newMaintainer(t, "xavier")
	keyCfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Time: func() time.Time { return t0.Add(-48 * time.Hour) }, KeyLifetimeSecs: 2 * 365 * 86400}
	if err := x.AddSigningSubkey(keyCfg); err != nil {
		t.Fatal(err)
	}
	s := x.Subkeys[len(x.Subkeys)-1]
	xm := f.add(x)
	f.publish(t0)
	if _, err := f.load(t, state, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	xm.status, xm.reason, xm.effective = root.Removed, root.Compromised, t0.Add(time.Hour)
	f.publish(t0.Add(time.Hour))
	if _, err := f.load(t, state, t0.Add(61*time.Minute)); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(StatePath(state, f.b.Location()))
	if err != nil {
		t.Fatal(err)
	}

	// X stays listed compromised, published without S.
	stripped := *x
	stripped.Subkeys = nil
	for _, sk := range x.Subkeys {
		if sk.PublicKey.KeyId != s.PublicKey.KeyId {
			stripped.Subkeys = append(stripped.Subkeys, sk)
		}
	}
	xm.e = &stripped

	// Y: a fresh primary carrying S as its signing subkey.
	y := newMaintainer(t, "yves")
	now := t0.Add(90 * time.Minute)
	h := crypto.SHA256
	lifetime := uint32(365 * 86400)
	bind := &packet.Signature{Version: 4, SigType: packet.SigTypeSubkeyBinding, PubKeyAlgo: y.PrimaryKey.PubKeyAlgo, Hash: h,
		CreationTime: now, IssuerKeyId: &y.PrimaryKey.KeyId, FlagsValid: true, FlagSign: true, KeyLifetimeSecs: &lifetime}
	back := &packet.Signature{Version: 4, SigType: packet.SigTypePrimaryKeyBinding, PubKeyAlgo: s.PublicKey.PubKeyAlgo, Hash: h,
		CreationTime: now, IssuerKeyId: &s.PublicKey.KeyId}
	cfg := &packet.Config{Time: func() time.Time { return now }}
	if err := back.CrossSignKey(s.PublicKey, y.PrimaryKey, s.PrivateKey, cfg); err != nil {
		t.Fatal(err)
	}
	bind.EmbeddedSignature = back
	if err := bind.SignKey(s.PublicKey, y.PrivateKey, cfg); err != nil {
		t.Fatal(err)
	}
	y.Subkeys = append(y.Subkeys, openpgp.Subkey{Primary: y, PublicKey: s.PublicKey, PrivateKey: s.PrivateKey,
		Bindings: []*packet.VerifiableSignature{packet.NewVerifiableSig(bind)}})
	f.add(y)
	f.publish(now)

	// A chart signed by S (X's compromised subkey).
	a, p, _ := chart(t, x, "evil", "1.0.0", now)
	if iss := p.Issuers(); len(iss) == 0 || iss[0].KeyID != fmt.Sprintf("%016X", s.PublicKey.KeyId) {
		t.Fatalf("chart not signed by S: %v", iss)
	}

	tr, err := f.load(t, state, now.Add(time.Minute))
	if err == nil {
		d := tr.Check(p, "evil-1.0.0.tgz", a, nil)
		t.Errorf("manifest v%d bringing compromised subkey %X back under %s was trusted; chart signed by it: %s",
			tr.Manifest.Version, s.PublicKey.KeyId, d.Signer, d.Status)
		if after, _ := os.ReadFile(StatePath(state, f.b.Location())); string(after) != string(before) {
			t.Errorf("state advanced to the attacker's manifest")
		}
	}
}
