package client

import (
	"crypto"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/root"
)

// One key, one primary: a subkey bound under two primaries, and a
// compromised key's subkeys recorded in the client state.

// addSigningSubkey gives e a fresh signing subkey and returns it.
func addSigningSubkey(t *testing.T, e *openpgp.Entity) openpgp.Subkey {
	t.Helper()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Time: func() time.Time { return t0.Add(-48 * time.Hour) }, KeyLifetimeSecs: 2 * 365 * 86400}
	if err := e.AddSigningSubkey(cfg); err != nil {
		t.Fatal(err)
	}
	return e.Subkeys[len(e.Subkeys)-1]
}

// bindSubkey binds s (whose secret is at hand) under y as a signing
// subkey, back-signed by s.
func bindSubkey(t *testing.T, y *openpgp.Entity, s openpgp.Subkey, now time.Time) {
	t.Helper()
	lifetime := uint32(365 * 86400)
	bind := &packet.Signature{Version: 4, SigType: packet.SigTypeSubkeyBinding, PubKeyAlgo: y.PrimaryKey.PubKeyAlgo, Hash: crypto.SHA256,
		CreationTime: now, IssuerKeyId: &y.PrimaryKey.KeyId, FlagsValid: true, FlagSign: true, KeyLifetimeSecs: &lifetime}
	back := &packet.Signature{Version: 4, SigType: packet.SigTypePrimaryKeyBinding, PubKeyAlgo: s.PublicKey.PubKeyAlgo, Hash: crypto.SHA256,
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
}

// A subkey held by two listed certificates is refused on load, whatever
// their status and whichever keyring holds them (no state needed): two
// active maintainers' certificates, and a compromised certificate in
// revoked.pgp next to an active one in pubkeys.pgp.
func TestSubkeyBoundToTwoPrimaries(t *testing.T) {
	for _, compromised := range []bool{false, true} {
		f := newFixture(t, t.TempDir(), "charts.example.org", newRootKey(t, "root"))
		x := newMaintainer(t, "xavier")
		s := addSigningSubkey(t, x)
		xm := f.add(x)
		if compromised {
			xm.status, xm.reason, xm.effective = root.Removed, root.Compromised, t0
		}
		y := newMaintainer(t, "yves")
		bindSubkey(t, y, s, t0)
		f.add(y)
		f.publish(t0)
		st := t.TempDir()
		_, err := f.load(t, st, t0.Add(time.Minute))
		sfpr := pgpkey.FormatFingerprint(s.PublicKey.Fingerprint)
		if fail.KindOf(err) != fail.Security || fail.ExitCode(err) != 1 ||
			!strings.Contains(err.Error(), "key "+sfpr+" is bound to two primary keys in the published keyrings") {
			t.Errorf("compromised %v: subkey under two primaries: %v", compromised, err)
		}
		if _, serr := os.Stat(StatePath(st, f.b.Location())); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("compromised %v: state written", compromised)
		}
	}
}

// The state records a compromised key's subkeys; a later manifest binding
// one of them (or the compromised primary key, as a subkey) to another
// certificate is refused with its own message, even when the compromised
// certificate is published without it.
func TestCompromisedSubkeysRecorded(t *testing.T) {
	f := newFixture(t, t.TempDir(), "charts.example.org", newRootKey(t, "root"))
	state := t.TempDir()
	f.add(newMaintainer(t, "alice"))
	x := newMaintainer(t, "xavier")
	s := addSigningSubkey(t, x)
	xm := f.add(x)
	xm.status, xm.reason, xm.effective = root.Removed, root.Compromised, t0
	f.publish(t0)
	if _, err := f.load(t, state, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	st, err := ReadState(state, f.b.Location())
	if err != nil || len(st.Compromised) != 1 {
		t.Fatalf("state: %+v %v", st, err)
	}
	sfpr := pgpkey.FormatFingerprint(s.PublicKey.Fingerprint)
	var want []string
	for _, sk := range x.Subkeys {
		want = append(want, pgpkey.FormatFingerprint(sk.PublicKey.Fingerprint))
	}
	if got := st.Compromised[0].Subkeys; len(got) != len(want) || !strings.Contains(strings.Join(got, " "), sfpr) {
		t.Fatalf("recorded subkeys %v, want %v", got, want)
	}
	saved, _ := os.ReadFile(StatePath(state, f.b.Location()))

	// X published without S; S bound under a new active Y.
	stripped := *x
	stripped.Subkeys = nil
	for _, sk := range x.Subkeys {
		if sk.PublicKey.KeyId != s.PublicKey.KeyId {
			stripped.Subkeys = append(stripped.Subkeys, sk)
		}
	}
	xm.e = &stripped
	y := newMaintainer(t, "yves")
	bindSubkey(t, y, s, t0.Add(time.Hour))
	ym := f.add(y)
	f.publish(t0.Add(time.Hour))
	_, err = f.load(t, state, t0.Add(61*time.Minute))
	if fail.KindOf(err) != fail.Security || !strings.Contains(err.Error(), "subkey "+sfpr+" of key "+pgpkey.Fingerprint(x)+" was listed compromised in manifest v1; manifest v2 binds it to another key, "+pgpkey.Fingerprint(y)) {
		t.Errorf("compromised subkey under a new primary: %v", err)
	}
	// Listed as retired instead of active: refused too (a soft removal
	// still trusts signatures made before it).
	ym.status, ym.reason, ym.effective = root.Removed, root.Retired, t0.Add(2*time.Hour)
	f.publish(t0.Add(2 * time.Hour))
	if _, err := f.load(t, state, t0.Add(121*time.Minute)); fail.KindOf(err) != fail.Security || !strings.Contains(err.Error(), "binds it to another key") {
		t.Errorf("compromised subkey under a retired primary: %v", err)
	}
	if now, _ := os.ReadFile(StatePath(state, f.b.Location())); string(now) != string(saved) {
		t.Errorf("state changed:\n%s", now)
	}
}

// Subkeys in the state file: optional (older files parse), upper-case hex
// fingerprints, sorted, without duplicates, capped.
func TestStateCompromisedSubkeysFormat(t *testing.T) {
	s := State{Location: "/srv/charts", Repository: "charts.example.org", Version: 7, ManifestSHA256: strings.Repeat("ab", 32),
		Issued: t0, RootVersion: 1, RootSHA256: strings.Repeat("cd", 32)}
	fpr := strings.Repeat("A", 40)
	s.Compromised = []CompromisedKey{{Fingerprint: fpr, Version: 5, Subkeys: []string{strings.Repeat("1", 40), strings.Repeat("2", 64)}}}
	b, err := MarshalState(s)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ParseState(b); err != nil || !got.Equal(s) {
		t.Fatalf("round trip: %+v %v\n%s", got, err, b)
	}
	other := s
	other.Compromised = []CompromisedKey{{Fingerprint: fpr, Version: 5}}
	if other.Equal(s) {
		t.Error("states with different subkeys are equal")
	}
	many := make([]string, MaxCompromisedSubkeys+1)
	for i := range many {
		many[i] = fmt.Sprintf("%040X", i)
	}
	for _, bad := range [][]string{
		{strings.Repeat("a", 40)},
		{strings.Repeat("1", 16)},
		{strings.Repeat("2", 40), strings.Repeat("1", 40)},
		{strings.Repeat("1", 40), strings.Repeat("1", 40)},
		many,
	} {
		s.Compromised[0].Subkeys = bad
		if _, err := MarshalState(s); err == nil {
			t.Errorf("accepted subkeys %v", bad[:1])
		}
	}
}

// The manifest lists X as compromised but publishes no certificate for it,
// and an active Y carries X's primary key as its signing subkey: a fresh
// client (no state) must not trust X's signatures as Y's.
func TestListedKeyBoundAsSubkeyOfAnother(t *testing.T) {
	f := newFixture(t, t.TempDir(), "charts.example.org", newRootKey(t, "root"))
	x := newMaintainer(t, "xavier")
	xm := f.add(x)
	xm.status, xm.reason, xm.effective, xm.unpublished = root.Removed, root.Compromised, t0, true
	y := newMaintainer(t, "yves")
	pub, sec := *x.PrimaryKey, *x.PrivateKey
	pub.IsSubkey, sec.PublicKey = true, pub
	bindSubkey(t, y, openpgp.Subkey{PublicKey: &pub, PrivateKey: &sec}, t0)
	f.add(y)
	f.publish(t0)
	a, p, _ := chart(t, x, "evil", "1.0.0", t0)
	tr, err := f.load(t, t.TempDir(), t0.Add(time.Minute))
	if err == nil {
		d := tr.Check(p, "evil-1.0.0.tgz", a, nil)
		t.Fatalf("compromised X bound under active Y: loaded; chart signed by X: %s %s %s", d.Status, d.Reason, d.Detail)
	}
	xfpr := pgpkey.Fingerprint(x)
	if fail.KindOf(err) != fail.Security || !strings.Contains(err.Error(), "key "+xfpr+", which the manifest lists as a primary key (removed, compromised), is bound as a subkey of "+pgpkey.Fingerprint(y)) {
		t.Errorf("message: %v", err)
	}
}

// A compromised certificate carrying more subkeys than the state records
// is refused rather than recorded in part (a cut list could leave out the
// subkey that signs).
func TestCompromisedTooManySubkeys(t *testing.T) {
	f := newFixture(t, t.TempDir(), "charts.example.org", newRootKey(t, "root"))
	x := newMaintainer(t, "xavier")
	for len(x.Subkeys) <= MaxCompromisedSubkeys {
		addSigningSubkey(t, x)
	}
	xm := f.add(x)
	xm.status, xm.reason, xm.effective = root.Removed, root.Compromised, t0
	f.publish(t0)
	st := t.TempDir()
	_, err := f.load(t, st, t0.Add(time.Minute))
	if fail.ExitCode(err) != 1 || !strings.Contains(err.Error(), fmt.Sprintf("more than the %d this client records", MaxCompromisedSubkeys)) {
		t.Errorf("compromised key with %d subkeys: %v", len(x.Subkeys), err)
	}
	if _, serr := os.Stat(StatePath(st, f.b.Location())); !errors.Is(serr, os.ErrNotExist) {
		t.Error("state written")
	}
}
